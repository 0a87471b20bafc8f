// Installs what the operator needs in a set of simulated datacenters, as the
// demo and the operator's integration tests do: the CRDs in dc1 (the
// operator's own cluster, zone hz-a), the member clusters dc2 (hz-b) and dc3
// (sh-a) connected by kubeconfig Secrets in the operator's namespace, and the
// examples applied to dc1.
import { execFileSync } from "node:child_process";
import { readdirSync } from "node:fs";
import path from "node:path";
import type { ClusterState } from "./controlplane.ts";
import { REPO_DIR, toolPaths } from "./tools.ts";

export const OPERATOR_NAMESPACE = "ldc-system";
export const EXAMPLES_DIR = path.join(REPO_DIR, "examples");

/** The kubeconfig Secret of each member zone (the examples' Zones name them). */
export const MEMBER_SECRETS: readonly { datacenter: string; zone: string; secret: string }[] = [
  { datacenter: "dc2", zone: "hz-b", secret: "zone-hz-b" },
  { datacenter: "dc3", zone: "sh-a", secret: "zone-sh-a" },
];

export function kubectl(kubeconfig: string, args: string[], input?: string): string {
  return execFileSync(toolPaths().kubectl, ["--kubeconfig", kubeconfig, ...args], {
    cwd: REPO_DIR,
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
    ...(input !== undefined ? { input } : {}),
    stdio: ["pipe", "pipe", "pipe"],
  });
}

/** The example files (examples/*.yaml, not examples/invalid/), in apply order. */
export function exampleFiles(): string[] {
  return readdirSync(EXAMPLES_DIR)
    .filter((f) => f.endsWith(".yaml"))
    .sort();
}

export interface InstallExamplesOptions {
  /** Example files to apply (names in examples/); default all of exampleFiles(). */
  files?: string[];
  /** Progress messages. */
  log?: (message: string) => void;
}

/** Applies the CRDs, the member-cluster Secrets and the examples; needs dc1..dc3 of `state`. */
export function installExamples(state: ClusterState, opts: InstallExamplesOptions = {}): void {
  const log = opts.log ?? (() => {});
  const dc = (name: string) => {
    const d = state.datacenters.find((x) => x.name === name);
    if (!d) throw new Error(`no datacenter ${name} in ${state.stateDir}: start 3 datacenters`);
    return d;
  };
  const home = dc("dc1").kubeconfigPath;

  log("applying the CRDs to dc1 (hz-a) and waiting for them to be Established");
  kubectl(home, ["apply", "--server-side", "--force-conflicts", "-f", path.join(REPO_DIR, "crds")]);
  kubectl(home, [
    "wait",
    "--for=condition=Established",
    "--timeout=60s",
    "crd",
    "-l",
    "app.kubernetes.io/part-of=ldc-operator",
  ]);

  log(`connecting hz-b (dc2) and sh-a (dc3) as member clusters: kubeconfig Secrets in ${OPERATOR_NAMESPACE}`);
  kubectl(
    home,
    ["apply", "-f", "-"],
    kubectl(home, ["create", "namespace", OPERATOR_NAMESPACE, "--dry-run=client", "-o", "yaml"]),
  );
  for (const m of MEMBER_SECRETS) {
    const secret = kubectl(home, [
      "create",
      "secret",
      "generic",
      m.secret,
      "-n",
      OPERATOR_NAMESPACE,
      `--from-file=kubeconfig=${dc(m.datacenter).kubeconfigPath}`,
      "--dry-run=client",
      "-o",
      "yaml",
    ]);
    kubectl(home, ["apply", "-f", "-"], secret);
  }

  const files = opts.files ?? exampleFiles();
  log(`applying ${files.join(", ")} from examples/ to dc1`);
  applyExamples(state, files);
}

/** `kubectl apply` of example files to dc1 (the operator's own cluster). */
export function applyExamples(state: ClusterState, files: string[] = exampleFiles()): string {
  const home = state.datacenters.find((x) => x.name === "dc1")!.kubeconfigPath;
  return kubectl(home, ["apply", ...files.flatMap((f) => ["-f", path.join(EXAMPLES_DIR, f)])]);
}
