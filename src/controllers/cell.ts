// Cell controller: the cell's phase, the shards it owns (from the sharding
// rules), and conditions. The failover record in status (activeZone,
// failoverRef) belongs to the Failover controller and
// is only initialised here, under the Failover controller's field manager.
import { setCondition, validateCell, type Cell, type Condition } from "../api/index.ts";
import { cellShards } from "../reconcilers/cell-shards.ts";
import { activeZoneOf, cellsInScope } from "../reconcilers/cellapp.ts";
import { effectiveCells, isFailingBack, isFinished } from "../reconcilers/failover.ts";
import {
  Controller,
  StatusWriter,
  fieldManager,
  requeueAfterStatus,
  type KubeObject,
  type ReconcileContext,
  type ReconcileResult,
} from "../runtime/index.ts";
import type { OperatorContext } from "./context.ts";

/** "n/20 apps ready" while apps roll out: at most one such message-only write per cell every 10 s. */
const MESSAGE_WRITE_INTERVAL_MS = 10_000;

export const CELL_FIELD_MANAGER = fieldManager("cell");
export const FAILOVER_FIELD_MANAGER = fieldManager("failover");
/**
 * Status fields the Cell controller owns (compared and applied by it alone).
 * failoverRef is shown from the running Failover (set and cleared once per
 * failover); nothing that changes per epoch or per failover step is written
 * here: at 1,000 cells that would be 1,000 writes each time (ADR 0004).
 */
const OWNED = ["observedGeneration", "phase", "shards", "shardCount", "conditions", "failoverRef"] as const;

export function cellController(ctx: OperatorContext): Controller {
  const status = new StatusWriter(ctx.home.client, {
    method: "apply",
    fieldManager: CELL_FIELD_MANAGER,
    informer: ctx.ldc.cells,
    owned: OWNED,
    coalesceMessagesMs: MESSAGE_WRITE_INTERVAL_MS,
  });
  const controller = new Controller({
    name: "cell",
    kind: "Cell",
    workers: 2,
    logger: ctx.log,
    reconcile: (key, r) => reconcileCell(ctx, status, key, r),
  });
  controller.watch(ctx.ldc.cells);
  // Only the cells an event concerns: at 1,000 cells, "all cells" on every event saturates the client.
  controller.watch(ctx.ldc.zones, (zone) => {
    const z = zone.metadata?.name;
    return ctx.ldc.cells.store
      .list()
      .filter((c) => c.spec.zone === z || c.status?.activeZone === z || (c.spec.standbyZones ?? []).includes(z ?? ""))
      .map((c) => c.metadata.name);
  });
  controller.watch(ctx.ldc.rules, (rule) => rule.spec.assignments.map((a) => a.cell));
  // A Cell's status shows a Failover only as failoverRef/FailingOver, set while it
  // runs: its cells need a look when it starts, claims cells or ends, not on
  // every step (each step would otherwise re-check 1,000 cells).
  const lastSeen = new Map<string, string>();
  controller.watch(ctx.ldc.failovers, (f) => {
    const name = f.metadata?.name ?? "";
    const shape = `${f.metadata?.uid}/${f.status?.phase}/${f.status?.cells?.length ?? 0}/${isFailingBack(f)}`;
    // The cache drops an object before its delete event is mapped.
    const gone = ctx.ldc.failovers.store.get(name) === undefined;
    if (!gone && lastSeen.get(name) === shape) return [];
    if (gone || isFinished(f)) lastSeen.delete(name);
    else lastSeen.set(name, shape);
    const named = [...(f.status?.cells ?? []).map((c) => c.cell), ...(f.spec?.target?.cells ?? [])];
    const zone = f.spec?.target?.zone;
    const inZone = zone
      ? ctx.ldc.cells.store
          .list()
          .filter((c) => activeZoneOf(c) === zone)
          .map((c) => c.metadata.name)
      : [];
    return [...new Set([...named, ...inZone])];
  });
  controller.watch(ctx.ldc.apps, (app) => (app.status?.cells ?? []).map((c) => c.cell));
  return controller;
}

async function reconcileCell(
  ctx: OperatorContext,
  statusWriter: StatusWriter,
  key: string,
  r: ReconcileContext,
): Promise<ReconcileResult | void> {
  const stored = ctx.ldc.cells.store.get(key) as (Cell & KubeObject) | undefined;
  if (!stored) statusWriter.forget(key);
  if (!stored || stored.metadata.deletionTimestamp) return;
  // One cell: O(Failovers), where currentCells would redo every cell after each Cell status write.
  const cell = effectiveCells([stored], ctx.ldc.failovers.store.list())[0]!;
  const now = new Date();
  const gen = cell.metadata.generation;
  const zones = ctx.ldc.zones.store.list();

  if (!stored.status?.activeZone) {
    // First sight: the cell is active in its home zone.
    ctx.ldc.cells.recordWrite(
      await ctx.home.client.applyStatus(
        {
          apiVersion: cell.apiVersion,
          kind: cell.kind,
          metadata: { name: cell.metadata.name },
          status: { activeZone: cell.spec.zone },
        },
        { fieldManager: FAILOVER_FIELD_MANAGER },
      ),
    );
    r.log.info({ zone: cell.spec.zone }, "cell active in its home zone");
  }

  let conditions: Condition[] | undefined = cell.status?.conditions;
  const validation = validateCell(cell, { zones });
  conditions = setCondition(
    conditions,
    {
      type: "Valid",
      status: validation.valid ? "True" : "False",
      reason: validation.valid ? "Valid" : validation.problems[0]!.reason,
      message: validation.valid ? "spec is valid" : validation.problems.map((p) => p.message).join("; "),
      observedGeneration: gen,
    },
    now,
  );

  // Shards: what the rules that route (valid, epoch published) assign to the cell.
  const owned = cellShards(cell.metadata.name, ctx.ldc.rules.store.list());

  // Phase: where a failover is, whether the zone answers, whether its apps are ready.
  const activeZone = activeZoneOf(cell);
  const zone = zones.find((z) => z.metadata.name === activeZone);
  const apps = ctx.ldc.apps.store.list().filter((a) => cellsInScope(a, [cell]).length > 0);
  const appStates = apps.map((a) => a.status?.cells?.find((c) => c.cell === cell.metadata.name));
  const notReady = apps.filter((_, i) => {
    const s = appStates[i];
    return !s || s.zone !== activeZone || s.readyReplicas < s.desiredReplicas;
  });
  let phase: "Pending" | "Ready" | "Degraded" | "FailingOver" | "Unavailable";
  let reason: string;
  let message: string;
  if (cell.status?.failoverRef) {
    phase = "FailingOver";
    reason = "FailoverInProgress";
    message = `Failover ${cell.status.failoverRef} is moving the cell`;
  } else if (!zone || zone.status?.phase === "Unreachable") {
    phase = "Unavailable";
    reason = zone ? "ZoneUnreachable" : "ZoneNotFound";
    message = zone ? `active zone ${activeZone} is unreachable` : `active zone ${activeZone} does not exist`;
  } else if (notReady.length === 0) {
    phase = "Ready";
    reason = "AppsReady";
    message = `${apps.length} app(s) ready in ${activeZone}`;
  } else {
    phase = apps.length && appStates.every((s) => !s) ? "Pending" : "Degraded";
    reason = "AppsNotReady";
    message = `${apps.length - notReady.length}/${apps.length} apps ready in ${activeZone}; not ready: ${notReady
      .slice(0, 5)
      .map((a) => `${a.metadata.namespace}/${a.metadata.name}`)
      .join(", ")}`;
  }
  conditions = setCondition(
    conditions,
    { type: "Ready", status: phase === "Ready" ? "True" : "False", reason, message, observedGeneration: gen },
    now,
  );

  const status: Record<string, unknown> = {
    observedGeneration: gen,
    phase,
    ...(owned.shards ? { shards: owned.shards } : {}),
    shardCount: owned.count,
    ...(cell.status?.failoverRef ? { failoverRef: cell.status.failoverRef } : {}),
    conditions,
  };
  const written = await statusWriter.write(stored, status);
  if (written.outcome === "written" && stored.status?.phase !== phase)
    r.log.info({ from: cell.status?.phase, to: phase, reason }, "cell phase changed");
  return requeueAfterStatus(written);
}
