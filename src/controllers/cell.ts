// Cell controller: the cell's phase, the shards it owns (from the sharding
// rules), and conditions. The failover record in status (activeZone,
// warmZone, writeFrozen, failoverRef) belongs to the Failover controller and
// is only initialised here, under the Failover controller's field manager.
import {
  formatShardRanges,
  normalizeShardRanges,
  parseShardRanges,
  setCondition,
  validateCell,
  type Cell,
  type Condition,
  type ShardRange,
} from "../api/index.ts";
import { activeZoneOf, cellsInScope } from "../reconcilers/cellapp.ts";
import { effectiveCells } from "../reconcilers/failover.ts";
import { Controller, fieldManager, type KubeObject, type ReconcileContext } from "../runtime/index.ts";
import { ownedStatusEqual } from "./compare.ts";
import type { OperatorContext } from "./context.ts";

export const CELL_FIELD_MANAGER = fieldManager("cell");
export const FAILOVER_FIELD_MANAGER = fieldManager("failover");
/** Status fields the Cell controller owns (compared and applied by it alone). */
// failoverRef, warmZone and writeFrozen are shown from the running Failover (its status is the truth).
const OWNED = [
  "observedGeneration",
  "phase",
  "shards",
  "shardCount",
  "epoch",
  "conditions",
  "failoverRef",
  "warmZone",
  "writeFrozen",
] as const;

export function cellController(ctx: OperatorContext): Controller {
  const controller = new Controller({
    name: "cell",
    kind: "Cell",
    workers: 2,
    logger: ctx.log,
    reconcile: (key, r) => reconcileCell(ctx, key, r),
  });
  const allCells = () => ctx.ldc.cells.store.keys();
  controller.watch(ctx.ldc.cells);
  controller.watch(ctx.ldc.zones, allCells);
  controller.watch(ctx.ldc.rules, allCells);
  controller.watch(ctx.ldc.failovers, allCells);
  // An app's per-cell readiness is the cell's readiness.
  controller.watch(ctx.ldc.apps, (app) =>
    ((app as unknown as { status?: { cells?: { cell: string }[] } }).status?.cells ?? []).map((c) => c.cell),
  );
  return controller;
}

async function reconcileCell(ctx: OperatorContext, key: string, r: ReconcileContext): Promise<void> {
  const stored = ctx.ldc.cells.store.get(key) as (Cell & KubeObject) | undefined;
  if (!stored || stored.metadata.deletionTimestamp) return;
  const cell = effectiveCells([stored], ctx.ldc.failovers.store.list())[0]!;
  const now = new Date();
  const gen = cell.metadata.generation;
  const zones = ctx.ldc.zones.store.list();

  if (!stored.status?.activeZone) {
    // First sight: the cell is active in its home zone.
    await ctx.home.client.applyStatus(
      {
        apiVersion: cell.apiVersion,
        kind: cell.kind,
        metadata: { name: cell.metadata.name },
        status: { activeZone: cell.spec.zone },
      },
      { fieldManager: FAILOVER_FIELD_MANAGER },
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

  // Shards: the union of what every rule assigns to the cell.
  let owned: ShardRange[] = [];
  let epoch: number | undefined;
  for (const rule of ctx.ldc.rules.store.list()) {
    for (const a of rule.spec.assignments ?? []) {
      if (a.cell !== cell.metadata.name) continue;
      const parsed = parseShardRanges(a.shards, rule.spec.shards);
      if (parsed.ok) owned = normalizeShardRanges([...owned, ...parsed.ranges]);
      if (rule.status?.epoch !== undefined) epoch = Math.max(epoch ?? 0, rule.status.epoch);
    }
  }
  const shardCount = owned.reduce((n, rg) => n + rg.to - rg.from + 1, 0);

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
    ...(owned.length ? { shards: formatShardRanges(owned) } : {}),
    shardCount,
    ...(epoch !== undefined ? { epoch } : {}),
    ...(cell.status?.failoverRef ? { failoverRef: cell.status.failoverRef } : {}),
    ...(cell.status?.warmZone ? { warmZone: cell.status.warmZone } : {}),
    ...(cell.status?.writeFrozen ? { writeFrozen: true } : {}),
    conditions,
  };
  if (ownedStatusEqual(status, stored.status, OWNED)) return;
  await ctx.home.client.applyStatus(
    { apiVersion: cell.apiVersion, kind: cell.kind, metadata: { name: cell.metadata.name }, status },
    { fieldManager: CELL_FIELD_MANAGER },
  );
  if (stored.status?.phase !== phase) r.log.info({ from: cell.status?.phase, to: phase, reason }, "cell phase changed");
}
