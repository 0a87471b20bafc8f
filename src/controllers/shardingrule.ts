// ShardingRule controller: resolves each rule against the cells into a
// routing table, bumps the epoch on every change (recorded in status with
// optimistic concurrency before anything is published, so it never repeats
// or goes back, also across restarts and leader changes), publishes it as a
// ConfigMap in every zone's cluster where the rule's apps run and to the
// operator's routing API, and reports how many sidecars hold it. A deleted
// rule's table leaves the routing API and every zone. The decisions are the
// pure planShardingRule and planRuleRemoval (src/reconcilers/shardingrule.ts);
// this file reads the caches and carries the plan out.
import type { ShardingRule } from "../api/index.ts";
import { Annotations, Labels, MANAGED_BY, routingTableName } from "../reconcilers/naming.ts";
import { cellsOfRule, rulesRoutingTo } from "../reconcilers/routing.ts";
import {
  planRuleRemoval,
  planShardingRule,
  RuleResolver,
  type ShardingRulePlan,
  type ZonePublication,
} from "../reconcilers/shardingrule.ts";
import type { MemoryTableStore } from "../routing-api/index.ts";
import {
  Controller,
  Resources,
  isAlreadyExists,
  isConflict,
  isNotFound,
  stripManagedFields,
  writeStatus,
  type Cluster,
  type KubeObject,
  type ReconcileContext,
  type ReconcileResult,
} from "../runtime/index.ts";
import { clusterOfZone, currentCells, LdcResources, watchEveryCluster, type OperatorContext } from "./context.ts";
import { RuleHistory } from "./rule-history.ts";

type ConfigMapObj = KubeObject & { data?: Record<string, string> };
type RuleObj = ShardingRule & KubeObject;
const TABLE_SELECTOR = `${Labels.managedBy}=${MANAGED_BY},${Labels.routingTable}`;

export function routingTableInformer(cluster: Cluster) {
  return cluster.informer<ConfigMapObj>(Resources.ConfigMap, { labelSelector: TABLE_SELECTOR });
}

const ruleOfTable = (cm: KubeObject): string | undefined => cm.metadata?.labels?.[Labels.rule];

/**
 * A ConfigMap in the operator's namespace with the last epoch of every deleted
 * rule: sidecars may still hold a deleted rule's table, and ignore an older
 * epoch (ADR 0005), so a rule created again under its name starts above it.
 */
export const EPOCH_FLOORS_CONFIGMAP = "ldc-epoch-floors";

export function shardingRuleController(ctx: OperatorContext, store: MemoryTableStore): Controller {
  // This operator's memory of resolutions: a new operator starts without it.
  const resolver = new RuleResolver();
  const history = new RuleHistory(ctx);
  const controller = new Controller({
    name: "shardingrule",
    kind: "ShardingRule",
    // A failover re-publishes every rule naming its cells: each waits on two
    // API writes (the epoch, then the status), so rules go in parallel.
    workers: 8,
    logger: ctx.log,
    reconcile: (key, r) => reconcileRule(ctx, store, resolver, history, key, r),
  });
  const allRules = () => ctx.ldc.rules.store.keys();
  // Only the rules an event can change: at 1,000 cells, "every rule on every Cell
  // event" rebuilt every table for each of a failover's Cell status writes.
  const rulesOf = (cells: Parameters<typeof rulesRoutingTo>[1]) =>
    rulesRoutingTo(ctx.ldc.rules.store.list(), cells).map((r) => r.metadata.name);
  controller.watch(ctx.ldc.rules);
  controller.watch(ctx.ldc.cells, (cell) => rulesOf([cell]));
  controller.watch(ctx.ldc.zones, allRules);
  // A Failover changes routing only through the cells its status names.
  controller.watch(ctx.ldc.failovers, (fo) =>
    rulesOf((fo.status?.cells ?? []).flatMap((c) => ctx.ldc.cells.store.get(c.cell) ?? [])),
  );
  controller.watch(ctx.ldc.apps, (app) => app.spec.shardingRule);
  // A routing-table ConfigMap changed or deleted by hand is published again; one of a deleted rule goes.
  watchEveryCluster(ctx.registry, controller, routingTableInformer, () => ruleOfTable);
  // A cluster connected, replaced or back: publish there, and remove what deleted rules left in it.
  ctx.registry.onChange((change) => {
    if (change.type === "removed") return;
    const keys = new Set(allRules());
    for (const cm of routingTableInformer(change.cluster).store.list()) {
      const rule = ruleOfTable(cm);
      if (rule) keys.add(rule);
    }
    for (const k of keys) controller.enqueue(k);
  });
  return controller;
}

async function reconcileRule(
  ctx: OperatorContext,
  store: MemoryTableStore,
  resolver: RuleResolver,
  history: RuleHistory,
  key: string,
  r: ReconcileContext,
): Promise<ReconcileResult | void> {
  let rule = ctx.ldc.rules.store.get(key) as RuleObj | undefined;
  if (!rule) return removeRule(ctx, store, resolver, key, r);
  const name = rule.metadata.name;
  const namespaces = [
    ...new Set(
      ctx.ldc.apps.store
        .list()
        .filter((a) => a.spec.shardingRule === name)
        .map((a) => a.metadata.namespace!),
    ),
  ].sort();
  const zones = ctx.ldc.zones.store.list();
  const plan = planShardingRule({
    rule,
    // Running Failovers decide where their cells are active and which shards are frozen.
    cells: cellsOfRule(rule, currentCells(ctx)),
    zones,
    current: store.get(name),
    epochFloor: epochFloor(ctx, name),
    namespaces,
    relayNamespace: ctx.relayNamespace,
    publications: zones.map((zone): ZonePublication => {
      const cluster = clusterOfZone(ctx, zone);
      const tables = cluster && routingTableInformer(cluster);
      const publishedEpochs: Record<string, number> = {};
      for (const ns of ctx.relayNamespace ? [...namespaces, ctx.relayNamespace] : namespaces) {
        const e = epochOf(tables?.store.getByName(routingTableName(name), ns));
        if (e !== undefined) publishedEpochs[ns] = e;
      }
      return {
        zone: zone.metadata.name,
        cluster: cluster?.name,
        reachable: cluster !== undefined && (cluster.local || cluster.reachable),
        publishedEpochs,
      };
    }),
    ackedEpochs: store.acks(name).map((a) => a.epoch),
    acksSince: new Date(store.collectingSince()),
    now: new Date(),
    resolve: resolver.resolve,
  });

  if (plan.recordEpoch) {
    // Record before publishing: a conflicting writer (another leader) makes this fail and retry.
    const { epoch, tableHash } = plan.recordEpoch;
    try {
      rule = ctx.ldc.rules.recordWrite(
        stripManagedFields(
          await ctx.critical.update(
            LdcResources.ShardingRule,
            { ...rule, status: { ...(rule.status ?? {}), epoch, tableHash } },
            { subresource: "status" },
          ),
        ),
      );
    } catch (err) {
      if (isConflict(err)) return { requeue: true };
      throw err;
    }
    r.log.info({ epoch, hash: tableHash.slice(0, 12) }, "new routing epoch");
    // The epoch is durable (the write succeeded on the version we read): publish
    // now, not after the watch brings the status back (one round trip less per
    // failover step).
  }
  const before = store.get(name);
  if (plan.publish) store.publish(plan.publish);
  // Each new epoch into the rule's history (kubectl ldc history), in the background.
  if (plan.recordEpoch && plan.publish) history.record(rule, before, plan.publish);
  // Not awaited: an Event waits behind the client's rate limiter, the zones' ConfigMaps must not.
  for (const e of plan.events) void ctx.events.record(rule, e.type, e.reason, e.message);
  await applyConfigMaps(ctx, plan.configMaps);
  const written = await writeStatus(ctx.critical, rule, plan.status, { method: "update", informer: ctx.ldc.rules });
  if (written.outcome === "conflict") return { requeue: true };
  return plan.requeueAfterMs !== undefined ? { requeueAfter: plan.requeueAfterMs } : undefined;
}

async function applyConfigMaps(ctx: OperatorContext, configMaps: ShardingRulePlan["configMaps"]): Promise<void> {
  for (const { cluster: name, object } of configMaps) {
    const cluster = ctx.registry.get(name);
    if (!cluster) continue; // disconnected since the observation: the next reconcile says so
    const ns = object.metadata.namespace;
    const exists = routingTableInformer(cluster).store.getByName(object.metadata.name, ns) !== undefined;
    // The app's namespace comes with its workloads.
    if (!exists && !cluster.local && !(await cluster.client.tryGet(Resources.Namespace, ns))) continue;
    await (cluster.local ? ctx.critical : cluster.client).apply(object);
  }
}

/**
 * The rule is gone: its table leaves the routing API (long-polls get 404) and
 * its ConfigMaps every cluster that answers; the others when they answer again.
 */
async function removeRule(
  ctx: OperatorContext,
  store: MemoryTableStore,
  resolver: RuleResolver,
  rule: string,
  r: ReconcileContext,
): Promise<ReconcileResult | void> {
  resolver.forget(rule);
  // Its last epoch outlives it, before anything that shows it goes.
  const last = Math.max(store.get(rule)?.epoch ?? 0, ...publishedEpochs(ctx, rule));
  if (last > 0) await recordEpochFloor(ctx, rule, last);
  if (store.get(rule)) {
    store.unpublish(rule);
    r.log.info("rule deleted: its routing table is unpublished");
  }
  const plan = planRuleRemoval(
    ctx.registry.list().map((cluster) => ({
      cluster: cluster.name,
      reachable: cluster.local || cluster.reachable,
      tables: routingTableInformer(cluster)
        .store.list()
        .filter((cm) => ruleOfTable(cm) === rule)
        .map((cm) => ({ name: cm.metadata!.name!, namespace: cm.metadata!.namespace! })),
    })),
  );
  // Cluster by cluster, side by side: one failing (down since its last probe) holds up no other.
  const results = await Promise.allSettled(
    ctx.registry.list().map(async (cluster) => {
      for (const { configMap } of plan.deletes.filter((d) => d.cluster === cluster.name)) {
        await (cluster.local ? ctx.critical : cluster.client).delete(
          Resources.ConfigMap,
          configMap.name,
          configMap.namespace,
        );
      }
    }),
  );
  const failed = results.find((x) => x.status === "rejected");
  if (failed) throw failed.reason;
  if (plan.deletes.length)
    r.log.info({ configMaps: plan.deletes.length }, "rule deleted: its routing ConfigMaps are deleted");
  if (plan.pending.length)
    r.log.info({ clusters: plan.pending }, "rule deleted: unreachable clusters keep its ConfigMaps until they answer");
  return plan.requeueAfterMs !== undefined ? { requeueAfter: plan.requeueAfterMs } : undefined;
}

function epochOf(cm: ConfigMapObj | undefined): number | undefined {
  const e = Number(cm?.metadata?.annotations?.[Annotations.epoch]);
  return cm && Number.isInteger(e) ? e : undefined;
}

/** The last epoch of a deleted rule of this name, if one was deleted. */
function epochFloor(ctx: OperatorContext, rule: string): number | undefined {
  const floors = ctx.own.configMaps.store.getByName(EPOCH_FLOORS_CONFIGMAP, ctx.namespace);
  const e = Number(floors?.data?.[rule]);
  return Number.isSafeInteger(e) && e >= 0 ? e : undefined;
}

/** Raises the floor of `rule` to `epoch` (a merge patch: rules deleted together each add their key). */
async function recordEpochFloor(ctx: OperatorContext, rule: string, epoch: number): Promise<void> {
  if ((epochFloor(ctx, rule) ?? -1) >= epoch) return;
  const data = { [rule]: String(epoch) };
  let written: ConfigMapObj;
  try {
    written = await ctx.critical.mergePatch(Resources.ConfigMap, EPOCH_FLOORS_CONFIGMAP, ctx.namespace, { data });
  } catch (err) {
    if (!isNotFound(err)) throw err;
    try {
      written = await ctx.critical.create(Resources.ConfigMap, {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: {
          name: EPOCH_FLOORS_CONFIGMAP,
          namespace: ctx.namespace,
          labels: { [Labels.managedBy]: MANAGED_BY },
        },
        data,
      } as ConfigMapObj);
    } catch (e) {
      if (isAlreadyExists(e))
        throw new Error(`${EPOCH_FLOORS_CONFIGMAP} was created meanwhile: retrying`, { cause: e });
      throw e;
    }
  }
  ctx.own.configMaps.recordWrite(stripManagedFields(written));
}

/** Epochs of this rule's tables published in any cluster (a restarted operator never goes below them). */
function publishedEpochs(ctx: OperatorContext, rule: string): number[] {
  const out: number[] = [];
  for (const cluster of ctx.registry.list()) {
    for (const cm of routingTableInformer(cluster).store.list()) {
      const e = ruleOfTable(cm) === rule ? epochOf(cm) : undefined;
      if (e !== undefined) out.push(e);
    }
  }
  return out;
}
