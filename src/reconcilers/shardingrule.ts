// One ShardingRule reconcile as a pure plan: given the rule, its effective
// cells, the zones, what is published (in memory and in every zone's cluster)
// and the sidecars' acks, what to record, publish, apply and report. The
// controller (src/controllers/shardingrule.ts) gathers the observation and
// carries the plan out in order: the epoch record first (ADR 0005), then the
// routing API, the zones' ConfigMaps, the status.
import { setCondition, type ShardingRule, type ShardingRuleStatus, type Zone } from "../api/index.ts";
import { buildTable, diffTables, summarizeDiff, type RoutingTable } from "../routing/index.ts";
import { Annotations, Labels, MANAGED_BY, routingTableName } from "./naming.ts";
import { chooseEpoch, ownershipSummary, resolveRule, routingInput, type ResolvedRule } from "./routing.ts";
import type { EffectiveCell } from "./failover.ts";
import { ROUTING_TABLE_KEY } from "./sidecar.ts";

/**
 * One sidecar ack interval (10 s) plus slack: how long a new (restarted)
 * operator's ack store listens before "no sidecar is behind" means anything.
 */
export const ACK_WARMUP_MS = 12_000;

/** A zone as the publisher sees it: the cluster its workloads live in and what that cluster holds. */
export interface ZonePublication {
  zone: string;
  /** The cluster's name; undefined when the zone's member cluster is not connected. */
  cluster: string | undefined;
  /** The operator's own cluster (always written to) or a member answering its probe. */
  reachable: boolean;
  /** Epoch of this rule's routing ConfigMap in the cluster, by namespace (absent: none there). */
  publishedEpochs: Readonly<Record<string, number>>;
}

export interface ShardingRuleObservation {
  rule: ShardingRule & { metadata: { generation?: number } };
  /** The cells the rule routes to, as the running Failovers make them (effectiveCells). */
  cells: readonly EffectiveCell[];
  zones: readonly Zone[];
  /** The routing API's current table of the rule, if any. */
  current: RoutingTable | undefined;
  /**
   * The last epoch of a deleted rule of this name (the operator's own record,
   * ldc-epoch-floors), if one was deleted. Epochs come only from the
   * operator's records (this, the rule's status, the routing API's table),
   * never from ConfigMaps that anyone able to create one could forge.
   */
  epochFloor: number | undefined;
  /** Namespaces with an app of the rule: where its ConfigMap goes in every zone. */
  namespaces: readonly string[];
  /**
   * The relays' namespace (src/relay): every rule's ConfigMap also goes there
   * in every zone's cluster, apps or not, for the zone's relay to serve.
   * Undefined: relays are off.
   */
  relayNamespace?: string | undefined;
  /** Every zone, in the zones' order. */
  publications: readonly ZonePublication[];
  /** Epochs held by the sidecars that acked within the ack window. */
  ackedEpochs: readonly number[];
  /** Since when the routing API has collected acks (a restarted operator has heard from no sidecar yet). */
  acksSince: Date;
  now: Date;
  /** Resolves the rule (default resolveRule); a RuleResolver skips a rebuild when nothing it reads changed. */
  resolve?: (rule: ShardingRule, cells: readonly EffectiveCell[], zones: readonly Zone[]) => ResolvedRule;
}

export type RoutingConfigMap = {
  apiVersion: "v1";
  kind: "ConfigMap";
  metadata: {
    name: string;
    namespace: string;
    labels: Record<string, string>;
    annotations: Record<string, string>;
  };
  data: Record<string, string>;
};

export interface ShardingRulePlan {
  /**
   * The content changed: record this in the rule's status, with optimistic
   * concurrency, BEFORE anything below is published (ADR 0005). A conflict
   * means another writer: stop and retry.
   */
  recordEpoch?: { epoch: number; tableHash: string };
  /** The routing API's new table (its epoch is above the current one). */
  publish?: RoutingTable;
  /** ConfigMaps to apply, one per cluster and namespace that holds no table of this epoch or newer. */
  configMaps: { cluster: string; object: RoutingConfigMap }[];
  status: ShardingRuleStatus;
  events: { type: "Normal" | "Warning"; reason: string; message: string }[];
  requeueAfterMs: number | undefined;
}

/** The reconcile of an existing rule. */
export function planShardingRule(o: ShardingRuleObservation): ShardingRulePlan {
  const { rule, now } = o;
  const gen = rule.metadata.generation;
  const recorded = rule.status ?? {};
  const resolved = (o.resolve ?? resolveRule)(rule, o.cells, o.zones);

  if (!resolved.table) {
    // Keep serving the last good table; say what is wrong.
    const message = resolved.problems.map((p) => `${p.field}: ${p.message}`).join("; ");
    const conditions = setCondition(
      recorded.conditions,
      { type: "Valid", status: "False", reason: "InvalidRule", message, observedGeneration: gen },
      now,
    );
    // Said once per change of what is wrong (setCondition returns the same list otherwise).
    const news = conditions !== recorded.conditions || recorded.observedGeneration !== gen;
    return {
      configMaps: [],
      status: { ...recorded, observedGeneration: gen, conditions },
      events: news
        ? [
            {
              type: "Warning",
              reason: "InvalidRule",
              message: `${message} (the last published epoch ${recorded.epoch ?? "-"} stays in force)`,
            },
          ]
        : [],
      requeueAfterMs: undefined,
    };
  }

  // The epoch: unchanged content keeps it; a change takes one above all ever seen.
  const hash = resolved.table.contentHash;
  const changed = recorded.epoch === undefined || hash !== recorded.tableHash;
  const epoch = changed
    ? chooseEpoch(hash, recorded, [
        ...(o.epochFloor !== undefined ? [o.epochFloor] : []),
        ...(o.current ? [o.current.epoch] : []),
      ])
    : recorded.epoch!;
  // Same content, same epoch: the routing API's table is this one (no second build).
  const table = o.current?.epoch === epoch ? o.current : buildTable(routingInput(rule, o.cells, o.zones, epoch));

  const events: ShardingRulePlan["events"] = [];
  const publish = !o.current || o.current.epoch < epoch ? table : undefined;
  if (publish) {
    const change = o.current ? summarizeDiff(diffTables(o.current, table)) : ownershipSummary(table);
    events.push({
      type: "Normal",
      reason: "EpochPublished",
      message: `routing epoch ${epoch}: ${change}`.slice(0, 1000),
    });
  }

  // The table in every zone's cluster, in each namespace with an app of the rule;
  // a cluster serving several zones gets it once; never over the same or a newer epoch.
  const configMaps: ShardingRulePlan["configMaps"] = [];
  const planned = new Set<string>();
  const targets = [...new Set([...o.namespaces, ...(o.relayNamespace ? [o.relayNamespace] : [])])];
  const publishedZones: string[] = [];
  const pending: string[] = [];
  for (const p of o.publications) {
    if (p.cluster === undefined || !p.reachable) {
      pending.push(p.zone);
      continue;
    }
    publishedZones.push(p.zone);
    for (const ns of targets) {
      const key = JSON.stringify([p.cluster, ns]);
      if (planned.has(key) || (p.publishedEpochs[ns] ?? -1) >= epoch) continue;
      planned.add(key);
      configMaps.push({ cluster: p.cluster, object: routingConfigMap(rule.metadata.name, ns, table) });
    }
  }

  let conditions = setCondition(
    recorded.conditions,
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
          message: `epoch ${epoch} published to ${publishedZones.length} zone(s) in namespace(s) ${o.namespaces.join(", ") || "(no apps yet)"}`,
          observedGeneration: gen,
        },
    now,
  );

  const total = o.ackedEpochs.length;
  const converged = o.ackedEpochs.filter((e) => e >= epoch).length;
  // A restarted operator has heard from no sidecar yet: keep the last count until it has listened
  // for an ack interval (the Failover controller waits for that many to report again).
  const warmingUp = now.getTime() - o.acksSince.getTime() < ACK_WARMUP_MS;
  const sidecars =
    warmingUp && recorded.sidecars && total < recorded.sidecars.total ? recorded.sidecars : { total, converged };

  return {
    ...(changed ? { recordEpoch: { epoch, tableHash: hash } } : {}),
    ...(publish ? { publish } : {}),
    configMaps,
    status: {
      ...recorded,
      observedGeneration: gen,
      epoch,
      tableHash: hash,
      publishedZones: publishedZones.sort(),
      sidecars,
      conditions,
    },
    events,
    // Unreachable zones get the table when they answer again; sidecar acks
    // arrive over HTTP, not as watch events: look again while some lag.
    requeueAfterMs: pending.length ? 10_000 : converged < total ? 1000 : 15_000,
  };
}

/** The ConfigMap holding `table` for the sidecars of namespace `namespace`. */
export function routingConfigMap(rule: string, namespace: string, table: RoutingTable): RoutingConfigMap {
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: {
      name: routingTableName(rule),
      namespace,
      labels: { [Labels.managedBy]: MANAGED_BY, [Labels.routingTable]: "true", [Labels.rule]: rule },
      annotations: { [Annotations.epoch]: String(table.epoch), [Annotations.tableHash]: table.contentHash },
    },
    data: { [ROUTING_TABLE_KEY]: table.serialize() },
  };
}

/** A routing ConfigMap as a cluster's cache shows it. */
export interface PublishedTable {
  name: string;
  namespace: string;
}

export interface RuleRemovalPlan {
  /** Routing ConfigMaps of the deleted rule to delete, per reachable cluster. */
  deletes: { cluster: string; configMap: PublishedTable }[];
  /** Clusters that still hold some but do not answer: retried when they do, never blocking the others. */
  pending: string[];
  requeueAfterMs: number | undefined;
}

/**
 * A deleted rule: what is left of it goes (the routing API drops it at once).
 * `clusters`: every connected cluster with the rule's routing ConfigMaps its cache shows.
 */
export function planRuleRemoval(
  clusters: readonly { cluster: string; reachable: boolean; tables: readonly PublishedTable[] }[],
): RuleRemovalPlan {
  const deletes: RuleRemovalPlan["deletes"] = [];
  const pending: string[] = [];
  for (const c of clusters) {
    if (c.tables.length === 0) continue;
    if (!c.reachable) {
      pending.push(c.cluster);
      continue;
    }
    for (const t of c.tables) deletes.push({ cluster: c.cluster, configMap: t });
  }
  return { deletes, pending, requeueAfterMs: pending.length ? 10_000 : undefined };
}

/**
 * Resolves rules, remembering the last resolution of each and what it was
 * computed from: a reconcile whose inputs did not change (most of them, e.g.
 * a Cell's status conditions moved) does not build the table again just to
 * hash it. One per controller instance: a new operator starts empty.
 */
export class RuleResolver {
  readonly #last = new Map<string, { inputs: string; resolved: ResolvedRule }>();

  readonly resolve = (rule: ShardingRule, cells: readonly EffectiveCell[], zones: readonly Zone[]): ResolvedRule => {
    const inputs = JSON.stringify([
      rule.metadata.uid,
      (rule.metadata as { generation?: number }).generation,
      rule.spec,
      zones.map((z) => [z.metadata.name, z.spec.region]),
      cells.map((c) => [c.metadata.name, c.spec.type, c.spec.zone, c.status?.activeZone, c.moving?.writeFrozen]),
    ]);
    const hit = this.#last.get(rule.metadata.name);
    if (hit?.inputs === inputs) return hit.resolved;
    const resolved = resolveRule(rule, cells, zones);
    this.#last.set(rule.metadata.name, { inputs, resolved });
    return resolved;
  };

  /** The rule was deleted. */
  forget(rule: string): void {
    this.#last.delete(rule);
  }
}
