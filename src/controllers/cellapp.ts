// CellApp controller: stamps the app's Deployments and Services into every
// cell's zones (own cluster or member clusters), removes those of cells that
// left the scope, reports per-cell readiness. Cleanup across clusters is by
// labels plus a finalizer; nothing is deleted in a zone that is unreachable.
// The decisions are the pure planCellAppReconcile (src/reconcilers/cellapp.ts);
// this file reads the caches and writes what the plan says.
import type { CellApp } from "../api/index.ts";
import {
  CellPlanMemo,
  memberNamespace,
  planCellAppReconcile,
  type CellAppActions,
  type CellAppObservation,
  type ClusterObservation,
  type ObservedWorkload,
} from "../reconcilers/cellapp.ts";
import { CELLAPP_FINALIZER, Labels, MANAGED_BY } from "../reconcilers/naming.ts";
import {
  Controller,
  Resources,
  StatusWriter,
  isNotFound,
  requeueAfterStatus,
  type Cluster,
  type Informer,
  type KubeObject,
  type ReconcileContext,
  type ReconcileResult,
} from "../runtime/index.ts";
import { clusterOfZone, currentCells, LdcResources, watchEveryCluster, type OperatorContext } from "./context.ts";

type Obj = KubeObject & Record<string, unknown>;
const MANAGED_SELECTOR = `${Labels.managedBy}=${MANAGED_BY}`;
/** "n/m cells ready" while replicas roll out: at most one message-only write per app every 10 s. */
const MESSAGE_WRITE_INTERVAL_MS = 10_000;

export function appKeyOfWorkload(obj: KubeObject): string | undefined {
  const l = obj.metadata?.labels;
  const ns = l?.[Labels.appNamespace];
  const app = l?.[Labels.app];
  return ns && app ? `${ns}/${app}` : undefined;
}

export function cellAppController(ctx: OperatorContext): Controller {
  const status = new StatusWriter(ctx.home.client, {
    method: "apply",
    informer: ctx.ldc.apps,
    coalesceMessagesMs: MESSAGE_WRITE_INTERVAL_MS,
  });
  // Per-cell plans and compared objects kept between reconciles: a change costs what it touches.
  const memo = new CellPlanMemo();
  const controller = new Controller({
    name: "cellapp",
    kind: "CellApp",
    // I/O-bound (a reconcile costs ~1 ms of CPU and waits on one or two API requests):
    // with 4, 50 changes/s across 10 apps queued behind busy workers (bench/reconcile-latency.ts).
    workers: 16,
    logger: ctx.log,
    reconcile: (key, rctx) => reconcileCellApp(ctx, { status, memo }, key, rctx),
  });
  const allApps = () => ctx.ldc.apps.store.keys();
  controller.watch(ctx.ldc.apps);
  controller.watch(ctx.ldc.cells, allApps);
  controller.watch(ctx.ldc.zones, allApps);
  controller.watch(ctx.ldc.failovers, allApps);
  controller.watch(ctx.ldc.rules, (rule) =>
    ctx.ldc.apps.store
      .list()
      .filter((a) => a.spec.shardingRule === rule.metadata?.name)
      .map((a) => `${a.metadata.namespace}/${a.metadata.name}`),
  );
  // The app's Deployments and Services in every cluster: drift and readiness.
  for (const informer of ["deployments", "services"] as const) {
    watchEveryCluster(
      ctx.registry,
      controller,
      (cluster) => workloadInformers(cluster)[informer],
      () => appKeyOfWorkload,
    );
  }
  // A cluster connected, replaced or back: stamp what is missing there.
  ctx.registry.onChange((change) => {
    if (change.type !== "removed") for (const k of allApps()) controller.enqueue(k);
  });
  return controller;
}

/** Workload informers of a cluster (shared by the CellApp and Zone controllers). */
type WorkloadInformers = { deployments: Informer<Obj>; services: Informer<Obj> };

/** The cluster's shared Deployment and Service informers (created on first use). */
export function workloadInformers(cluster: Cluster): WorkloadInformers {
  return {
    deployments: cluster.informer<Obj>(Resources.Deployment, { labelSelector: MANAGED_SELECTOR }),
    services: cluster.informer<Obj>(Resources.Service, { labelSelector: MANAGED_SELECTOR }),
  };
}

function informerOf(cluster: Cluster, kind: ObservedWorkload["kind"]): Informer<Obj> {
  return workloadInformers(cluster)[kind === "Deployment" ? "deployments" : "services"];
}

function clusterObservation(c: Cluster): ClusterObservation {
  return { name: c.name, local: c.local, reachable: c.reachable };
}

/** What one reconcile looks at, from the caches. */
function observe(ctx: OperatorContext, app: CellApp & Obj, memo: CellPlanMemo): CellAppObservation {
  const zones = ctx.ldc.zones.store.list();
  const clusters = ctx.registry.list();
  const zoneClusters = new Map<string, ClusterObservation>();
  for (const z of zones) {
    const c = clusterOfZone(ctx, z);
    if (c) zoneClusters.set(z.metadata.name, clusterObservation(c));
  }
  const selector = { [Labels.app]: app.metadata.name, [Labels.appNamespace]: app.metadata.namespace! };
  const workloads: ObservedWorkload[] = [];
  for (const cluster of clusters) {
    for (const kind of ["Deployment", "Service"] as const) {
      for (const object of informerOf(cluster, kind).store.listByLabels(selector, app.metadata.namespace)) {
        workloads.push({ cluster: cluster.name, kind, object });
      }
    }
  }
  return {
    app,
    // Running Failovers warm up destinations and move active sides.
    cells: currentCells(ctx),
    zones,
    rules: ctx.ldc.rules.store.list(),
    sidecar: ctx.sidecar,
    podSecurity: ctx.podSecurity,
    zoneClusters,
    clusters: clusters.map(clusterObservation),
    workloads,
    now: new Date(),
    memo,
  };
}

/** What the controller instance keeps between reconciles. */
interface CellAppState {
  status: StatusWriter;
  memo: CellPlanMemo;
}

async function reconcileCellApp(
  ctx: OperatorContext,
  { status, memo }: CellAppState,
  key: string,
  r: ReconcileContext,
): Promise<ReconcileResult | void> {
  const app = ctx.ldc.apps.store.get(key) as (CellApp & Obj) | undefined;
  if (!app) {
    status.forget(key);
    memo.forget(key);
    return;
  }
  const actions = planCellAppReconcile(observe(ctx, app, memo));
  // The status comes from the caches, not from these writes: it goes out with them, so a
  // reconcile takes one round trip, not two, and the app's next change waits less for it.
  const [, written] = await Promise.all([
    applyActions(ctx, app, actions, r),
    actions.status ? status.write(app, actions.status) : undefined,
  ]);
  return (
    (written && requeueAfterStatus(written)) ??
    (actions.requeueAfterMs !== undefined ? { requeueAfter: actions.requeueAfterMs } : undefined)
  );
}

/** Everything the plan says except the status, in its order. */
async function applyActions(
  ctx: OperatorContext,
  app: CellApp & Obj,
  actions: CellAppActions,
  r: ReconcileContext,
): Promise<void> {
  const clusterNamed = (name: string): Cluster | undefined => ctx.registry.get(name);
  if (actions.addFinalizer) {
    ctx.ldc.apps.recordWrite(
      await ctx.home.client.mergePatch<Obj>(LdcResources.CellApp, app.metadata.name, app.metadata.namespace, {
        metadata: { finalizers: [...(app.metadata.finalizers ?? []), CELLAPP_FINALIZER] },
      }),
    );
  }
  for (const name of actions.ensureNamespaces) {
    const cluster = clusterNamed(name);
    if (cluster) await ensureNamespace(cluster, memberNamespace(app.metadata.namespace!, ctx.podSecurity));
  }
  // One at a time: at cold start an app has hundreds; the workers are the concurrency.
  for (const a of actions.apply) {
    const cluster = clusterNamed(a.cluster);
    if (!cluster) continue;
    // Recorded in the cache: the next reconcile sees it and does not apply it again.
    informerOf(cluster, a.kind).recordWrite(await cluster.client.apply<Obj>(a.object));
    if (a.create) r.log.info({ zone: a.zone, kind: a.kind, name: a.name }, "created");
  }
  if (actions.apply.length > 0) r.log.debug({ applied: actions.apply.length }, "applied workloads");
  for (const d of actions.delete) {
    const cluster = clusterNamed(d.cluster);
    if (!cluster) continue;
    try {
      await cluster.client.delete(Resources[d.kind], d.name, d.namespace, { propagationPolicy: "Background" });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    if (!app.metadata.deletionTimestamp)
      r.log.info({ cluster: d.cluster, kind: d.kind, name: d.name }, "deleted: cell left the app's scope");
  }
  for (const e of actions.events) await ctx.events.record(app, e.type, e.reason, e.message);
  if (actions.blockedClusters.length) {
    r.log.warn({ blocked: actions.blockedClusters }, "deletion waits for unreachable clusters");
  }
  if (actions.removeFinalizer) {
    await ctx.home.client.update(LdcResources.CellApp, {
      ...app,
      metadata: { ...app.metadata, finalizers: (app.metadata.finalizers ?? []).filter((f) => f !== CELLAPP_FINALIZER) },
    });
    r.log.info("workloads removed from every cluster; finalizer released");
  }
}

/** Creates the namespace unless it exists; an existing one (and its labels) is left as it is. */
async function ensureNamespace(cluster: Cluster, namespace: Obj): Promise<void> {
  if (await cluster.client.tryGet(Resources.Namespace, namespace.metadata!.name!)) return;
  try {
    await cluster.client.create(Resources.Namespace, namespace);
  } catch (err) {
    if ((err as { code?: number }).code !== 409) throw err;
  }
}
