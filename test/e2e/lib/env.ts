// Plumbing shared by the drill verifiers (drill.test.ts, ha.test.ts and the
// soak): waiting for a condition, kubectl without blocking the event loop,
// the examples with the verifiers' tweaks, and a member cluster reached
// through a PartitionProxy.
import { execFile } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { parseAllDocuments } from "yaml";
import type { DatacenterState } from "../../../hack/lib/controlplane.ts";
import { EXAMPLES_DIR, OPERATOR_NAMESPACE, kubectl } from "../../../hack/lib/examples.ts";
import { toolPaths } from "../../../hack/lib/tools.ts";
import { PartitionProxy } from "./partition.ts";

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const execFileAsync = promisify(execFile);

/** kubectl against `dc`, without blocking the event loop (sidecars and load run in this process). */
export async function kc(dc: DatacenterState, args: string[], input?: string): Promise<string> {
  const p = execFileAsync(toolPaths().kubectl, ["--kubeconfig", dc.kubeconfigPath, ...args], {
    maxBuffer: 64 * 1024 * 1024,
    timeout: 60_000,
  });
  if (input !== undefined) p.child.stdin?.end(input);
  return (await p).stdout;
}

/** Polls `check` until it returns a value (not undefined/false); throws after `timeoutMs` with the last error. */
export async function eventually<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs: number,
  pollMs = 250,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}${last ? `: ${String(last)}` : ""}`);
    await sleep(pollMs);
  }
}

/** A free port of 127.0.0.1 (fixed before a server starts, when others must be told its URL). */
export { freePort } from "../../../hack/lib/ports.ts";

/** The example files, with the tweaks for speed and for the outage scenario. */
export function tweakedExamples(): string {
  type Doc = { metadata: { name: string }; spec: Record<string, unknown> & { health?: Record<string, unknown> } };
  const docs = (file: string) =>
    parseAllDocuments(readFileSync(path.join(EXAMPLES_DIR, file), "utf8")).map((d) => d.toJSON() as Doc);
  const zones = docs("10-zones.yaml");
  for (const z of zones) z.spec.health = { ...z.spec.health, failureThreshold: "5s" };
  const cells = docs("20-cells.yaml");
  for (const c of cells) {
    if (c.metadata.name === "rz00") c.spec.failover = { mode: "Automatic", cooldown: "10s" };
    // The outage of hz-b (scenario 3) needs an Automatic Regional cell active there after
    // scenario 1 moved rz01 out: rz03 lives in hz-b with sh-a as its standby.
    if (c.metadata.name === "rz03") {
      c.spec.zone = "hz-b";
      c.spec.standbyZones = ["sh-a"];
      c.spec.failover = { mode: "Automatic", cooldown: "10s" };
    }
  }
  return JSON.stringify({ apiVersion: "v1", kind: "List", items: [...zones, ...cells] });
}

/**
 * The operator reaches the member cluster `member` (its zone's kubeconfig
 * Secret `secret`) through a PartitionProxy that a scenario can cut; written
 * into the operator's namespace of `home`. `stateDir` holds the kubeconfig.
 */
export async function memberThroughProxy(
  home: DatacenterState,
  member: DatacenterState,
  secret: string,
  stateDir: string,
): Promise<PartitionProxy> {
  const proxy = await PartitionProxy.start({ host: "127.0.0.1", port: member.ports.apiserver });
  const kubeconfig = path.join(stateDir, `${member.name}-through-proxy.kubeconfig`);
  writeFileSync(
    kubeconfig,
    readFileSync(member.kubeconfigPath, "utf8").replaceAll(
      `https://127.0.0.1:${member.ports.apiserver}`,
      `https://127.0.0.1:${proxy.port}`,
    ),
  );
  kubectl(
    home.kubeconfigPath,
    ["apply", "-f", "-"],
    kubectl(home.kubeconfigPath, [
      "create",
      "secret",
      "generic",
      secret,
      "-n",
      OPERATOR_NAMESPACE,
      `--from-file=kubeconfig=${kubeconfig}`,
      "--dry-run=client",
      "-o",
      "yaml",
    ]),
  );
  return proxy;
}
