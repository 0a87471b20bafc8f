// Fencing by lease, the operator's side: from the routing API's record of the
// leases it granted, the time after which no sidecar of a zone can still hold
// one (docs/fencing.md). Pure: the Failover's fencing wait calls it with
// TableStore.leaseGrants() and compares with its own clock.

/** What a TableStore knows about the leases it granted (TableStore.leaseGrants()). */
export interface LeaseGrants {
  /** When this store started granting (server clock, ms): grants by a previous leader are not known, only bounded by it. */
  readonly sinceMs: number;
  /** The lease duration granted (x-ldc-lease-ms). */
  readonly leaseMs: number;
  /** zone -> server time (ms) of the last lease-carrying answer sent to a sidecar of that zone. */
  readonly lastGrantByZone: ReadonlyMap<string, number>;
}

/** The assumptions fencedAt rests on. */
export interface FencingBounds {
  /** Most relative difference between the rates of the server's and a sidecar's clocks. Default 0.01 (1 %). */
  readonly clockRate?: number;
  /** Time a sidecar may take beyond its deadline before it refuses (scheduling of its own timer check). Default 1000 ms. */
  readonly marginMs?: number;
}

/** The header of table answers that grants a lease: its duration in ms. */
export const LEASE_HEADER = "x-ldc-lease-ms";

/**
 * 12 s: longer than a leader takeover (the Lease's 6 s + a 1 s retry, src/runtime/leader.ts)
 * plus a relay's renewal period and poll (2 s + 1 s), so a crashed leader's successor renews
 * every relay's lease before it runs out; short enough that a partitioned zone's automatic
 * failover switches within ~18 s (docs/fencing.md).
 */
export const DEFAULT_LEASE_MS = 12_000;
export const DEFAULT_CLOCK_RATE = 0.01;
export const DEFAULT_FENCING_MARGIN_MS = 1000;

/**
 * The time (server clock, ms) after which no sidecar that got its lease from
 * this server for `zone` can still hold it:
 * max(lastGrant(zone), sinceMs) + leaseMs * (1 + clockRate) + marginMs.
 * A sidecar measures its lease from when it sent the request (before the
 * server answered), so a grant sent at server time g ends, in server time,
 * before g + leaseMs * (1 + clockRate), whatever the network delay; no clock
 * synchronisation, only bounded rate drift. A grant made before this store
 * started (by a previous leader) is bounded by sinceMs.
 */
export function fencedAt(zone: string, grants: LeaseGrants, bounds?: FencingBounds): number {
  // Never below the defaults' safe direction: a negative bound would fence too early.
  const clockRate = Math.max(0, bounds?.clockRate ?? DEFAULT_CLOCK_RATE);
  const marginMs = Math.max(0, bounds?.marginMs ?? DEFAULT_FENCING_MARGIN_MS);
  const last = Math.max(grants.lastGrantByZone.get(zone) ?? 0, grants.sinceMs);
  return last + grants.leaseMs * (1 + clockRate) + marginMs;
}

/** The assumptions relayFencedAt rests on. */
export interface RelayFencingBounds extends FencingBounds {
  /** The lease the relay takes from each renewal it sees (the Lease's spec.leaseDurationSeconds, ms). */
  readonly leaseMs: number;
  /**
   * Longest time between sending a renewal and its commit in the zone's API
   * server: the renewal's request timeout (client and server side). A write
   * that did not commit within it never commits (assumed: see docs/fencing.md).
   */
  readonly commitBoundMs: number;
}

/**
 * The time (operator clock, ms) after which no sidecar of a zone served by a
 * relay (src/relay) can still hold a lease, given when the operator last SENT
 * a renewal of the zone's `ldc-routing` Lease (attempted, answered or not):
 * lastRenewalSentMs + commitBoundMs + leaseMs * (1 + clockRate)^2 + marginMs.
 *
 * Why: the renewal committed by lastRenewalSentMs + commitBoundMs. The relay
 * counts its lease from the send time of the GET before the one that first
 * showed the renewal, which was sent before the commit; so the relay's lease
 * ends within leaseMs of the commit on its clock. A sidecar's lease is at most
 * what the relay had left when it answered, counted from the sidecar's send
 * time. Two clocks (relay, sidecar) each run at most clockRate off the
 * operator's: (1 + clockRate)^2. The margin covers a late timer check.
 * Renewals by a previous leader: pass max(last sent, start of this leader's
 * term) (RelayLeaseRenewer.lastSentForFencing does).
 */
export function relayFencedAt(lastRenewalSentMs: number, bounds: RelayFencingBounds): number {
  const clockRate = Math.max(0, bounds.clockRate ?? DEFAULT_CLOCK_RATE);
  const marginMs = Math.max(0, bounds.marginMs ?? DEFAULT_FENCING_MARGIN_MS);
  const commit = Math.max(0, bounds.commitBoundMs);
  const lease = Math.max(0, bounds.leaseMs);
  return lastRenewalSentMs + commit + lease * (1 + clockRate) ** 2 + marginMs;
}
