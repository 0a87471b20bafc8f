// Drills that stop themselves (spec.abortChecks): what a probe's answer
// means, consecutive failures, and the step function aborting with the
// reason recorded: rolled back before the switch, failed back in the wait.
import { describe, expect, it } from "vitest";
import { parseResource, type Failover, type FailoverStatus } from "../../../src/api/index.ts";
import { AbortCheckRunner } from "../../../src/controllers/abort-checks.ts";
import { httpResult, nextCheckState, prometheusResult, trippedCheck } from "../../../src/reconcilers/abort-checks.ts";
import { stepFailover, type FailoverObservation } from "../../../src/reconcilers/failover.ts";
import { formatFailoverReport } from "../../../src/cli/format.ts";
import { topology, withStatus } from "./fixtures.ts";

const T0 = Date.parse("2026-11-30T10:00:00Z");
const at = (ms: number) => new Date(T0 + ms);
const TOPOLOGY = topology();

function drill(status?: FailoverStatus): Failover {
  const r = parseResource("Failover", {
    apiVersion: "ldc.io/v1alpha1",
    kind: "Failover",
    metadata: { name: "d", generation: 1 },
    spec: {
      type: "Drill",
      target: { cells: ["rz01"] },
      drill: { duration: "10m" },
      writeFreeze: "0s",
      abortChecks: [
        { name: "checkout", http: { url: "http://shop.example/healthz" } },
        {
          name: "errors",
          prometheus: { url: "http://prom:9090", query: "sum(rate(errors[1m]))", above: 0.05 },
          failureThreshold: 2,
        },
      ],
    },
  });
  if (!r.ok) throw new Error(r.errors.join("; "));
  return (status ? { ...r.value, status } : r.value) as Failover;
}

function observation(failed?: { check: string; reason: string }): FailoverObservation {
  return {
    cells: TOPOLOGY.cells,
    zones: TOPOLOGY.zones.map((z) => withStatus(z, { phase: "Ready" })),
    failovers: [],
    rules: [],
    plan: () => ({}),
    epochOf: () => 7,
    destinationNotReady: () => ["not yet"],
    routing: () => ({ epoch: 8 }),
    acknowledged: () => ({ count: 3 }),
    annotation: () => undefined,
    failedCheck: () => failed,
  };
}

describe("abort checks: answers", () => {
  it("an HTTP probe passes on 2xx only; no answer fails with the error", () => {
    expect(httpResult(204)).toEqual({ ok: true });
    expect(httpResult(503)).toEqual({ ok: false, reason: "answered 503" });
    expect(httpResult(undefined, "timeout")).toEqual({ ok: false, reason: "no answer: timeout" });
  });

  it("a Prometheus query fails on a sample beyond its threshold, on no sample, on an error", () => {
    const vector = (...v: string[]) => ({
      status: "success",
      data: { resultType: "vector", result: v.map((x) => ({ metric: {}, value: [1, x] })) },
    });
    const above = { url: "u", query: "q", above: 0.05 };
    expect(prometheusResult(vector("0.01", "0.02"), above)).toEqual({ ok: true });
    expect(prometheusResult(vector("0.01", "0.2"), above)).toEqual({ ok: false, reason: "0.2 > 0.05" });
    expect(
      prometheusResult(
        { status: "success", data: { resultType: "scalar", result: [1, "3"] } },
        { ...above, above: undefined, below: 5 },
      ),
    ).toEqual({ ok: false, reason: "3 < 5" });
    expect(prometheusResult(vector(), above)).toEqual({ ok: false, reason: "the query returned no sample" });
    expect(prometheusResult({ status: "error", error: "parse error" }, above)).toEqual({
      ok: false,
      reason: "query failed: parse error",
    });
  });

  it("trips after failureThreshold consecutive failures; a pass resets the count", () => {
    const fo = drill();
    let errors = nextCheckState(undefined, { ok: false, reason: "0.2 > 0.05" }, 0);
    expect(trippedCheck(fo, (c) => (c === "errors" ? errors : undefined))).toBeUndefined();
    errors = nextCheckState(nextCheckState(errors, { ok: true }, 1), { ok: false, reason: "0.3 > 0.05" }, 2);
    expect(trippedCheck(fo, (c) => (c === "errors" ? errors : undefined))).toBeUndefined();
    errors = nextCheckState(errors, { ok: false, reason: "0.4 > 0.05" }, 3);
    expect(trippedCheck(fo, (c) => (c === "errors" ? errors : undefined))).toEqual({
      check: "errors",
      reason: "0.4 > 0.05 (2 times in a row)",
    });
  });
});

describe("abort checks: the API", () => {
  it("refuses a check with both or neither probe, a Prometheus check without a threshold, or a non-HTTP URL", () => {
    const base = { type: "Drill", target: { cells: ["rz01"] }, drill: { duration: "1m" } };
    const bad = (check: Record<string, unknown>) =>
      parseResource("Failover", {
        apiVersion: "ldc.io/v1alpha1",
        kind: "Failover",
        metadata: { name: "d" },
        spec: { ...base, abortChecks: [{ name: "c", ...check }] },
      });
    expect(bad({}).ok).toBe(false);
    expect(bad({ http: { url: "http://a" }, prometheus: { url: "http://p", query: "q", above: 1 } }).ok).toBe(false);
    expect(bad({ prometheus: { url: "http://p", query: "q" } }).ok).toBe(false);
    expect(bad({ http: { url: "file:///etc/passwd" } }).ok).toBe(false);
    expect(bad({ http: { url: "https://shop.example/healthz" } }).ok).toBe(true);
  });
});

describe("abort checks: the drill stops itself", () => {
  const running = (step: NonNullable<FailoverStatus["step"]>, extra: Partial<FailoverStatus> = {}): FailoverStatus => ({
    phase: "Running",
    step,
    startTime: at(0).toISOString(),
    cells: [{ cell: "rz01", from: "hz-b", to: "hz-a" }],
    steps: [{ name: step, phase: "Running", startTime: at(0).toISOString() }],
    ...extra,
  });
  const tripped = { check: "checkout", reason: "answered 503" };

  it("before the switch: rolled back, Aborted, the check and its reason in status, the message and the report", () => {
    const d = stepFailover(drill(running("ScaleUpStandby")), observation(tripped), at(10));
    expect(d.status?.phase).toBe("Aborted");
    expect(d.status?.abortedBy).toEqual({ check: "checkout", reason: "answered 503", time: at(10).toISOString() });
    expect(d.status?.message).toBe(
      "check checkout failed (answered 503): aborted at ScaleUpStandby: the cells stay where they were; routing returns to the previous owners",
    );
    expect(d.events.map((e) => e.reason)).toEqual(["AbortCheckFailed", "Aborted"]);
    const report = formatFailoverReport({ ...drill(), status: d.status! }, false, at(20));
    expect(report).toContain("aborted by check checkout at 10:00:00: answered 503");
  });

  it("in the drill's wait: fails back now, and ends Aborted saying which check", () => {
    const d = stepFailover(drill(running("DrillWait")), observation(tripped), at(10));
    expect(d.status?.step).toBe("Failback");
    expect(d.status?.abortedBy?.check).toBe("checkout");
    expect(d.status?.steps?.map((s) => s.name)).toEqual(["DrillWait", "Failback"]);
    expect(d.status?.steps?.[0]?.message).toBe("check checkout failed (answered 503): aborted: failing back now");
    // The failback leg's last step ends it Aborted, saying why.
    const end = running("ScaleDownOld", {
      abortedBy: d.status!.abortedBy!,
      steps: [
        { name: "Failback", phase: "Succeeded" },
        { name: "ScaleDownOld", phase: "Running", startTime: at(0).toISOString() },
      ],
    });
    const last = stepFailover(drill(end), observation(), at(20));
    expect(last.status?.phase).toBe("Aborted");
    expect(last.status?.message).toBe("check checkout failed (answered 503): aborted: the drill failed back early");
  });

  it("once failing back, a failing check changes nothing; no check failing changes nothing", () => {
    const back = running("Freeze", {
      steps: [
        { name: "Failback", phase: "Succeeded" },
        { name: "Freeze", phase: "Running", startTime: at(0).toISOString() },
      ],
    });
    expect(stepFailover(drill(back), observation(tripped), at(10)).status?.abortedBy).toBeUndefined();
    expect(stepFailover(drill(running("ScaleUpStandby")), observation(), at(10)).status?.phase).toBeUndefined();
  });
});

describe("AbortCheckRunner", () => {
  it("runs the due checks without being awaited, wakes the Failover, and reports the tripped one", async () => {
    const woken: string[] = [];
    let wake: () => void = () => {};
    const done = new Promise<void>((resolve) => (wake = resolve));
    const fetchImpl = (async (url: string) => {
      if (url.startsWith("http://shop.example")) return new Response("down", { status: 503 });
      return new Response(JSON.stringify({ status: "success", data: { resultType: "vector", result: [] } }));
    }) as typeof fetch;
    const runner = new AbortCheckRunner((n) => {
      woken.push(n);
      if (woken.length === 2) wake();
    }, fetchImpl);
    const fo = drill({ phase: "Running", step: "DrillWait", steps: [] });
    expect(runner.poll(fo, Date.now())).toBeGreaterThan(0);
    await done;
    expect(woken).toEqual(["d", "d"]);
    expect(runner.failed(fo)).toEqual({ check: "checkout", reason: "answered 503" });
    runner.forget("d");
    expect(runner.failed(fo)).toBeUndefined();
  });
});
