#!/usr/bin/env bash
# Builds the local control plane's binaries from pinned Go modules into a cache
# directory outside the repo, keyed by version, and reuses them when present:
#   kube-apiserver, kube-controller-manager, kube-scheduler, kubectl (k8s.io/kubernetes)
#   etcd (go.etcd.io/etcd/server/v3), kwok (+ its stage files), helm,
#   kube-score (lints the rendered Helm chart), fortio (load for bench/sidecar-overhead.ts),
#   promtool (checks and tests the chart's alerting rules)
# Nothing is downloaded except Go modules through the Go module proxy.
#
# Usage: hack/build-tools.sh            build what is missing, print the bin dir
#        LDC_CACHE_DIR=/path hack/build-tools.sh
set -euo pipefail

HACK_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$HACK_DIR/versions.env"
CACHE_DIR="${LDC_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ldc-operator}"
START_ALL=$(date +%s)

log() { printf '[build-tools %4ss] %s\n' "$(( $(date +%s) - START_ALL ))" "$*" >&2; }
die() { printf '[build-tools] ERROR: %s\n' "$*" >&2; exit 1; }

command -v go >/dev/null 2>&1 || die "no Go toolchain on PATH. Install Go >= 1.26 (https://go.dev/doc/install, or your distribution's golang package), or skip the local control plane entirely: export LDC_KUBECONFIGS=/path/to/kubeconfig[,more] to use existing clusters."
GO_MINOR=$(go env GOVERSION | sed -E 's/^go1\.([0-9]+).*/\1/')
[ "${GO_MINOR:-0}" -ge 26 ] || die "Go $(go env GOVERSION) is too old: Kubernetes ${KUBERNETES_VERSION} needs Go >= 1.26. Install a newer Go, or use LDC_KUBECONFIGS to point at existing clusters."

export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-trimpath
WORK_DIR="$CACHE_DIR/src"
mkdir -p "$WORK_DIR"

# Runs `go build -v`, printing a progress line every 20 s (packages compiled so
# far) so a cold build of many minutes is visibly alive.
go_build_with_progress() {
  local label=$1; shift
  local logf="$WORK_DIR/$label.build.log"
  local start=$(date +%s)
  ( set +e; "$@" >"$logf" 2>&1; echo $? >"$logf.rc" ) &
  local pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    sleep 20 &
    wait $! || true
    kill -0 "$pid" 2>/dev/null || break
    log "$label: building... $(grep -vc '^go: ' "$logf" 2>/dev/null || echo 0) packages compiled, $(( $(date +%s) - start ))s"
  done
  wait "$pid" || true
  local rc; rc=$(cat "$logf.rc"); rm -f "$logf.rc"
  if [ "$rc" != 0 ]; then
    tail -40 "$logf" >&2
    die "$label build failed (full log: $logf). If a module could not be fetched, check GOPROXY ($(go env GOPROXY))."
  fi
  log "$label: built in $(( $(date +%s) - start ))s"
}

# ---------------------------------------------------------------- Kubernetes
build_kubernetes() {
  local out="$CACHE_DIR/bin/kubernetes-$KUBERNETES_VERSION"
  if [ -x "$out/kube-apiserver" ] && [ -x "$out/kube-controller-manager" ] && [ -x "$out/kube-scheduler" ] && [ -x "$out/kubectl" ]; then
    log "kubernetes $KUBERNETES_VERSION: cached in $out"; return
  fi
  log "kubernetes $KUBERNETES_VERSION: building kube-apiserver, kube-controller-manager, kube-scheduler, kubectl (cold: ~15-30 min on 2 cores)"
  local mod="$WORK_DIR/kubernetes-$KUBERNETES_VERSION"
  rm -rf "$mod"; mkdir -p "$mod"
  # k8s.io/kubernetes replaces every staging module with ./staging/...; a
  # wrapper module replaces them with their published twins (v0.Y.Z), derived
  # from that release's own go.mod so the list is never typed by hand.
  local k8s_gomod
  k8s_gomod=$(cd "$mod" && go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  [ -f "$k8s_gomod" ] || die "could not download k8s.io/kubernetes@$KUBERNETES_VERSION through the Go module proxy"
  local staging_version="v0.${KUBERNETES_VERSION#v1.}"
  {
    echo "module ldc-operator.local/kubernetes-build"
    echo
    grep -E '^(go|godebug) ' "$k8s_gomod"
    echo
    echo "require k8s.io/kubernetes $KUBERNETES_VERSION"
    echo
    grep -E '=> \./staging/src/' "$k8s_gomod" | awk -v v="$staging_version" '{print "replace " $1 " => " $1 " " v}'
  } >"$mod/go.mod"
  local pkgs="k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl"
  log "kubernetes: resolving modules"
  # An explicit @version: a bare `go get` would upgrade to the newest release.
  (cd "$mod" && go get $(for p in $pkgs; do printf "%s@%s " "$p" "$KUBERNETES_VERSION"; done) >"$WORK_DIR/kubernetes.get.log" 2>&1) || { tail -20 "$WORK_DIR/kubernetes.get.log" >&2; die "resolving k8s.io/kubernetes modules failed"; }
  local minor=${KUBERNETES_VERSION#v1.}; minor=${minor%%.*}
  local ld=""
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $p.gitVersion=$KUBERNETES_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  mkdir -p "$out.tmp"
  go_build_with_progress kubernetes bash -c "cd '$mod' && go build -v -ldflags '-s -w $ld' -o '$out.tmp/' $pkgs"
  rm -rf "$out"; mv "$out.tmp" "$out"
}

# ---------------------------------------------------------------------- etcd
build_etcd() {
  local out="$CACHE_DIR/bin/etcd-$ETCD_VERSION"
  if [ -x "$out/etcd" ]; then log "etcd $ETCD_VERSION: cached in $out"; return; fi
  log "etcd $ETCD_VERSION: building"
  local mod="$WORK_DIR/etcd-$ETCD_VERSION"
  rm -rf "$mod"; mkdir -p "$mod"
  local etcd_gomod
  etcd_gomod=$(cd "$mod" && go mod download -json "go.etcd.io/etcd/server/v3@$ETCD_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  [ -f "$etcd_gomod" ] || die "could not download go.etcd.io/etcd/server/v3@$ETCD_VERSION"
  {
    echo "module ldc-operator.local/etcd-build"
    echo
    grep -E '^go ' "$etcd_gomod"
    echo
    echo "require go.etcd.io/etcd/server/v3 $ETCD_VERSION"
    # etcd's server module replaces its sibling modules with ../ paths.
    for m in go.etcd.io/etcd/api/v3 go.etcd.io/etcd/client/pkg/v3 go.etcd.io/etcd/client/v3 go.etcd.io/etcd/pkg/v3; do
      echo "replace $m => $m $ETCD_VERSION"
    done
  } >"$mod/go.mod"
  (cd "$mod" && go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >"$WORK_DIR/etcd.get.log" 2>&1) || { tail -20 "$WORK_DIR/etcd.get.log" >&2; die "resolving etcd modules failed"; }
  mkdir -p "$out.tmp"
  go_build_with_progress etcd bash -c "cd '$mod' && go build -v -ldflags '-s -w' -o '$out.tmp/etcd' go.etcd.io/etcd/server/v3"
  rm -rf "$out"; mv "$out.tmp" "$out"
}

# ---------------- kwok, helm, kube-score, fortio, promtool (go install works)
build_go_install() {
  local name=$1 version=$2 pkg=$3 ldflags=$4
  local out="$CACHE_DIR/bin/$name-$version"
  if [ -x "$out/$name" ]; then log "$name $version: cached in $out"; return; fi
  log "$name $version: building"
  mkdir -p "$out.tmp"
  go_build_with_progress "$name" env GOBIN="$out.tmp" go install -v -ldflags "-s -w $ldflags" "$pkg@$version"
  rm -rf "$out"; mv "$out.tmp" "$out"
}

build_kwok_stages() {
  local out="$CACHE_DIR/bin/kwok-$KWOK_VERSION/stages"
  [ -d "$out" ] && return
  local dir
  dir=$(cd "$WORK_DIR" && go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  [ -d "$dir/kustomize/stage" ] || die "kwok $KWOK_VERSION has no kustomize/stage folder at $dir"
  mkdir -p "$out.tmp"
  # Standalone kwok has no default stages: take the node and pod lifecycles.
  for f in node/fast/node-initialize.yaml node/heartbeat/node-heartbeat.yaml pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
    [ -f "$dir/kustomize/stage/$f" ] || die "kwok stage $f missing in $dir/kustomize/stage"
    cp "$dir/kustomize/stage/$f" "$out.tmp/$(basename "$f")"
  done
  chmod -R u+w "$out.tmp"; mv "$out.tmp" "$out"
}

build_kubernetes
build_etcd
build_go_install kwok "$KWOK_VERSION" sigs.k8s.io/kwok/cmd/kwok "-X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION#v}"
build_kwok_stages
build_go_install helm "$HELM_VERSION" helm.sh/helm/v3/cmd/helm "-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
build_go_install kube-score "$KUBE_SCORE_VERSION" github.com/zegl/kube-score/cmd/kube-score "-X main.version=$KUBE_SCORE_VERSION"
# fortio reads its version from the module's build info (go install @version): no -X needed.
build_go_install fortio "$FORTIO_VERSION" fortio.org/fortio ""
# Module version v0.3XX.Y is Prometheus 3.XX.Y: promtool --version says the release.
PROMTOOL_MINOR=${PROMTOOL_VERSION#v0.}; PROMTOOL_MINOR=${PROMTOOL_MINOR%%.*}
PROMTOOL_RELEASE="$((PROMTOOL_MINOR / 100)).$((PROMTOOL_MINOR % 100)).${PROMTOOL_VERSION##*.}"
build_go_install promtool "$PROMTOOL_VERSION" github.com/prometheus/prometheus/cmd/promtool "-X github.com/prometheus/common/version.Version=$PROMTOOL_RELEASE -X github.com/prometheus/common/version.Branch=HEAD"

log "all tools ready in $CACHE_DIR/bin ($(( $(date +%s) - START_ALL ))s)"
