// Automatic failover controller (keyed by zone): creates an Emergency
// Failover for the Automatic cells of a lost zone, with the guards of
// decideAutomaticFailover. Pause automation cluster-wide with the ConfigMap
// `ldc-automation` in the operator's namespace, data `paused: "true"`.
// Nothing in the lost zone is deleted; it is not failed back automatically.
import { clampMessage, FAILOVER_REASON_MAX_LENGTH, type Failover, type Zone } from "../api/index.ts";
import {
  AUTOMATIC_LABEL,
  AUTOMATIC_WRITE_FREEZE,
  ZONE_LABEL,
  decideAutomaticFailover,
} from "../reconcilers/autofailover.ts";
import { routingApiUrlFor } from "../reconcilers/sidecar.ts";
import { Controller, type KubeObject, type ReconcileContext, type ReconcileResult } from "../runtime/index.ts";
import { currentCells, LdcResources, type OperatorContext } from "./context.ts";
import { DECIDED_AT } from "./failover.ts";

export const AUTOMATION_CONFIGMAP = "ldc-automation";

export function autoFailoverController(ctx: OperatorContext): Controller {
  const controller = new Controller({
    name: "autofailover",
    kind: "Zone",
    // One worker: "at most one zone at a time" is decided in one place.
    workers: 1,
    logger: ctx.log,
    reconcile: (key, r) => reconcileZone(ctx, key, r),
  });
  const allZones = () => ctx.ldc.zones.store.keys();
  controller.watch(ctx.ldc.zones);
  controller.watch(ctx.ldc.cells, allZones);
  controller.watch(ctx.ldc.failovers, allZones);
  // Pausing or resuming automatic failover re-evaluates every zone.
  controller.watch(ctx.own.configMaps, (cm) => (cm.metadata?.name === AUTOMATION_CONFIGMAP ? allZones() : []));
  return controller;
}

function paused(ctx: OperatorContext): boolean {
  return ctx.own.configMaps.store.getByName(AUTOMATION_CONFIGMAP, ctx.namespace)?.data?.paused === "true";
}

async function reconcileZone(ctx: OperatorContext, key: string, r: ReconcileContext): Promise<ReconcileResult | void> {
  const zone = ctx.ldc.zones.store.get(key) as (Zone & KubeObject) | undefined;
  if (!zone) return;
  const now = new Date();
  const failovers = ctx.ldc.failovers.store.list() as Failover[];
  const cells = currentCells(ctx);
  const trigger =
    zone.status?.phase === "Unreachable" ||
    cells.some(
      (c) =>
        c.status?.activeZone === key && c.status?.conditions?.some((x) => x.type === "Ready" && x.status === "False"),
    );
  if (!trigger) return;
  const decision = decideAutomaticFailover({
    now,
    zone,
    zones: ctx.ldc.zones.store.list(),
    cells,
    failovers,
    paused: paused(ctx),
    zoneLeased: routingApiUrlFor(ctx.sidecar, zone.spec.cluster !== undefined) !== undefined,
  });
  for (const h of decision.held) r.log.info({ cell: h.cell, why: h.why }, "automatic failover held back");
  if (decision.cells.length === 0) {
    return decision.recheckAfterMs !== undefined ? { requeueAfter: decision.recheckAfterMs } : undefined;
  }
  const stamp = now.toISOString().replace(/[-:T]/g, "").slice(0, 14);
  const failover = {
    apiVersion: "ldc.io/v1alpha1",
    kind: "Failover",
    metadata: {
      name: `auto-${key}-${stamp}`,
      labels: { [AUTOMATIC_LABEL]: "true", [ZONE_LABEL]: key },
      annotations: { [DECIDED_AT]: String(now.getTime()) },
    },
    spec: {
      type: "Emergency",
      target: { cells: decision.cells },
      writeFreeze: AUTOMATIC_WRITE_FREEZE,
      reason: clampMessage(`automatic: ${decision.reason}`, FAILOVER_REASON_MAX_LENGTH),
    },
  };
  // Recorded in the cache at once: the next reconcile sees the cells as moving and never creates a second one.
  ctx.ldc.failovers.recordWrite(await ctx.home.client.create(LdcResources.Failover, failover));
  r.log.warn(
    { failover: failover.metadata.name, cells: decision.cells, reason: decision.reason },
    "automatic failover started",
  );
  await ctx.events.warning(
    zone,
    "AutomaticFailover",
    `created Failover ${failover.metadata.name} for ${decision.cells.join(", ")}: ${decision.reason}`,
  );
  return decision.recheckAfterMs !== undefined ? { requeueAfter: decision.recheckAfterMs } : undefined;
}
