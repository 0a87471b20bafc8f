// ShardingRule controller: resolves each rule against the cells into a
// routing table, bumps the epoch on every change (recorded in status with
// optimistic concurrency before anything is published, so it never repeats
// or goes back, also across restarts and leader changes), publishes it as a
// ConfigMap in every zone's cluster where the rule's apps run and to the
// operator's routing API, and reports how many sidecars hold it.
import { setCondition, type Cell, type Condition, type Failover, type ShardingRule, type Zone } from "../api/index.ts";
import { Annotations, Labels, MANAGED_BY, routingTableName } from "../reconcilers/naming.ts";
import { effectiveCells } from "../reconcilers/failover.ts";
import {
  cellsOfRule,
  chooseEpoch,
  ownershipSummary,
  resolveRule,
  routingInput,
  type ResolvedRule,
} from "../reconcilers/routing.ts";
import { ROUTING_TABLE_KEY } from "../reconcilers/sidecar.ts";
import { buildTable, diffTables, summarizeDiff, type RoutingTable } from "../routing/index.ts";
import type { MemoryTableStore } from "../routing-api/index.ts";
import {
  Controller,
  type KubeClient,
  Resources,
  isConflict,
  statusEqual,
  stripManagedFields,
  type Cluster,
  type KubeObject,
  type ReconcileContext,
  type ReconcileResult,
} from "../runtime/index.ts";
import { ACK_WARMUP_MS, clusterOfZone, LdcResources, type OperatorContext } from "./context.ts";

type ConfigMapObj = KubeObject & { data?: Record<string, string> };
const TABLE_SELECTOR = `${Labels.managedBy}=${MANAGED_BY},${Labels.routingTable}`;

export function routingTableInformer(cluster: Cluster) {
  return cluster.informer<ConfigMapObj>(Resources.ConfigMap, { labelSelector: TABLE_SELECTOR });
}

export function shardingRuleController(ctx: OperatorContext, store: MemoryTableStore): Controller {
  const controller = new Controller({
    name: "shardingrule",
    kind: "ShardingRule",
    // A failover re-publishes every rule naming its cells: each waits on two
    // API writes (the epoch, then the status), so rules go in parallel.
    workers: 8,
    logger: ctx.log,
    reconcile: (key, r) => reconcileRule(ctx, store, key, r),
  });
  const allRules = () => ctx.ldc.rules.store.keys();
  // Only the rules an event can change: at 1,000 cells, "every rule on every Cell
  // event" rebuilt every table for each of a failover's Cell status writes.
  const rulesOfCells = (names: Iterable<string>): string[] => {
    const set = new Set(names);
    if (set.size === 0) return [];
    const anyCity = [...set].some((n) => ctx.ldc.cells.store.get(n)?.spec.type === "City");
    return ctx.ldc.rules.store
      .list()
      .filter(
        (r) =>
          anyCity ||
          (r.spec.globalCell !== undefined && set.has(r.spec.globalCell)) ||
          r.spec.assignments.some((a) => set.has(a.cell)),
      )
      .map((r) => r.metadata.name);
  };
  controller.watch(ctx.ldc.rules);
  controller.watch(ctx.ldc.cells, (cell) => {
    const c = cell as unknown as Cell;
    return c.spec?.type === "City" ? allRules() : rulesOfCells([c.metadata.name]);
  });
  controller.watch(ctx.ldc.zones, allRules);
  // A Failover changes routing only through the cells its status names.
  controller.watch(ctx.ldc.failovers, (fo) =>
    rulesOfCells(((fo as unknown as Failover).status?.cells ?? []).map((c) => c.cell)),
  );
  controller.watch(ctx.ldc.apps, (app) => (app as unknown as { spec?: { shardingRule?: string } }).spec?.shardingRule);
  return controller;
}

async function reconcileRule(
  ctx: OperatorContext,
  store: MemoryTableStore,
  key: string,
  r: ReconcileContext,
): Promise<ReconcileResult | void> {
  let rule = ctx.ldc.rules.store.get(key) as (ShardingRule & KubeObject) | undefined;
  if (!rule) {
    resolvedCache.delete(key);
    return;
  }
  const now = new Date();
  const gen = rule.metadata.generation;
  // Running Failovers decide where their cells are active and which shards are frozen.
  const cells = effectiveCells(cellsOfRule(rule, ctx.ldc.cells.store.list()), ctx.ldc.failovers.store.list());
  const zones = ctx.ldc.zones.store.list();
  let conditions: Condition[] | undefined = rule.status?.conditions;

  const resolved = resolveCached(rule, cells, zones);
  if (!resolved.table) {
    // Keep serving the last good table; say what is wrong.
    const message = resolved.problems.map((p) => `${p.field}: ${p.message}`).join("; ");
    conditions = setCondition(
      conditions,
      { type: "Valid", status: "False", reason: "InvalidRule", message, observedGeneration: gen },
      now,
    );
    const status = { ...(rule.status ?? {}), observedGeneration: gen, conditions };
    if (!statusEqual(status, rule.status)) {
      await writeStatus(ctx, rule, status);
      await ctx.events.warning(
        rule,
        "InvalidRule",
        `${message} (the last published epoch ${rule.status?.epoch ?? "-"} stays in force)`,
      );
    }
    return;
  }

  // The epoch: unchanged content keeps it; a change takes one above all ever seen.
  const hash = resolved.table.contentHash;
  const current = store.get(rule.metadata.name);
  if (rule.status?.epoch === undefined || hash !== rule.status.tableHash) {
    // Only a change needs the epochs published anywhere (a scan of every cluster's cache).
    const seen = publishedEpochs(ctx, rule.metadata.name);
    if (current) seen.push(current.epoch);
    const epoch = chooseEpoch(hash, rule.status ?? {}, seen);
    // Record before publishing: a conflicting writer (another leader) makes this fail and retry.
    try {
      rule = stripManagedFields(
        await ctx.critical.update(
          LdcResources.ShardingRule,
          { ...rule, status: { ...(rule.status ?? {}), epoch, tableHash: hash } },
          { subresource: "status" },
        ),
      );
    } catch (err) {
      if (isConflict(err)) return { requeue: true };
      throw err;
    }
    r.log.info({ epoch, hash: hash.slice(0, 12) }, "new routing epoch");
    // The epoch is durable (the write succeeded on the version we read): publish
    // now, not after the watch brings the status back (one round trip less per
    // failover step).
  }

  const epoch = rule.status!.epoch!;
  // Same content, same epoch: the table in the store is this one (no second build).
  const table = current?.epoch === epoch ? current : buildTable(routingInput(rule, cells, zones, epoch));
  if (!current || current.epoch < epoch) {
    store.publish(table);
    const change = current ? summarizeDiff(diffTables(current, table)) : ownershipSummary(table);
    // Not awaited: an Event waits behind the client's rate limiter, the zones' ConfigMaps must not.
    void ctx.events.normal(rule, "EpochPublished", `routing epoch ${epoch}: ${change}`.slice(0, 1000));
  }

  // Publish the table in every zone's cluster, in each namespace with an app of the rule.
  const namespaces = [
    ...new Set(
      ctx.ldc.apps.store
        .list()
        .filter((a) => a.spec.shardingRule === rule.metadata.name)
        .map((a) => a.metadata.namespace!),
    ),
  ].sort();
  const publishedZones: string[] = [];
  const pending: string[] = [];
  for (const zone of zones) {
    const cluster = clusterOfZone(ctx, zone);
    if (!cluster || (!cluster.local && !cluster.reachable)) {
      pending.push(zone.metadata.name);
      continue;
    }
    await publishToCluster(ctx.critical, cluster, rule.metadata.name, namespaces, table);
    publishedZones.push(zone.metadata.name);
  }

  const convergence = store.convergence(rule.metadata.name);
  conditions = setCondition(
    conditions,
    {
      type: "Valid",
      status: "True",
      reason: "Valid",
      message: `every shard owned by exactly one cell: ${ownershipSummary(table)}`.slice(0, 2000),
      observedGeneration: gen,
    },
    now,
  );
  conditions = setCondition(
    conditions,
    pending.length
      ? {
          type: "Published",
          status: "False",
          reason: "ZonesUnreachable",
          message: `epoch ${epoch} not yet in zone(s) ${pending.join(", ")} (unreachable); sidecars there keep their last table`,
          observedGeneration: gen,
        }
      : {
          type: "Published",
          status: "True",
          reason: "Published",
          message: `epoch ${epoch} published to ${publishedZones.length} zone(s) in namespace(s) ${namespaces.join(", ") || "(no apps yet)"}`,
          observedGeneration: gen,
        },
    now,
  );
  const status = {
    ...(rule.status ?? {}),
    observedGeneration: gen,
    epoch,
    tableHash: hash,
    publishedZones: publishedZones.sort(),
    // A restarted operator has heard from no sidecar yet: keep the last count until it has listened
    // for an ack interval (the Failover controller waits for that many to report again).
    sidecars:
      Date.now() - store.collectingSince() < ACK_WARMUP_MS && convergence.total < (rule.status?.sidecars?.total ?? 0)
        ? rule.status!.sidecars!
        : { total: convergence.total, converged: convergence.converged },
    conditions,
  };
  if (!statusEqual(status, rule.status)) await writeStatus(ctx, rule, status);
  if (pending.length) return { requeueAfter: 10_000 };
  // Sidecar acks arrive over HTTP, not as watch events: look again while some lag.
  return { requeueAfter: convergence.converged < convergence.total ? 1000 : 15_000 };
}

/**
 * The last resolution of each rule and what it was computed from: a reconcile
 * whose inputs did not change (most of them, e.g. a Cell's status conditions
 * moved) does not build the table again just to hash it.
 */
const resolvedCache = new Map<string, { inputs: string; resolved: ResolvedRule }>();

function resolveCached(rule: ShardingRule & KubeObject, cells: readonly Cell[], zones: readonly Zone[]): ResolvedRule {
  const inputs = JSON.stringify([
    rule.metadata.uid,
    rule.metadata.generation,
    rule.spec,
    zones.map((z) => [z.metadata.name, z.spec.region]),
    cells.map((c) => [c.metadata.name, c.spec.type, c.spec.zone, c.status?.activeZone, c.status?.writeFrozen]),
  ]);
  const hit = resolvedCache.get(rule.metadata.name);
  if (hit?.inputs === inputs) return hit.resolved;
  const resolved = resolveRule(rule, cells, zones);
  resolvedCache.set(rule.metadata.name, { inputs, resolved });
  return resolved;
}

async function writeStatus(
  ctx: OperatorContext,
  rule: ShardingRule & KubeObject,
  status: Record<string, unknown>,
): Promise<void> {
  try {
    await ctx.critical.update(LdcResources.ShardingRule, { ...rule, status }, { subresource: "status" });
  } catch (err) {
    // The rule changed since the cache saw it: its update event runs this again with fresh state.
    if (!isConflict(err)) throw err;
  }
}

/** Epochs of this rule's tables published in any cluster (a restarted operator never goes below them). */
function publishedEpochs(ctx: OperatorContext, rule: string): number[] {
  const out: number[] = [];
  for (const cluster of ctx.registry.list()) {
    for (const cm of routingTableInformer(cluster).store.list()) {
      if (cm.metadata?.labels?.[Labels.rule] !== rule) continue;
      const e = Number(cm.metadata?.annotations?.[Annotations.epoch]);
      if (Number.isInteger(e)) out.push(e);
    }
  }
  return out;
}

async function publishToCluster(
  critical: KubeClient,
  cluster: Cluster,
  rule: string,
  namespaces: readonly string[],
  table: RoutingTable,
): Promise<void> {
  const cache = routingTableInformer(cluster);
  const name = routingTableName(rule);
  for (const ns of namespaces) {
    const existing = cache.store.getByName(name, ns);
    const existingEpoch = Number(existing?.metadata?.annotations?.[Annotations.epoch] ?? -1);
    if (existingEpoch >= table.epoch) continue; // never overwrite a newer or the same epoch
    if (!existing && !cluster.local && !(await cluster.client.tryGet(Resources.Namespace, ns))) continue; // the app's namespace comes with its workloads
    await (cluster.local ? critical : cluster.client).apply({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: {
        name,
        namespace: ns,
        labels: { [Labels.managedBy]: MANAGED_BY, [Labels.routingTable]: "true", [Labels.rule]: rule },
        annotations: { [Annotations.epoch]: String(table.epoch), [Annotations.tableHash]: table.contentHash },
      },
      data: { [ROUTING_TABLE_KEY]: table.serialize() },
    });
  }
}
