// The relay's own routing lease (docs/fencing.md, "Zones served by a relay").
// The operator renews the Lease `ldc-routing` in the relay's namespace every
// 2 s; the relay GETs it every second. When a GET sent at relay time s_k
// shows a renewal that its previous successful GET (sent at s_{k-1}) did not,
// that renewal committed after s_{k-1} (the earlier read happened after its
// send): the relay may hold a lease until s_{k-1} + leaseDuration, on its own
// monotonic clock. It sub-leases what is left of it to sidecars. Pure: the
// caller passes the clock readings.

import { DEFAULT_LEASE_MS } from "../routing-api/fencing.ts";

/** What identifies one renewal of the Lease (any change means a new renewal committed). */
export interface Renewal {
  /** holderIdentity, renewTime and the renewal counter annotation, joined. */
  readonly marker: string;
  /** spec.leaseDurationSeconds, in ms. */
  readonly leaseMs: number;
}

/** The renewal counter annotation the operator sets on every renewal. */
export const RENEWAL_ANNOTATION = "ldc.io/renewal";

/** The renewal a Lease object shows, or undefined when it is not one the operator wrote. */
export function renewalOf(lease: unknown): Renewal | undefined {
  if (typeof lease !== "object" || lease === null) return undefined;
  const o = lease as {
    metadata?: { annotations?: Record<string, unknown> };
    spec?: { holderIdentity?: unknown; renewTime?: unknown; leaseDurationSeconds?: unknown };
  };
  const holder = o.spec?.holderIdentity;
  const renewTime = o.spec?.renewTime;
  const seconds = o.spec?.leaseDurationSeconds;
  const counter = o.metadata?.annotations?.[RENEWAL_ANNOTATION];
  if (typeof holder !== "string" || typeof renewTime !== "string" || typeof counter !== "string") return undefined;
  if (typeof seconds !== "number" || !Number.isSafeInteger(seconds) || seconds < 1) return undefined;
  return { marker: JSON.stringify([holder, renewTime, counter]), leaseMs: seconds * 1000 };
}

export interface RelayLeaseOptions {
  /** Longest lease the relay takes from one renewal, whatever the Lease says (ms). Default DEFAULT_LEASE_MS. */
  maxLeaseMs?: number;
}

export class RelayLease {
  readonly #maxLeaseMs: number;
  /** Send time of the last GET that was answered, and the renewal it showed (undefined: none). */
  #prev: { sentAt: number; marker: string | undefined } | undefined;
  #deadline: number | undefined;

  constructor(opts: RelayLeaseOptions = {}) {
    this.#maxLeaseMs = opts.maxLeaseMs ?? DEFAULT_LEASE_MS;
  }

  /**
   * A GET of the Lease sent at `sentAt` (relay monotonic clock) was answered
   * with `renewal` (undefined: no Lease, or not one of the operator's). A GET
   * that got no answer is not reported: the next answered one is compared with
   * an earlier send time, which only shortens the lease. Returns whether the
   * lease was extended.
   */
  observe(sentAt: number, renewal: Renewal | undefined): boolean {
    const prev = this.#prev;
    // Out of order (an older GET answered late): it proves nothing newer.
    if (prev !== undefined && sentAt <= prev.sentAt) return false;
    this.#prev = { sentAt, marker: renewal?.marker };
    if (prev === undefined || renewal === undefined || renewal.marker === prev.marker) return false;
    const deadline = prev.sentAt + Math.min(renewal.leaseMs, this.#maxLeaseMs);
    if (this.#deadline !== undefined && deadline <= this.#deadline) return false;
    this.#deadline = deadline;
    return true;
  }

  /** Time left on the lease at `now` (ms, 0 when none). */
  remaining(now: number): number {
    return this.#deadline === undefined ? 0 : Math.max(0, this.#deadline - now);
  }

  /** What the relay may grant a sidecar at `now`: what is left, at most `capMs`; undefined when nothing. */
  grantable(now: number, capMs = this.#maxLeaseMs): number | undefined {
    const ms = Math.floor(Math.min(capMs, this.remaining(now)));
    return ms >= 1 ? ms : undefined;
  }
}
