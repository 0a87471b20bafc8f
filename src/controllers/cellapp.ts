// CellApp controller: stamps the app's Deployments and Services into every
// cell's zones (own cluster or member clusters), removes those of cells that
// left the scope, reports per-cell readiness. Cleanup across clusters is by
// labels plus a finalizer; nothing is deleted in a zone that is unreachable.
import { createHash } from "node:crypto";
import { setCondition, validateCellApp, type CellApp, type Condition } from "../api/index.ts";
import { cellAppStatusCells, planCellApp, type ObservedDeployment } from "../reconcilers/cellapp.ts";
import { CELLAPP_FINALIZER, Labels, MANAGED_BY } from "../reconcilers/naming.ts";
import {
  Controller,
  Resources,
  isNotFound,
  statusEqual,
  type Cluster,
  type Informer,
  type KubeObject,
  type ReconcileContext,
  type ReconcileResult,
} from "../runtime/index.ts";
import { covers, MessageCoalescer } from "./compare.ts";
import { clusterOfZone, currentCells, LdcResources, watchEveryCluster, type OperatorContext } from "./context.ts";

type Obj = KubeObject & Record<string, unknown>;
const MANAGED_SELECTOR = `${Labels.managedBy}=${MANAGED_BY}`;
const UNREACHABLE_RETRY_MS = 15_000;

/**
 * Apply expectations: what this process applied last, per object, and the
 * resourceVersion the cache showed before. Until the cache moves past that
 * version, it has not seen our write yet: re-applying the same desired object
 * would be a duplicate request (at cold start, every cell and zone event
 * re-runs each app before its objects arrive in the cache).
 */
const expectations = new Map<string, { hash: string; before: string; at: number }>();
const EXPECTATION_TTL_MS = 30_000;

function expectationKey(
  cluster: string,
  kind: string,
  namespace: string | undefined,
  name: string | undefined,
): string {
  return `${cluster}/${kind}/${namespace ?? ""}/${name ?? ""}`;
}

/** Any event the cache delivers about an object ends our expectation about it. */
export function observeWorkload(cluster: string, kind: "Deployment" | "Service", obj: KubeObject): void {
  if (expectations.size === 0) return;
  expectations.delete(expectationKey(cluster, kind, obj.metadata?.namespace, obj.metadata?.name));
}

function desiredHash(obj: unknown): string {
  return createHash("sha256").update(JSON.stringify(obj)).digest("hex");
}

export function appKeyOfWorkload(obj: KubeObject): string | undefined {
  const l = obj.metadata?.labels;
  const ns = l?.[Labels.appNamespace];
  const app = l?.[Labels.app];
  return ns && app ? `${ns}/${app}` : undefined;
}

export function cellAppController(ctx: OperatorContext): Controller {
  const controller = new Controller({
    name: "cellapp",
    kind: "CellApp",
    workers: 4,
    logger: ctx.log,
    reconcile: (key, rctx) => reconcileCellApp(ctx, key, rctx),
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
  for (const [kind, informer] of [
    ["Deployment", "deployments"],
    ["Service", "services"],
  ] as const) {
    watchEveryCluster(
      ctx.registry,
      controller,
      (cluster) => workloadInformers(cluster)[informer],
      (cluster) => (obj) => {
        observeWorkload(cluster.name, kind, obj);
        return appKeyOfWorkload(obj);
      },
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
const workloadInformersOf = new WeakMap<Cluster, WorkloadInformers>();

/** Called per object on the reconcile path: looked up once per cluster. */
export function workloadInformers(cluster: Cluster): WorkloadInformers {
  let w = workloadInformersOf.get(cluster);
  if (!w) {
    w = {
      deployments: cluster.informer<Obj>(Resources.Deployment, { labelSelector: MANAGED_SELECTOR }),
      services: cluster.informer<Obj>(Resources.Service, { labelSelector: MANAGED_SELECTOR }),
    };
    workloadInformersOf.set(cluster, w);
  }
  return w;
}

interface Placed {
  cluster: Cluster;
  zone: string;
  kind: "Deployment" | "Service";
  object: Obj;
}

async function reconcileCellApp(
  ctx: OperatorContext,
  key: string,
  r: ReconcileContext,
): Promise<ReconcileResult | void> {
  const app = ctx.ldc.apps.store.get(key) as (CellApp & Obj) | undefined;
  if (!app) return;
  const now = new Date();
  const zones = ctx.ldc.zones.store.list();
  // Running Failovers warm up destinations and move active sides.
  const cells = currentCells(ctx);

  if (app.metadata.deletionTimestamp) return finalize(ctx, app, r);
  if (!app.metadata.finalizers?.includes(CELLAPP_FINALIZER)) {
    await ctx.home.client.mergePatch(LdcResources.CellApp, app.metadata.name, app.metadata.namespace, {
      metadata: { finalizers: [...(app.metadata.finalizers ?? []), CELLAPP_FINALIZER] },
    });
  }

  const validation = validateCellApp(app, { cells, shardingRules: ctx.ldc.rules.store.list() });
  let conditions: Condition[] | undefined = app.status?.conditions;
  const gen = app.metadata.generation;
  if (!validation.valid) {
    // Invalid references: say so, change nothing (existing workloads keep serving).
    const message = validation.problems.map((p) => p.message).join("; ");
    conditions = setCondition(
      conditions,
      { type: "Valid", status: "False", reason: validation.problems[0]!.reason, message, observedGeneration: gen },
      now,
    );
    conditions = setCondition(
      conditions,
      {
        type: "Ready",
        status: "False",
        reason: "InvalidSpec",
        message: "the spec is invalid: see the Valid condition",
        observedGeneration: gen,
      },
      now,
    );
    await writeStatus(ctx, app, { ...(app.status ?? {}), observedGeneration: gen, conditions });
    if (!statusEqual(conditions, app.status?.conditions)) await ctx.events.warning(app, "InvalidSpec", message);
    return;
  }

  const plan = planCellApp({ app, cells, zones, sidecar: ctx.sidecar });
  const zoneByName = new Map(zones.map((z) => [z.metadata.name, z]));
  const unreachableZones = new Set<string>();
  const desired: Placed[] = [];
  for (const cellPlan of plan.cells) {
    for (const w of cellPlan.workloads) {
      const cluster = clusterOfZone(ctx, zoneByName.get(w.zone)!);
      if (!cluster || !cluster.reachable) {
        unreachableZones.add(w.zone);
        continue;
      }
      desired.push({ cluster, zone: w.zone, kind: "Deployment", object: w.deployment as Obj });
      desired.push({ cluster, zone: w.zone, kind: "Service", object: w.service as Obj });
    }
  }

  // Apply what differs from the cache (quiet in steady state).
  const ensuredNamespaces = new Set<string>();
  let applied = 0;
  for (const d of desired) {
    const inf = workloadInformers(d.cluster)[d.kind === "Deployment" ? "deployments" : "services"];
    const observed = inf.store.getByName(d.object.metadata!.name!, d.object.metadata!.namespace);
    if (observed && covers(observed, d.object)) continue;
    const key = expectationKey(d.cluster.name, d.kind, d.object.metadata!.namespace, d.object.metadata!.name);
    const hash = desiredHash(d.object);
    const seenVersion = observed?.metadata?.resourceVersion ?? "";
    const expected = expectations.get(key);
    const pending =
      expected &&
      expected.hash === hash &&
      expected.before === seenVersion &&
      Date.now() - expected.at < EXPECTATION_TTL_MS;
    if (pending) continue; // our write is on its way to the cache
    if (!observed && !d.cluster.local && !ensuredNamespaces.has(d.cluster.name)) {
      await ensureNamespace(d.cluster, app.metadata.namespace!);
      ensuredNamespaces.add(d.cluster.name);
    }
    await d.cluster.client.apply(d.object);
    expectations.set(key, { hash, before: seenVersion, at: Date.now() });
    applied++;
    if (!observed) r.log.info({ zone: d.zone, kind: d.kind, name: d.object.metadata!.name }, "created");
  }
  if (applied > 0) r.log.debug({ applied }, "applied workloads");

  // Remove workloads of cells that left the scope (only in reachable clusters;
  // cells that could not be planned keep theirs).
  const wanted = new Set(desired.map((d) => `${d.cluster.name}/${d.kind}/${d.object.metadata!.name}`));
  const keepCells = new Set(plan.unplannable);
  for (const cluster of reachableClusters(ctx)) {
    const inf = workloadInformers(cluster);
    for (const [kind, store] of [
      ["Deployment", inf.deployments.store],
      ["Service", inf.services.store],
    ] as const) {
      for (const obj of store.listByLabels(
        { [Labels.app]: app.metadata.name, [Labels.appNamespace]: app.metadata.namespace! },
        app.metadata.namespace,
      )) {
        const cell = obj.metadata?.labels?.[Labels.cell] ?? "";
        if (wanted.has(`${cluster.name}/${kind}/${obj.metadata!.name}`) || keepCells.has(cell)) continue;
        // A zone in an unreachable state shares no cluster with a reachable one, but be explicit.
        if (unreachableZones.has(obj.metadata?.labels?.[Labels.zone] ?? "")) continue;
        await cluster.client.delete(Resources[kind], obj.metadata!.name!, obj.metadata!.namespace, {
          propagationPolicy: "Background",
        });
        r.log.info({ cluster: cluster.name, kind, name: obj.metadata!.name }, "deleted: cell left the app's scope");
        await ctx.events.normal(
          app,
          "Removed",
          `removed ${kind} ${obj.metadata!.name}: cell ${cell} left the app's scope`,
        );
      }
    }
  }

  // Status from the caches of every zone's cluster.
  const observed: ObservedDeployment[] = [];
  for (const c of plan.cells) {
    for (const w of c.workloads) {
      const cluster = clusterOfZone(ctx, zoneByName.get(w.zone)!);
      const dep =
        cluster &&
        workloadInformers(cluster).deployments.store.getByName(
          String((w.deployment as Obj).metadata!.name),
          app.metadata.namespace,
        );
      const st = (dep as { status?: { replicas?: number; readyReplicas?: number } } | undefined)?.status;
      observed.push({ cell: c.cell, zone: w.zone, replicas: st?.replicas ?? 0, readyReplicas: st?.readyReplicas ?? 0 });
    }
  }
  const summary = cellAppStatusCells(plan, observed);
  const planProblems = plan.problems.map((p) => `${p.field}: ${p.message}`);
  conditions = setCondition(
    conditions,
    {
      type: "Valid",
      status: "True",
      reason: "Valid",
      message: planProblems.length ? planProblems.join("; ") : "spec is valid",
      observedGeneration: gen,
    },
    now,
  );
  const ready = summary.readyCells === summary.totalCells && unreachableZones.size === 0;
  const readyMessage = ready
    ? `${summary.readyCells}/${summary.totalCells} cells ready`
    : `${summary.readyCells}/${summary.totalCells} cells ready` +
      (unreachableZones.size
        ? `; zone(s) ${[...unreachableZones].sort().join(", ")} unreachable: their workloads are left as they are`
        : "");
  conditions = setCondition(
    conditions,
    {
      type: "Ready",
      status: ready ? "True" : "False",
      reason: ready ? "AllCellsReady" : unreachableZones.size ? "ZoneUnreachable" : "CellsNotReady",
      message: readyMessage,
      observedGeneration: gen,
    },
    now,
  );
  const wait = await writeStatus(ctx, app, {
    observedGeneration: gen,
    cells: summary.cells,
    readyCells: summary.readyCells,
    totalCells: summary.totalCells,
    conditions,
  });
  if (wait !== undefined) return { requeueAfter: wait };
  if (unreachableZones.size) return { requeueAfter: UNREACHABLE_RETRY_MS };
}

function reachableClusters(ctx: OperatorContext): Cluster[] {
  return ctx.registry.list().filter((c) => c.local || c.reachable);
}

/** Per-cell "n/m cells ready" messages while replicas roll out: at most one message-only write per app every 10 s. */
const statusCoalescer = new MessageCoalescer();

/** Writes the status unless unchanged; returns ms to wait when a message-only change is coalesced. */
async function writeStatus(
  ctx: OperatorContext,
  app: CellApp & Obj,
  status: Record<string, unknown>,
): Promise<number | undefined> {
  if (statusEqual(status, app.status)) return undefined;
  const key = `${app.metadata.namespace}/${app.metadata.name}`;
  const wait = statusCoalescer.delay(key, status, app.status);
  if (wait !== undefined) return wait;
  statusCoalescer.wrote(key);
  await ctx.home.client.applyStatus({
    apiVersion: app.apiVersion,
    kind: app.kind,
    metadata: { name: app.metadata.name, namespace: app.metadata.namespace },
    status,
  });
}

async function ensureNamespace(cluster: Cluster, namespace: string): Promise<void> {
  if (await cluster.client.tryGet(Resources.Namespace, namespace)) return;
  try {
    await cluster.client.create(Resources.Namespace, {
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: namespace, labels: { [Labels.managedBy]: MANAGED_BY } },
    });
  } catch (err) {
    if ((err as { code?: number }).code !== 409) throw err;
  }
}

/** Deletion: remove the app's workloads from every member cluster, then the finalizer. */
async function finalize(
  ctx: OperatorContext,
  app: CellApp & Obj,
  r: ReconcileContext,
): Promise<ReconcileResult | void> {
  if (!app.metadata.finalizers?.includes(CELLAPP_FINALIZER)) return;
  const blocked: string[] = [];
  for (const cluster of ctx.registry.list()) {
    if (!cluster.local && !cluster.reachable) {
      blocked.push(cluster.name);
      continue;
    }
    const selector = { [Labels.app]: app.metadata.name, [Labels.appNamespace]: app.metadata.namespace! };
    const inf = workloadInformers(cluster);
    for (const [kind, store] of [
      ["Deployment", inf.deployments.store],
      ["Service", inf.services.store],
    ] as const) {
      for (const obj of store.listByLabels(selector, app.metadata.namespace)) {
        try {
          await cluster.client.delete(Resources[kind], obj.metadata!.name!, obj.metadata!.namespace, {
            propagationPolicy: "Background",
          });
        } catch (err) {
          if (!isNotFound(err)) throw err;
        }
      }
    }
  }
  if (blocked.length) {
    const message = `cannot remove the app's workloads from unreachable cluster(s) ${blocked.join(", ")}; the finalizer ${CELLAPP_FINALIZER} stays until they are reachable (remove it by hand to abandon those workloads)`;
    r.log.warn({ blocked }, "deletion waits for unreachable clusters");
    await ctx.events.warning(app, "CleanupBlocked", message);
    return { requeueAfter: UNREACHABLE_RETRY_MS };
  }
  await ctx.home.client.update(LdcResources.CellApp, {
    ...app,
    metadata: { ...app.metadata, finalizers: app.metadata.finalizers.filter((f) => f !== CELLAPP_FINALIZER) },
  });
  r.log.info("workloads removed from every cluster; finalizer released");
}
