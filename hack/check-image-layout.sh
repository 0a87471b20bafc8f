#!/usr/bin/env bash
# Checks what can be checked of the container image without building one:
# reproduces the runtime stage of the Dockerfile in a temp dir (package.json,
# production dependencies only, dist/) and runs every entrypoint with --help
# on the pinned Node 24, expecting exit 0. A runtime import of a
# devDependency, a file missing from dist/ or a broken entrypoint fails here.
#
# Usage: hack/check-image-layout.sh             build dist/ (npm run build), then check
#        hack/check-image-layout.sh --no-build  check the dist/ that is there
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NODE="$REPO/node_modules/.bin/node"
# The entrypoints of the Dockerfile's targets (keep in sync with its ENTRYPOINTs), and
# ldc-relay, which the chart runs from the operator's image (templates/relay.yaml).
ENTRYPOINTS=("dist/src/main.js" "dist/src/sidecar/main.js" "dist/src/relay/main.js")

log() { printf '[check-image-layout] %s\n' "$*" >&2; }
die() { printf '[check-image-layout] FAIL: %s\n' "$*" >&2; exit 1; }

[ -x "$NODE" ] || die "no pinned Node at $NODE: run \`npm ci\` first"
# npm and tsc run on the pinned Node 24 too.
export PATH="$REPO/node_modules/.bin:$PATH"

if [ "${1:-}" != "--no-build" ]; then
  log "npm run build (dist/)"
  (cd "$REPO" && npm run --silent build)
fi
for e in "${ENTRYPOINTS[@]}"; do
  [ -f "$REPO/$e" ] || die "$e is missing from dist/: is it compiled by tsconfig.build.json?"
done

WORK="$(mktemp -d "${TMPDIR:-/tmp}/ldc-image-layout.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

# The Dockerfile's runtime stage: /app with package.json (ESM: "type": "module"),
# production node_modules (npm ci --omit=dev --omit=optional) and dist/.
log "npm ci --omit=dev in $WORK (production dependencies only)"
cp "$REPO/package.json" "$REPO/package-lock.json" "$WORK/"
(cd "$WORK" && npm ci --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
cp -R "$REPO/dist" "$WORK/dist"
# Nothing the lockfile marks dev-only or optional (the `node` binary, typescript, vitest, ...):
# the base image provides Node 24.
leaked=$(cd "$WORK" && "$NODE" -e '
  const { existsSync } = require("node:fs");
  const lock = require("./package-lock.json");
  const dev = Object.entries(lock.packages).filter(([p, v]) => p && (v.dev || v.optional)).map(([p]) => p);
  console.log(dev.filter((p) => existsSync(p)).join(" "));
')
[ -z "$leaked" ] || die "npm ci --omit=dev installed dev-only packages: $leaked"

status=0
for e in "${ENTRYPOINTS[@]}"; do
  # No KUBECONFIG, no cluster: --help must work on its own, as in a fresh container.
  if out=$(cd "$WORK" && env -i PATH=/usr/bin:/bin HOME="$WORK" "$NODE" "$e" --help 2>&1); then
    log "ok: node $e --help ($(printf '%s\n' "$out" | head -1))"
  else
    rc=$?
    printf '%s\n' "$out" | tail -20 >&2
    log "FAIL: node $e --help exited $rc"
    status=1
  fi
done
[ "$status" = 0 ] || die "an entrypoint does not start in the runtime layout (see above)"
log "the runtime layout starts every entrypoint ($(du -sh "$WORK/node_modules" | cut -f1) of production node_modules)"
