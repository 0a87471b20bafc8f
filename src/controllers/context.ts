// What every controller of the operator shares: the home cluster, the member
// clusters by zone, the caches of the ldc.io kinds, events, settings.
import type { RelayLeaseRenewer } from "./relaylease.ts";
import type { DomainMetrics } from "./metrics.ts";
import type { Logger } from "pino";
import {
  type Cell,
  type CellApp,
  type DrillSchedule,
  type Failover,
  type ShardingRule,
  type Zone,
} from "../api/index.ts";
import { effectiveCells } from "../reconcilers/failover.ts";
import type { SidecarSettings } from "../reconcilers/sidecar.ts";
import type { PodSecuritySettings } from "../reconcilers/cellapp.ts";
import {
  type Cluster,
  type ClusterRegistry,
  type EventRecorder,
  type Informer,
  type Controller,
  type KubeClient,
  type KubeObject,
  type MapFunc,
} from "../runtime/index.ts";

export { LdcResources } from "../ldc-resources.ts";

export const LOCAL_CLUSTER = "local";

export { ACK_WARMUP_MS } from "../reconcilers/shardingrule.ts";

export interface LdcInformers {
  zones: Informer<Zone & KubeObject>;
  cells: Informer<Cell & KubeObject>;
  rules: Informer<ShardingRule & KubeObject>;
  apps: Informer<CellApp & KubeObject>;
  failovers: Informer<Failover & KubeObject>;
  drillSchedules: Informer<DrillSchedule & KubeObject>;
}

/** Objects of the operator's own namespace, cached: member-cluster kubeconfig Secrets, the automation ConfigMap. */
export interface OwnNamespaceInformers {
  secrets: Informer<KubeObject & { data?: Record<string, string> }>;
  configMaps: Informer<KubeObject & { data?: Record<string, string> }>;
}

export interface OperatorContext {
  log: Logger;
  /** The operator's own namespace: leases, member-cluster kubeconfig Secrets. */
  namespace: string;
  home: Cluster;
  /**
   * The failover critical path's own client (and rate limit) to the home
   * cluster: Failover and ShardingRule status, routing tables. Cell and app
   * status writes must never queue ahead of a switch.
   */
  critical: KubeClient;
  registry: ClusterRegistry;
  ldc: LdcInformers;
  own: OwnNamespaceInformers;
  events: EventRecorder;
  sidecar: SidecarSettings;
  /** What CellApps may ask for: the baseline exceptions, member namespaces' Pod Security level. */
  podSecurity: PodSecuritySettings;
  /**
   * The per-zone relays' namespace (src/relay), when relays are on: every
   * rule's table is published there in every zone's cluster, and the
   * routing Lease renewed there (controllers/relaylease.ts).
   */
  relayNamespace?: string | undefined;
  /** The relays' Lease renewals (relays on): the Failover barrier's fence for relayed zones. */
  relayLeases?: RelayLeaseRenewer | undefined;
  /** Member-cluster probe period: Unreachable counts from the last successful probe. */
  probeIntervalMs: number;
  /** The domain metrics (controllers/metrics.ts): the Failover controller counts what it writes. */
  metrics?: DomainMetrics | undefined;
}

const effectiveMemo = new WeakMap<
  OperatorContext,
  { cells: number; failovers: number; value: (Cell & KubeObject)[] }
>();

/**
 * Every Cell as the Failovers make it (effectiveCells), computed once
 * per change of either cache: several controllers need it on every event, and
 * at 1,000 cells recomputing it per reconcile dominated a failover's CPU.
 * Shared: do not mutate.
 */
export function currentCells(ctx: OperatorContext): (Cell & KubeObject)[] {
  const cells = ctx.ldc.cells.store.revision;
  const failovers = ctx.ldc.failovers.store.revision;
  const hit = effectiveMemo.get(ctx);
  if (hit && hit.cells === cells && hit.failovers === failovers) return hit.value;
  const value = effectiveCells(ctx.ldc.cells.store.list(), ctx.ldc.failovers.store.list()) as (Cell & KubeObject)[];
  effectiveMemo.set(ctx, { cells, failovers, value });
  return value;
}

/** The cluster a zone's workloads live in: its member cluster, else the operator's own. */
export function clusterOfZone(ctx: OperatorContext, zone: Zone): Cluster | undefined {
  return zone.spec.cluster ? ctx.registry.get(memberClusterName(zone.metadata.name)) : ctx.home;
}

export function memberClusterName(zone: string): string {
  return `zone-${zone}`;
}

export function zoneOfMemberCluster(cluster: string): string | undefined {
  return cluster.startsWith("zone-") ? cluster.slice("zone-".length) : undefined;
}

/**
 * Watches an informer of every cluster for `controller`: the operator's own
 * (whose cache the workers wait for) and each member cluster, connected now or
 * later (a replaced member's caches are new ones). `map` gets the cluster.
 */
export function watchEveryCluster<T extends KubeObject>(
  registry: ClusterRegistry,
  controller: Controller,
  informerOf: (cluster: Cluster) => Informer<T>,
  map: (cluster: Cluster) => MapFunc<T>,
): void {
  const watch = (cluster: Cluster): void => {
    controller.watch(informerOf(cluster), map(cluster), { waitForSync: cluster.local });
  };
  for (const cluster of registry.list()) watch(cluster);
  registry.onChange((change) => {
    if (change.type === "added" || change.type === "replaced") watch(change.cluster);
  });
}
