// What integration tests use to reach the simulated datacenters started by
// global-setup.ts. Every test isolates itself in namespaces it creates here;
// they are deleted when the test file ends.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import path from "node:path";
import { promisify } from "node:util";
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { afterAll, inject } from "vitest";
import { down, readState, up, type DatacenterState } from "../../hack/lib/controlplane.ts";
import { REPO_DIR } from "../../hack/lib/tools.ts";

export interface DatacenterInfo {
  name: string;
  index: number;
  region: string;
  zone: string;
  kubeconfigPath: string;
  /** true when the cluster came from LDC_KUBECONFIGS (it cannot be stopped by tests). */
  external: boolean;
  /** Set when this run started the datacenter (not a developer's cluster): its state dir. */
  stateDir?: string;
}

export interface Datacenter extends DatacenterInfo {
  kubeConfig: KubeConfig;
}

declare module "vitest" {
  export interface ProvidedContext {
    ldcDatacenters: DatacenterInfo[];
    ldcBinDirs: string[];
  }
}

const execFileAsync = promisify(execFile);

export async function datacenters(): Promise<Datacenter[]> {
  return inject("ldcDatacenters").map((info) => {
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(info.kubeconfigPath);
    return { ...info, kubeConfig };
  });
}

export interface DedicatedDatacenter {
  /** Its state dir: stop(stateDir, dc.name) and start(stateDir, dc.name) make an outage. */
  stateDir: string;
  dc: DatacenterState;
  /** Removes the datacenter if it was started for the caller; a shared one stays. */
  release(): Promise<void>;
}

/**
 * A datacenter for a test file that needs more of one than a namespace:
 * cluster-scoped objects of its own, or an outage. When this run started the
 * shared datacenters, that is the shared one named `name`, lent to one file:
 * dc2 holds the CLI test's ldc.io objects (the other files use dc2 only in
 * their namespaces), dc3 is stopped by the outage test (no other file uses
 * dc3). A developer's cluster is not disturbed: then a private datacenter
 * is started in .ldc/<prefix>-<pid>.
 */
export async function dedicatedDatacenter(name: "dc2" | "dc3", prefix: string): Promise<DedicatedDatacenter> {
  const shared = inject("ldcDatacenters").find((d) => d.name === name)?.stateDir;
  const dc = shared ? readState(shared)?.datacenters.find((d) => d.name === name) : undefined;
  if (shared && dc) return { stateDir: shared, dc, release: async () => undefined };
  const stateDir = path.join(REPO_DIR, ".ldc", `${prefix}-${process.pid}`);
  const state = await up({ stateDir, datacenters: 1, log: () => undefined });
  return { stateDir, dc: state.datacenters[0]!, release: () => down(stateDir, () => undefined) };
}

/** A unique, DNS-safe name for objects a test creates (cluster-scoped ones especially). */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(3).toString("hex")}`.toLowerCase();
}

const createdNamespaces: { dc: Datacenter; name: string }[] = [];

export async function createTestNamespace(
  dc: Datacenter,
  prefix = "t",
  labels: Record<string, string> = {},
): Promise<string> {
  const name = uniqueName(prefix);
  await dc.kubeConfig.makeApiClient(CoreV1Api).createNamespace({
    body: { metadata: { name, labels: { "ldc.io/test": "true", ...labels } } },
  });
  createdNamespaces.push({ dc, name });
  return name;
}

afterAll(async () => {
  await Promise.all(
    createdNamespaces.splice(0).map(({ dc, name }) =>
      dc.kubeConfig
        .makeApiClient(CoreV1Api)
        .deleteNamespace({ name })
        .catch(() => undefined),
    ),
  );
});

/** Runs a pinned binary from the cache (kubectl, helm) against a datacenter. */
export async function runTool(
  tool: "kubectl" | "helm",
  dc: DatacenterInfo,
  args: string[],
  options: { input?: string } = {},
): Promise<{ stdout: string; stderr: string }> {
  const dirs = inject("ldcBinDirs") ?? [];
  const bin =
    dirs.map((d) => path.join(d, tool)).find((p) => p.includes(tool === "kubectl" ? "kubernetes-" : "helm-")) ?? tool;
  const promise = execFileAsync(bin, [...args, "--kubeconfig", dc.kubeconfigPath], {
    maxBuffer: 64 * 1024 * 1024,
    timeout: 120_000,
  });
  if (options.input !== undefined) {
    promise.child.stdin?.end(options.input);
  }
  return promise;
}

/** Polls until `check` returns a value other than undefined/false, or fails with `what`. */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined | false>,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(
    `timed out after ${timeoutMs / 1000}s waiting for ${what}${lastError ? `: ${String(lastError)}` : ""}`,
  );
}
