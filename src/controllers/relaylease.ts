// Renews the routing Lease in the relay namespace of every zone's cluster
// (leader only, every 2 s) and records, per zone, when it last SENT a renewal,
// answered or not: an unanswered one may have committed. From that the
// Failover barrier bounds when a relayed zone's sidecars must have stopped
// writing: fencedAt(zone) (relayFencedAt, src/routing-api/fencing.ts).
import { planRenewals, routingLease } from "../reconcilers/relaylease.ts";
import { relayFencedAt, DEFAULT_LEASE_MS } from "../routing-api/index.ts";
import { Resources, type KubeClient, type Logger } from "../runtime/index.ts";
import { clusterOfZone, type OperatorContext } from "./context.ts";

/** A cluster that serves zones, as the renewer sees it. */
export interface RenewalCluster {
  name: string;
  client: KubeClient;
  /** The operator's own cluster, or a member answering its probe. */
  reachable: boolean;
  /** The zones whose workloads (and relay) live there. */
  zones: string[];
}

/** Every zone's cluster, from the operator's caches (the Zones and the connected clusters). */
export function zoneClusters(ctx: OperatorContext): RenewalCluster[] {
  const byName = new Map<string, RenewalCluster>();
  for (const zone of ctx.ldc.zones.store.list()) {
    const c = clusterOfZone(ctx, zone);
    if (!c) continue;
    const entry = byName.get(c.name) ?? {
      name: c.name,
      client: c.client,
      reachable: c.local || c.lastProbeAnswered,
      zones: [],
    };
    entry.zones.push(zone.metadata.name);
    byName.set(c.name, entry);
  }
  return [...byName.values()];
}

export interface RelayLeaseRenewerOptions {
  /** The zones' clusters, asked before each round (zoneClusters(ctx) in the operator). */
  clusters: () => readonly RenewalCluster[];
  logger?: Logger;
  /** The relays' namespace in every zone's cluster. */
  namespace: string;
  /** This replica's identity (holderIdentity). */
  identity: string;
  isLeader: () => boolean;
  /** The lease the relays take from each renewal (spec.leaseDurationSeconds). Default DEFAULT_LEASE_MS. */
  leaseMs?: number;
  /** Renewal period. Default 2000 ms. */
  intervalMs?: number;
  /**
   * Timeout of each renewal, client and server side (?timeout=): the bound on
   * when a renewal commits, if ever (relayFencedAt's commitBoundMs). Default 1000 ms: a
   * Lease write slower than that fails, and the next one (2 s later) tries again.
   */
  commitBoundMs?: number;
  now?: () => number;
}

/** What the renewer knows: input of relayFencedAt. */
export interface RelayRenewals {
  /** When this replica started leading (a previous leader's renewals are bounded by it). */
  readonly sinceMs: number;
  readonly leaseMs: number;
  readonly commitBoundMs: number;
  /** zone -> operator time (ms) the last renewal to its cluster was sent. */
  readonly lastSentByZone: ReadonlyMap<string, number>;
}

export class RelayLeaseRenewer {
  readonly #o: Required<Omit<RelayLeaseRenewerOptions, "logger">>;
  readonly #log: Logger | undefined;
  readonly #inFlight = new Set<string>();
  readonly #counters = new Map<string, number>();
  #sinceMs: number;
  #lastSent = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;

  constructor(opts: RelayLeaseRenewerOptions) {
    this.#log = opts.logger;
    this.#o = {
      leaseMs: DEFAULT_LEASE_MS,
      intervalMs: 2000,
      commitBoundMs: 1000,
      now: Date.now,
      clusters: opts.clusters,
      namespace: opts.namespace,
      identity: opts.identity,
      isLeader: opts.isLeader,
      ...(opts.leaseMs !== undefined ? { leaseMs: opts.leaseMs } : {}),
      ...(opts.intervalMs !== undefined ? { intervalMs: opts.intervalMs } : {}),
      ...(opts.commitBoundMs !== undefined ? { commitBoundMs: opts.commitBoundMs } : {}),
      ...(opts.now !== undefined ? { now: opts.now } : {}),
    };
    // The Lease carries whole seconds and the relays take that: fence with the same.
    this.#o.leaseMs = Math.max(1, Math.ceil(this.#o.leaseMs / 1000)) * 1000;
    this.#sinceMs = this.#o.now();
  }

  /** This replica became the leader: renewals sent before are not known here. */
  beginTerm(atMs: number = this.#o.now()): void {
    this.#sinceMs = atMs;
    this.#lastSent = new Map();
  }

  renewals(): RelayRenewals {
    const { leaseMs, commitBoundMs } = this.#o;
    return { sinceMs: this.#sinceMs, leaseMs, commitBoundMs, lastSentByZone: this.#lastSent };
  }

  /** The bounds relayFencedAt computes with. */
  bounds(): { leaseMs: number; commitBoundMs: number } {
    return { leaseMs: this.#o.leaseMs, commitBoundMs: this.#o.commitBoundMs };
  }

  /** max(last renewal sent to the zone, start of this term): what relayFencedAt takes. */
  lastSentForFencing(zone: string): number {
    return Math.max(this.#lastSent.get(zone) ?? 0, this.#sinceMs);
  }

  /** The operator time after which no sidecar of `zone` (served by its relay) holds a lease. */
  fencedAt(zone: string): number {
    return relayFencedAt(this.lastSentForFencing(zone), this.bounds());
  }

  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => this.renewNow(), this.#o.intervalMs);
    this.renewNow();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** One round: a renewal to every reachable zone cluster whose previous one settled. */
  renewNow(): void {
    const clusters = new Map(this.#o.clusters().map((c) => [c.name, c]));
    const targets = [...clusters.values()].map((c) => ({
      cluster: c.name,
      reachable: c.reachable,
      inFlight: this.#inFlight.has(c.name),
    }));
    for (const name of planRenewals(this.#o.isLeader(), targets)) {
      const { client, zones } = clusters.get(name)!;
      const counter = (this.#counters.get(name) ?? 0) + 1;
      this.#counters.set(name, counter);
      this.#inFlight.add(name);
      const lease = routingLease({
        namespace: this.#o.namespace,
        identity: this.#o.identity,
        leaseMs: this.#o.leaseMs,
        nowMs: this.#o.now(),
        counter,
      });
      client
        .apply(lease, {
          resource: Resources.Lease,
          fieldManager: "ldc-operator-relay-lease",
          timeoutMs: this.#o.commitBoundMs,
          // Recorded as it goes out, answered or not: an unanswered renewal may have committed.
          onSend: () => {
            const at = this.#o.now();
            for (const z of zones) {
              this.#lastSent.set(z, Math.max(this.#lastSent.get(z) ?? 0, at));
            }
          },
        })
        .catch((err: unknown) => this.#log?.debug({ err, cluster: name }, "routing Lease renewal failed"))
        .finally(() => this.#inFlight.delete(name));
    }
  }
}
