// Where the routing API reads tables from and records sidecar acks: the
// TableStore interface and an in-memory implementation. No Kubernetes
// dependency: the operator's controllers publish into it, the HTTP API
// (api.ts) serves it, tests and benchmarks drive it directly.

import type { RoutingTable } from "../routing/index.ts";
import { parseTable } from "../routing/index.ts";
import type { LeaseGrants } from "./fencing.ts";
import { DEFAULT_LEASE_MS } from "./fencing.ts";

/** One rule as `GET /v1/rules` lists it. */
export interface RuleSummary {
  readonly name: string;
  readonly epoch: number;
  /** The table's content hash (SHA-256 hex of the serialised form without the epoch). */
  readonly hash: string;
  readonly etag: string;
}

/** What a sidecar reports: it holds `epoch` of `rule`. */
export interface SidecarAck {
  readonly rule: string;
  /** Stable id of the sidecar (pod name, or host:port for plain processes). */
  readonly sidecar: string;
  readonly cell: string;
  readonly zone: string;
  readonly epoch: number;
  /** The content hash of the table acknowledged (checked against the published one at the current epoch). */
  readonly hash?: string;
  /** Who sent it (the authenticated principal), for audit. */
  readonly principal?: string | undefined;
}

/** An ack as recorded, with the time it was received (ms since the epoch, from the store's clock). */
export interface RecordedAck extends SidecarAck {
  readonly receivedAt: number;
}

/** How far a rule's current epoch has spread over the sidecars seen recently. */
export interface Convergence {
  /** The rule's current epoch (undefined: no table). */
  readonly epoch: number | undefined;
  /** Sidecars that acked within the window. */
  readonly total: number;
  /** Of those, the ones holding the current epoch (or newer). */
  readonly converged: number;
  /** The oldest epoch a live sidecar holds (undefined: none seen). */
  readonly oldestEpoch: number | undefined;
  /** The window, in seconds. */
  readonly windowSeconds: number;
}

/** The routing API's view of the tables. */
export interface TableStore {
  /** Every rule with a table, sorted by name. */
  rules(): RuleSummary[];
  /** The current table of `rule`. */
  get(rule: string): RoutingTable | undefined;
  /**
   * Resolves with the table of `rule` once its epoch is greater than `epoch`
   * (at once if it already is), or with undefined when `signal` aborts.
   */
  waitForNewer(rule: string, epoch: number, signal: AbortSignal): Promise<RoutingTable | undefined>;
  /** Number of pending waitForNewer calls for `rule`. */
  waiters(rule: string): number;
  /** Called with every table published from now on; returns the unsubscribe function. */
  subscribe(listener: (table: RoutingTable) => void): () => void;
  /** Called with every ack recorded from now on; returns the unsubscribe function. */
  subscribeAcks(listener: (ack: SidecarAck) => void): () => void;
  /** Records a sidecar's ack (replacing its previous one). */
  recordAck(ack: SidecarAck): void;
  /** Acks of `rule` received within the last `windowSeconds` (default: the store's window). */
  acks(rule: string, windowSeconds?: number): RecordedAck[];
  convergence(rule: string, windowSeconds?: number): Convergence;
  /** When this store started collecting acks (ms since epoch): a new store knows no sidecar yet. */
  collectingSince(): number;
  /**
   * Records that a lease-carrying answer (x-ldc-lease-ms) is being sent to a
   * sidecar of `zone`; `atMs` is the server's Date.now() at send time.
   */
  recordLeaseGrant(zone: string, atMs: number): void;
  /** The leases granted: input of fencedAt (fencing.ts). */
  leaseGrants(): LeaseGrants;
}

/** Why a publish was refused. */
export type PublishErrorCode = "Stale" | "Invalid";

export class TablePublishError extends Error {
  readonly code: PublishErrorCode;
  constructor(code: PublishErrorCode, message: string) {
    super(message);
    this.name = "TablePublishError";
    this.code = code;
  }
}

export function isTablePublishError(e: unknown): e is TablePublishError {
  return e instanceof TablePublishError;
}

export interface MemoryTableStoreOptions {
  /** Acks older than this do not count as live. Default 30 s (3 ack intervals of the sidecar). */
  ackWindowSeconds?: number;
  /** Most sidecars remembered per rule; beyond it the oldest acks are dropped. Default 100,000. */
  maxSidecarsPerRule?: number;
  /** Clock (ms), for tests. Default Date.now. */
  now?: () => number;
  /** Duration of the leases the routing API grants with this store's tables (x-ldc-lease-ms). Default 10,000. */
  leaseMs?: number;
}

interface Waiter {
  readonly epoch: number;
  readonly resolve: (t: RoutingTable | undefined) => void;
}

interface RuleState {
  table: RoutingTable | undefined;
  readonly waiters: Set<Waiter>;
  /** sidecar id -> last ack; Map order = insertion order, refreshed on every ack. */
  readonly acks: Map<string, RecordedAck>;
}

/**
 * An in-memory TableStore. `publish` only moves forward: a table whose epoch
 * is not greater than the current one for its rule is refused (TablePublishError
 * "Stale"), so a reader never sees an epoch go back.
 */
export class MemoryTableStore implements TableStore {
  readonly #rules = new Map<string, RuleState>();
  readonly #listeners = new Set<(table: RoutingTable) => void>();
  readonly #ackListeners = new Set<(ack: SidecarAck) => void>();
  readonly #window: number;
  readonly #maxSidecars: number;
  readonly #now: () => number;
  #since: number;
  readonly #leaseMs: number;
  #leaseSince: number;
  #grants = new Map<string, number>();

  constructor(opts: MemoryTableStoreOptions = {}) {
    this.#window = opts.ackWindowSeconds ?? 30;
    this.#maxSidecars = opts.maxSidecarsPerRule ?? 100_000;
    this.#now = opts.now ?? Date.now;
    this.#since = this.#now();
    const leaseMs = opts.leaseMs ?? DEFAULT_LEASE_MS;
    if (!Number.isSafeInteger(leaseMs) || leaseMs < 1) {
      throw new Error(`leaseMs: ${leaseMs} is not a positive whole number of milliseconds`);
    }
    this.#leaseMs = leaseMs;
    this.#leaseSince = this.#since;
  }

  /**
   * Starts a new lease term at `atMs` (server clock): forgets the grants
   * recorded so far. The operator calls it when it becomes the leader: grants
   * made by a previous leader are unknown here, and fencing bounds them by
   * this time (they ended before this replica could lead). Acks start over
   * too: a standby heard none (it answers 503), and the acknowledgement
   * barrier's warm-up after a restart (collectingSince) must count from the
   * lead, not from a process start minutes before it.
   */
  beginLeaseTerm(atMs: number = this.#now()): void {
    this.#leaseSince = atMs;
    this.#grants = new Map();
    this.#since = atMs;
    for (const s of this.#rules.values()) s.acks.clear();
  }

  recordLeaseGrant(zone: string, atMs: number): void {
    const prev = this.#grants.get(zone);
    if (prev === undefined || atMs > prev) this.#grants.set(zone, atMs);
  }

  leaseGrants(): LeaseGrants {
    return { sinceMs: this.#leaseSince, leaseMs: this.#leaseMs, lastGrantByZone: this.#grants };
  }

  collectingSince(): number {
    return this.#since;
  }

  #state(rule: string): RuleState {
    let s = this.#rules.get(rule);
    if (s === undefined) {
      s = { table: undefined, waiters: new Set(), acks: new Map() };
      this.#rules.set(rule, s);
    }
    return s;
  }

  /**
   * Makes `table` the current table of its rule and wakes the long-polls
   * waiting for it. Throws TablePublishError("Stale") if its epoch is not
   * greater than the current one.
   */
  publish(table: RoutingTable): void {
    const s = this.#state(table.ruleName);
    const cur = s.table;
    if (cur !== undefined && table.epoch <= cur.epoch) {
      throw new TablePublishError(
        "Stale",
        `routing table of rule "${table.ruleName}": epoch ${table.epoch} is not newer than the published epoch ${cur.epoch}; epochs only increase — publish epoch ${cur.epoch + 1} or later`,
      );
    }
    s.table = table;
    for (const w of [...s.waiters]) {
      if (table.epoch > w.epoch) {
        s.waiters.delete(w);
        w.resolve(table);
      }
    }
    for (const l of this.#listeners) {
      try {
        l(table);
      } catch {
        // A listener's failure is its own.
      }
    }
  }

  /** Parses a serialised table (docs/routing.md section 4) and publishes it; TablePublishError("Invalid") if it does not parse. */
  publishSerialized(data: string | unknown): RoutingTable {
    let table: RoutingTable;
    try {
      table = parseTable(data);
    } catch (e) {
      throw new TablePublishError("Invalid", `invalid routing table: ${(e as Error).message}`);
    }
    this.publish(table);
    return table;
  }

  /**
   * Takes a rule's table out of the API (its ShardingRule was deleted): reads
   * get 404 and pending long-polls end with 404 "rule ... was deleted"; its
   * acks are forgotten.
   */
  unpublish(rule: string): void {
    const s = this.#rules.get(rule);
    if (s === undefined) return;
    this.#rules.delete(rule);
    for (const w of s.waiters) w.resolve(undefined);
    s.waiters.clear();
  }

  rules(): RuleSummary[] {
    const out: RuleSummary[] = [];
    for (const [name, s] of this.#rules) {
      if (s.table !== undefined) {
        out.push({ name, epoch: s.table.epoch, hash: s.table.contentHash, etag: s.table.etag });
      }
    }
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  get(rule: string): RoutingTable | undefined {
    return this.#rules.get(rule)?.table;
  }

  waitForNewer(rule: string, epoch: number, signal: AbortSignal): Promise<RoutingTable | undefined> {
    const s = this.#state(rule);
    if (s.table !== undefined && s.table.epoch > epoch) return Promise.resolve(s.table);
    if (signal.aborted) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const onAbort = (): void => {
        if (s.waiters.delete(w)) resolve(undefined);
      };
      const w: Waiter = {
        epoch,
        resolve: (t) => {
          signal.removeEventListener("abort", onAbort);
          resolve(t);
        },
      };
      s.waiters.add(w);
      signal.addEventListener("abort", onAbort, { once: true });
    });
  }

  waiters(rule: string): number {
    return this.#rules.get(rule)?.waiters.size ?? 0;
  }

  subscribe(listener: (table: RoutingTable) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  subscribeAcks(listener: (ack: SidecarAck) => void): () => void {
    this.#ackListeners.add(listener);
    return () => this.#ackListeners.delete(listener);
  }

  recordAck(ack: SidecarAck): void {
    const s = this.#state(ack.rule);
    s.acks.delete(ack.sidecar);
    s.acks.set(ack.sidecar, { ...ack, receivedAt: this.#now() });
    while (s.acks.size > this.#maxSidecars) {
      const oldest = s.acks.keys().next().value as string;
      s.acks.delete(oldest);
    }
    for (const l of this.#ackListeners) {
      try {
        l(ack);
      } catch {
        // A listener's failure is its own.
      }
    }
  }

  acks(rule: string, windowSeconds = this.#window): RecordedAck[] {
    const s = this.#rules.get(rule);
    if (s === undefined) return [];
    const since = this.#now() - windowSeconds * 1000;
    // Map order is by last ack: drop the expired ones from the front.
    for (const [id, a] of s.acks) {
      if (a.receivedAt >= this.#now() - this.#window * 1000 * 10) break;
      s.acks.delete(id);
    }
    return [...s.acks.values()].filter((a) => a.receivedAt >= since);
  }

  convergence(rule: string, windowSeconds = this.#window): Convergence {
    const epoch = this.get(rule)?.epoch;
    const live = this.acks(rule, windowSeconds);
    let converged = 0;
    let oldest: number | undefined;
    for (const a of live) {
      if (epoch !== undefined && a.epoch >= epoch) converged++;
      if (oldest === undefined || a.epoch < oldest) oldest = a.epoch;
    }
    return { epoch, total: live.length, converged, oldestEpoch: oldest, windowSeconds };
  }
}
