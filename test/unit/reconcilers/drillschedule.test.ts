import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { DrillSchedule, Failover, FailoverPhase } from "../../../src/api/index.ts";
import { parseCron } from "../../../src/reconcilers/cron.ts";
import {
  DRILL_SCHEDULE_LABEL,
  MAX_REQUEUE_MS,
  SCHEDULED_TIME_ANNOTATION,
  drillRunName,
  drillScheduleLabelValue,
  latestDue,
  planDrillSchedule,
} from "../../../src/reconcilers/drillschedule.ts";

const UID = "0d3c7c2e-1111-2222-3333-444455556666";

function schedule(
  spec: Partial<DrillSchedule["spec"]> = {},
  status?: DrillSchedule["status"],
  name = "weekly-sh-a",
): DrillSchedule {
  return {
    apiVersion: "ldc.io/v1alpha1",
    kind: "DrillSchedule",
    metadata: { name, uid: UID, generation: 3, creationTimestamp: "2026-11-01T00:00:00Z" },
    spec: {
      schedule: "0 3 * * 6",
      timeZone: "Asia/Shanghai",
      historyLimit: 3,
      suspend: false,
      template: {
        type: "Drill",
        target: { zone: "sh-a" },
        drill: { duration: "15m" },
        writeFreeze: "5s",
        timeouts: { step: "2m" },
        abort: false,
      },
      ...spec,
    },
    ...(status ? { status } : {}),
  };
}

function failover(name: string, scheduled: string, phase?: FailoverPhase, extra: Partial<Failover["status"]> = {}) {
  return {
    apiVersion: "ldc.io/v1alpha1",
    kind: "Failover",
    metadata: {
      name,
      uid: `uid-${name}`,
      creationTimestamp: scheduled,
      labels: { [DRILL_SCHEDULE_LABEL]: "weekly-sh-a" },
      annotations: { [SCHEDULED_TIME_ANNOTATION]: scheduled },
      ownerReferences: [
        { apiVersion: "ldc.io/v1alpha1", kind: "DrillSchedule", name: "weekly-sh-a", uid: UID, controller: true },
      ],
    },
    spec: {
      type: "Drill",
      target: { zone: "sh-a" },
      drill: { duration: "15m" },
      writeFreeze: "5s",
      timeouts: { step: "2m" },
      abort: false,
    },
    ...(phase ? { status: { phase, ...extra } } : {}),
  } as Failover;
}

// Saturdays 03:00 Asia/Shanghai = Fridays 19:00Z
const SAT_1 = "2026-11-06T19:00:00Z";
const SAT_2 = "2026-11-13T19:00:00Z";
const SAT_3 = "2026-11-20T19:00:00Z";
const SAT_4 = "2026-11-27T19:00:00Z";

describe("planDrillSchedule", () => {
  it("does nothing before the first time, and asks to be woken at it", () => {
    const now = new Date("2026-11-02T00:00:00Z");
    const plan = planDrillSchedule({ schedule: schedule(), failovers: [], now });
    expect(plan.create).toBeUndefined();
    expect(plan.delete).toEqual([]);
    expect(plan.status.nextScheduleTime).toBe(SAT_1);
    expect(plan.status.lastScheduleTime).toBeUndefined();
    expect(plan.requeueAfterMs).toBe(Math.min(Date.parse(SAT_1) - now.getTime(), MAX_REQUEUE_MS));
    expect(plan.status.conditions?.find((c) => c.type === "Ready")).toMatchObject({
      status: "True",
      reason: "Scheduled",
    });
    expect(plan.status.conditions?.find((c) => c.type === "Valid")).toMatchObject({ status: "True" });
  });

  it("creates the due run's Failover from the template: name, label, owner, annotation, spec", () => {
    const now = new Date("2026-11-06T19:00:05Z");
    const plan = planDrillSchedule({ schedule: schedule(), failovers: [], now });
    expect(plan.create).toEqual({
      apiVersion: "ldc.io/v1alpha1",
      kind: "Failover",
      metadata: {
        name: "weekly-sh-a-20261107-0300",
        labels: { "ldc.io/drill-schedule": "weekly-sh-a", "app.kubernetes.io/managed-by": "ldc-operator" },
        annotations: { "ldc.io/scheduled-time": SAT_1 },
        ownerReferences: [
          { apiVersion: "ldc.io/v1alpha1", kind: "DrillSchedule", name: "weekly-sh-a", uid: UID, controller: true },
        ],
      },
      spec: {
        type: "Drill",
        target: { zone: "sh-a" },
        drill: { duration: "15m" },
        writeFreeze: "5s",
        timeouts: { step: "2m" },
        abort: false,
        reason: `scheduled drill: DrillSchedule weekly-sh-a, run of ${SAT_1}`,
      },
    });
    expect(plan.status.lastScheduleTime).toBe(SAT_1);
    expect(plan.status.nextScheduleTime).toBe(SAT_2);
    expect(plan.status.history).toEqual([
      { failover: "weekly-sh-a-20261107-0300", scheduledTime: SAT_1, phase: "Pending" },
    ]);
    expect(plan.events).toEqual([
      {
        type: "Normal",
        reason: "DrillCreated",
        message: `created Failover weekly-sh-a-20261107-0300 for the run of ${SAT_1}`,
      },
    ]);
    expect(plan.status.observedGeneration).toBe(3);
  });

  it("is idempotent: the same inputs plan the same Failover name (a second create gets 409)", () => {
    const now = new Date("2026-11-06T19:00:05Z");
    const a = planDrillSchedule({ schedule: schedule(), failovers: [], now });
    const b = planDrillSchedule({ schedule: schedule(), failovers: [], now: new Date("2026-11-06T19:30:00Z") });
    expect(b.create?.metadata.name).toBe(a.create?.metadata.name);
  });

  it("after recording the run, waits for the next time", () => {
    const now = new Date("2026-11-06T19:00:10Z");
    const s = schedule({}, { lastScheduleTime: SAT_1 });
    const plan = planDrillSchedule({
      schedule: s,
      failovers: [failover("weekly-sh-a-20261107-0300", SAT_1, "Succeeded", { rtoMilliseconds: 1234 })],
      now,
    });
    expect(plan.create).toBeUndefined();
    expect(plan.status.lastScheduleTime).toBe(SAT_1);
    expect(plan.status.history).toEqual([
      { failover: "weekly-sh-a-20261107-0300", scheduledTime: SAT_1, phase: "Succeeded", rtoMilliseconds: 1234 },
    ]);
    expect(plan.events).toEqual([]);
  });

  it("forbids concurrency: skips a due run while the previous drill is Pending or Running, with a Warning", () => {
    for (const phase of ["Pending", "Running", undefined] as const) {
      const plan = planDrillSchedule({
        schedule: schedule({}, { lastScheduleTime: SAT_1 }),
        failovers: [failover("weekly-sh-a-20261107-0300", SAT_1, phase)],
        now: new Date("2026-11-13T19:00:01Z"),
      });
      expect(plan.create, String(phase)).toBeUndefined();
      expect(plan.skipped).toMatch(
        /run of 2026-11-13T19:00:00Z was skipped: Failover weekly-sh-a-20261107-0300 is still/,
      );
      expect(plan.status.lastScheduleTime).toBe(SAT_2);
      expect(plan.status.nextScheduleTime).toBe(SAT_3);
      expect(plan.status.conditions?.find((c) => c.type === "Skipped")).toMatchObject({
        status: "True",
        reason: "PreviousDrillRunning",
      });
      expect(plan.events.map((e) => `${e.type}/${e.reason}`)).toEqual(["Warning/DrillSkipped"]);
    }
  });

  it("creates only the latest of several missed runs, and says so", () => {
    const plan = planDrillSchedule({
      schedule: schedule({}, { lastScheduleTime: SAT_1 }),
      failovers: [failover("weekly-sh-a-20261107-0300", SAT_1, "Succeeded")],
      now: new Date("2026-11-28T00:00:00Z"),
    });
    expect(plan.create?.metadata.name).toBe("weekly-sh-a-20261128-0300");
    expect(plan.create?.metadata.annotations[SCHEDULED_TIME_ANNOTATION]).toBe(SAT_4);
    expect(plan.status.lastScheduleTime).toBe(SAT_4);
    expect(plan.events[0]).toMatchObject({ type: "Warning", reason: "MissedRuns" });
    expect(plan.events[0]!.message).toMatch(/^2 earlier run\(s\) were missed/);
  });

  it("counts from the creation time when it has never run", () => {
    const plan = planDrillSchedule({
      schedule: schedule({ schedule: "* * * * *", timeZone: undefined }),
      failovers: [],
      now: new Date("2026-11-01T00:00:30Z"),
    });
    expect(plan.create).toBeUndefined();
    expect(plan.status.nextScheduleTime).toBe("2026-11-01T00:01:00Z");
    expect(plan.requeueAfterMs).toBe(30_000);
  });

  it("keeps running runs and the newest historyLimit finished ones; deletes older finished ones, oldest first", () => {
    const fos = [
      failover("d1", "2026-10-01T19:00:00Z", "Succeeded"),
      failover("d2", "2026-10-08T19:00:00Z", "Failed"),
      failover("d3", "2026-10-15T19:00:00Z", "RolledBack"),
      failover("d4", "2026-10-22T19:00:00Z", "Aborted"),
      failover("d5", "2026-10-29T19:00:00Z", "Succeeded", { rtoMilliseconds: 900 }),
      failover("d6", SAT_1, "Running"),
    ];
    const plan = planDrillSchedule({
      schedule: schedule({ historyLimit: 2 }, { lastScheduleTime: SAT_1 }),
      failovers: [...fos].reverse(),
      now: new Date("2026-11-07T00:00:00Z"),
    });
    expect(plan.status.history?.map((h) => `${h.failover}:${h.phase}`)).toEqual([
      "d6:Running",
      "d5:Succeeded",
      "d4:Aborted",
    ]);
    expect(plan.status.history?.[1]?.rtoMilliseconds).toBe(900);
    expect(plan.delete).toEqual([
      { name: "d1", uid: "uid-d1" },
      { name: "d2", uid: "uid-d2" },
      { name: "d3", uid: "uid-d3" },
    ]);
    expect(plan.events.find((e) => e.reason === "HistoryPruned")?.message).toMatch(
      /3 finished Failover\(s\) beyond historyLimit 2/,
    );
  });

  it("historyLimit 0 keeps no finished run; a running one is never deleted", () => {
    const plan = planDrillSchedule({
      schedule: schedule({ historyLimit: 0 }, { lastScheduleTime: SAT_1 }),
      failovers: [failover("old", "2026-10-01T19:00:00Z", "Succeeded"), failover("now", SAT_1, "Running")],
      now: new Date("2026-11-07T00:00:00Z"),
    });
    expect(plan.delete.map((d) => d.name)).toEqual(["old"]);
    expect(plan.status.history?.map((h) => h.failover)).toEqual(["now"]);
  });

  it("ignores Failovers of other schedules and ones owned by an earlier schedule of the same name", () => {
    const other = failover("x", "2026-10-01T19:00:00Z", "Succeeded");
    other.metadata.labels = { [DRILL_SCHEDULE_LABEL]: "nightly" };
    const orphan = failover("y", "2026-10-01T19:00:00Z", "Running");
    (orphan.metadata.ownerReferences as { uid: string }[])[0]!.uid = "an-older-uid";
    const plan = planDrillSchedule({
      schedule: schedule({ historyLimit: 0 }, { lastScheduleTime: SAT_1 }),
      failovers: [other, orphan],
      now: new Date("2026-11-13T19:00:01Z"),
    });
    expect(plan.delete).toEqual([]);
    expect(plan.create).toBeDefined(); // the foreign Running one does not block
  });

  it("creates nothing while suspended, and says so in Ready", () => {
    const plan = planDrillSchedule({
      schedule: schedule({ suspend: true }, { lastScheduleTime: SAT_1 }),
      failovers: [],
      now: new Date("2026-11-28T00:00:00Z"),
    });
    expect(plan.create).toBeUndefined();
    expect(plan.status.nextScheduleTime).toBeUndefined();
    expect(plan.status.lastScheduleTime).toBe(SAT_1);
    expect(plan.requeueAfterMs).toBeUndefined();
    expect(plan.status.conditions?.find((c) => c.type === "Ready")).toMatchObject({
      status: "False",
      reason: "Suspended",
    });
  });

  it.each([
    [{ schedule: "0 25 * * *" }, /^spec\.schedule: hour: 25/],
    [{ timeZone: "Asia/Atlantis" }, /^spec\.timeZone: unknown IANA time zone "Asia\/Atlantis"/],
  ])("reports an invalid spec %o in Valid, without creating", (spec, message) => {
    const plan = planDrillSchedule({ schedule: schedule(spec), failovers: [], now: new Date("2026-11-28T00:00:00Z") });
    expect(plan.create).toBeUndefined();
    const valid = plan.status.conditions?.find((c) => c.type === "Valid");
    expect(valid).toMatchObject({ status: "False", reason: "InvalidSpec" });
    expect(valid?.message).toMatch(message);
    expect(plan.events[0]).toMatchObject({ type: "Warning", reason: "InvalidSpec" });
    expect(plan.requeueAfterMs).toBeUndefined();
  });

  it("rejects a template that is not a Drill (the CRD forbids it too)", () => {
    const s = schedule();
    (s.spec.template as { type: string }).type = "Emergency";
    const plan = planDrillSchedule({ schedule: s, failovers: [], now: new Date("2026-11-28T00:00:00Z") });
    expect(plan.create).toBeUndefined();
    expect(plan.status.conditions?.find((c) => c.type === "Valid")?.message).toMatch(/template\.type: must be Drill/);
  });

  it("a steady state plans the same status twice (no write)", () => {
    const now = new Date("2026-11-08T00:00:00Z");
    const first = planDrillSchedule({
      schedule: schedule({}, { lastScheduleTime: SAT_1 }),
      failovers: [failover("d", SAT_1, "Succeeded")],
      now,
    });
    const second = planDrillSchedule({
      schedule: schedule({}, first.status),
      failovers: [failover("d", SAT_1, "Succeeded")],
      now: new Date(now.getTime() + 60_000),
    });
    expect(second.status).toEqual(first.status);
  });
});

describe("names", () => {
  it("names a run by the schedule and its wall-clock time in the schedule's zone", () => {
    expect(drillRunName("weekly", new Date(SAT_1), "Asia/Shanghai")).toBe("weekly-20261107-0300");
    expect(drillRunName("weekly", new Date(SAT_1), "UTC")).toBe("weekly-20261106-1900");
  });

  it("keeps long names within the limits (253 for the name, 63 for the label value), distinct by hash", () => {
    const long = "a".repeat(250);
    const n = drillRunName(long, new Date(SAT_1), "UTC");
    expect(n.length).toBeLessThanOrEqual(253);
    expect(n.endsWith("-20261106-1900")).toBe(true);
    expect(drillRunName(long + "b", new Date(SAT_1), "UTC")).not.toBe(drillRunName(long + "c", new Date(SAT_1), "UTC"));
    expect(drillScheduleLabelValue("short")).toBe("short");
    const v = drillScheduleLabelValue("x".repeat(100));
    expect(v.length).toBeLessThanOrEqual(63);
    expect(v).toMatch(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/);
  });
});

describe("latestDue", () => {
  it("finds the latest time in (ref, now] and counts the missed ones, for any gap", () => {
    const s = parseCron("*/7 * * * *");
    fc.assert(
      fc.property(
        fc.integer({ min: Date.UTC(2026, 0, 1), max: Date.UTC(2026, 11, 1) }),
        fc.integer({ min: 0, max: 86_400_000 }),
        (refMs, gap) => {
          const ref = new Date(refMs);
          const now = new Date(refMs + gap);
          const due = latestDue(s, ref, now, "UTC");
          // brute force over minutes
          const times: number[] = [];
          for (let t = Math.floor(refMs / 60_000) * 60_000 + 60_000; t <= now.getTime(); t += 60_000) {
            if (new Date(t).getUTCMinutes() % 7 === 0) times.push(t);
          }
          if (times.length === 0) expect(due.time).toBeUndefined();
          else {
            expect(due.time?.getTime()).toBe(times[times.length - 1]);
            if (due.missed !== undefined) expect(due.missed).toBe(times.length - 1);
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it("stays cheap after a long outage of a minutely schedule: stops counting missed runs", () => {
    const due = latestDue(
      parseCron("* * * * *"),
      new Date("2025-01-01T00:00:00Z"),
      new Date("2026-11-28T12:34:56Z"),
      "UTC",
    );
    expect(due.time?.toISOString()).toBe("2026-11-28T12:34:00.000Z");
    // ~1M minutes missed: not counted one by one (that is the cost bound), found by looking back from now
    expect(due.missed).toBeUndefined();
  });
});
