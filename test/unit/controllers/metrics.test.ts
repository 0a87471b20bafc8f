// The domain metrics (src/controllers/metrics.ts): a registry scraped after
// feeding it cache-like state, and the counters and histograms of Failovers
// driven through the real step function, each write counted once.
import { describe, expect, it } from "vitest";
import type { Failover, ShardingRule, Zone } from "../../../src/api/index.ts";
import { createDomainMetrics, type DomainMetricsSource } from "../../../src/controllers/metrics.ts";
import { stepFailover, type FailoverObservation } from "../../../src/reconcilers/failover.ts";
import type { RuleSidecars } from "../../../src/reconcilers/metrics.ts";
import { readyObservation, topology, withStatus } from "../reconcilers/fixtures.ts";

const T0 = Date.parse("2026-11-21T10:00:00Z");
const iso = (ms: number) => new Date(T0 + ms).toISOString();
const DAY = 86_400_000;

const TOPOLOGY = topology();
const zone = (name: string, phase?: string, created = 0): Zone => {
  const z = TOPOLOGY.zones.find((x) => x.metadata.name === name)!;
  const withMeta = { ...z, metadata: { ...z.metadata, creationTimestamp: iso(created) } };
  return phase ? withStatus(withMeta, { phase }) : withMeta;
};

function failover(name: string, spec: Partial<Failover["spec"]>, status?: Failover["status"]): Failover {
  return {
    apiVersion: "ldc.io/v1alpha1",
    kind: "Failover",
    metadata: { name, generation: 1, creationTimestamp: iso(0) },
    spec: {
      type: "Emergency",
      target: { zone: "hz-a" },
      writeFreeze: "0s",
      timeouts: { step: "2m" },
      abort: false,
      ...spec,
    },
    ...(status ? { status } : {}),
  } as Failover;
}

const drill = (
  name: string,
  phase: string,
  completedMs: number,
  target: Failover["spec"]["target"] = { zone: "hz-a" },
) =>
  failover(
    name,
    { type: "Drill", drill: { duration: "10m" }, target },
    {
      phase: phase as "Succeeded",
      step: "Done",
      completionTime: iso(completedMs),
      cells: [{ cell: "rz00", from: "hz-a", to: "hz-b" }],
    },
  );

const rule = (name: string, epoch?: number): ShardingRule =>
  ({ metadata: { name }, spec: {}, ...(epoch !== undefined ? { status: { epoch } } : {}) }) as unknown as ShardingRule;

function source(
  s: Partial<{ [K in keyof DomainMetricsSource]: ReturnType<DomainMetricsSource[K]> }>,
): DomainMetricsSource {
  return {
    zones: () => s.zones ?? [],
    rules: () => s.rules ?? [],
    failovers: () => s.failovers ?? [],
    sidecars: () => s.sidecars,
  };
}

/** The scrape as "name{a="x",b="y"}" -> value, labels in exposition order. */
async function scrape(m: ReturnType<typeof createDomainMetrics>): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const line of (await m.registry.metrics()).split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const i = line.lastIndexOf(" ");
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

const series = (all: Map<string, number>, name: string) =>
  Object.fromEntries([...all].filter(([k]) => k === name || k.startsWith(`${name}{`)));

describe("domain gauges, from the caches at scrape time", () => {
  it("export each zone's phase as one 1 among its phases, and when the zone was created", async () => {
    const m = createDomainMetrics(source({ zones: [zone("hz-a", "Unreachable", 5000), zone("hz-b")] }));
    const s = await scrape(m);
    expect(series(s, "ldc_zone_phase")).toEqual({
      'ldc_zone_phase{zone="hz-a",phase="Pending"}': 0,
      'ldc_zone_phase{zone="hz-a",phase="Ready"}': 0,
      'ldc_zone_phase{zone="hz-a",phase="Degraded"}': 0,
      'ldc_zone_phase{zone="hz-a",phase="Unreachable"}': 1,
      // Never probed: Pending.
      'ldc_zone_phase{zone="hz-b",phase="Pending"}': 1,
      'ldc_zone_phase{zone="hz-b",phase="Ready"}': 0,
      'ldc_zone_phase{zone="hz-b",phase="Degraded"}': 0,
      'ldc_zone_phase{zone="hz-b",phase="Unreachable"}': 0,
    });
    expect(s.get('ldc_zone_created_timestamp_seconds{zone="hz-a"}')).toBe((T0 + 5000) / 1000);
  });

  it("follow the caches: a zone deleted since the last scrape is gone", async () => {
    let zones = [zone("hz-a", "Ready"), zone("hz-b", "Ready")];
    const m = createDomainMetrics({ ...source({}), zones: () => zones });
    expect(Object.keys(series(await scrape(m), "ldc_zone_phase"))).toHaveLength(8);
    zones = [zone("hz-a", "Degraded")];
    expect(series(await scrape(m), "ldc_zone_phase")).toMatchObject({
      'ldc_zone_phase{zone="hz-a",phase="Degraded"}': 1,
      'ldc_zone_phase{zone="hz-a",phase="Ready"}': 0,
    });
    expect(Object.keys(series(await scrape(m), "ldc_zone_phase"))).toHaveLength(4);
  });

  it("export each rule's epoch, and its deployed sidecars per zone as current, behind or silent", async () => {
    const sidecars: RuleSidecars[] = [
      {
        rule: "users",
        epoch: 12,
        expected: [
          { sidecar: "pay/a-1", zone: "hz-a" },
          { sidecar: "pay/a-2", zone: "hz-a" },
          { sidecar: "pay/b-1", zone: "hz-b" },
          { sidecar: "pay/b-2", zone: "hz-b" },
        ],
        // b-2 never acknowledged; an ack from a pod the operator did not deploy does not count.
        acks: [
          { sidecar: "pay/a-1", epoch: 12 },
          { sidecar: "pay/a-2", epoch: 13 },
          { sidecar: "pay/b-1", epoch: 11 },
          { sidecar: "pay/stray", epoch: 3 },
        ],
      },
      { rule: "orders", epoch: undefined, expected: [{ sidecar: "pay/a-1", zone: "hz-a" }], acks: [] },
    ];
    const s = await scrape(createDomainMetrics(source({ rules: [rule("users", 12), rule("orders")], sidecars })));
    expect(series(s, "ldc_rule_epoch")).toEqual({ 'ldc_rule_epoch{rule="users"}': 12 });
    expect(series(s, "ldc_rule_sidecars")).toEqual({
      'ldc_rule_sidecars{rule="users",zone="hz-a",state="current"}': 2,
      'ldc_rule_sidecars{rule="users",zone="hz-a",state="behind"}': 0,
      'ldc_rule_sidecars{rule="users",zone="hz-a",state="silent"}': 0,
      'ldc_rule_sidecars{rule="users",zone="hz-b",state="current"}': 0,
      'ldc_rule_sidecars{rule="users",zone="hz-b",state="behind"}': 1,
      'ldc_rule_sidecars{rule="users",zone="hz-b",state="silent"}': 1,
    });
  });

  it("leave the sidecars out on a replica that does not hear their acknowledgements (a follower)", async () => {
    const s = await scrape(createDomainMetrics(source({ rules: [rule("users", 3)], sidecars: undefined })));
    expect(series(s, "ldc_rule_epoch")).toEqual({ 'ldc_rule_epoch{rule="users"}': 3 });
    expect(series(s, "ldc_rule_sidecars")).toEqual({});
  });

  it("export per zone the last successful drill and whether the last drill that ran to an end succeeded", async () => {
    const failovers = [
      drill("d1", "Succeeded", 1 * DAY),
      drill("d2", "RolledBack", 3 * DAY),
      drill("d3", "Aborted", 4 * DAY), // a person's decision: neither
      drill("d4", "Succeeded", 2 * DAY, { cells: ["rz00"] }), // zone from the cells it moved: hz-a
      drill("e1", "Succeeded", 2 * DAY, { zone: "hz-b" }),
      { ...drill("e2", "Failed", 5 * DAY, { zone: "hz-b" }), spec: { ...drill("x", "", 0).spec, type: "Emergency" } },
    ] as Failover[];
    const s = await scrape(createDomainMetrics(source({ failovers })));
    expect(series(s, "ldc_zone_last_successful_drill_timestamp_seconds")).toEqual({
      'ldc_zone_last_successful_drill_timestamp_seconds{zone="hz-a"}': (T0 + 2 * DAY) / 1000,
      'ldc_zone_last_successful_drill_timestamp_seconds{zone="hz-b"}': (T0 + 2 * DAY) / 1000,
    });
    // hz-a's last drill rolled back; hz-b's last drill succeeded (an Emergency failover is no drill).
    expect(series(s, "ldc_zone_last_drill_succeeded")).toEqual({
      'ldc_zone_last_drill_succeeded{zone="hz-a"}': 0,
      'ldc_zone_last_drill_succeeded{zone="hz-b"}': 1,
    });
  });

  it("export the unfinished failovers per type and step, and the earliest deadline of each step", async () => {
    const running = (name: string, step: string, startMs: number, spec: Partial<Failover["spec"]> = {}) =>
      failover(name, spec, {
        phase: "Running",
        step: step as "Freeze",
        steps: [{ name: step as "Freeze", phase: "Running", startTime: iso(startMs) }],
      });
    const failovers = [
      running("a", "Freeze", 0),
      running("b", "Freeze", 30_000, { timeouts: { step: "5m" } }),
      running("c", "DrillWait", 0, { type: "Drill", drill: { duration: "1h" } }),
      failover("pending", {}), // not started: at Preflight since its creation
      drill("done", "Succeeded", 0),
    ];
    const s = await scrape(createDomainMetrics(source({ failovers })));
    const runningNow = Object.entries(series(s, "ldc_failovers_running")).filter(([, v]) => v > 0);
    expect(Object.fromEntries(runningNow)).toEqual({
      'ldc_failovers_running{type="Emergency",step="Preflight"}': 1,
      'ldc_failovers_running{type="Emergency",step="Freeze"}': 2,
      'ldc_failovers_running{type="Drill",step="DrillWait"}': 1,
    });
    // 2 types x 9 steps (Done is no step one waits in), zeros included.
    expect(Object.keys(series(s, "ldc_failovers_running"))).toHaveLength(18);
    expect(series(s, "ldc_failover_step_deadline_timestamp_seconds")).toEqual({
      'ldc_failover_step_deadline_timestamp_seconds{type="Emergency",step="Preflight"}': (T0 + 120_000) / 1000,
      'ldc_failover_step_deadline_timestamp_seconds{type="Emergency",step="Freeze"}': (T0 + 120_000) / 1000,
      'ldc_failover_step_deadline_timestamp_seconds{type="Drill",step="DrillWait"}': (T0 + 3_600_000) / 1000,
    });
  });
});

describe("failover counters and histograms, observed on the status a write completes", () => {
  const zones = TOPOLOGY.zones.map((z) => withStatus(z, { phase: "Ready" }));
  const observation = (o: Partial<FailoverObservation> = {}) => readyObservation({ cells: TOPOLOGY.cells, zones }, o);

  /** Runs `fo` to its end as the controller does: each decision's status written, counted, and read back. */
  function run(m: ReturnType<typeof createDomainMetrics>, fo: Failover, obs = observation()): Failover {
    let t = 0;
    for (let i = 0; i < 1000 && fo.status?.step !== "Done"; i++) {
      const d = stepFailover(fo, obs, new Date(T0 + t));
      if (d.status) {
        m.failoverWritten(fo, d.status);
        fo = { ...fo, status: d.status };
      }
      t += Math.max(d.requeueAfterMs ?? 0, 1000);
    }
    return fo;
  }

  it("count a drill once, with its steps, RTO and write freeze, from zero", async () => {
    const m = createDomainMetrics(source({}));
    const before = await scrape(m);
    expect(before.get('ldc_failovers_total{type="Drill",result="Succeeded"}')).toBe(0);
    expect(before.get('ldc_failovers_total{type="Emergency",result="RolledBack"}')).toBe(0);

    const done = run(m, failover("d", { type: "Drill", drill: { duration: "10m" }, target: { cells: ["rz00"] } }));
    expect(done.status?.phase).toBe("Succeeded");
    // Reconciles of the finished Failover (a resync, another replica's cache) write nothing and count nothing.
    expect(stepFailover(done, observation(), new Date(T0 + DAY)).status).toBeUndefined();

    const s = await scrape(m);
    expect(s.get('ldc_failovers_total{type="Drill",result="Succeeded"}')).toBe(1);
    expect(s.get('ldc_failovers_total{type="Drill",result="Failed"}')).toBe(0);
    expect(s.get('ldc_failover_rto_seconds_count{type="Drill"}')).toBe(1);
    expect(s.get('ldc_failover_write_freeze_seconds_count{type="Drill"}')).toBe(1);
    // Both legs' Freeze, the drill wait once (10 minutes from the switch, so a little less here).
    expect(s.get('ldc_failover_step_duration_seconds_count{step="Freeze"}')).toBe(2);
    expect(s.get('ldc_failover_step_duration_seconds_count{step="DrillWait"}')).toBe(1);
    expect(s.get('ldc_failover_step_duration_seconds_bucket{le="300",step="DrillWait"}')).toBe(0);
    expect(s.get('ldc_failover_step_duration_seconds_bucket{le="600",step="DrillWait"}')).toBe(1);
    const stepCount = [...s].filter(([k]) => k.startsWith("ldc_failover_step_duration_seconds_count"));
    const recorded = done.status!.steps!.filter((x) => x.phase === "Succeeded").length;
    expect(stepCount.reduce((n, [, v]) => n + v, 0)).toBe(recorded);
  });

  it("count a rollback by its result, and only the steps that succeeded", async () => {
    const m = createDomainMetrics(source({}));
    const done = run(
      m,
      failover("e", { target: { cells: ["rz00"] } }),
      observation({ routing: () => ({ waiting: "never published", retryMs: 1000 }) }),
    );
    expect(done.status?.phase).toBe("RolledBack");
    const s = await scrape(m);
    expect(s.get('ldc_failovers_total{type="Emergency",result="RolledBack"}')).toBe(1);
    expect(s.get('ldc_failovers_total{type="Emergency",result="Succeeded"}')).toBe(0);
    expect(s.get('ldc_failover_step_duration_seconds_count{step="Freeze"}')).toBeUndefined();
    expect(s.get('ldc_failover_step_duration_seconds_count{step="ScaleUpStandby"}')).toBe(1);
    expect(s.get('ldc_failover_rto_seconds_count{type="Emergency"}')).toBeUndefined();
  });
});
