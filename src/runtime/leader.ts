// Leader election on a coordination.k8s.io/v1 Lease, as client-go's
// leaderelection: acquire when the lease is free or expired (judged by when
// *we* last saw it change, so clocks need not agree), renew every retry
// period, give up leadership when renewals fail for the renew deadline, and
// write with the Lease's resourceVersion so two candidates cannot both win
// one round. It does not fence: work must stay correct with two leaders.
import { hostname } from "node:os";
import type { Logger } from "pino";
import type { KubeClient } from "./client.ts";
import { ApiError, isConflict, isNotFound } from "./errors.ts";
import { silentLogger } from "./logger.ts";
import { leaderElectionMaster } from "./metrics.ts";
import { sleep } from "./ratelimit.ts";
import { Resources } from "./resources.ts";
import type { KubeObject } from "./types.ts";

export interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}
export interface Lease extends KubeObject {
  spec?: LeaseSpec;
}

export interface LeaderElectionOptions {
  client: KubeClient;
  namespace: string;
  /** Lease name. */
  name: string;
  /** Default hostname_pid. */
  identity?: string;
  /** Default 6 s. */
  leaseDurationMs?: number;
  /** Default 4 s. */
  renewDeadlineMs?: number;
  /** Default 1 s. */
  retryPeriodMs?: number;
  /** Give the lease up on stop() so another candidate takes over at once. Default true. */
  releaseOnCancel?: boolean;
  onStartedLeading: () => void;
  /** Called once when leadership ends (lost, or released on stop). */
  onStoppedLeading: () => void;
  onNewLeader?: (identity: string) => void;
  logger?: Logger;
}

export function defaultIdentity(): string {
  return `${hostname()}_${process.pid}`;
}

/** metav1.MicroTime: RFC 3339 with exactly six fractional digits. */
export function microTime(d: Date = new Date()): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}

export class LeaderElector {
  readonly identity: string;
  readonly #o: Required<Omit<LeaderElectionOptions, "onNewLeader" | "logger" | "identity">> &
    Pick<LeaderElectionOptions, "onNewLeader">;
  readonly #log: Logger;
  #leading = false;
  /** When the lease was last acquired or renewed (Date.now()). */
  #lastRenew = 0;
  #observed: { record: string; at: number; holder: string } | undefined;
  #lease: Lease | undefined;
  #stop = new AbortController();
  #running: Promise<void> | undefined;

  constructor(opts: LeaderElectionOptions) {
    this.identity = opts.identity ?? defaultIdentity();
    this.#o = {
      // Shorter than controller-runtime's 15/10/2 s: a takeover (lease + a retry, ~7 s) must fit
      // inside the sidecars' routing lease (DEFAULT_LEASE_MS, 12 s) with the relays' renewal
      // period (2 s) and poll (1 s) to spare, or every leader crash would stop all writes.
      leaseDurationMs: 6_000,
      renewDeadlineMs: 4_000,
      retryPeriodMs: 1_000,
      releaseOnCancel: true,
      ...opts,
    };
    if (this.#o.renewDeadlineMs >= this.#o.leaseDurationMs) throw new Error("leaseDuration must exceed renewDeadline");
    this.#log = (opts.logger ?? silentLogger).child({
      lease: `${opts.namespace}/${opts.name}`,
      identity: this.identity,
    });
  }

  /**
   * Whether this replica leads: it holds the lease and renewed it within the
   * renew deadline. The second half does not wait for the renew loop (whose
   * API call may hang) to notice: another candidate may take the lease once
   * leaseDuration has passed since the last renewal.
   */
  get isLeader(): boolean {
    return this.#leading && Date.now() - this.#lastRenew < this.#o.renewDeadlineMs;
  }

  /** The holder we last observed (may be us). */
  get leader(): string | undefined {
    return this.#observed?.holder || undefined;
  }

  start(): void {
    this.#running ??= this.#run(this.#stop.signal);
  }

  /** Stop campaigning; release the lease if held (releaseOnCancel). */
  async stop(): Promise<void> {
    this.#stop.abort(new Error("leader election stopped"));
    await this.#running;
  }

  async #run(stop: AbortSignal): Promise<void> {
    try {
      // acquire
      while (!stop.aborted) {
        // Taken before the call: the lease's renewTime is no earlier than this.
        const at = Date.now();
        if (await this.#tryAcquireOrRenew()) {
          this.#lastRenew = at;
          break;
        }
        await sleep(this.#o.retryPeriodMs * (1 + Math.random() * 0.2), stop);
      }
      if (stop.aborted) return;
      this.#leading = true;
      leaderElectionMaster.set({ name: this.#o.name }, 1);
      this.#log.info("became leader");
      this.#o.onStartedLeading();
      // renew
      while (!stop.aborted) {
        await sleep(this.#o.retryPeriodMs, stop);
        const at = Date.now();
        if (await this.#tryAcquireOrRenew()) {
          this.#lastRenew = at;
          continue;
        }
        if (Date.now() - this.#lastRenew >= this.#o.renewDeadlineMs) {
          this.#log.error({ renewDeadlineMs: this.#o.renewDeadlineMs }, "failed to renew the lease: leadership lost");
          break;
        }
      }
    } catch (err) {
      if (!stop.aborted) this.#log.error({ err }, "leader election failed");
    }
    if (this.#leading) {
      if (stop.aborted && this.#o.releaseOnCancel) await this.#release();
      this.#leading = false;
      leaderElectionMaster.set({ name: this.#o.name }, 0);
      this.#o.onStoppedLeading();
    }
  }

  async #tryAcquireOrRenew(): Promise<boolean> {
    const { client, namespace, name } = this.#o;
    const now = new Date();
    const leaseSeconds = Math.ceil(this.#o.leaseDurationMs / 1000);
    try {
      const current = await client.tryGet<Lease>(Resources.Lease, name, namespace);
      if (!current) {
        const created = await client.create<Lease>(Resources.Lease, {
          metadata: { name, namespace },
          spec: {
            holderIdentity: this.identity,
            leaseDurationSeconds: leaseSeconds,
            acquireTime: microTime(now),
            renewTime: microTime(now),
            leaseTransitions: 0,
          },
        });
        this.#observe(created);
        return true;
      }
      this.#observe(current);
      const spec = current.spec ?? {};
      const holder = spec.holderIdentity ?? "";
      const durationMs = (spec.leaseDurationSeconds ?? leaseSeconds) * 1000;
      if (holder && holder !== this.identity && this.#observed!.at + durationMs > Date.now()) return false;
      const mine = holder === this.identity;
      const updated = await client.update<Lease>(Resources.Lease, {
        ...current,
        spec: {
          holderIdentity: this.identity,
          leaseDurationSeconds: leaseSeconds,
          acquireTime: mine && spec.acquireTime ? spec.acquireTime : microTime(now),
          renewTime: microTime(now),
          leaseTransitions: mine ? (spec.leaseTransitions ?? 0) : (spec.leaseTransitions ?? 0) + 1,
        },
      });
      this.#observe(updated);
      return true;
    } catch (err) {
      if (isConflict(err) || isNotFound(err)) return false;
      this.#log.warn(
        { err: err instanceof ApiError || err instanceof Error ? err.message : String(err) },
        "lease update failed",
      );
      return false;
    }
  }

  #observe(lease: Lease): void {
    this.#lease = lease;
    const record = JSON.stringify(lease.spec ?? {});
    const holder = lease.spec?.holderIdentity ?? "";
    if (this.#observed?.record !== record) {
      if (holder !== this.#observed?.holder && holder) {
        if (holder !== this.identity) this.#log.info({ leader: holder }, "new leader observed");
        this.#o.onNewLeader?.(holder);
      }
      this.#observed = { record, at: Date.now(), holder };
    }
  }

  async #release(): Promise<void> {
    const lease = this.#lease;
    if (!lease || lease.spec?.holderIdentity !== this.identity) return;
    try {
      await this.#o.client.update<Lease>(Resources.Lease, {
        ...lease,
        spec: { ...lease.spec, holderIdentity: "", leaseDurationSeconds: 1, renewTime: microTime() },
      });
      this.#log.info("released the lease");
    } catch (err) {
      this.#log.warn({ err: err instanceof Error ? err.message : String(err) }, "releasing the lease failed");
    }
  }
}
