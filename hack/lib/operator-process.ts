// The operator as its own process (`node src/main.ts`, as the chart runs it),
// for the benchmarks and the high-availability drill verifier: a process per
// replica, so a replica can be SIGKILLed and does not share an event loop
// with the load it is measured under.
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
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

export interface OperatorProcess {
  pid: number;
  port: number;
  url: string;
  child: ChildProcess;
  /** Resolves when the process has exited, with its exit code or signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  metrics(): Promise<string>;
  /** SIGTERM (drains and releases the leader lease) and wait for the exit. */
  stop(): Promise<void>;
  /** SIGKILL, as a node failure or the OOM killer does, and wait for the exit. */
  kill(): Promise<void>;
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
  // stdout of a benchmark carries its JSON result line: the operator never writes there.
  const child = spawn(process.execPath, args, {
    stdio: ["ignore", opts.stdio === "ignore" ? "ignore" : 2, opts.stdio === "ignore" ? "ignore" : 2],
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  const url = `http://127.0.0.1:${opts.port}`;
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 60_000);
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`the operator exited (${child.exitCode ?? child.signalCode}) before it was ready`);
    try {
      if ((await fetch(`${url}/readyz`)).ok) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      await exited;
      throw new Error(
        `the operator on port ${opts.port} was not ready within ${(opts.readyTimeoutMs ?? 60_000) / 1000} s`,
      );
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  const signal = async (sig: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(sig);
    await exited;
  };
  return {
    pid: child.pid!,
    port: opts.port,
    url,
    child,
    exited,
    metrics: async () => (await fetch(`${url}/metrics`)).text(),
    stop: () => signal("SIGTERM"),
    kill: () => signal("SIGKILL"),
  };
}
