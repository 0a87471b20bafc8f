// Failover controller: observes, calls the pure step function
// (stepFailover in src/reconcilers/failover.ts, where the state machine and
// its step table live), then runs its effects: the moved cells recorded on
// their Cells, Events, and the status written with optimistic concurrency.
import type { Cell, Failover, ShardingRule } from "../api/index.ts";
import { cellsInScope, planCellApp } from "../reconcilers/cellapp.ts";
import { rulesRoutingTo } from "../reconcilers/routing.ts";
import { isCityMove, type Move } from "../reconcilers/failover-moves.ts";
import { planFailover } from "../reconcilers/failover-plan.ts";
import type { CapacityNode, CapacityPod } from "../reconcilers/capacity.ts";
import { zoneNodeSelector } from "../reconcilers/cellapp.ts";
import {
  effectiveCells,
  isFinished,
  POLL_MS,
  recordShown,
  stepFailover,
  STEPS,
  type CellRecord,
  type FailoverDecision,
  type FailoverStatus,
  type FailoverObservation,
  type Waiting,
} from "../reconcilers/failover.ts";
import type { RoutingTable } from "../routing/index.ts";
import { fencedAt, type TableStore } from "../routing-api/index.ts";
import { acknowledgementBarrier, zoneFencedAt } from "../reconcilers/failover-barrier.ts";
import { routingApiUrlFor } from "../reconcilers/sidecar.ts";
import {
  Controller,
  Resources,
  writeStatus,
  type KubeObject,
  type ReconcileContext,
  type ReconcileResult,
} from "../runtime/index.ts";
import { workloadInformers } from "./cellapp.ts";
import { FAILOVER_FIELD_MANAGER } from "./cell.ts";
import { clusterOfZone, LdcResources, watchEveryCluster, type OperatorContext } from "./context.ts";
import { FAILOVER_FINALIZER } from "../reconcilers/naming.ts";
import { nodeInformer } from "./zone.ts";
import { AbortCheckRunner } from "./abort-checks.ts";
import { deployedSidecars, sidecarPodInformer } from "./sidecar-pods.ts";

export { DECIDED_AT } from "../reconcilers/failover.ts";

type FailoverObj = Failover & KubeObject;

export function failoverController(ctx: OperatorContext, tables: TableStore): Controller {
  // When each Failover's progress message was last written (one worker, so nothing here races).
  const progress = new Map<string, number>();
  // A finished check wakes its Failover (the controller is assigned below, before any check can finish).
  let wake = (_name: string): void => {};
  const checks = new AbortCheckRunner((name) => wake(name));
  const controller = new Controller({
    name: "failover",
    kind: "Failover",
    // One worker: Preflight's claim on cells is checked against the other
    // Failovers in one place, so two never act on the same cell at once.
    workers: 1,
    logger: ctx.log,
    reconcile: (key, r) => reconcileFailover(ctx, tables, progress, checks, key, r),
  });
  wake = (name) => controller.queue.add(name);
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
  // The destination's Deployments becoming Ready end ScaleUpStandby.
  watchEveryCluster(
    ctx.registry,
    controller,
    (cluster) => workloadInformers(cluster).deployments,
    () => running,
  );
  // The barrier's expected set: the sidecars the operator deployed, in every zone.
  watchEveryCluster(ctx.registry, controller, sidecarPodInformer, () => running);
  // A newly published table, or a sidecar's ack, may be what a step waits for.
  tables.subscribe(() => running().forEach((k) => controller.queue.add(k)));
  tables.subscribeAcks(() => running().forEach((k) => controller.queue.add(k)));
  return controller;
}

async function reconcileFailover(
  ctx: OperatorContext,
  tables: TableStore,
  progress: Map<string, number>,
  checks: AbortCheckRunner,
  key: string,
  r: ReconcileContext,
): Promise<ReconcileResult | void> {
  // The cache holds this controller's own last write (Informer.recordWrite):
  // a reconcile right after a write (a sidecar's ack) must not redo the step.
  let fo = ctx.ldc.failovers.store.get(key) as FailoverObj | undefined;
  if (!fo || isFinished(fo)) {
    progress.delete(key);
    checks.forget(key);
    if (fo && isGuarded(fo)) await releaseGuard(ctx, fo);
    return;
  }
  const now = new Date();
  // A dry run reads the destinations' pods once (the plan's capacity check); nothing else lists them.
  const capacity = fo.spec.dryRun ? await zoneCapacities(ctx) : new Map<string, ZoneCapacity>();
  const obs = { ...observe(ctx, tables, fo, now, capacity), failedCheck: (f: Failover) => checks.failed(f) };
  const decision = stepFailover(fo, obs, now, { lastProgressWriteMs: progress.get(key) });
  // The checks run beside the steps (never awaited here); a finished run queues the Failover again.
  const checkAgain =
    decision.status && decision.status.phase !== "Running" ? undefined : checks.poll(fo, now.getTime());
  for (const e of decision.events) {
    if (e.type === "Normal") r.log.info({ reason: e.reason, message: e.message }, "failover step done");
    // Not awaited: an Event waits behind the client's rate limiter, the failover must not.
    void ctx.events.record(fo, e.type, e.reason, e.message);
  }
  await recordActiveZones(ctx, decision.recordActiveZones, now);
  // No switch is published before the Failover is guarded against deletion (normally done after its first write).
  // (A Failover being deleted cannot take a finalizer: one deleted without it, e.g. in the foreground, is going anyway.)
  if (decision.status && switchesNow(fo, decision.status) && !isGuarded(fo) && !fo.metadata.deletionTimestamp)
    fo = await guard(ctx, fo);
  if (decision.status) {
    if (decision.progressOnly) progress.set(key, now.getTime());
    // Optimistic concurrency: a stale cache or a second leader gets a conflict, not a lost step.
    const written = await writeStatus(ctx.critical, fo, decision.status, {
      method: "update",
      informer: ctx.ldc.failovers,
    });
    if (written.outcome === "conflict") return { requeue: true };
    if (written.outcome === "written") ctx.metrics?.failoverWritten(fo, decision.status);
    if (decision.status.phase !== "Running") {
      r.log.info({ phase: decision.status.phase }, "failover finished");
      // Finished: the next reconcile releases the finalizer (a deleted Failover goes then).
      return { requeue: true };
    }
    if (written.outcome === "written" && !isGuarded(written.object) && !fo.metadata.deletionTimestamp)
      await guard(ctx, written.object);
  }
  const result = requeueOf(decision);
  if (checkAgain === undefined) return result;
  return { requeueAfter: Math.min(result?.requeueAfter ?? Infinity, checkAgain) };
}

function requeueOf(decision: FailoverDecision): ReconcileResult | undefined {
  if (decision.requeueAfterMs === undefined) return undefined;
  return decision.requeueAfterMs === 0 ? { requeueAfter: 1 } : { requeueAfter: decision.requeueAfterMs };
}

type ZoneCapacity = { nodes: readonly CapacityNode[]; pods: readonly CapacityPod[] } | string;

/** Every zone's nodes (from the zone controller's cache) and the pods bound to them (one list per cluster). */
async function zoneCapacities(ctx: OperatorContext): Promise<Map<string, ZoneCapacity>> {
  const out = new Map<string, ZoneCapacity>();
  const podsOf = new Map<string, Promise<CapacityPod[] | string>>();
  for (const zone of ctx.ldc.zones.store.list()) {
    const cluster = clusterOfZone(ctx, zone);
    const name = zone.metadata.name;
    if (!cluster || !(cluster.local || cluster.reachable)) {
      out.set(name, "its cluster is not reachable");
      continue;
    }
    const nodes = nodeInformer(cluster).store.listByLabels(zoneNodeSelector(zone)) as CapacityNode[];
    let pods = podsOf.get(cluster.name);
    if (!pods) {
      pods = cluster.client
        .listAll<CapacityPod & KubeObject>(Resources.Pod, {
          fieldSelector: "status.phase!=Succeeded,status.phase!=Failed",
        })
        .then(
          (l) => l.items as CapacityPod[],
          (e: unknown) => `listing its pods failed: ${(e as Error).message}`,
        );
      podsOf.set(cluster.name, pods);
    }
    const p = await pods;
    out.set(name, typeof p === "string" ? p : { nodes, pods: p });
  }
  return out;
}

/** The world as the steps read it, from the caches, the routing tables and the sidecars' acks, as of `now`. */
function observe(
  ctx: OperatorContext,
  tables: TableStore,
  fo: Failover,
  now: Date,
  capacity: ReadonlyMap<string, ZoneCapacity>,
): FailoverObservation {
  const failovers = ctx.ldc.failovers.store.list();
  const cells = ctx.ldc.cells.store.list();
  const zones = ctx.ldc.zones.store.list();
  const rules = ctx.ldc.rules.store.list();
  const byName = new Map(cells.map((c) => [c.metadata.name, c]));
  const routingTo = (names: readonly string[]) =>
    rulesRoutingTo(
      rules,
      names.map((n) => byName.get(n)).filter((c) => c !== undefined),
    );
  return {
    cells,
    zones,
    failovers,
    rules,
    plan: (f) =>
      planFailover({
        failover: f,
        cells,
        zones,
        rules,
        failovers,
        apps: ctx.ldc.apps.store.list(),
        sidecar: ctx.sidecar,
        capacity: (z) => capacity.get(z) ?? "no such zone",
      }),
    epochOf: (names) => Math.max(0, ...routingTo(names).map((rule) => rule.status?.epoch ?? 0)),
    destinationNotReady: (fo, moves) => destinationNotReady(ctx, fo, failovers, moves),
    routing: (moves, want) => routingHas(tablesOf(tables, routingTo(moves.map((m) => m.cell))), moves, want),
    acknowledged: (moves, epoch) => acknowledged(ctx, tables, fo, routingTo(moves.map((m) => m.cell)), epoch, now),
    annotation: (cell, key) => ctx.ldc.cells.store.get(cell)?.metadata.annotations?.[key],
  };
}

/** The destination's Deployments of every app of every moving cell, not Ready at the size this Failover wants. */
function destinationNotReady(
  ctx: OperatorContext,
  fo: Failover,
  failovers: readonly Failover[],
  moves: readonly Move[],
): string[] {
  const zones = ctx.ldc.zones.store.list();
  // The sizes wanted at this step, from this Failover as it is here (a chained
  // step is not in the cache yet: the cache's overlay would want a cold
  // standby at 0 replicas and call it ready).
  const all = failovers.map((f) => (f.metadata.name === fo.metadata.name ? fo : f));
  const cells = effectiveCells(ctx.ldc.cells.store.list(), all);
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
  return notReady;
}

function tablesOf(
  tables: TableStore,
  rules: readonly ShardingRule[],
): { rule: string; table: RoutingTable | undefined }[] {
  return rules.map((r) => ({ rule: r.metadata.name, table: tables.get(r.metadata.name) }));
}

/** Whether every table routing to the moving cells shows them frozen (in the old zone) or switched. */
function routingHas(
  routed: readonly { rule: string; table: RoutingTable | undefined }[],
  moves: readonly Move[],
  want: "frozen" | "switched",
): { epoch: number } | Waiting {
  let epoch = 0;
  const frozen = want === "frozen";
  const awaited = (rule: string, cell: string): Waiting => ({
    waiting: `waiting for rule ${rule} to publish the ${frozen ? "write freeze" : "switch"} of ${cell}`,
    retryMs: POLL_MS,
  });
  for (const { rule, table } of routed) {
    if (!table) return { waiting: `waiting for the routing table of rule ${rule}`, retryMs: POLL_MS };
    // The moving cells of this table, by index: their zone must be right...
    const moving = new Uint8Array(table.cells.length);
    for (const m of moves) {
      const ci = table.cellIndex(m.cell);
      if (ci < 0) continue;
      const c = table.cells[ci]!;
      // A City cell's evacuation (or return) shows at the switch; before it, the table still shows the old state.
      if (isCityMove(m)) {
        if ((c.evacuated === true) !== (frozen ? !m.evacuate : m.evacuate)) return awaited(rule, m.cell);
        continue;
      }
      moving[ci] = 1;
      if (c.zone !== (frozen ? m.from : m.to)) return awaited(rule, m.cell);
    }
    // ...and every shard they own frozen (or not): one pass over the shards, not one per cell.
    for (let s = 0; s < table.shards; s++) {
      if (moving[table.ownerIndex(s)] === 1 && table.isFrozen(s) !== frozen)
        return awaited(rule, table.ownerOf(s).name);
    }
    epoch = Math.max(epoch, table.epoch);
  }
  return { epoch };
}

/**
 * Every sidecar of the affected rules holds `epoch`, or its zone is provably
 * fenced: its routing leases have run out (ADR 0007), or the user declared it
 * (spec.fencedZones).
 */
function acknowledged(
  ctx: OperatorContext,
  tables: TableStore,
  fo: Failover,
  rules: readonly ShardingRule[],
  epoch: number,
  now: Date,
): { count: number } | Waiting {
  const zones = ctx.ldc.zones.store.list();
  const declared = new Set(fo.spec.fencedZones ?? []);
  const grants = tables.leaseGrants();
  const leased = new Set(
    zones.filter((z) => routingApiUrlFor(ctx.sidecar, z.spec.cluster !== undefined)).map((z) => z.metadata.name),
  );
  const deployed = deployedSidecars(zones, (z) => clusterOfZone(ctx, z));
  return acknowledgementBarrier({
    rules: rules.map((r) => ({
      name: r.metadata.name,
      knownSidecars: r.status?.sidecars?.total ?? 0,
      acks: tables.acks(r.metadata.name),
      expected: deployed.byRule.get(r.metadata.name) ?? [],
    })),
    unlistedZones: deployed.unlisted,
    epoch,
    unreachableZones: new Set(zones.filter((z) => z.status?.phase === "Unreachable").map((z) => z.metadata.name)),
    fencedAt: (zone) =>
      zoneFencedAt({
        declared: declared.has(zone),
        leased: leased.has(zone),
        fences: [fencedAt(zone, grants), ...(ctx.relayLeases ? [ctx.relayLeases.fencedAt(zone)] : [])],
      }),
    listenedMs: now.getTime() - tables.collectingSince(),
    now: now.getTime(),
  });
}

const isGuarded = (fo: FailoverObj): boolean => (fo.metadata.finalizers ?? []).includes(FAILOVER_FINALIZER);

/** Whether `next` publishes a switch the stored status has not: from here on, losing the overlay would move shards back. */
function switchesNow(fo: Failover, next: FailoverStatus): boolean {
  const step = next.step;
  if (next.phase !== "Running" || !step || !STEPS[step].switched) return false;
  return fo.status?.step !== step || fo.status.phase !== "Running";
}

/** Adds the Failover's finalizer (ADR 0004): a deletion then aborts it, and it goes once it has ended. */
async function guard(ctx: OperatorContext, fo: FailoverObj): Promise<FailoverObj> {
  return ctx.ldc.failovers.recordWrite(
    await ctx.critical.mergePatch<FailoverObj>(LdcResources.Failover, fo.metadata.name, undefined, {
      metadata: {
        finalizers: [...(fo.metadata.finalizers ?? []), FAILOVER_FINALIZER],
        resourceVersion: fo.metadata.resourceVersion,
      },
    }),
  );
}

/** Removes the finalizer of a finished Failover (its cells are recorded on the Cells). */
async function releaseGuard(ctx: OperatorContext, fo: FailoverObj): Promise<void> {
  const written = await ctx.home.client.mergePatch<FailoverObj>(LdcResources.Failover, fo.metadata.name, undefined, {
    metadata: {
      finalizers: (fo.metadata.finalizers ?? []).filter((f) => f !== FAILOVER_FINALIZER),
      resourceVersion: fo.metadata.resourceVersion,
    },
  });
  if (!written.metadata.deletionTimestamp) ctx.ldc.failovers.recordWrite(written);
}

/**
 * Records on each Cell where it now lives (the durable record once the
 * Failover is over), in this process's Cell cache at once too: its other
 * controllers must not see the Failover's next status with the Cell's old one.
 */
async function recordActiveZones(ctx: OperatorContext, records: readonly CellRecord[], now: Date): Promise<void> {
  await Promise.all(
    records.map(async (r) => {
      const cell = ctx.ldc.cells.store.get(r.cell) as (Cell & KubeObject) | undefined;
      if (!cell || recordShown(cell, r)) return;
      ctx.ldc.cells.recordWrite(
        await ctx.home.client.applyStatus(
          {
            apiVersion: cell.apiVersion,
            kind: cell.kind,
            metadata: { name: r.cell },
            status: {
              activeZone: r.activeZone,
              ...(r.evacuated !== undefined ? { evacuated: r.evacuated } : {}),
              lastFailoverTime: now.toISOString(),
            },
          },
          { fieldManager: FAILOVER_FIELD_MANAGER },
        ),
      );
    }),
  );
}
