// What integration tests use to reach the simulated datacenters started by
// global-setup.ts. Every test isolates itself in namespaces it creates here;
// they are deleted when the test file ends.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import path from "node:path";
import { promisify } from "node:util";
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { afterAll, inject } from "vitest";

export interface DatacenterInfo {
  name: string;
  index: number;
  region: string;
  zone: string;
  kubeconfigPath: string;
  /** true when the cluster came from LDC_KUBECONFIGS (it cannot be stopped by tests). */
  external: boolean;
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
