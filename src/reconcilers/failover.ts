// The Failover state machine: one step table and one pure step function.
//
//   Preflight -> ScaleUpStandby -> Freeze -> WaitReplication -> Switch ->
//   WaitAcknowledge -> ScaleDownOld [-> DrillWait -> Failback -> (the same
//   leg back)] -> Done
//
// stepFailover(failover, observation, now) decides everything one reconcile
// does: the status to write, the Cells to record in their new zone, the
// Events, when to look again. The controller gathers the observation, runs
// the effects and writes the status with optimistic concurrency.
//
// The Failover's status is the source of truth while it runs (ADR 0004): the
// routing, CellApp and Cell controllers overlay it onto the cells
// (effectiveCells), so each step is one status write whatever the number of
// cells, and an operator restarted at any step resumes from status. A failed,
// timed-out or aborted step before the switch rolls back: the Failover leaves
// Running, its overlay disappears, and routing returns to the previous owners
// in a new epoch. Every end records the cells on the Cells, and until a Cell
// shows that record a finished Failover still holds it where it was left
// (finalRecords): a reader's Cell cache may lag behind its Failover cache.
import {
  clampMessage,
  FAILOVER_MESSAGE_MAX_LENGTH,
  parseDuration,
  setCondition,
  type Cell,
  type Failover,
  type FailoverPlan,
  type FailoverStep,
  type ShardingRule,
  type Zone,
} from "../api/index.ts";
import { activeZoneOf } from "./cellapp.ts";
import { describeMoves, isCityMove, legMoves, planMoves, type Move } from "./failover-moves.ts";

export type FailoverStatus = NonNullable<Failover["status"]>;
type StepRecord = NonNullable<FailoverStatus["steps"]>[number];

/** Annotation with the decision time (ms since epoch), set by whoever creates a Failover; RTO counts from it. */
export const DECIDED_AT = "ldc.io/decided-at";

/** How often a step whose observation is an in-memory lookup looks again. */
export const POLL_MS = 50;
/** A waiting step's progress message is written at most this often, and not in its first interval. */
export const PROGRESS_INTERVAL_MS = 1000;

/** Something a step waits for, and when to look again. */
export interface Waiting {
  waiting: string;
  retryMs: number;
}

/**
 * What the steps read of the world. The controller answers from its caches
 * and the routing API's acknowledgements, as of one `now`; unit tests answer
 * with plain functions.
 */
export interface FailoverObservation {
  cells: readonly Cell[];
  zones: readonly Zone[];
  /** Every Failover as last written (this process's own writes included: Preflight's claims must see them). */
  failovers: readonly Failover[];
  /** The sharding rules (whether an evacuated City cell's reads have a global cell to go to). */
  rules: readonly ShardingRule[];
  /** A dry run's plan (spec.dryRun): what the failover would do, with the capacity check. */
  plan(failover: Failover): FailoverPlan;
  /** The highest epoch published by the rules routing to these cells. */
  epochOf(cells: readonly string[]): number;
  /** The destination workloads not ready at the size `failover` (as it stands in this reconcile) wants: empty when ready. */
  destinationNotReady(failover: Failover, moves: readonly Move[]): string[];
  /** Every table routing to the moving cells shows them frozen in their old zone, or switched: its highest epoch. */
  routing(moves: readonly Move[], want: "frozen" | "switched"): { epoch: number } | Waiting;
  /** Every sidecar that should hold the tables of the moving cells holds `epoch` or newer. */
  acknowledged(moves: readonly Move[], epoch: number): { count: number } | Waiting;
  /** An abort check (spec.abortChecks) that has failed often enough to abort; absent: none runs. */
  failedCheck?(failover: Failover): { check: string; reason: string } | undefined;
  /** An annotation of a Cell (the replication gate's lag). */
  annotation(cell: string, key: string): string | undefined;
}

/** What the running Failover says about one of its cells at a step. */
export interface CellFailoverState {
  activeZone: string;
  /** A zone being scaled up to full replicas (the destination before the switch, the old side until the routers moved). */
  warmZone?: string;
  /** The cell's shards refuse writes. */
  writeFrozen?: boolean;
  /** A City cell: whether its region's City-scope reads go to a stand-in (undefined: the stored status says). */
  evacuated?: boolean;
  failoverRef: string;
}

/** Where a cell lives, as a Failover records it on the Cell (status.activeZone, and status.evacuated for a City cell). */
export interface CellRecord {
  cell: string;
  activeZone: string;
  evacuated?: boolean;
}

/**
 * A Cell as the running Failovers make it: status.activeZone and
 * status.failoverRef overlaid, and in `moving` what is never stored (a
 * Failover's status is the record: one write per step however many cells).
 */
export type EffectiveCell<C extends Cell = Cell> = C & {
  readonly moving?: { readonly warmZone?: string; readonly writeFrozen: boolean; readonly failover: string };
};

/** Whether a cell's shards are write-frozen by a running Failover. */
export function isWriteFrozen(cell: EffectiveCell): boolean {
  return cell.moving?.writeFrozen === true;
}

/** One step's inputs: the Failover as it stands in this reconcile, the leg's moves, the world. */
interface StepInput {
  fo: Failover;
  status: FailoverStatus;
  moves: Move[];
  back: boolean;
  obs: FailoverObservation;
  now: number;
}

type StepOutcome =
  | { kind: "done"; message: string; status?: Partial<FailoverStatus>; recordActiveZones?: boolean }
  | { kind: "wait"; message: string; retryMs: number }
  | { kind: "fail"; reason: string };

interface StepDef {
  /**
   * Checked in the same reconcile as the step before it completes: its check
   * only reads, so one status write records several steps (a warm standby, a
   * zero freeze, sidecars that acked before this reconcile). ScaleDownOld
   * writes to every Cell and runs after a write of its own.
   */
  chainable: boolean;
  /** A failure or abort here rolls back to the previous owners: the switch is not published yet. */
  beforeSwitch: boolean;
  /** The leg's switch is published at this step (a City cell's evacuation, or return, shows from here on). */
  switched: boolean;
  /**
   * How long the step may take from its start, and what then: "fail" rolls
   * back (or fails), "complete" moves on saying who lagged (the switch is done
   * and a rollback cannot undo it). None: the step keeps its own clock.
   */
  timeout?: { ms(fo: Failover): number; then: "fail" | "complete" };
  /** The moving cell's state at this step, for the leg from `from` to `to`. */
  overlay(from: string, to: string): Omit<CellFailoverState, "failoverRef">;
  check(s: StepInput): StepOutcome;
}

const stepTimeout = (fo: Failover): number => parseDuration(fo.spec.timeouts.step);

/** The step table: every step's behaviour in one place. */
export const STEPS: Readonly<Record<FailoverStep, StepDef>> = {
  Preflight: {
    chainable: true,
    beforeSwitch: true,
    switched: false,
    timeout: { ms: stepTimeout, then: "fail" },
    overlay: (from) => ({ activeZone: from }),
    check: preflight,
  },
  ScaleUpStandby: {
    chainable: true,
    beforeSwitch: true,
    switched: false,
    timeout: { ms: stepTimeout, then: "fail" },
    overlay: (from, to) => ({ activeZone: from, warmZone: to }),
    check: ({ fo, moves, obs }) => {
      // A City cell's evacuation scales nothing up.
      const notReady = obs.destinationNotReady(
        fo,
        moves.filter((m) => !isCityMove(m)),
      );
      if (notReady.length)
        return wait(
          `scaling up the destination: ${notReady.slice(0, 5).join(", ")}${notReady.length > 5 ? ` (+${notReady.length - 5})` : ""}`,
          250,
        );
      return done(`the destination is ready for ${describeMoves(moves)}`);
    },
  },
  Freeze: {
    chainable: true,
    beforeSwitch: true,
    switched: false,
    timeout: { ms: stepTimeout, then: "fail" },
    overlay: (from, to) => ({ activeZone: from, warmZone: to, writeFrozen: true }),
    check: ({ status, moves, back, obs }) => {
      const routed = obs.routing(moves, "frozen");
      if ("waiting" in routed) return wait(routed.waiting, routed.retryMs);
      const acks = obs.acknowledged(moves, routed.epoch);
      if ("waiting" in acks) return wait(acks.waiting, acks.retryMs);
      return done(
        `epoch ${routed.epoch}: writes to the moving shards refused (503); ${acks.count} sidecar(s) hold it`,
        {
          epochs: { ...(status.epochs ?? {}), [back ? "failbackFreeze" : "freeze"]: routed.epoch },
        },
      );
    },
  },
  WaitReplication: {
    chainable: true,
    beforeSwitch: true,
    switched: false,
    // The freeze window, then the replication gate's own limit (the step's when it names none).
    timeout: {
      ms: (fo) =>
        parseDuration(fo.spec.writeFreeze) +
        (fo.spec.replicationGate?.timeout ? parseDuration(fo.spec.replicationGate.timeout) : stepTimeout(fo)),
      then: "fail",
    },
    overlay: (from, to) => ({ activeZone: from, warmZone: to, writeFrozen: true }),
    check: ({ fo, moves, back, obs, now }) => {
      const frozenSince = Date.parse(legStep(fo, "Freeze", back)?.endTime ?? new Date(now).toISOString());
      const left = frozenSince + parseDuration(fo.spec.writeFreeze) - now;
      if (left > 0) return wait(`write freeze: ${Math.ceil(left / 1000)}s left`, Math.min(left, 1000));
      const gate = fo.spec.replicationGate;
      if (gate?.annotation) {
        const maxLag = parseDuration(gate.maxLag ?? "0s");
        // A City cell's evacuation freezes nothing and replicates nothing: only real moves wait for the gate.
        const lagging = moves.filter((m) => {
          if (isCityMove(m)) return false;
          const v = obs.annotation(m.cell, gate.annotation!);
          if (v === undefined) return true;
          try {
            return parseDuration(v) > maxLag;
          } catch {
            return true; // unreadable lag is not caught up
          }
        });
        if (lagging.length) {
          const names = lagging.map((m) => m.cell).join(", ");
          const gateMs = gate.timeout ? parseDuration(gate.timeout) : stepTimeout(fo);
          if (-left >= gateMs)
            return {
              kind: "fail",
              reason: `replication gate: cells ${names} still report lag above ${gate.maxLag ?? "0s"} (annotation ${gate.annotation})`,
            };
          return wait(
            `replication gate: waiting for ${names} (annotation ${gate.annotation} <= ${gate.maxLag ?? "0s"})`,
            250,
          );
        }
      }
      return done(`writes frozen ${fo.spec.writeFreeze}${gate?.annotation ? "; replication caught up" : ""}`);
    },
  },
  Switch: {
    chainable: true,
    beforeSwitch: false,
    switched: true,
    timeout: { ms: stepTimeout, then: "fail" },
    // The old side stays warm until the routers have all moved.
    overlay: (from, to) => ({ activeZone: to, warmZone: from }),
    check: ({ fo, status, moves, back, obs, now }) => {
      const routed = obs.routing(moves, "switched");
      if ("waiting" in routed) return wait(routed.waiting, routed.retryMs);
      const freezeStart = Date.parse(legStep(fo, "Freeze", back)?.startTime ?? new Date(now).toISOString());
      return done(
        `epoch ${routed.epoch}: the shards are owned by the cells in ${[...new Set(moves.map((m) => m.to))].join(", ")}`,
        {
          epochs: { ...(status.epochs ?? {}), [back ? "failbackSwitch" : "switch"]: routed.epoch },
          ...(back ? {} : { freezeMilliseconds: Math.max(0, now - freezeStart) }),
        },
      );
    },
  },
  WaitAcknowledge: {
    chainable: true,
    beforeSwitch: false,
    switched: true,
    timeout: { ms: stepTimeout, then: "complete" },
    overlay: (from, to) => ({ activeZone: to, warmZone: from }),
    check: ({ status, moves, back, obs, now }) => {
      const epoch = (back ? status.epochs?.failbackSwitch : status.epochs?.switch) ?? 0;
      const acks = obs.acknowledged(moves, epoch);
      if ("waiting" in acks) return wait(acks.waiting, acks.retryMs);
      const rto = now - Date.parse(status.startTime!);
      return done(
        `${acks.count} sidecar(s) on epoch ${epoch}${back ? "" : `; RTO ${rto} ms`}`,
        back ? {} : { rtoMilliseconds: rto },
      );
    },
  },
  ScaleDownOld: {
    chainable: false,
    beforeSwitch: false,
    switched: true,
    timeout: { ms: stepTimeout, then: "fail" },
    overlay: (_from, to) => ({ activeZone: to }),
    // The cells now live in the destination: recorded durably on each Cell (an effect), before this step is.
    check: ({ moves }) => ({
      kind: "done",
      message: `old side scaled down to standby in ${[...new Set(moves.map((m) => m.from))].join(", ")} (nothing deleted)`,
      recordActiveZones: true,
    }),
  },
  DrillWait: {
    chainable: true,
    beforeSwitch: false,
    switched: true,
    overlay: (_from, to) => ({ activeZone: to }),
    check: ({ fo, now }) => {
      const switched = Date.parse(legStep(fo, "WaitAcknowledge", false)?.endTime ?? new Date(now).toISOString());
      const left = switched + parseDuration(fo.spec.drill?.duration ?? "0s") - now;
      if (left > 0) return wait(`drill: failing back in ${Math.ceil(left / 1000)}s`, Math.min(left, 5000));
      return done(`drill duration ${fo.spec.drill?.duration} over`);
    },
  },
  Failback: {
    chainable: true,
    beforeSwitch: false,
    switched: false,
    // The failback leg has begun: `from` is the drill's destination.
    overlay: (from) => ({ activeZone: from }),
    check: ({ moves }) => done(`failing back: ${describeMoves(moves)}`),
  },
  Done: {
    chainable: false,
    beforeSwitch: false,
    switched: true,
    overlay: (_from, to) => ({ activeZone: to }),
    check: () => done("done"),
  },
};

function done(message: string, status?: Partial<FailoverStatus>): StepOutcome {
  return status ? { kind: "done", message, status } : { kind: "done", message };
}

function wait(message: string, retryMs: number): StepOutcome {
  return { kind: "wait", message, retryMs };
}

function preflight({ fo, obs }: StepInput): StepOutcome {
  const others = obs.failovers.filter((f) => f.metadata.name !== fo.metadata.name);
  const overlaid = effectiveCells(obs.cells, others);
  const plan = planMoves(fo.spec, overlaid, obs.zones, obs.rules);
  // Two failovers never act on the same cell at once. Checked before the
  // plan's problems: while another Failover moves a cell, the plan (from where
  // the cell is now) is not the plan once it has moved.
  const busy = busyCells(fo, plan.moves, overlaid, others);
  if (busy.length) return wait(`waiting: another failover is moving ${busy.join(", ")}`, 1000);
  // A real refusal fails at once; what is merely not observed yet is waited for (the step timeout bounds it).
  const skip = fo.spec.onUnmovable === "Skip";
  const skipped = new Set(skip ? plan.unmovable.map((u) => u.cell) : []);
  const refusals = plan.problems.filter(
    (p) => !plan.unmovable.some((u) => skipped.has(u.cell) && p === `Cell ${u.cell}: ${u.reason}`),
  );
  if (refusals.length) return { kind: "fail", reason: refusals.join("; ") };
  if (plan.waiting.length) return wait(plan.waiting.join("; "), 1000);
  if (plan.moves.length === 0) return { kind: "fail", reason: `no target cell can move: ${plan.problems.join("; ")}` };
  const skipNote = skipped.size ? `; left where they are (spec.onUnmovable Skip): ${[...skipped].join(", ")}` : "";
  return done(`moving ${describeMoves(plan.moves)}${skipNote}`, {
    cells: plan.moves,
    ...(skipped.size ? { skipped: plan.unmovable } : {}),
    epochs: { before: obs.epochOf(plan.moves.map((m) => m.cell)) },
  });
}

/** The cells a Failover would act on that another running Failover is moving: "rz00 (Failover x)". */
export function busyCells(
  fo: Pick<Failover, "spec">,
  moves: readonly Move[],
  overlaid: readonly Cell[],
  others: readonly Failover[],
): string[] {
  const target = fo.spec.target;
  const moving = new Set([
    ...moves.map((m) => m.cell),
    ...(target.cells ?? []),
    ...(target.zone ? overlaid.filter((c) => activeZoneOf(c) === target.zone).map((c) => c.metadata.name) : []),
  ]);
  const busy: string[] = [];
  for (const o of others) {
    if (o.status?.phase !== "Running") continue;
    for (const c of o.status.cells ?? []) if (moving.has(c.cell)) busy.push(`${c.cell} (Failover ${o.metadata.name})`);
  }
  return busy;
}

/** The steps of one leg: out (before the Failback marker), or back (after it). */
function legSteps(fo: Pick<Failover, "status">, back: boolean): StepRecord[] {
  const steps = fo.status?.steps ?? [];
  const i = steps.findIndex((s) => s.name === "Failback");
  if (i < 0) return back ? [] : steps;
  return back ? steps.slice(i + 1) : steps.slice(0, i);
}

function legStep(fo: Pick<Failover, "status">, name: FailoverStep, back: boolean): StepRecord | undefined {
  return legSteps(fo, back).find((s) => s.name === name);
}

/** The steps of one leg (out, or back for a drill's failback). */
export const LEG: readonly FailoverStep[] = [
  "ScaleUpStandby",
  "Freeze",
  "WaitReplication",
  "Switch",
  "WaitAcknowledge",
  "ScaleDownOld",
];

/** The step after `step`: legs, then the drill wait and the failback leg, then Done. */
export function nextStep(step: FailoverStep, drill: boolean, failingBack: boolean): FailoverStep {
  if (step === "Preflight" || step === "Failback") return "ScaleUpStandby";
  if (step === "DrillWait") return "Failback";
  const i = LEG.indexOf(step);
  if (i >= 0 && i < LEG.length - 1) return LEG[i + 1]!;
  if (step === "ScaleDownOld") return drill && !failingBack ? "DrillWait" : "Done";
  return "Done";
}

// ---------------------------------------------------------------------------
// The step function

/** What one reconcile of a Failover does, in this order: effects, then the status write. */
export interface FailoverDecision {
  /** Record on each Cell where it now lives (idempotent; before the status that records the step). */
  recordActiveZones: CellRecord[];
  /** The status to write with optimistic concurrency; undefined: nothing to write. */
  status?: FailoverStatus;
  /** The write only refreshes a waiting step's progress message (the caller remembers when, see StepMemory). */
  progressOnly?: boolean;
  events: { type: "Normal" | "Warning"; reason: string; message: string }[];
  /** Look again after this long (0: at once), besides the watch events. */
  requeueAfterMs?: number;
}

/** What the caller remembers between reconciles of one Failover. */
export interface StepMemory {
  /** When this Failover's progress message was last written (ms). */
  lastProgressWriteMs?: number;
}

/**
 * One reconcile of a Failover: start it, abort it, or run its current step
 * and, while steps complete and the next one is chainable, the ones after it.
 * Deterministic in (failover, observation, now, memory); a finished Failover
 * yields nothing.
 */
export function stepFailover(
  failover: Failover,
  obs: FailoverObservation,
  now: Date,
  memory: StepMemory = {},
): FailoverDecision {
  const decision = decide(failover, obs, now, memory);
  return decision.status ? { ...decision, status: boundedStatus(decision.status) } : decision;
}

function decide(failover: Failover, obs: FailoverObservation, now: Date, memory: StepMemory): FailoverDecision {
  const decision: FailoverDecision = { recordActiveZones: [], events: [] };
  if (isFinished(failover)) return decision;
  if (failover.spec.dryRun) return planned(decision, failover, obs.plan(failover), now);
  let fo = failover;
  // Steps completed in this reconcile, not yet written.
  let advanced = false;
  if (fo.status?.phase !== "Running") {
    fo = { ...fo, status: started(fo, now) };
    advanced = true;
  }

  // An abort check that failed before the failback began aborts the failover, saying why (recorded once).
  if (!isAborting(fo) && fo.spec.abortChecks?.length && !isFailingBack(fo)) {
    const tripped = obs.failedCheck?.(fo);
    if (tripped) {
      fo = { ...fo, status: { ...fo.status, abortedBy: { ...tripped, time: now.toISOString() } } };
      advanced = true;
      decision.events.push({
        type: "Warning",
        reason: "AbortCheckFailed",
        message: `check ${tripped.check} failed: ${tripped.reason}; aborting`,
      });
    }
  }

  // Abort: before the switch, roll back; in a drill's wait, fail back now.
  if (isAborting(fo)) {
    const step = fo.status!.step!;
    const why = abortCause(fo);
    if (STEPS[step].beforeSwitch && !isFailingBack(fo))
      return finish(
        decision,
        fo,
        "Aborted",
        `${why}aborted at ${step}: the cells stay where they were; routing returns to the previous owners`,
        now,
      );
    if (step === "DrillWait")
      return complete(decision, fo, { kind: "done", message: `${why}aborted: failing back now` }, now);
  }

  for (;;) {
    const status = fo.status!;
    const step = status.step!;
    const back = isFailingBack(fo);
    const moves = legMoves(status.cells ?? [], back);
    const outcome = STEPS[step].check({ fo, status, moves, back, obs, now: now.getTime() });
    if (outcome.kind === "fail") {
      // Record what completed first; the next reconcile fails from persisted state.
      if (advanced) return { ...decision, status, requeueAfterMs: 0 };
      return fail(decision, fo, step, outcome.reason, now);
    }
    if (outcome.kind === "done") {
      decision.events.push({ type: "Normal", reason: `${step}Done`, message: outcome.message });
      if (outcome.recordActiveZones) decision.recordActiveZones = recordsAt(step, status.cells ?? [], back);
      const next = nextStatus(fo, outcome, now);
      if (next.step === "Done" || !STEPS[next.step!].chainable || isAborting(fo))
        return complete(decision, fo, outcome, now);
      fo = { ...fo, status: next };
      advanced = true;
      continue;
    }
    if (advanced)
      return { ...decision, status: { ...status, message: outcome.message }, requeueAfterMs: outcome.retryMs };
    return waiting(decision, fo, step, outcome, now, memory);
  }
}

/**
 * Asked to stop: spec.abort, an abort check failed (status.abortedBy), or the
 * Failover was deleted (its finalizer holds it until it has ended the way an
 * abort does: deleting it after the switch must not drop the overlay and move
 * the shards back without a freeze).
 */
function isAborting(fo: Failover): boolean {
  return fo.spec.abort || fo.status?.abortedBy !== undefined || fo.metadata.deletionTimestamp !== undefined;
}

/** Why the failover stopped, when not spec.abort: a failed abort check, or its deletion. */
function abortCause(fo: Failover): string {
  const a = fo.status?.abortedBy;
  if (a) return `check ${a.check} failed (${a.reason}): `;
  return fo.metadata.deletionTimestamp !== undefined && !fo.spec.abort ? "deleted: " : "";
}

/** A dry run: the plan written once, phase Planned, nothing else done. */
function planned(decision: FailoverDecision, fo: Failover, plan: FailoverPlan, now: Date): FailoverDecision {
  const refused = plan.refusals?.length ?? 0;
  const message = refused
    ? `dry run: would be refused: ${plan.refusals!.join("; ")}`
    : `dry run: would move ${plan.cells?.length ?? 0} cell(s)${plan.waiting?.length ? `, after waiting for ${plan.waiting.join("; ")}` : ""}; nothing was changed`;
  decision.events.push({ type: refused ? "Warning" : "Normal", reason: "Planned", message });
  const conditions = setCondition(
    fo.status?.conditions,
    { type: "Ready", status: "False", reason: "Planned", message, observedGeneration: fo.metadata.generation },
    now,
  );
  return {
    ...decision,
    status: {
      observedGeneration: fo.metadata.generation,
      phase: "Planned",
      plan,
      message,
      completionTime: now.toISOString(),
      conditions,
    },
  };
}

/** First sight: Running at Preflight; the decision time (RTO's start) from the creator's annotation. */
function started(fo: Failover, now: Date): FailoverStatus {
  const decided = Number(fo.metadata.annotations?.[DECIDED_AT]);
  const start = Number.isFinite(decided) && decided > 0 ? new Date(decided) : now;
  return {
    ...fo.status,
    observedGeneration: fo.metadata.generation,
    phase: "Running",
    step: "Preflight",
    startTime: start.toISOString(),
    steps: [{ name: "Preflight", phase: "Running", startTime: now.toISOString() }],
    message: "preflight: checking the destination zones",
  };
}

/** A step is not done yet: give up at its timeout, else say what it waits for (rate-limited) and look again. */
function waiting(
  decision: FailoverDecision,
  fo: Failover,
  step: FailoverStep,
  outcome: Extract<StepOutcome, { kind: "wait" }>,
  now: Date,
  memory: StepMemory,
): FailoverDecision {
  const status = fo.status!;
  const t = now.getTime();
  const current = (status.steps ?? []).at(-1);
  const stepStart = current?.startTime ? Date.parse(current.startTime) : t;
  const timeout = STEPS[step].timeout;
  if (timeout && t - stepStart > timeout.ms(fo)) {
    const limit = fo.spec.timeouts.step;
    if (timeout.then === "complete") {
      const message = `not every sidecar acknowledged the switch within ${limit}: ${outcome.message}`;
      decision.events.push({ type: "Normal", reason: `${step}Done`, message });
      return complete(decision, fo, { kind: "done", message }, now);
    }
    return fail(decision, fo, step, `timed out after ${limit}: ${outcome.message}`, now);
  }
  // Progress for `kubectl ldc drill status`, at most once an interval and not in
  // a step's first one: each write wakes every controller watching Failovers,
  // which would slow down the very step being waited for.
  if (
    outcome.message !== status.message &&
    t - stepStart >= PROGRESS_INTERVAL_MS &&
    t - (memory.lastProgressWriteMs ?? 0) >= PROGRESS_INTERVAL_MS
  )
    return {
      ...decision,
      status: { ...status, message: outcome.message },
      progressOnly: true,
      requeueAfterMs: outcome.retryMs,
    };
  return { ...decision, requeueAfterMs: outcome.retryMs };
}

/** The status once the current step is done: the step recorded, the next one started. */
function nextStatus(fo: Failover, outcome: Extract<StepOutcome, { kind: "done" }>, now: Date): FailoverStatus {
  const status = fo.status!;
  const step = status.step!;
  const next = nextStep(step, fo.spec.type === "Drill", isFailingBack(fo) || step === "Failback");
  const at = now.toISOString();
  const steps = (status.steps ?? []).map((s, i, all) =>
    i === all.length - 1 ? { ...s, phase: "Succeeded" as const, endTime: at, message: outcome.message } : s,
  );
  return {
    ...status,
    ...(outcome.status ?? {}),
    step: next,
    steps: next === "Done" ? steps : [...steps, { name: next, phase: "Running", startTime: at }],
    message: `${next}: ${outcome.message}`,
  };
}

/** The current step is done: write the next one, or end the Failover with the leg's cells recorded where they are. */
function complete(
  decision: FailoverDecision,
  fo: Failover,
  outcome: Extract<StepOutcome, { kind: "done" }>,
  now: Date,
): FailoverDecision {
  const status = fo.status!;
  const next = nextStatus(fo, outcome, now);
  if (next.step !== "Done") return { ...decision, status: next, requeueAfterMs: 0 };
  const aborted = isAborting(fo);
  const message = !aborted
    ? `done: ${outcome.message}`
    : fo.spec.type === "Drill"
      ? `${abortCause(fo)}aborted: the drill failed back early`
      : `${abortCause(fo)}aborted after the switch: the cells stay in the destination`;
  return finishWith(
    decision,
    fo,
    { ...status, ...(outcome.status ?? {}), steps: next.steps },
    aborted ? "Aborted" : "Succeeded",
    message,
    now,
  );
}

/** A step cannot complete: before the switch the Failover rolls back, after it it fails. */
function fail(decision: FailoverDecision, fo: Failover, step: FailoverStep, why: string, now: Date): FailoverDecision {
  if (step === "Preflight") return finish(decision, fo, "Failed", `preflight failed: ${why}`, now);
  if (STEPS[step].beforeSwitch) {
    const where = isFailingBack(fo)
      ? "the cells stay in the drill's destination; start a new Failover to bring them home"
      : "the cells stay where they were";
    return finish(
      decision,
      fo,
      "RolledBack",
      `${step} failed: ${why}; rolled back to the previous routing (${where})`,
      now,
    );
  }
  return finish(decision, fo, "Failed", `${step} failed: ${why}`, now);
}

/** Ends a Failover that did not succeed: its running step marked, a Warning. */
function finish(
  decision: FailoverDecision,
  fo: Failover,
  phase: "Failed" | "RolledBack" | "Aborted",
  message: string,
  now: Date,
): FailoverDecision {
  const status = fo.status ?? {};
  const steps = (status.steps ?? []).map((s, i, all) =>
    i === all.length - 1 && s.phase === "Running"
      ? {
          ...s,
          phase: phase === "Aborted" ? ("Skipped" as const) : ("Failed" as const),
          endTime: now.toISOString(),
          message,
        }
      : s,
  );
  decision.events.push({ type: "Warning", reason: phase, message });
  return finishWith(decision, fo, { ...status, steps }, phase, message, now);
}

function finishWith(
  decision: FailoverDecision,
  fo: Failover,
  status: FailoverStatus,
  phase: NonNullable<FailoverStatus["phase"]>,
  message: string,
  now: Date,
): FailoverDecision {
  const conditions = setCondition(
    status.conditions,
    {
      type: "Ready",
      status: phase === "Succeeded" ? "True" : "False",
      reason: phase,
      message,
      observedGeneration: fo.metadata.generation,
    },
    now,
  );
  const final = { ...status, phase, step: "Done" as const, completionTime: now.toISOString(), message, conditions };
  // Every end records where the cells are left, on the Cells first (effectiveCells holds them there meanwhile).
  return {
    ...decision,
    recordActiveZones: finalRecords({ ...fo, status: final }),
    status: final,
    requeueAfterMs: undefined,
  };
}

/** A message naming many cells must never make the API server refuse a step (it would stall there). */
const bounded = (m: string): string => clampMessage(m, FAILOVER_MESSAGE_MAX_LENGTH);

/** Every message of a status within the schema's bound. */
function boundedStatus(status: FailoverStatus): FailoverStatus {
  const out: FailoverStatus = { ...status };
  if (status.message !== undefined) out.message = bounded(status.message);
  if (status.steps)
    out.steps = status.steps.map((s) => (s.message === undefined ? s : { ...s, message: bounded(s.message) }));
  return out;
}

// ---------------------------------------------------------------------------
// What a running Failover means for its cells

const FINISHED_PHASES = new Set(["Succeeded", "Failed", "RolledBack", "Aborted", "Planned"]);

/** Whether a Failover has ended (it no longer acts on or overlays its cells). */
export function isFinished(fo: Pick<Failover, "status">): boolean {
  return FINISHED_PHASES.has(fo.status?.phase ?? "");
}

/** Whether a Cell's stored status already says what `record` says. */
export function recordShown(c: Cell, record: CellRecord): boolean {
  return (
    activeZoneOf(c) === record.activeZone &&
    (record.evacuated === undefined || (c.status?.evacuated ?? false) === record.evacuated)
  );
}

/** Whether a Failover's status records the failback leg as started. */
export function isFailingBack(fo: Pick<Failover, "status">): boolean {
  return (fo.status?.steps ?? []).some((s) => s.name === "Failback");
}

/** An index of a Failover's moving cells, built once per status object (the cache replaces it on change). */
const moveIndex = new WeakMap<readonly object[], Map<string, Move>>();
function movesByCell(cells: readonly Move[]): Map<string, Move> {
  let m = moveIndex.get(cells);
  if (!m) {
    m = new Map(cells.map((c) => [c.cell, c]));
    moveIndex.set(cells, m);
  }
  return m;
}

function stateAt(step: FailoverStep, move: Move, back: boolean, ref: string): CellFailoverState {
  if (move.evacuate !== undefined) {
    // A City cell stays where it is, warm and writable; only who serves its reads changes, at the leg's switch.
    const leg = back ? !move.evacuate : move.evacuate;
    return { activeZone: move.from, evacuated: STEPS[step].switched ? leg : !leg, failoverRef: ref };
  }
  const [from, to] = back ? [move.to, move.from] : [move.from, move.to];
  return { ...STEPS[step].overlay(from, to), failoverRef: ref };
}

/**
 * What a running Failover says about one cell, from its persisted step.
 * Undefined: the Failover does not touch the cell (or is finished).
 */
export function failoverStateOf(fo: Failover, cell: string): CellFailoverState | undefined {
  const st = fo.status;
  if (st?.phase !== "Running" || !st.step) return undefined;
  const move = movesByCell(st.cells ?? []).get(cell);
  if (!move) return undefined;
  return stateAt(st.step, move, isFailingBack(fo), fo.metadata.name);
}

/** The records of a leg's cells at `step`: the step's overlay, without what shows only while it runs. */
function recordsAt(step: FailoverStep, moves: readonly Move[], back: boolean): CellRecord[] {
  return moves.map((m) => {
    const s = stateAt(step, m, back, "");
    return { cell: m.cell, activeZone: s.activeZone, ...(s.evacuated !== undefined ? { evacuated: s.evacuated } : {}) };
  });
}

/**
 * Where a finished Failover left its cells: the overlay of the last step it
 * reached (from its leg's switch on, the destination; before it, where the
 * cells were). None when it never held them (it ended at Preflight) or was a
 * dry run. Written on the Cells before the Failover's final status.
 */
export function finalRecords(fo: Failover): CellRecord[] {
  const st = fo.status;
  if (!isFinished(fo) || st?.phase === "Planned") return [];
  const last = st?.steps?.at(-1)?.name;
  if (!last || last === "Preflight") return [];
  return recordsAt(last, st.cells ?? [], isFailingBack(fo));
}

/** finalRecords by cell, with the Failover's completion time, computed once per status object. */
const finalIndex = new WeakMap<object, { at: number; records: Map<string, CellRecord> }>();
function finalRecordsByCell(fo: Failover): { at: number; records: Map<string, CellRecord> } | undefined {
  const st = fo.status;
  if (!st?.completionTime || !isFinished(fo)) return undefined;
  let f = finalIndex.get(st);
  if (!f) {
    f = { at: Date.parse(st.completionTime), records: new Map(finalRecords(fo).map((r) => [r.cell, r])) };
    finalIndex.set(st, f);
  }
  return f;
}

/**
 * Whether a Cell as read still predates `at`, the end of a Failover that
 * recorded it: its last record (status.lastFailoverTime) and its creation are
 * older. The Failover wrote the Cell before its own final status, but caches
 * and watches of two resources can show them in either order.
 */
function cellPredates(c: Cell, at: number): boolean {
  const recorded = Date.parse(c.status?.lastFailoverTime ?? "");
  const created = Date.parse(c.metadata.creationTimestamp ?? "");
  return !(recorded >= at) && !(created >= at);
}

/**
 * The cells as the Failovers make them (see EffectiveCell): a running one
 * overlays its step; a finished one holds its cells where it left them
 * (finalRecords) until the Cell's own record is as new as its end, so a reader
 * whose Cell cache lags behind its Failover cache never sees a cell back in
 * its old zone (that would move shards without a freeze). A stored
 * failoverRef is dropped unless a running Failover says so.
 */
export function effectiveCells<C extends Cell>(
  cells: readonly C[],
  failovers: readonly Failover[],
): EffectiveCell<C>[] {
  // Per Failover once, not per cell: this runs over every cell in several controllers.
  const running = failovers
    .filter((f) => f.status?.phase === "Running" && f.status.step && f.status.cells?.length)
    .map((f) => ({
      moves: movesByCell(f.status!.cells!),
      step: f.status!.step!,
      back: isFailingBack(f),
      ref: f.metadata.name,
    }));
  // Per cell, a lookup in each finished Failover's index: O(failovers) for one cell, whatever their sizes.
  const finished = failovers
    .map(finalRecordsByCell)
    .filter((f): f is NonNullable<typeof f> => f !== undefined && f.records.size > 0);
  const latestFinished = (cell: string): { at: number; record: CellRecord } | undefined => {
    let latest: { at: number; record: CellRecord } | undefined;
    for (const f of finished) {
      const record = f.records.get(cell);
      if (record && (!latest || latest.at < f.at)) latest = { at: f.at, record };
    }
    return latest;
  };
  return cells.map((c) => {
    let state: CellFailoverState | undefined;
    for (const fo of running) {
      const move = fo.moves.get(c.metadata.name);
      if (move) {
        state = stateAt(fo.step, move, fo.back, fo.ref);
        break;
      }
    }
    const stored = c.status;
    const pending = state ? undefined : latestFinished(c.metadata.name);
    const lagging =
      pending && cellPredates(c, pending.at) && !recordShown(c, pending.record) ? pending.record : undefined;
    if (!state && !lagging && stored?.failoverRef === undefined) return c;
    // Rest syntax, not `delete`: deleting keys turns objects into slow dictionaries.
    const { failoverRef: _r, ...rest } = stored ?? {};
    if (lagging)
      return {
        ...c,
        status: {
          ...rest,
          activeZone: lagging.activeZone,
          ...(lagging.evacuated !== undefined ? { evacuated: lagging.evacuated } : {}),
        },
      };
    if (!state) return { ...c, status: rest };
    return {
      ...c,
      status: {
        ...rest,
        activeZone: state.activeZone,
        failoverRef: state.failoverRef,
        ...(state.evacuated !== undefined ? { evacuated: state.evacuated } : {}),
      },
      moving: {
        ...(state.warmZone ? { warmZone: state.warmZone } : {}),
        writeFrozen: state.writeFrozen === true,
        failover: state.failoverRef,
      },
    };
  });
}
