// The operator's side of the relays' leases (src/relay, docs/fencing.md): the
// Lease it renews in the relay namespace of every zone's cluster, and which
// clusters get a renewal now. Pure; controllers/relaylease.ts sends them and
// records when each was sent, which relayFencedAt bounds the zone's fence by.
import { Labels, MANAGED_BY } from "./naming.ts";

/** The Lease renewed in every zone's relay namespace (the relay's RELAY_LEASE_NAME). */
export const ROUTING_LEASE_NAME = "ldc-routing";
/** The renewal counter annotation (the relay's RENEWAL_ANNOTATION). */
export const ROUTING_LEASE_COUNTER = "ldc.io/renewal";

export interface RoutingLeaseRenewal {
  namespace: string;
  /** The operator replica's identity (its leader-election identity). */
  identity: string;
  leaseMs: number;
  nowMs: number;
  /** Increases with every renewal this replica sends to the cluster. */
  counter: number;
}

/** The Lease object of one renewal (server-side apply: creates it the first time). */
export type RoutingLease = {
  apiVersion: "coordination.k8s.io/v1";
  kind: "Lease";
  metadata: { name: string; namespace: string; labels: Record<string, string>; annotations: Record<string, string> };
  spec: { holderIdentity: string; leaseDurationSeconds: number; renewTime: string };
};

export function routingLease(r: RoutingLeaseRenewal): RoutingLease {
  return {
    apiVersion: "coordination.k8s.io/v1",
    kind: "Lease",
    metadata: {
      name: ROUTING_LEASE_NAME,
      namespace: r.namespace,
      labels: { [Labels.managedBy]: MANAGED_BY },
      annotations: { [ROUTING_LEASE_COUNTER]: String(r.counter) },
    },
    spec: {
      holderIdentity: r.identity,
      leaseDurationSeconds: Math.max(1, Math.ceil(r.leaseMs / 1000)),
      // MicroTime: microsecond precision, as the API server stores it.
      renewTime: new Date(r.nowMs).toISOString().replace(/Z$/, "000Z"),
    },
  };
}

export interface RenewalTarget {
  cluster: string;
  /** The operator's own cluster (always written to) or a member whose last probe answered. */
  reachable: boolean;
  /** The previous renewal to this cluster has not settled yet. */
  inFlight: boolean;
}

/**
 * The clusters to renew now: none unless this replica leads; never one whose
 * previous renewal is still in flight (it is bounded by its timeout) or one
 * that does not answer its probe. Stopping there is what lets an unreachable
 * zone be fenced: every renewal sent might have committed and counts.
 */
export function planRenewals(isLeader: boolean, targets: readonly RenewalTarget[]): string[] {
  if (!isLeader) return [];
  return targets.filter((t) => t.reachable && !t.inFlight).map((t) => t.cluster);
}
