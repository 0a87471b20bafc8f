// Runs the abort checks of running Failovers (spec.abortChecks): HTTP probes
// and Prometheus queries, each at its interval, never awaited by a reconcile
// (a slow probe must not hold the single failover worker). A finished run
// wakes the Failover, whose step function reads the result (failedCheck).
// What the answers mean is pure: src/reconcilers/abort-checks.ts.
import { parseDuration, type AbortCheck, type Failover } from "../api/index.ts";
import {
  httpResult,
  isDue,
  nextCheckState,
  prometheusResult,
  trippedCheck,
  type CheckResult,
  type CheckState,
} from "../reconcilers/abort-checks.ts";
import { isFailingBack, isFinished } from "../reconcilers/failover.ts";

/** The most of a Prometheus answer read (a query meant for a threshold answers a few samples). */
const MAX_BODY = 1 << 20;

export class AbortCheckRunner {
  readonly #state = new Map<string, CheckState>();
  readonly #running = new Set<string>();
  readonly #wake: (failover: string) => void;
  readonly #fetch: typeof fetch;

  constructor(wake: (failover: string) => void, fetchImpl: typeof fetch = fetch) {
    this.#wake = wake;
    this.#fetch = fetchImpl;
  }

  /** Starts the due checks of `fo` (while it runs and has not begun failing back); ms until the next is due. */
  poll(fo: Failover, nowMs: number): number | undefined {
    const name = fo.metadata.name;
    if (isFinished(fo) || fo.status?.phase !== "Running" || isFailingBack(fo)) {
      this.forget(name);
      return undefined;
    }
    let next: number | undefined;
    for (const c of fo.spec.abortChecks ?? []) {
      const key = `${name}/${c.name}`;
      const state = this.#state.get(key);
      if (!this.#running.has(key) && isDue(c, state, nowMs)) {
        this.#running.add(key);
        void this.#run(c).then((result) => {
          this.#running.delete(key);
          this.#state.set(key, nextCheckState(this.#state.get(key), result, Date.now()));
          this.#wake(name);
        });
      }
      const due = parseDuration(c.interval) - (nowMs - (state?.lastRunMs ?? nowMs));
      next = Math.min(next ?? Infinity, Math.max(due, 50));
    }
    return next;
  }

  failed(fo: Failover): { check: string; reason: string } | undefined {
    return trippedCheck(fo, (check) => this.#state.get(`${fo.metadata.name}/${check}`));
  }

  forget(failover: string): void {
    for (const k of [...this.#state.keys()]) if (k.startsWith(`${failover}/`)) this.#state.delete(k);
  }

  async #run(c: AbortCheck): Promise<CheckResult> {
    const signal = AbortSignal.timeout(parseDuration(c.timeout));
    try {
      if (c.http) {
        const res = await this.#fetch(c.http.url, { signal, redirect: "manual" });
        await res.body?.cancel();
        return httpResult(res.status);
      }
      const p = c.prometheus!;
      const url = `${p.url.replace(/\/+$/, "")}/api/v1/query?query=${encodeURIComponent(p.query)}`;
      const res = await this.#fetch(url, { signal, redirect: "manual" });
      const text = await res.text();
      if (text.length > MAX_BODY) return { ok: false, reason: `the answer is over ${MAX_BODY} bytes` };
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        return { ok: false, reason: `answered ${res.status}, not JSON` };
      }
      return prometheusResult(body, p);
    } catch (e) {
      return c.http
        ? httpResult(undefined, (e as Error).message)
        : { ok: false, reason: `no answer: ${(e as Error).message}` };
    }
  }
}
