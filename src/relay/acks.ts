// The acks a relay holds, written back to its own cluster's API server for
// the operator (which watches them in every zone's relay namespace): one
// ConfigMap per relay replica, `ldc-acks-<relay pod>`, one key per rule
// holding JSON {"<namespace>/<pod>": [epoch, "hash", "zone", "cell"], ...}.
// Bounded (entries not renewed for 30 s go, at most 10,000 pods per rule and
// a byte budget under the ConfigMap limit), written only when an epoch, hash,
// zone or cell in it changed or an entry came or went (a sidecar's periodic
// re-ack of the same table writes nothing), at most one write per 200 ms, each
// 25 ms after the first change it carries (a swap's burst of acks in one write).
import type { Logger } from "pino";
import { Labels, MANAGED_BY } from "../reconcilers/naming.ts";
import type { SidecarAck } from "../routing-api/index.ts";
import { ApiError, Resources, silentLogger, type KubeClient, type KubeObject } from "../runtime/index.ts";

/** The label of ack ConfigMaps (what the operator watches). */
export const ACKS_LABEL = "ldc.io/acks";
export const ACKS_SELECTOR = `${ACKS_LABEL}=true`;

/** One entry of an ack ConfigMap: [epoch, content hash, zone, cell]. */
export type AckEntry = [epoch: number, hash: string, zone: string, cell: string];

/** The ack ConfigMap of the relay pod `pod` (a name too long for "ldc-acks-" + it is shortened). */
export function ackConfigMapName(pod: string): string {
  const name = `ldc-acks-${pod}`;
  return name.length <= 253 ? name : name.slice(0, 253).replace(/[-.]+$/, "");
}

/** How long a relay keeps a sidecar's last ack without a renewal (the sidecar acks every 10 s). */
export const ACK_TTL_MS = 30_000;

export interface AckMapOptions {
  /** Entries not renewed for this long go (ms). Default 30,000. */
  ttlMs?: number;
  /** Most pods per rule; beyond it the least recently renewed go. Default 10,000. */
  maxPodsPerRule?: number;
  /** Most bytes of data over all rules (a ConfigMap holds at most 1 MiB). Default 900,000. */
  maxBytes?: number;
  /** Monotonic clock (ms). Default performance.now. */
  now?: () => number;
}

interface Held {
  entry: AckEntry;
  renewed: number;
}

/** The acks a relay holds, per rule and pod. Pure: the caller passes acks and asks for the data. */
export class AckMap {
  readonly #ttl: number;
  readonly #maxPods: number;
  readonly #maxBytes: number;
  readonly #now: () => number;
  /** rule -> pod -> entry; Map order = renewal order (a renewal re-inserts), so the first is the oldest. */
  readonly #rules = new Map<string, Map<string, Held>>();

  constructor(opts: AckMapOptions = {}) {
    this.#ttl = opts.ttlMs ?? ACK_TTL_MS;
    this.#maxPods = opts.maxPodsPerRule ?? 10_000;
    this.#maxBytes = opts.maxBytes ?? 900_000;
    this.#now = opts.now ?? (() => performance.now());
  }

  /** Records an ack (sidecar = the authenticated "<namespace>/<pod>"); returns whether the data changed. */
  record(ack: SidecarAck): boolean {
    let pods = this.#rules.get(ack.rule);
    if (pods === undefined) {
      pods = new Map();
      this.#rules.set(ack.rule, pods);
    }
    const entry: AckEntry = [ack.epoch, ack.hash ?? "", ack.zone, ack.cell];
    const prev = pods.get(ack.sidecar);
    pods.delete(ack.sidecar);
    pods.set(ack.sidecar, { entry, renewed: this.#now() });
    let changed = prev === undefined || entry.some((v, i) => v !== prev.entry[i]);
    while (pods.size > this.#maxPods) {
      pods.delete(pods.keys().next().value as string);
      changed = true;
    }
    return changed;
  }

  /** Drops the entries not renewed within the TTL; returns whether any went. */
  expire(): boolean {
    const before = this.#now() - this.#ttl;
    let changed = false;
    for (const [rule, pods] of this.#rules) {
      for (const [pod, h] of pods) {
        if (h.renewed > before) break;
        pods.delete(pod);
        changed = true;
      }
      if (pods.size === 0) this.#rules.delete(rule);
    }
    return changed;
  }

  /** Number of entries held, over all rules. */
  get size(): number {
    let n = 0;
    for (const pods of this.#rules.values()) n += pods.size;
    return n;
  }

  /**
   * The ConfigMap data: one key per rule. Over the byte budget, the least
   * recently renewed entries are dropped (they are the likeliest gone).
   */
  data(): Record<string, string> {
    for (;;) {
      const out: Record<string, string> = {};
      let bytes = 0;
      for (const [rule, pods] of [...this.#rules].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
        const o: Record<string, AckEntry> = {};
        for (const [pod, h] of [...pods].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) o[pod] = h.entry;
        out[rule] = JSON.stringify(o);
        bytes += rule.length + out[rule].length;
      }
      if (bytes <= this.#maxBytes) return out;
      this.#dropOldest(Math.max(1, Math.ceil(this.size / 100)));
    }
  }

  #dropOldest(n: number): void {
    for (let i = 0; i < n; i++) {
      let oldest: { rule: string; pod: string; renewed: number } | undefined;
      for (const [rule, pods] of this.#rules) {
        const first = pods.entries().next().value;
        if (first && (oldest === undefined || first[1].renewed < oldest.renewed)) {
          oldest = { rule, pod: first[0], renewed: first[1].renewed };
        }
      }
      if (oldest === undefined) return;
      this.#rules.get(oldest.rule)!.delete(oldest.pod);
    }
  }
}

export interface AckConfigMapWriterOptions {
  client: KubeClient;
  namespace: string;
  /** The relay's pod name (the ConfigMap is ldc-acks-<pod>). */
  pod: string;
  /** The relay pod's UID: the ConfigMap is owned by the pod, so it goes with it. */
  podUid?: string | undefined;
  acks: AckMap;
  /** Least time between two writes (ms). Default 200. */
  coalesceMs?: number;
  /**
   * Wait after the first change of a quiet period (ms), so a burst (every
   * sidecar acking the table the relay just pushed to all) goes out in one
   * write, not one ack alone and the rest a coalesceMs later. Default 25.
   */
  settleMs?: number;
  /** Period of the expiry sweep (ms). Default 5,000. */
  sweepMs?: number;
  /** Wait after a failed write (ms). Default 1,000. */
  retryMs?: number;
  now?: () => number;
  logger?: Logger;
}

type ConfigMap = KubeObject & { data?: Record<string, string> };

/** Writes an AckMap to its ConfigMap: when it changed, at most once per coalesceMs. */
export class AckConfigMapWriter {
  readonly name: string;
  readonly #o: AckConfigMapWriterOptions;
  readonly #now: () => number;
  readonly #log: Logger;
  #dirty = true; // the first write replaces what a previous run of this pod left
  #timer: NodeJS.Timeout | undefined;
  #sweep: NodeJS.Timeout | undefined;
  #writing: Promise<void> | undefined;
  #lastWrite = -Infinity;
  #resourceVersion: string | undefined;
  #stopped = false;
  /** Writes made (for tests and metrics). */
  writes = 0;

  constructor(opts: AckConfigMapWriterOptions) {
    this.#o = opts;
    this.name = ackConfigMapName(opts.pod);
    this.#now = opts.now ?? (() => performance.now());
    this.#log = opts.logger ?? silentLogger;
  }

  start(): void {
    this.#sweep = setInterval(() => {
      if (this.#o.acks.expire()) this.changed();
    }, this.#o.sweepMs ?? 5000);
    this.#sweep.unref();
    this.#schedule();
  }

  /** The AckMap's data changed: write it soon. */
  changed(): void {
    this.#dirty = true;
    this.#schedule();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#sweep) clearInterval(this.#sweep);
    await this.#writing;
  }

  /** Resolves once nothing is pending (tests). */
  async idle(): Promise<void> {
    while (this.#writing || this.#timer) {
      await (this.#writing ?? new Promise((r) => setTimeout(r, 10)));
    }
  }

  #schedule(delayMs?: number): void {
    if (this.#stopped || !this.#dirty || this.#timer || this.#writing) return;
    const wait =
      delayMs ?? Math.max(this.#o.settleMs ?? 25, this.#lastWrite + (this.#o.coalesceMs ?? 200) - this.#now());
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#writing = this.#write().finally(() => {
        this.#writing = undefined;
        this.#schedule(this.#dirty && this.#failed ? (this.#o.retryMs ?? 1000) : undefined);
      });
    }, wait);
  }

  #failed = false;

  async #write(): Promise<void> {
    this.#dirty = false;
    this.#failed = false;
    this.#lastWrite = this.#now();
    const { client, namespace } = this.#o;
    const body: ConfigMap = {
      metadata: {
        name: this.name,
        namespace,
        labels: { [ACKS_LABEL]: "true", [Labels.managedBy]: MANAGED_BY },
        ...(this.#o.podUid
          ? {
              ownerReferences: [{ apiVersion: "v1", kind: "Pod", name: this.#o.pod, uid: this.#o.podUid }],
            }
          : {}),
      },
      data: this.#o.acks.data(),
    };
    try {
      if (this.#resourceVersion === undefined) {
        const cur = await client.tryGet<ConfigMap>(Resources.ConfigMap, this.name, namespace);
        if (cur === undefined) {
          const made = await client.create<ConfigMap>(Resources.ConfigMap, body);
          this.#resourceVersion = made.metadata?.resourceVersion;
          this.writes++;
          return;
        }
        this.#resourceVersion = cur.metadata?.resourceVersion;
      }
      const written = await client.update<ConfigMap>(Resources.ConfigMap, {
        ...body,
        metadata: { ...body.metadata, resourceVersion: this.#resourceVersion },
      });
      this.#resourceVersion = written.metadata?.resourceVersion;
      this.writes++;
    } catch (err) {
      // A conflict or a deleted ConfigMap: read it again before the next write.
      if (err instanceof ApiError && (err.code === 409 || err.code === 404)) this.#resourceVersion = undefined;
      this.#log.warn({ err, configMap: `${namespace}/${this.name}` }, "writing the ack ConfigMap failed: retrying");
      this.#dirty = true;
      this.#failed = true;
    }
  }
}
