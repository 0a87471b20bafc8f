// The sidecar's side of fencing by lease (docs/fencing.md). Whoever serves it
// tables grants a lease with each answer (x-ldc-lease-ms: L); the sidecar
// measures it from when it SENT the request that got the answer, on its own
// monotonic clock: deadline = sentAt + L. A late answer therefore never
// stretches the lease past the grant's time + L on the server's clock (up to
// clock rate drift): no clock synchronisation is needed. While the lease is
// not valid the proxy refuses writes; reads go on with the table held.

import { DEFAULT_LEASE_MS } from "../routing-api/fencing.ts";

/** A lease duration as a header carries it: a whole number of ms, at most a day. */
export function parseLeaseMs(v: string | null | undefined): number | undefined {
  if (typeof v !== "string" || !/^[1-9][0-9]{0,7}$/.test(v)) return undefined;
  const n = Number(v);
  return n <= 86_400_000 ? n : undefined;
}

export class Lease {
  /** False when the sidecar has no routing API to get a lease from: writes are never refused for it. */
  readonly required: boolean;
  /** Where leases come from, for messages. */
  readonly source: string | undefined;
  readonly #now: () => number;
  readonly #startedAt: number;
  #deadline: number | undefined;
  #lastSentAt: number | undefined;
  #leaseMs: number | undefined;

  /** `now`: a monotonic clock in ms (default performance.now). */
  constructor(source: string | undefined, now: () => number = () => performance.now()) {
    this.required = source !== undefined;
    this.source = source;
    this.#now = now;
    this.#startedAt = now();
  }

  /** The lease's clock (ms): the time to take when a request is sent. */
  now(): number {
    return this.#now();
  }

  /** An answer to a request sent at `sentAt` (this clock) granted `leaseMs`. */
  grant(sentAt: number, leaseMs: number): void {
    const deadline = sentAt + leaseMs;
    // Requests are sequential, but never let an older grant shorten a newer one.
    if (this.#deadline === undefined || deadline > this.#deadline) this.#deadline = deadline;
    if (this.#lastSentAt === undefined || sentAt > this.#lastSentAt) this.#lastSentAt = sentAt;
    this.#leaseMs = leaseMs;
  }

  /** The last lease duration granted, else the default: what the long-poll timeout is derived from. */
  get leaseMs(): number {
    return this.#leaseMs ?? DEFAULT_LEASE_MS;
  }

  /** Whether writes may be accepted now. */
  valid(): boolean {
    return !this.required || (this.#deadline !== undefined && this.#now() < this.#deadline);
  }

  /** Milliseconds left (0 when expired or never granted; Infinity when not required). */
  remainingMs(): number {
    if (!this.required) return Infinity;
    return this.#deadline === undefined ? 0 : Math.max(0, this.#deadline - this.#now());
  }

  /** Time since the request of the last grant was sent (since start if none). */
  silentMs(): number {
    return this.#now() - (this.#lastSentAt ?? this.#startedAt);
  }

  /**
   * The long-poll timeout to ask for: the configured one, but at most a
   * quarter of the lease (at least 1 s) so a healthy sidecar renews several
   * times per lease.
   */
  pollTimeoutSeconds(configured: number): number {
    return Math.min(configured, Math.max(1, Math.floor(this.leaseMs / 4) / 1000));
  }
}
