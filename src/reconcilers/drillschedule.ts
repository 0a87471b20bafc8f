// DrillSchedule -> what to do now: which Failover to create (if a run is
// due), which old ones to delete, and the status to report. Pure: the
// controller passes the schedule, every Failover it knows and the time.
//
// - A run is due when a schedule time after status.lastScheduleTime (or the
//   schedule's creation) has passed. Several missed times (operator down)
//   start only the latest, as CronJobs do.
// - Concurrency Forbid: a due run is skipped (recorded in status and as a
//   Warning event) while a Failover of this schedule is Pending or Running.
// - The Failover's name follows from the schedule and the time alone
//   (`<schedule>-<yyyymmdd-hhmm>` in the schedule's zone), so creating it
//   twice is harmless: the second create gets 409 AlreadyExists.
// - History keeps the running runs and the newest historyLimit finished
//   ones; older finished Failovers of the schedule are deleted.
import { createHash } from "node:crypto";
import {
  API_VERSION,
  setCondition,
  type Condition,
  type DrillRun,
  type DrillSchedule,
  type DrillScheduleStatus,
  type Failover,
  type FailoverPhase,
  type FailoverSpec,
} from "../api/index.ts";
import { CronError, nextAfter, parseCron, wallClock, type CronSchedule } from "./cron.ts";
import { Labels, MANAGED_BY } from "./naming.ts";

export const DRILL_SCHEDULE_LABEL = "ldc.io/drill-schedule";
export const SCHEDULED_TIME_ANNOTATION = "ldc.io/scheduled-time";

const RUNNING: ReadonlySet<string> = new Set<FailoverPhase>(["Pending", "Running"]);
/** Never wait longer than this before looking again (timers, clock changes). */
export const MAX_REQUEUE_MS = 3_600_000;

export interface DrillScheduleObservation {
  schedule: DrillSchedule;
  /** Failovers the operator knows (any; those of this schedule are picked by label and owner). */
  failovers: readonly Failover[];
  now: Date;
}

export interface PlannedEvent {
  type: "Normal" | "Warning";
  reason: string;
  message: string;
}

/** A Failover to create (a whole object, ready for POST). */
export interface FailoverManifest {
  apiVersion: typeof API_VERSION;
  kind: "Failover";
  metadata: {
    name: string;
    labels: Record<string, string>;
    annotations: Record<string, string>;
    ownerReferences: { apiVersion: string; kind: string; name: string; uid: string; controller: boolean }[];
  };
  spec: FailoverSpec;
}

export interface DrillSchedulePlan {
  /** The Failover to create for the due run. */
  create?: FailoverManifest;
  /** The schedule time handled this round (created or skipped). */
  scheduledTime?: Date;
  /** Why the due run was skipped. */
  skipped?: string;
  /** Finished Failovers of this schedule beyond historyLimit, oldest first. */
  delete: { name: string; uid?: string }[];
  status: DrillScheduleStatus;
  events: PlannedEvent[];
  /** Look again after this long (the next schedule time, capped); undefined: only on changes. */
  requeueAfterMs?: number;
}

/** The `ldc.io/drill-schedule` label value of a schedule: its name, or a hashed truncation beyond 63 chars. */
export function drillScheduleLabelValue(schedule: string): string {
  if (schedule.length <= 63) return schedule;
  const hash = createHash("sha256").update(schedule).digest("hex").slice(0, 8);
  return `${schedule.slice(0, 54).replace(/[-.]+$/, "")}-${hash}`;
}

/** `yyyymmdd-hhmm` of an instant in a time zone. */
export function runStamp(t: Date, timeZone: string): string {
  const w = wallClock(t, timeZone);
  const p = (n: number, w2 = 2) => String(n).padStart(w2, "0");
  return `${p(w.year, 4)}${p(w.month)}${p(w.day)}-${p(w.hour)}${p(w.minute)}`;
}

/** The Failover of a schedule's run: `<schedule>-<yyyymmdd-hhmm>`, at most 253 chars. */
export function drillRunName(schedule: string, t: Date, timeZone: string): string {
  const suffix = `-${runStamp(t, timeZone)}`;
  if (schedule.length + suffix.length <= 253) return schedule + suffix;
  const hash = createHash("sha256").update(schedule).digest("hex").slice(0, 8);
  return `${schedule.slice(0, 253 - suffix.length - 9).replace(/[-.]+$/, "")}-${hash}${suffix}`;
}

/** The Failovers created by this schedule (label and, when known, owner uid), not being deleted. */
export function failoversOf(schedule: DrillSchedule, failovers: readonly Failover[]): Failover[] {
  const label = drillScheduleLabelValue(schedule.metadata.name);
  const uid = schedule.metadata.uid;
  return failovers.filter((f) => {
    if (f.metadata.labels?.[DRILL_SCHEDULE_LABEL] !== label) return false;
    const refs = (f.metadata.ownerReferences ?? []) as { kind?: string; uid?: string }[];
    return uid === undefined || refs.some((r) => r.kind === "DrillSchedule" && r.uid === uid);
  });
}

function scheduledTimeOf(f: Failover): string {
  const a = f.metadata.annotations?.[SCHEDULED_TIME_ANNOTATION];
  return a && !Number.isNaN(Date.parse(a)) ? a : (f.metadata.creationTimestamp ?? "");
}

const isRunning = (f: Failover) => RUNNING.has(f.status?.phase ?? "Pending");
const iso = (d: Date) => d.toISOString().replace(/\.000Z$/, "Z");

/**
 * The latest schedule time in (ref, now], and how many earlier ones were
 * missed (undefined: more than MAX_COUNTED, not counted).
 */
export function latestDue(s: CronSchedule, ref: Date, now: Date, timeZone: string): { time?: Date; missed?: number } {
  const end = now.getTime();
  // Count from ref while that is cheap...
  let t: Date | undefined;
  let count = 0;
  for (let n = nextAfter(s, ref, timeZone); n.getTime() <= end; n = nextAfter(s, n, timeZone)) {
    t = n;
    if (++count > MAX_COUNTED) break;
  }
  if (count <= MAX_COUNTED) return t ? { time: t, missed: count - 1 } : {};
  // ...else look back from now in growing windows: the first with a match holds the latest.
  for (const w of [3_600_000, 86_400_000, 31 * 86_400_000, 366 * 86_400_000]) {
    let last: Date | undefined;
    for (let n = nextAfter(s, new Date(end - w), timeZone); n.getTime() <= end; n = nextAfter(s, n, timeZone)) last = n;
    if (last) return { time: last };
  }
  let last = t!;
  for (let n = nextAfter(s, last, timeZone); n.getTime() <= end; n = nextAfter(s, n, timeZone)) last = n;
  return { time: last };
}

const MAX_COUNTED = 1000;

/** What to do for one DrillSchedule now. */
export function planDrillSchedule(o: DrillScheduleObservation): DrillSchedulePlan {
  const ds = o.schedule;
  const gen = ds.metadata.generation;
  const now = o.now;
  const tz = ds.spec.timeZone ?? "UTC";
  const limit = ds.spec.historyLimit ?? 10;
  const prev = ds.status ?? {};
  let conditions: Condition[] = (prev.conditions ?? []) as Condition[];
  const events: PlannedEvent[] = [];
  const plan: DrillSchedulePlan = { delete: [], status: {}, events };
  const cond = (type: string, status: "True" | "False", reason: string, message: string) => {
    conditions = setCondition(conditions, { type, status, reason, message, observedGeneration: gen }, now);
  };

  // --- validity
  let cron: CronSchedule | undefined;
  let invalid: string | undefined;
  try {
    cron = parseCron(ds.spec.schedule);
    nextAfter(cron, now, tz); // checks the time zone
  } catch (e) {
    if (!(e instanceof CronError)) throw e;
    invalid = e.field === "timeZone" ? `spec.${e.message}` : `spec.schedule: ${e.message}`;
  }
  if (!invalid && ds.spec.template.type !== "Drill") {
    invalid = "spec.template.type: must be Drill: a schedule only runs drills (set type: Drill and drill.duration)";
  }
  if (!invalid && !ds.spec.template.drill) {
    invalid = "spec.template.drill: required for a Drill: set drill.duration, e.g. 10m";
  }

  const mine = failoversOf(ds, o.failovers).sort((a, b) => {
    const ta = scheduledTimeOf(a);
    const tb = scheduledTimeOf(b);
    return ta < tb ? 1 : ta > tb ? -1 : a.metadata.name < b.metadata.name ? 1 : -1;
  });
  const running = mine.filter((f) => isRunning(f) && !f.metadata.deletionTimestamp);

  let lastScheduleTime = prev.lastScheduleTime;
  let nextScheduleTime: string | undefined;
  let created: FailoverManifest | undefined;

  if (invalid || !cron) {
    cond("Valid", "False", "InvalidSpec", invalid!);
    cond("Ready", "False", "InvalidSpec", `no drills are scheduled until the spec is fixed: ${invalid}`);
    events.push({ type: "Warning", reason: "InvalidSpec", message: invalid! });
  } else {
    cond("Valid", "True", "Valid", `schedule "${ds.spec.schedule}" in ${tz}`);
    const refText = prev.lastScheduleTime ?? ds.metadata.creationTimestamp;
    const ref = refText ? new Date(refText) : now;
    const due = latestDue(cron, ref, now, tz);
    if (ds.spec.suspend) {
      cond("Ready", "False", "Suspended", "spec.suspend is true: no drill is started (a running one continues)");
    } else {
      if (due.time) {
        const when = iso(due.time);
        plan.scheduledTime = due.time;
        lastScheduleTime = when;
        if (due.missed === undefined || due.missed > 0) {
          events.push({
            type: "Warning",
            reason: "MissedRuns",
            message: `${due.missed ?? `more than ${MAX_COUNTED}`} earlier run(s) were missed (operator down?); only the latest, ${when}, is started`,
          });
        }
        if (running.length > 0) {
          const r = running[0]!;
          plan.skipped = `the run of ${when} was skipped: Failover ${r.metadata.name} is still ${r.status?.phase ?? "Pending"} (a drill never starts while the previous one runs)`;
          cond("Skipped", "True", "PreviousDrillRunning", plan.skipped);
          events.push({ type: "Warning", reason: "DrillSkipped", message: plan.skipped });
        } else {
          created = failoverFor(ds, due.time, tz);
          plan.create = created;
          cond("Skipped", "False", "Created", `the run of ${when} created Failover ${created.metadata.name}`);
          events.push({
            type: "Normal",
            reason: "DrillCreated",
            message: `created Failover ${created.metadata.name} for the run of ${when}`,
          });
        }
      }
      const next = nextAfter(cron, new Date(Math.max(now.getTime(), ref.getTime())), tz);
      nextScheduleTime = iso(next);
      plan.requeueAfterMs = Math.min(Math.max(next.getTime() - now.getTime(), 100), MAX_REQUEUE_MS);
      cond("Ready", "True", "Scheduled", `next drill at ${nextScheduleTime} (${runStamp(next, tz)} ${tz})`);
    }
  }

  // --- history: running runs, then the newest `limit` finished ones; delete the rest.
  const runs: DrillRun[] = [];
  if (created) {
    runs.push({ failover: created.metadata.name, scheduledTime: lastScheduleTime!, phase: "Pending" });
  }
  let finished = 0;
  for (const f of mine) {
    if (created && f.metadata.name === created.metadata.name) continue;
    if (f.metadata.deletionTimestamp) continue;
    const run: DrillRun = {
      failover: f.metadata.name,
      scheduledTime: scheduledTimeOf(f) || iso(now),
      phase: f.status?.phase ?? "Pending",
      ...(f.status?.rtoMilliseconds !== undefined ? { rtoMilliseconds: f.status.rtoMilliseconds } : {}),
    };
    if (isRunning(f)) runs.push(run);
    else if (finished < limit) {
      finished++;
      runs.push(run);
    } else {
      plan.delete.push({ name: f.metadata.name, ...(f.metadata.uid ? { uid: f.metadata.uid } : {}) });
    }
  }
  runs.sort((a, b) => (a.scheduledTime < b.scheduledTime ? 1 : a.scheduledTime > b.scheduledTime ? -1 : 0));
  plan.delete.reverse(); // oldest first
  if (plan.delete.length) {
    events.push({
      type: "Normal",
      reason: "HistoryPruned",
      message: `deleting ${plan.delete.length} finished Failover(s) beyond historyLimit ${limit}: ${plan.delete
        .map((d) => d.name)
        .join(", ")}`.slice(0, 1000),
    });
  }

  plan.status = {
    ...(gen !== undefined ? { observedGeneration: gen } : {}),
    ...(lastScheduleTime ? { lastScheduleTime } : {}),
    ...(nextScheduleTime ? { nextScheduleTime } : {}),
    ...(runs.length ? { history: runs.slice(0, 100) } : {}),
    conditions,
  };
  return plan;
}

function failoverFor(ds: DrillSchedule, t: Date, tz: string): FailoverManifest {
  const name = ds.metadata.name;
  const when = iso(t);
  const { abort: _abort, ...template } = ds.spec.template;
  return {
    apiVersion: API_VERSION,
    kind: "Failover",
    metadata: {
      name: drillRunName(name, t, tz),
      labels: { [DRILL_SCHEDULE_LABEL]: drillScheduleLabelValue(name), [Labels.managedBy]: MANAGED_BY },
      annotations: { [SCHEDULED_TIME_ANNOTATION]: when },
      ownerReferences: [
        { apiVersion: API_VERSION, kind: "DrillSchedule", name, uid: ds.metadata.uid ?? "", controller: true },
      ],
    },
    spec: {
      ...template,
      abort: false,
      reason: template.reason ?? `scheduled drill: DrillSchedule ${name}, run of ${when}`,
    },
  };
}
