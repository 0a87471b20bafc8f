// Locates the pinned control-plane binaries built by hack/build-tools.sh (and
// the chart's linters, helm, kube-score and promtool), and
// builds them (with progress on stderr) when they are missing. fortio (the
// load generator of bench/sidecar-overhead.ts) is built by the same script
// but is not part of the control plane: requireFortio() only checks for it.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const HACK_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const REPO_DIR = path.resolve(HACK_DIR, "..");

export interface Versions {
  KUBERNETES_VERSION: string;
  ETCD_VERSION: string;
  KWOK_VERSION: string;
  HELM_VERSION: string;
  KUBE_SCORE_VERSION: string;
  FORTIO_VERSION: string;
  PROMTOOL_VERSION: string;
}

export function readVersions(): Versions {
  const text = readFileSync(path.join(HACK_DIR, "versions.env"), "utf8");
  const values: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = /^([A-Z_]+)=(\S+)/.exec(line.trim());
    if (m) values[m[1]!] = m[2]!;
  }
  return values as unknown as Versions;
}

export function cacheDir(): string {
  return (
    process.env.LDC_CACHE_DIR ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(homedir(), ".cache"), "ldc-operator")
  );
}

export interface ToolPaths {
  kubeApiserver: string;
  kubeControllerManager: string;
  kubeScheduler: string;
  kubectl: string;
  etcd: string;
  kwok: string;
  kwokStagesDir: string;
  helm: string;
  /** Lints rendered manifests (the Helm chart). */
  kubeScore: string;
  /** HTTP load generator (bench/sidecar-overhead.ts); not part of missingTools(). */
  fortio: string;
  /** Checks and unit-tests the chart's alerting rules. */
  promtool: string;
  /** Directories to put first on PATH so `kubectl` and `helm` are the pinned ones. */
  binDirs: string[];
}

export function toolPaths(): ToolPaths {
  const v = readVersions();
  const bin = path.join(cacheDir(), "bin");
  const k8s = path.join(bin, `kubernetes-${v.KUBERNETES_VERSION}`);
  const etcd = path.join(bin, `etcd-${v.ETCD_VERSION}`);
  const kwok = path.join(bin, `kwok-${v.KWOK_VERSION}`);
  const helm = path.join(bin, `helm-${v.HELM_VERSION}`);
  const kubeScore = path.join(bin, `kube-score-${v.KUBE_SCORE_VERSION}`);
  const fortio = path.join(bin, `fortio-${v.FORTIO_VERSION}`);
  const promtool = path.join(bin, `promtool-${v.PROMTOOL_VERSION}`);
  return {
    kubeApiserver: path.join(k8s, "kube-apiserver"),
    kubeControllerManager: path.join(k8s, "kube-controller-manager"),
    kubeScheduler: path.join(k8s, "kube-scheduler"),
    kubectl: path.join(k8s, "kubectl"),
    etcd: path.join(etcd, "etcd"),
    kwok: path.join(kwok, "kwok"),
    kwokStagesDir: path.join(kwok, "stages"),
    helm: path.join(helm, "helm"),
    kubeScore: path.join(kubeScore, "kube-score"),
    fortio: path.join(fortio, "fortio"),
    promtool: path.join(promtool, "promtool"),
    binDirs: [k8s, helm, kwok, etcd],
  };
}

export function missingTools(paths = toolPaths()): string[] {
  const required = [
    paths.kubeApiserver,
    paths.kubeControllerManager,
    paths.kubeScheduler,
    paths.kubectl,
    paths.etcd,
    paths.kwok,
    paths.kwokStagesDir,
    paths.helm,
    paths.kubeScore,
    paths.promtool,
  ];
  return required.filter((p) => !existsSync(p));
}

/** Builds whatever is missing (minutes when cold; progress goes to stderr). */
export function ensureTools(): ToolPaths {
  const paths = toolPaths();
  if (missingTools(paths).length === 0) return paths;
  const result = spawnSync("bash", [path.join(HACK_DIR, "build-tools.sh")], {
    stdio: ["ignore", "inherit", "inherit"],
  });
  if (result.status !== 0) {
    throw new Error(
      "building the local control plane failed (see the messages above). " +
        "To use an existing cluster instead, set LDC_KUBECONFIGS=/path/to/kubeconfig[,more].",
    );
  }
  const still = missingTools(paths);
  if (still.length > 0) throw new Error(`hack/build-tools.sh finished but these are missing: ${still.join(", ")}`);
  return paths;
}

/** The pinned fortio binary; throws, naming the fix, when it has not been built. */
export function requireFortio(): string {
  const p = toolPaths().fortio;
  if (!existsSync(p)) {
    throw new Error(
      `fortio ${readVersions().FORTIO_VERSION} is not built (${p} is missing): run hack/build-tools.sh, ` +
        "which builds it from the Go module proxy in about a minute (and reuses the control plane binaries already built)",
    );
  }
  return p;
}
