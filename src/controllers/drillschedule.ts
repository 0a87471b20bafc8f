// DrillSchedule controller: starts a failover drill (a Failover of type
// Drill) at each schedule time, never while the previous one runs, keeps a
// bounded history and deletes older finished drills. The decisions are the
// pure planDrillSchedule (src/reconcilers/drillschedule.ts); this file only
// reads the caches and writes what the plan says.
import type { DrillSchedule, Failover } from "../api/index.ts";
import { planDrillSchedule } from "../reconcilers/drillschedule.ts";
import {
  Controller,
  StatusWriter,
  fieldManager,
  requeueAfterStatus,
  isAlreadyExists,
  ownerKey,
  type KubeObject,
  type ReconcileContext,
  type ReconcileResult,
} from "../runtime/index.ts";
import { LdcResources, type OperatorContext } from "./context.ts";

export const DRILL_SCHEDULE_FIELD_MANAGER = fieldManager("drillschedule");

export function drillScheduleController(ctx: OperatorContext): Controller {
  const status = new StatusWriter(ctx.home.client, {
    method: "apply",
    fieldManager: DRILL_SCHEDULE_FIELD_MANAGER,
    informer: ctx.ldc.drillSchedules,
  });
  const controller = new Controller({
    name: "drillschedule",
    kind: "DrillSchedule",
    workers: 1,
    logger: ctx.log,
    reconcile: (key, r) => reconcileDrillSchedule(ctx, status, key, r),
  });
  controller.watch(ctx.ldc.drillSchedules);
  // A drill's progress (phase, RTO) is the schedule's history; its end may allow the next run.
  controller.watch(ctx.ldc.failovers, ownerKey("DrillSchedule", { clusterScopedOwner: true }));
  return controller;
}

async function reconcileDrillSchedule(
  ctx: OperatorContext,
  status: StatusWriter,
  key: string,
  r: ReconcileContext,
): Promise<ReconcileResult | void> {
  const ds = ctx.ldc.drillSchedules.store.get(key) as (DrillSchedule & KubeObject) | undefined;
  if (!ds || ds.metadata.deletionTimestamp) return;
  const client = ctx.home.client;
  const plan = planDrillSchedule({
    schedule: ds,
    failovers: ctx.ldc.failovers.store.list() as Failover[],
    now: new Date(),
  });

  // Create before recording lastScheduleTime: a crash in between re-creates
  // the same name next time (409, harmless) instead of losing the run.
  if (plan.create) {
    try {
      ctx.ldc.failovers.recordWrite(
        await client.create(LdcResources.Failover, plan.create as unknown as KubeObject, {
          fieldManager: DRILL_SCHEDULE_FIELD_MANAGER,
        }),
      );
      r.log.info({ failover: plan.create.metadata.name, scheduledTime: plan.scheduledTime }, "drill created");
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
      r.log.info({ failover: plan.create.metadata.name }, "drill already created");
    }
  }
  for (const d of plan.delete) {
    await client.delete(LdcResources.Failover, d.name, undefined, {
      propagationPolicy: "Background",
      ...(d.uid ? { preconditions: { uid: d.uid } } : {}),
    });
  }
  if (plan.skipped) r.log.warn({ scheduledTime: plan.scheduledTime }, plan.skipped);
  for (const e of plan.events) await ctx.events.record(ds, e.type, e.reason, e.message);
  const written = await status.write(ds, plan.status);
  return (
    requeueAfterStatus(written) ??
    (plan.requeueAfterMs !== undefined ? { requeueAfter: plan.requeueAfterMs } : undefined)
  );
}
