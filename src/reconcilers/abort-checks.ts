// A drill's abort checks (spec.abortChecks): what one run's answer means,
// and when enough consecutive failures trip the check. Pure; the controller
// runs the probes (src/controllers/abort-checks.ts).
import { parseDuration, type AbortCheck, type Failover } from "../api/index.ts";

/** One run: passed, or failed and why. */
export type CheckResult = { ok: true } | { ok: false; reason: string };

/** What the controller remembers of one check of one Failover. */
export interface CheckState {
  lastRunMs: number;
  failures: number;
  lastReason?: string;
}

/** An HTTP probe's answer: a 2xx status passes. */
export function httpResult(status: number | undefined, error?: string): CheckResult {
  if (status === undefined) return { ok: false, reason: `no answer: ${error ?? "unknown error"}` };
  return status >= 200 && status < 300 ? { ok: true } : { ok: false, reason: `answered ${status}` };
}

/**
 * A Prometheus instant query's answer (the /api/v1/query JSON) against the
 * check's threshold: any sample beyond it fails; no sample fails too (the
 * drill cannot be shown safe), as does an error or an unreadable answer.
 */
export function prometheusResult(body: unknown, check: NonNullable<AbortCheck["prometheus"]>): CheckResult {
  const b = body as { status?: string; error?: string; data?: { resultType?: string; result?: unknown } } | undefined;
  if (b?.status !== "success") return { ok: false, reason: `query failed: ${b?.error ?? "not a Prometheus answer"}` };
  const values: number[] = [];
  const r = b.data?.result;
  if (b.data?.resultType === "scalar" && Array.isArray(r)) values.push(Number(r[1]));
  else if (b.data?.resultType === "vector" && Array.isArray(r))
    for (const s of r as { value?: [number, string] }[]) values.push(Number(s.value?.[1]));
  else
    return {
      ok: false,
      reason: `unsupported result type ${String(b.data?.resultType)}: use a query that returns a vector or a scalar`,
    };
  if (values.length === 0) return { ok: false, reason: "the query returned no sample" };
  for (const v of values) {
    if (Number.isNaN(v)) return { ok: false, reason: "a sample is NaN" };
    if (check.above !== undefined && v > check.above) return { ok: false, reason: `${v} > ${check.above}` };
    if (check.below !== undefined && v < check.below) return { ok: false, reason: `${v} < ${check.below}` };
  }
  return { ok: true };
}

/** The state after one run. */
export function nextCheckState(prev: CheckState | undefined, result: CheckResult, nowMs: number): CheckState {
  if (result.ok) return { lastRunMs: nowMs, failures: 0 };
  return { lastRunMs: nowMs, failures: (prev?.failures ?? 0) + 1, lastReason: result.reason };
}

/** Whether a check is due to run again. */
export function isDue(check: AbortCheck, state: CheckState | undefined, nowMs: number): boolean {
  return state === undefined || nowMs - state.lastRunMs >= parseDuration(check.interval);
}

/** The first check (in spec order) that has failed failureThreshold times in a row, with its reason. */
export function trippedCheck(
  fo: Pick<Failover, "spec">,
  state: (check: string) => CheckState | undefined,
): { check: string; reason: string } | undefined {
  for (const c of fo.spec.abortChecks ?? []) {
    const s = state(c.name);
    if (s && s.failures >= c.failureThreshold)
      return {
        check: c.name,
        reason: `${s.lastReason ?? "failed"}${c.failureThreshold > 1 ? ` (${s.failures} times in a row)` : ""}`,
      };
  }
  return undefined;
}
