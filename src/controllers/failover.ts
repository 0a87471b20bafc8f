// Failover controller: runs each Failover as a persisted state machine.
//
//   Preflight -> ScaleUpStandby -> Freeze -> WaitReplication -> Switch ->
//   WaitAcknowledge -> ScaleDownOld [-> DrillWait -> Failback -> (the same
//   leg back)] -> Done
//
// The Failover's status is the source of truth while it runs (the routing,
// CellApp and Cell controllers overlay it onto the cells, see
// effectiveCells), so each step is one status write whatever the number of
// cells, and an operator restarted at any step resumes from status. Every
// step is idempotent; waits poll. A failed, timed-out or aborted step before
// the switch rolls back: the Failover leaves Running, its overlay disappears,
// and the routing table returns to the previous owners in a new epoch.
import { parseDuration, setCondition, type Cell, type Failover, type FailoverStep } from "../api/index.ts";
import { activeZoneOf, cellsInScope, planCellApp } from "../reconcilers/cellapp.ts";
import {
  describeMoves,
  effectiveCells,
  isBeforeSwitch,
  isFailingBack,
  isFinished,
  legMoves,
  nextStep,
  planMoves,
  type Move,
} from "../reconcilers/failover.ts";
import type { RoutingTable } from "../routing/index.ts";
import type { TableStore } from "../routing-api/index.ts";
import {
  Controller,
  isConflict,
  stripManagedFields,
  type KubeObject,
  type ReconcileContext,
  type ReconcileResult,
} from "../runtime/index.ts";
import { workloadInformers } from "./cellapp.ts";
import { FAILOVER_FIELD_MANAGER } from "./cell.ts";
import { ACK_WARMUP_MS, clusterOfZone, LdcResources, type OperatorContext } from "./context.ts";

type FailoverObj = Failover & KubeObject;
type Status = NonNullable<Failover["status"]>;
type StepRecord = NonNullable<Status["steps"]>[number];

/** Annotation with the decision time (ms since epoch), set by whoever creates a Failover; RTO counts from it. */
export const DECIDED_AT = "ldc.io/decided-at";
const POLL_MS = 50;
const MESSAGE_INTERVAL_MS = 1000;

export function isRunning(fo: Failover): boolean {
  return fo.status?.phase === "Running";
}

export function failoverController(ctx: OperatorContext, tables: TableStore): Controller {
  const mem = new FailoverMemory();
  const controller = new Controller({
    name: "failover",
    kind: "Failover",
    // One worker: Preflight's claim on cells is checked against the other
    // Failovers in one place, so two never act on the same cell at once.
    workers: 1,
    logger: ctx.log,
    reconcile: (key, r) => reconcileFailover(ctx, tables, mem, key, r),
  });
  const running = () =>
    ctx.ldc.failovers.store
      .list()
      .filter((f) => !isFinished(f))
      .map((f) => f.metadata.name);
  controller.watch(ctx.ldc.failovers);
  controller.watch(ctx.ldc.cells, running);
  controller.watch(ctx.ldc.zones, running);
  controller.watch(ctx.ldc.rules, running);
  controller.watch(ctx.ldc.apps, running);
  // A newly published table, or a sidecar's ack, may be what a step waits for.
  tables.subscribe(() => running().forEach((k) => controller.queue.add(k)));
  tables.subscribeAcks(() => running().forEach((k) => controller.queue.add(k)));
  return controller;
}

/**
 * What this process knows of its own writes before its cache does (the
 * controller has one worker, so nothing here races).
 */
class FailoverMemory {
  /** Cells claimed by a Preflight this process wrote, by Failover: the next Failover's Preflight must see them. */
  readonly claims = new Map<string, ReadonlySet<string>>();
  /** When each Failover's wait message was last written. */
  readonly messageWrites = new Map<string, number>();
  /** The last status this process wrote per Failover, and the version it replaced. */
  readonly written = new Map<string, { replaced: string; obj: FailoverObj }>();

  /**
   * The Failover as of our last write while the cache still shows the version
   * that write replaced: a reconcile right after a write (a sidecar's ack)
   * would otherwise redo the step, repeat its Event and lose a conflict.
   */
  fresh(key: string, cached: FailoverObj): FailoverObj {
    const w = this.written.get(key);
    if (w && w.replaced === cached.metadata.resourceVersion) return w.obj;
    this.written.delete(key);
    return cached;
  }

  forget(key: string): void {
    this.claims.delete(key);
    this.messageWrites.delete(key);
    this.written.delete(key);
  }
}

/**
 * Steps whose check only reads the world: when the previous step completes,
 * the same reconcile checks them at once and, if they are already done (a warm
 * standby, a zero write freeze, sidecars that acked before this reconcile),
 * moves on, so one status write records several steps. ScaleDownOld writes
 * to every Cell and Done ends the Failover: those run after a write of their own.
 */
const CHAINABLE = new Set<FailoverStep>([
  "Preflight",
  "ScaleUpStandby",
  "Freeze",
  "WaitReplication",
  "Switch",
  "WaitAcknowledge",
  "DrillWait",
  "Failback",
]);

function iso(d: Date): string {
  return d.toISOString();
}

interface StepOutcome {
  /** The step is complete: move on, with these status fields. */
  done?: { message: string; status?: Partial<Status> };
  /** Not yet: look again after this many ms. */
  waitMs?: number;
  waitMessage?: string;
  /** The step cannot complete: roll back (before the switch) or fail. */
  fail?: string;
}

async function reconcileFailover(
  ctx: OperatorContext,
  tables: TableStore,
  mem: FailoverMemory,
  key: string,
  r: ReconcileContext,
): Promise<ReconcileResult | void> {
  const cached = ctx.ldc.failovers.store.get(key) as FailoverObj | undefined;
  let fo = cached && mem.fresh(key, cached);
  if (!fo || isFinished(fo)) {
    mem.forget(key);
    return;
  }
  const now = new Date();
  // Steps completed in this reconcile, not yet written.
  let advanced = false;

  // First sight: record the decision time and start Preflight.
  if (fo.status?.phase !== "Running") {
    const decided = Number(fo.metadata.annotations?.[DECIDED_AT]);
    const start = Number.isFinite(decided) && decided > 0 ? new Date(decided) : now;
    fo = {
      ...fo,
      status: {
        ...fo.status,
        observedGeneration: fo.metadata.generation,
        phase: "Running",
        step: "Preflight",
        startTime: iso(start),
        steps: [{ name: "Preflight", phase: "Running", startTime: iso(now) }],
        message: "preflight: checking the destination zones",
      },
    };
    advanced = true;
  }

  // Abort: before the switch, roll back; in a drill's wait, fail back now.
  if (fo.spec.abort) {
    const step = fo.status!.step!;
    if (isBeforeSwitch(step) && !isFailingBack(fo))
      return finish(
        ctx,
        mem,
        fo,
        "Aborted",
        `aborted at ${step}: the cells stay where they were; routing returns to the previous owners`,
        r,
      );
    if (step === "DrillWait") return advance(ctx, mem, fo, { message: "aborted: failing back now" }, r);
  }

  for (;;) {
    const st: Status = fo.status!;
    const step = st.step!;
    const back = isFailingBack(fo);
    let outcome: StepOutcome;
    try {
      outcome = await runStep(ctx, tables, mem, fo, step, back, now);
    } catch (err) {
      if (isConflict(err)) return { requeue: true };
      throw err;
    }
    if (outcome.fail) {
      // Record what completed first; the next reconcile fails from persisted state.
      if (advanced) return (await writeStatus(ctx, mem, fo, st)) ?? { requeue: true };
      return fail(ctx, mem, fo, step, outcome.fail, r);
    }
    if (outcome.done) {
      const next = nextStatus(fo, outcome.done, now);
      // Not awaited: an Event waits behind the client's rate limiter, the failover must not.
      void ctx.events.normal(fo, `${step}Done`, outcome.done.message);
      r.log.info({ step, next: next.step, message: outcome.done.message }, "failover step done");
      if (next.step === "Done" || !CHAINABLE.has(next.step!) || fo.spec.abort) {
        return advance(ctx, mem, fo, outcome.done, r);
      }
      fo = { ...fo, status: next };
      advanced = true;
      continue;
    }
    // Waiting.
    if (advanced) {
      const waiting = outcome.waitMessage ? { ...st, message: outcome.waitMessage } : st;
      return writeStatus(ctx, mem, fo, waiting);
    }
    return wait(ctx, mem, fo, step, outcome, now, r);
  }
}

/** A step is not done yet: give up at its timeout, else say what it waits for and look again. */
async function wait(
  ctx: OperatorContext,
  mem: FailoverMemory,
  fo: FailoverObj,
  step: FailoverStep,
  outcome: StepOutcome,
  now: Date,
  r: ReconcileContext,
): Promise<ReconcileResult | void> {
  const st = fo.status!;
  const current = (st.steps ?? []).at(-1);
  const stepStart = current?.startTime ? Date.parse(current.startTime) : now.getTime();
  const stepTimeoutMs = parseDuration(fo.spec.timeouts?.step ?? "2m");
  // DrillWait has its own clock.
  if (step !== "DrillWait" && now.getTime() - stepStart > stepTimeoutMs) {
    if (step === "WaitAcknowledge") {
      // The switch is done and cannot be undone by a rollback: finish, say who lagged.
      return advance(
        ctx,
        mem,
        fo,
        {
          message: `not every sidecar acknowledged the switch within ${fo.spec.timeouts?.step ?? "2m"}: ${outcome.waitMessage ?? ""}`,
        },
        r,
      );
    }
    return fail(
      ctx,
      mem,
      fo,
      step,
      `timed out after ${fo.spec.timeouts?.step ?? "2m"}: ${outcome.waitMessage ?? "waiting"}`,
      r,
    );
  }
  // Progress for `kubectl ldc drill status`, at most once a second and not in a
  // step's first second: each write wakes every controller watching Failovers,
  // which would slow down the very step being waited for.
  const name = fo.metadata.name;
  if (
    outcome.waitMessage &&
    outcome.waitMessage !== st.message &&
    now.getTime() - stepStart >= MESSAGE_INTERVAL_MS &&
    now.getTime() - (mem.messageWrites.get(name) ?? 0) >= MESSAGE_INTERVAL_MS
  ) {
    mem.messageWrites.set(name, now.getTime());
    await writeStatus(ctx, mem, fo, { ...st, message: outcome.waitMessage });
  }
  return { requeueAfter: outcome.waitMs ?? POLL_MS };
}

async function runStep(
  ctx: OperatorContext,
  tables: TableStore,
  mem: FailoverMemory,
  fo: FailoverObj,
  step: FailoverStep,
  back: boolean,
  now: Date,
): Promise<StepOutcome> {
  const st = fo.status!;
  const moves = legMoves((st.cells ?? []) as Move[], back);
  switch (step) {
    case "Preflight":
      return preflight(ctx, mem, fo);
    case "Failback":
      return { done: { message: `failing back: ${describeMoves(moves)}` } };
    case "ScaleUpStandby":
      return standbyReady(ctx, fo, moves);
    case "Freeze": {
      const w = routingHas(ctx, tables, fo, moves, "frozen");
      if (w.waitMessage) return w;
      const acks = acknowledged(ctx, tables, fo, moves, w.epoch!);
      if (acks.waitMessage) return acks;
      return {
        done: {
          message: `epoch ${w.epoch}: writes to the moving shards refused (503); ${acks.count} sidecar(s) hold it`,
          status: { epochs: { ...(st.epochs ?? {}), [back ? "failbackFreeze" : "freeze"]: w.epoch } },
        },
      };
    }
    case "WaitReplication": {
      const freezeMs = parseDuration(fo.spec.writeFreeze);
      const frozenSince = Date.parse(stepEnd(fo, "Freeze", back) ?? iso(now));
      const left = frozenSince + freezeMs - now.getTime();
      if (left > 0)
        return { waitMs: Math.min(left, 1000), waitMessage: `write freeze: ${Math.ceil(left / 1000)}s left` };
      const gate = fo.spec.replicationGate;
      if (gate?.annotation) {
        const maxLag = parseDuration(gate.maxLag ?? "0s");
        const lagging = moves.filter((m) => {
          const cell = ctx.ldc.cells.store.get(m.cell) as (Cell & KubeObject) | undefined;
          const v = cell?.metadata.annotations?.[gate.annotation!];
          if (v === undefined) return true;
          try {
            return parseDuration(v) > maxLag;
          } catch {
            return true;
          }
        });
        const gateTimeout = parseDuration(gate.timeout ?? fo.spec.timeouts?.step ?? "2m");
        if (lagging.length) {
          if (now.getTime() - (frozenSince + freezeMs) > gateTimeout)
            return {
              fail: `replication gate: cells ${lagging.map((m) => m.cell).join(", ")} still report lag above ${gate.maxLag ?? "0s"} (annotation ${gate.annotation})`,
            };
          return {
            waitMs: 250,
            waitMessage: `replication gate: waiting for ${lagging.map((m) => m.cell).join(", ")} (annotation ${gate.annotation} <= ${gate.maxLag ?? "0s"})`,
          };
        }
      }
      return {
        done: { message: `writes frozen ${fo.spec.writeFreeze}${gate?.annotation ? "; replication caught up" : ""}` },
      };
    }
    case "Switch": {
      const w = routingHas(ctx, tables, fo, moves, "switched");
      if (w.waitMessage) return w;
      const freezeStart = Date.parse(stepStartOf(fo, "Freeze", back) ?? iso(now));
      return {
        done: {
          message: `epoch ${w.epoch}: the shards are owned by the cells in ${[...new Set(moves.map((m) => m.to))].join(", ")}`,
          status: {
            epochs: { ...(st.epochs ?? {}), [back ? "failbackSwitch" : "switch"]: w.epoch },
            ...(back ? {} : { freezeMilliseconds: Math.max(0, now.getTime() - freezeStart) }),
          },
        },
      };
    }
    case "WaitAcknowledge": {
      const epoch = back ? st.epochs?.failbackSwitch : st.epochs?.switch;
      const acks = acknowledged(ctx, tables, fo, moves, epoch ?? 0);
      if (acks.waitMessage) return acks;
      const rto = now.getTime() - Date.parse(st.startTime!);
      return {
        done: {
          message: `${acks.count} sidecar(s) on epoch ${epoch}${back ? "" : `; RTO ${rto} ms`}`,
          status: back ? {} : { rtoMilliseconds: rto },
        },
      };
    }
    case "ScaleDownOld": {
      // The cells now live in the destination: record it durably on each Cell.
      await recordActiveZones(ctx, fo, moves, now);
      return {
        done: {
          message: `old side scaled down to standby in ${[...new Set(moves.map((m) => m.from))].join(", ")} (nothing deleted)`,
        },
      };
    }
    case "DrillWait": {
      const switched = Date.parse(stepEnd(fo, "WaitAcknowledge", false) ?? iso(now));
      const left = switched + parseDuration(fo.spec.drill?.duration ?? "0s") - now.getTime();
      if (left > 0)
        return { waitMs: Math.min(left, 5000), waitMessage: `drill: failing back in ${Math.ceil(left / 1000)}s` };
      return { done: { message: `drill duration ${fo.spec.drill?.duration} over` } };
    }
    case "Done":
      return { done: { message: "done" } };
  }
}

function preflight(ctx: OperatorContext, mem: FailoverMemory, fo: FailoverObj): StepOutcome {
  const cells = ctx.ldc.cells.store.list();
  const zones = ctx.ldc.zones.store.list();
  const overlaid = effectiveCells(cells, otherFailovers(ctx, fo));
  const plan = planMoves(fo.spec, overlaid, zones);
  // Two failovers never act on the same cell at once: the claims in the cache,
  // and those this process wrote that the cache may not show yet. Checked
  // before the plan's problems: while another Failover moves a cell, the
  // plan (from where the cell is now) is not the plan once it has moved.
  const target = fo.spec.target;
  const moving = new Set([
    ...plan.moves.map((m) => m.cell),
    ...(target.cells ?? []),
    ...(target.zone ? overlaid.filter((c) => activeZoneOf(c) === target.zone).map((c) => c.metadata.name) : []),
  ]);
  const claimedBy = new Map<string, ReadonlySet<string>>(mem.claims);
  for (const o of otherFailovers(ctx, fo)) {
    if (o.status?.phase === "Running" && o.status.cells?.length)
      claimedBy.set(o.metadata.name, new Set(o.status.cells.map((c) => c.cell)));
  }
  claimedBy.delete(fo.metadata.name);
  const busy: string[] = [];
  for (const [name, claimed] of claimedBy) {
    for (const c of claimed) if (moving.has(c)) busy.push(`${c} (Failover ${name})`);
  }
  if (busy.length) return { waitMs: 1000, waitMessage: `waiting: another failover is moving ${busy.join(", ")}` };
  if (plan.problems.length) return { fail: plan.problems.join("; ") };
  return {
    done: {
      message: `moving ${describeMoves(plan.moves)}`,
      status: { cells: plan.moves, epochs: { before: maxEpoch(ctx, plan.moves) } },
    },
  };
}

function otherFailovers(ctx: OperatorContext, fo: FailoverObj): Failover[] {
  return ctx.ldc.failovers.store.list().filter((f) => f.metadata.name !== fo.metadata.name);
}

function maxEpoch(ctx: OperatorContext, moves: readonly Move[]): number {
  const cells = new Set(moves.map((m) => m.cell));
  let e = 0;
  for (const rule of ctx.ldc.rules.store.list()) {
    if (
      rule.spec.assignments.some((a) => cells.has(a.cell)) ||
      (rule.spec.globalCell && cells.has(rule.spec.globalCell))
    )
      e = Math.max(e, rule.status?.epoch ?? 0);
  }
  return e;
}

/** The destination's Deployments of every app of every moving cell are Ready at full size. */
function standbyReady(ctx: OperatorContext, fo: FailoverObj, moves: readonly Move[]): StepOutcome {
  const zones = ctx.ldc.zones.store.list();
  // The sizes wanted at this step, from this Failover as it is here (a chained
  // step is not in the cache yet: the cache's overlay would want a cold
  // standby at 0 replicas and call it ready).
  const failovers = ctx.ldc.failovers.store.list().map((f) => (f.metadata.name === fo.metadata.name ? fo : f));
  const cells = effectiveCells(ctx.ldc.cells.store.list(), failovers);
  const notReady: string[] = [];
  for (const app of ctx.ldc.apps.store.list()) {
    const plan = planCellApp({ app, cells, zones, sidecar: ctx.sidecar });
    for (const m of moves) {
      const cell = cells.find((c) => c.metadata.name === m.cell);
      if (!cell || cellsInScope(app, [cell]).length === 0) continue;
      const w = plan.cells.find((c) => c.cell === m.cell)?.workloads.find((x) => x.zone === m.to);
      const zone = zones.find((z) => z.metadata.name === m.to);
      const cluster = zone && clusterOfZone(ctx, zone);
      const name = String((w?.deployment as { metadata?: { name?: string } } | undefined)?.metadata?.name ?? "");
      const dep =
        cluster && (cluster.local || cluster.reachable)
          ? workloadInformers(cluster).deployments.store.getByName(name, app.metadata.namespace)
          : undefined;
      const s = (dep as { spec?: { replicas?: number }; status?: { readyReplicas?: number } } | undefined) ?? {};
      if (!w || (s.spec?.replicas ?? -1) !== w.replicas || (s.status?.readyReplicas ?? 0) < w.replicas) {
        notReady.push(
          `${app.metadata.namespace}/${app.metadata.name}@${m.cell}/${m.to} ${s.status?.readyReplicas ?? 0}/${w?.replicas ?? "?"}`,
        );
      }
    }
  }
  if (notReady.length)
    return {
      waitMs: 250,
      waitMessage: `scaling up the destination: ${notReady.slice(0, 5).join(", ")}${notReady.length > 5 ? ` (+${notReady.length - 5})` : ""}`,
    };
  return { done: { message: `the destination is ready for ${describeMoves(moves)}` } };
}

/** The tables of the rules routing to the moving cells. */
function tablesOf(
  ctx: OperatorContext,
  tables: TableStore,
  moves: readonly Move[],
): { rule: string; table: RoutingTable | undefined }[] {
  const names = new Set(moves.map((m) => m.cell));
  const cells = ctx.ldc.cells.store.list();
  return ctx.ldc.rules.store
    .list()
    .filter(
      (r) =>
        r.spec.assignments.some((a) => names.has(a.cell)) ||
        (r.spec.globalCell && names.has(r.spec.globalCell)) ||
        cells.some((c) => names.has(c.metadata.name) && c.spec.type === "City"),
    )
    .map((r) => ({ rule: r.metadata.name, table: tables.get(r.metadata.name) }));
}

/** Whether every table routing to the moving cells shows them frozen (in the old zone) or switched. */
function routingHas(
  ctx: OperatorContext,
  tables: TableStore,
  fo: FailoverObj,
  moves: readonly Move[],
  want: "frozen" | "switched",
): StepOutcome & { epoch?: number } {
  let epoch = 0;
  const frozen = want === "frozen";
  for (const { rule, table } of tablesOf(ctx, tables, moves)) {
    if (!table) return { waitMs: POLL_MS, waitMessage: `waiting for the routing table of rule ${rule}` };
    // The moving cells of this table, by index: their zone must be right...
    const moving = new Uint8Array(table.cells.length);
    for (const m of moves) {
      const ci = table.cellIndex(m.cell);
      if (ci < 0) continue;
      moving[ci] = 1;
      if (table.cells[ci]!.zone !== (frozen ? m.from : m.to)) {
        return {
          waitMs: POLL_MS,
          waitMessage: `waiting for rule ${rule} to publish the ${frozen ? "write freeze" : "switch"} of ${m.cell}`,
        };
      }
    }
    // ...and every shard they own frozen (or not): one pass over the shards, not one per cell.
    for (let s = 0; s < table.shards; s++) {
      if (moving[table.ownerIndex(s)] === 1 && table.isFrozen(s) !== frozen) {
        const owner = table.ownerOf(s).name;
        return {
          waitMs: POLL_MS,
          waitMessage: `waiting for rule ${rule} to publish the ${frozen ? "write freeze" : "switch"} of ${owner}`,
        };
      }
    }
    epoch = Math.max(epoch, table.epoch);
  }
  return { epoch };
}

/** Every sidecar of the affected rules, in zones that answer, holds `epoch` (or newer). */
function acknowledged(
  ctx: OperatorContext,
  tables: TableStore,
  fo: FailoverObj,
  moves: readonly Move[],
  epoch: number,
): StepOutcome & { count?: number } {
  const lost = new Set(
    ctx.ldc.zones.store
      .list()
      .filter((z) => z.status?.phase === "Unreachable")
      .map((z) => z.metadata.name),
  );
  let count = 0;
  const behind: string[] = [];
  const rules = tablesOf(ctx, tables, moves);
  // A restarted operator's ack store is empty: "no sidecar is behind" would be
  // vacuous, and a sidecar still backing off could hold the pre-freeze table
  // after the switch (two writers). Until the store has listened for one ack
  // interval, require at least the sidecars the rule last reported to be back.
  const listenedMs = Date.now() - tables.collectingSince();
  if (listenedMs < ACK_WARMUP_MS) {
    for (const { rule } of rules) {
      const known = ctx.ldc.rules.store.get(rule)?.status?.sidecars?.total ?? 0;
      const heard = tables.acks(rule).filter((a) => !lost.has(a.zone)).length;
      if (heard < known) {
        return {
          waitMs: 200,
          waitMessage: `the operator restarted ${Math.round(listenedMs / 1000)}s ago: waiting for the ${known} sidecar(s) of rule ${rule} to report again (${heard} so far)`,
        };
      }
    }
  }
  for (const { rule } of rules) {
    for (const ack of tables.acks(rule)) {
      if (lost.has(ack.zone)) continue; // a lost zone's routers cannot answer; its data is fenced by the freeze
      count++;
      if (ack.epoch < epoch) behind.push(`${ack.sidecar}@${ack.zone}=${ack.epoch}`);
    }
  }
  if (behind.length)
    return {
      waitMs: POLL_MS,
      waitMessage: `waiting for ${behind.length} sidecar(s) to reach epoch ${epoch}: ${behind.slice(0, 5).join(", ")}`,
    };
  return { count };
}

function stepStartOf(fo: Failover, name: FailoverStep, back: boolean): string | undefined {
  return legSteps(fo, back).find((s) => s.name === name)?.startTime;
}

function stepEnd(fo: Failover, name: FailoverStep, back: boolean): string | undefined {
  return legSteps(fo, back).find((s) => s.name === name)?.endTime;
}

/** The steps of one leg: before the Failback marker, or after it. */
function legSteps(fo: Failover, back: boolean): StepRecord[] {
  const steps = fo.status?.steps ?? [];
  const i = steps.findIndex((s) => s.name === "Failback");
  if (i < 0) return back ? [] : steps;
  return back ? steps.slice(i + 1) : steps.slice(0, i);
}

/** The status once the current step is done: the step recorded, the next one started. */
function nextStatus(fo: FailoverObj, done: NonNullable<StepOutcome["done"]>, now: Date): Status {
  const st = fo.status!;
  const step = st.step!;
  const back = isFailingBack(fo) || step === "Failback";
  const next = fo.spec.abort && step === "DrillWait" ? "Failback" : nextStep(step, fo.spec.type === "Drill", back);
  const steps = (st.steps ?? []).map((s, i, all) =>
    i === all.length - 1 ? { ...s, phase: "Succeeded" as const, endTime: iso(now), message: done.message } : s,
  );
  return {
    ...st,
    ...(done.status ?? {}),
    step: next,
    steps: next === "Done" ? steps : [...steps, { name: next, phase: "Running", startTime: iso(now) }],
    message: `${next}: ${done.message}`,
  };
}

async function advance(
  ctx: OperatorContext,
  mem: FailoverMemory,
  fo: FailoverObj,
  done: NonNullable<StepOutcome["done"]>,
  r: ReconcileContext,
): Promise<ReconcileResult | void> {
  const st = fo.status!;
  const now = new Date();
  const back = isFailingBack(fo) || st.step === "Failback";
  const next = nextStatus(fo, done, now);
  if (next.step === "Done") {
    await recordActiveZones(ctx, fo, legMoves((st.cells ?? []) as Move[], back), now);
    return finishWith(
      ctx,
      mem,
      fo,
      { ...st, ...(done.status ?? {}), steps: next.steps },
      fo.spec.abort ? "Aborted" : "Succeeded",
      fo.spec.abort ? "aborted: the drill failed back early" : `done: ${done.message}`,
      r,
    );
  }
  return writeStatus(ctx, mem, fo, next);
}

async function fail(
  ctx: OperatorContext,
  mem: FailoverMemory,
  fo: FailoverObj,
  step: FailoverStep,
  why: string,
  r: ReconcileContext,
): Promise<ReconcileResult | void> {
  const back = isFailingBack(fo);
  if (step === "Preflight") return finish(ctx, mem, fo, "Failed", `preflight failed: ${why}`, r);
  if (isBeforeSwitch(step)) {
    const where = back
      ? "the cells stay in the drill's destination; start a new Failover to bring them home"
      : "the cells stay where they were";
    return finish(
      ctx,
      mem,
      fo,
      "RolledBack",
      `${step} failed: ${why}; rolled back to the previous routing (${where})`,
      r,
    );
  }
  return finish(ctx, mem, fo, "Failed", `${step} failed: ${why}`, r);
}

async function finish(
  ctx: OperatorContext,
  mem: FailoverMemory,
  fo: FailoverObj,
  phase: "Failed" | "RolledBack" | "Aborted",
  message: string,
  r: ReconcileContext,
): Promise<ReconcileResult | void> {
  const st = fo.status ?? {};
  const now = new Date();
  const steps = (st.steps ?? []).map((s, i, all) =>
    i === all.length - 1 && s.phase === "Running"
      ? { ...s, phase: phase === "Aborted" ? ("Skipped" as const) : ("Failed" as const), endTime: iso(now), message }
      : s,
  );
  await ctx.events.warning(fo, phase, message);
  return finishWith(ctx, mem, fo, { ...st, steps }, phase, message, r);
}

async function finishWith(
  ctx: OperatorContext,
  mem: FailoverMemory,
  fo: FailoverObj,
  st: Status,
  phase: NonNullable<Status["phase"]>,
  message: string,
  r: ReconcileContext,
): Promise<ReconcileResult | void> {
  const now = new Date();
  const conditions = setCondition(
    st.conditions,
    {
      type: "Ready",
      status: phase === "Succeeded" ? "True" : "False",
      reason: phase,
      message: message.slice(0, 4000),
      observedGeneration: fo.metadata.generation,
    },
    now,
  );
  r.log.info({ phase, message }, "failover finished");
  return writeStatus(ctx, mem, fo, {
    ...st,
    phase,
    step: "Done",
    completionTime: iso(now),
    message: message.slice(0, 4000),
    conditions,
  });
}

/** Records on each Cell where it now lives (the durable record once the Failover is over). */
async function recordActiveZones(
  ctx: OperatorContext,
  fo: FailoverObj,
  moves: readonly Move[],
  now: Date,
): Promise<void> {
  await Promise.all(
    moves.map(async (m) => {
      const cell = ctx.ldc.cells.store.get(m.cell) as (Cell & KubeObject) | undefined;
      if (!cell || activeZoneOf(cell) === m.to) return;
      await ctx.home.client.applyStatus(
        {
          apiVersion: cell.apiVersion,
          kind: cell.kind,
          metadata: { name: m.cell },
          status: { activeZone: m.to, lastFailoverTime: iso(now) },
        },
        { fieldManager: FAILOVER_FIELD_MANAGER },
      );
    }),
  );
}

/** The schema's bound on every message in a Failover's status. */
const MESSAGE_MAX = 4096;
const clamp = (m: string | undefined): string | undefined =>
  m === undefined || m.length <= MESSAGE_MAX ? m : `${m.slice(0, MESSAGE_MAX - 15)} ... (truncated)`;

async function writeStatus(
  ctx: OperatorContext,
  mem: FailoverMemory,
  fo: FailoverObj,
  status: Status,
): Promise<ReconcileResult | void> {
  // A message naming many cells must never make the API server refuse the step (it would stall here).
  const bounded: Status = {
    ...status,
    message: clamp(status.message),
    steps: status.steps?.map((s) => (s.message === undefined ? s : { ...s, message: clamp(s.message) })),
  };
  if (bounded.message === undefined) delete bounded.message;
  if (bounded.steps === undefined) delete bounded.steps;
  try {
    // Optimistic concurrency: a stale cache or a second leader gets a conflict, not a lost step.
    const obj = await ctx.critical.update(LdcResources.Failover, { ...fo, status: bounded }, { subresource: "status" });
    const name = fo.metadata.name;
    if (fo.metadata.resourceVersion)
      mem.written.set(name, { replaced: fo.metadata.resourceVersion, obj: stripManagedFields(obj) });
    if (status.phase === "Running" && status.cells?.length)
      mem.claims.set(name, new Set(status.cells.map((c) => c.cell)));
    else mem.claims.delete(name);
  } catch (err) {
    if (isConflict(err)) return { requeue: true };
    throw err;
  }
}
