// What the on-call metrics (src/controllers/metrics.ts) say, as pure
// functions of the cached objects: the gauges are recomputed from the caches
// at every scrape, and a Failover's counters and histograms are taken from
// the difference between the status read and the status written.
//
// Labels are bounded (zone, rule, type, step, phase, state, result): never a
// pod, a Failover name or an epoch, so the number of series does not grow
// with time or traffic.
import {
  FailoverPhase,
  FailoverStep,
  FailoverType,
  ZonePhase,
  parseDuration,
  type Failover,
  type ShardingRule,
  type Zone,
} from "../api/index.ts";
import { STEPS, isFinished } from "./failover.ts";

type FailoverStatus = NonNullable<Failover["status"]>;

export interface Sample<L extends string = string> {
  labels: Record<L, string>;
  value: number;
}

const seconds = (iso: string | undefined): number | undefined => {
  const ms = iso === undefined ? NaN : Date.parse(iso);
  return Number.isFinite(ms) ? ms / 1000 : undefined;
};

/** One sample per zone and phase: 1 for the zone's phase, 0 for the others (not probed yet: Pending). */
export function zonePhaseSamples(zones: readonly Zone[]): Sample<"zone" | "phase">[] {
  return zones.flatMap((z) => {
    const current = z.status?.phase ?? "Pending";
    return ZonePhase.options.map((phase) => ({
      labels: { zone: z.metadata.name, phase },
      value: phase === current ? 1 : 0,
    }));
  });
}

/** When each Zone was created: the "never drilled" clock of the drill-overdue alert. */
export function zoneCreatedSamples(zones: readonly Zone[]): Sample<"zone">[] {
  return zones.flatMap((z) => {
    const t = seconds(z.metadata.creationTimestamp);
    return t === undefined ? [] : [{ labels: { zone: z.metadata.name }, value: t }];
  });
}

/** Each rule's epoch as its status records it (none yet: no sample). */
export function ruleEpochSamples(rules: readonly ShardingRule[]): Sample<"rule">[] {
  return rules.flatMap((r) =>
    r.status?.epoch === undefined ? [] : [{ labels: { rule: r.metadata.name }, value: r.status.epoch }],
  );
}

export const SIDECAR_STATES = ["current", "behind", "silent"] as const;
export type SidecarState = (typeof SIDECAR_STATES)[number];

export interface RuleSidecars {
  rule: string;
  /** The epoch the routing API serves for the rule (undefined: no table, no sample). */
  epoch: number | undefined;
  /** The sidecars the operator deployed for the rule (the Failover barrier's expected set). */
  expected: readonly { sidecar: string; zone: string }[];
  /** The live acknowledgements heard for the rule. */
  acks: readonly { sidecar: string; epoch: number }[];
}

/**
 * The deployed sidecars per rule, zone and state: current (acknowledged the
 * rule's epoch or newer), behind (acknowledged an older one), silent (no
 * live acknowledgement). Every state of a (rule, zone) is present, 0 when
 * empty, so a recovered zone's series drop to 0 instead of disappearing.
 */
export function ruleSidecarSamples(rules: readonly RuleSidecars[]): Sample<"rule" | "zone" | "state">[] {
  const out: Sample<"rule" | "zone" | "state">[] = [];
  for (const r of rules) {
    if (r.epoch === undefined) continue;
    const held = new Map(r.acks.map((a) => [a.sidecar, a.epoch]));
    const byZone = new Map<string, Record<SidecarState, number>>();
    for (const s of r.expected) {
      let counts = byZone.get(s.zone);
      if (!counts) byZone.set(s.zone, (counts = { current: 0, behind: 0, silent: 0 }));
      const e = held.get(s.sidecar);
      counts[e === undefined ? "silent" : e >= r.epoch ? "current" : "behind"]++;
    }
    for (const [zone, counts] of [...byZone].sort(([a], [b]) => a.localeCompare(b)))
      for (const state of SIDECAR_STATES) out.push({ labels: { rule: r.rule, zone, state }, value: counts[state] });
  }
  return out;
}

/**
 * The zones a drill evacuates: its target zone, else the zones its moving
 * cells left (resolved at Preflight: a drill of listed cells that failed
 * Preflight names no zone).
 */
export function drilledZones(fo: Failover): string[] {
  if (fo.spec.target.zone) return [fo.spec.target.zone];
  return [...new Set((fo.status?.cells ?? []).map((c) => c.from))];
}

/**
 * Per zone, from the Drill Failovers still stored: when the last successful
 * drill finished, and whether the last drill that ran to an end succeeded
 * (1) or failed or rolled back (0). Aborted drills were a person's decision
 * and count for neither. A DrillSchedule keeps its last historyLimit drills:
 * with historyLimit 0 nothing is left to read.
 */
export function drillSamples(failovers: readonly Failover[]): {
  lastSuccess: Sample<"zone">[];
  lastSucceeded: Sample<"zone">[];
} {
  const lastSuccess = new Map<string, number>();
  const last = new Map<string, { at: number; ok: boolean }>();
  for (const fo of failovers) {
    if (fo.spec.type !== "Drill") continue;
    const phase = fo.status?.phase;
    const at = seconds(fo.status?.completionTime);
    if (at === undefined || (phase !== "Succeeded" && phase !== "Failed" && phase !== "RolledBack")) continue;
    for (const zone of drilledZones(fo)) {
      if (phase === "Succeeded" && at > (lastSuccess.get(zone) ?? -Infinity)) lastSuccess.set(zone, at);
      if (at > (last.get(zone)?.at ?? -Infinity)) last.set(zone, { at, ok: phase === "Succeeded" });
    }
  }
  const sorted = <V>(m: Map<string, V>) => [...m].sort(([a], [b]) => a.localeCompare(b));
  return {
    lastSuccess: sorted(lastSuccess).map(([zone, value]) => ({ labels: { zone }, value })),
    lastSucceeded: sorted(last).map(([zone, v]) => ({ labels: { zone }, value: v.ok ? 1 : 0 })),
  };
}

/**
 * When the step a running Failover is in must have ended (ms): its start plus
 * the step table's timeout, or the drill duration for DrillWait, or the step
 * timeout for the instant steps. A Failover not started yet is at Preflight
 * since its creation. Past it, the operator should have moved on or failed
 * the Failover: nobody is driving it.
 */
export function stepDeadline(fo: Failover): { step: FailoverStep; deadlineMs: number } | undefined {
  if (isFinished(fo)) return undefined;
  const status = fo.status;
  const step = status?.phase === "Running" && status.step ? status.step : "Preflight";
  const started = status?.phase === "Running" ? status.steps?.at(-1)?.startTime : fo.metadata.creationTimestamp;
  const start = started === undefined ? NaN : Date.parse(started);
  if (!Number.isFinite(start)) return undefined;
  const limit =
    step === "DrillWait"
      ? parseDuration(fo.spec.drill?.duration ?? "0s")
      : (STEPS[step].timeout?.ms(fo) ?? parseDuration(fo.spec.timeouts.step));
  return { step, deadlineMs: start + limit };
}

/**
 * The unfinished Failovers per type and step (every pair present, 0 when
 * none), and per pair the earliest deadline (stepDeadline) in seconds.
 */
export function runningFailoverSamples(failovers: readonly Failover[]): {
  running: Sample<"type" | "step">[];
  deadlines: Sample<"type" | "step">[];
} {
  const count = new Map<string, number>();
  const earliest = new Map<string, number>();
  const key = (type: string, step: string) => `${type}/${step}`;
  for (const fo of failovers) {
    const d = stepDeadline(fo);
    if (!d) continue;
    const k = key(fo.spec.type, d.step);
    count.set(k, (count.get(k) ?? 0) + 1);
    earliest.set(k, Math.min(earliest.get(k) ?? Infinity, d.deadlineMs / 1000));
  }
  const running: Sample<"type" | "step">[] = [];
  const deadlines: Sample<"type" | "step">[] = [];
  for (const type of FailoverType.options)
    for (const step of FailoverStep.options) {
      if (step === "Done") continue;
      const k = key(type, step);
      running.push({ labels: { type, step }, value: count.get(k) ?? 0 });
      const d = earliest.get(k);
      if (d !== undefined) deadlines.push({ labels: { type, step }, value: d });
    }
  return { running, deadlines };
}

/** The results a finished Failover can have: ldc_failovers_total's result label. */
export const FAILOVER_RESULTS = FailoverPhase.options.filter((p) => p !== "Pending" && p !== "Running");

/** What one status write of a Failover completed, for the counters and histograms. */
export interface FailoverProgress {
  type: FailoverType;
  /** The Failover ended in this write, with this result. */
  finished?: string;
  /** Steps that succeeded in this write, with their durations. */
  steps: { step: FailoverStep; seconds: number }[];
  /** RTO measured in this write. */
  rtoSeconds?: number;
  /** Write-freeze length measured in this write. */
  freezeSeconds?: number;
}

/**
 * What changed between the status read (`before`) and the status written
 * (`after`): each transition is in exactly one successful write (the
 * controller writes with optimistic concurrency), so counting it there counts
 * it once per process that wrote it.
 */
export function failoverProgress(fo: Failover, after: FailoverStatus): FailoverProgress {
  const before = fo.status ?? {};
  // A Failover that was not Running starts over (stepFailover's `started`): nothing before counts.
  const prior = before.phase === "Running" ? (before.steps ?? []) : [];
  const steps: FailoverProgress["steps"] = [];
  (after.steps ?? []).forEach((s, i) => {
    if (s.phase !== "Succeeded" || prior[i]?.endTime !== undefined) return;
    const start = seconds(s.startTime);
    const end = seconds(s.endTime);
    if (start !== undefined && end !== undefined) steps.push({ step: s.name, seconds: Math.max(0, end - start) });
  });
  const out: FailoverProgress = { type: fo.spec.type, steps };
  if (isFinished({ status: after }) && !isFinished(fo)) out.finished = after.phase!;
  if (after.rtoMilliseconds !== undefined && before.rtoMilliseconds === undefined)
    out.rtoSeconds = after.rtoMilliseconds / 1000;
  if (after.freezeMilliseconds !== undefined && before.freezeMilliseconds === undefined)
    out.freezeSeconds = after.freezeMilliseconds / 1000;
  return out;
}
