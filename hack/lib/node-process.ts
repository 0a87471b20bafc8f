// One of the project's servers as its own `node` process on 127.0.0.1 (the
// operator, a relay), started and stopped as a kubelet would: spawned, ready
// once /readyz answers 200, SIGTERM to stop, SIGKILL for a node failure.
import { spawn, type ChildProcess } from "node:child_process";

export interface NodeProcess {
  pid: number;
  port: number;
  url: string;
  child: ChildProcess;
  /** Resolves when the process has exited, with its exit code or signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM and wait for the exit. */
  stop(): Promise<void>;
  /** SIGKILL (a node failure, the OOM killer) and wait for the exit. */
  kill(): Promise<void>;
}

export interface NodeProcessOptions {
  /** Node flags, the script and its flags. */
  args: readonly string[];
  /** Its HTTP port on 127.0.0.1. */
  port: number;
  /** What it is, for errors ("the relay ldc-relay-hz-a-0"). */
  what: string;
  /** Where its stdout and stderr go (default: this process's stderr; stdout carries benchmarks' results). */
  stdio?: "inherit-stderr" | "ignore";
  /** How long to wait for /readyz (default 60 s). */
  readyTimeoutMs?: number;
  /** Period of the /readyz polls (default 200 ms). */
  pollMs?: number;
}

/** Spawns `node args` and waits until its /readyz answers 200; kills it and throws if it does not in time. */
export async function spawnNodeProcess(o: NodeProcessOptions): Promise<NodeProcess> {
  const out = o.stdio === "ignore" ? "ignore" : 2;
  const child = spawn(process.execPath, [...o.args], { stdio: ["ignore", out, out] });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  const url = `http://127.0.0.1:${o.port}`;
  const timeoutMs = o.readyTimeoutMs ?? 60_000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`${o.what} exited (${child.exitCode ?? child.signalCode}) before it was ready`);
    try {
      if ((await fetch(`${url}/readyz`)).ok) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      await exited;
      throw new Error(`${o.what} on port ${o.port} was not ready within ${timeoutMs / 1000} s`);
    }
    await new Promise((r) => setTimeout(r, o.pollMs ?? 200));
  }
  const signal = async (sig: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(sig);
    await exited;
  };
  return {
    pid: child.pid!,
    port: o.port,
    url,
    child,
    exited,
    stop: () => signal("SIGTERM"),
    kill: () => signal("SIGKILL"),
  };
}
