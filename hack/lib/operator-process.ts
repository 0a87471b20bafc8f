// The operator as its own process (`node src/main.ts`, as the chart runs it),
// for the benchmarks and the high-availability drill verifier: a process per
// replica, so a replica can be SIGKILLed and does not share an event loop
// with the load it is measured under.
import path from "node:path";
import { spawnNodeProcess, type NodeProcess } from "./node-process.ts";
import { REPO_DIR } from "./tools.ts";

export interface OperatorProcessOptions {
  kubeconfigPath: string;
  namespace: string;
  /** The HTTP port on 127.0.0.1 (health, metrics, routing API). */
  port: number;
  logLevel?: string;
  qps?: number;
  burst?: number;
  sidecarImage: string;
  leaderElect?: boolean;
  routingApiUrl?: string;
  memberRoutingApiUrl?: string;
  routingTokenFile?: string;
  /** --relay: tables and the routing Lease into every zone's relay namespace (default --namespace). */
  relay?: boolean;
  relayNamespace?: string;
  /** Where the process's stdout and stderr go (default: this process's stderr). */
  stdio?: "inherit-stderr" | "ignore";
  /** How long to wait for /readyz (default 60 s). */
  readyTimeoutMs?: number;
  /** Node flags before the script (e.g. --cpu-prof for bench/profile-reconcile.ts). */
  nodeArgs?: readonly string[];
}

/** The operator's process: SIGTERM drains and releases the leader lease. */
export interface OperatorProcess extends NodeProcess {
  metrics(): Promise<string>;
}

/** Starts `node src/main.ts` with `opts` and waits until its /readyz answers 200. */
export async function spawnOperator(opts: OperatorProcessOptions): Promise<OperatorProcess> {
  const args = [
    ...(opts.nodeArgs ?? []),
    path.join(REPO_DIR, "src", "main.ts"),
    "--kubeconfig",
    opts.kubeconfigPath,
    "--namespace",
    opts.namespace,
    "--http-address",
    `127.0.0.1:${opts.port}`,
    "--log-level",
    opts.logLevel ?? "warn",
    "--sidecar-image",
    opts.sidecarImage,
    ...(opts.qps !== undefined ? ["--qps", String(opts.qps)] : []),
    ...(opts.burst !== undefined ? ["--burst", String(opts.burst)] : []),
    ...(opts.leaderElect ? ["--leader-elect"] : []),
    ...(opts.routingApiUrl ? ["--routing-api-url", opts.routingApiUrl] : []),
    ...(opts.memberRoutingApiUrl ? ["--member-routing-api-url", opts.memberRoutingApiUrl] : []),
    ...(opts.routingTokenFile ? ["--routing-token-file", opts.routingTokenFile] : []),
    ...(opts.relay ? ["--relay"] : []),
    ...(opts.relayNamespace ? ["--relay-namespace", opts.relayNamespace] : []),
  ];
  const p = await spawnNodeProcess({
    args,
    port: opts.port,
    what: "the operator",
    ...(opts.stdio ? { stdio: opts.stdio } : {}),
    ...(opts.readyTimeoutMs !== undefined ? { readyTimeoutMs: opts.readyTimeoutMs } : {}),
  });
  return { ...p, metrics: async () => (await fetch(`${p.url}/metrics`)).text() };
}
