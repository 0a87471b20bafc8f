// A Controller: a work queue of keys, N workers calling reconcile(key), and
// watches mapping events on informers to keys (the object's own key, or its
// owner's). Level-triggered: reconcile gets only the key and reads the world.
import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import { isTerminal } from "./errors.ts";
import type { Informer } from "./informer.ts";
import { silentLogger } from "./logger.ts";
import {
  activeWorkers,
  maxConcurrentReconciles,
  reconcileErrorsTotal,
  reconcileTime,
  reconcileTotal,
  terminalReconcileErrorsTotal,
  trackInFlight,
  workqueueAdds,
  workqueueDepth,
  workqueueQueueDuration,
  workqueueRetries,
  workqueueWorkDuration,
} from "./metrics.ts";
import { keyOf, splitKey, type KubeObject } from "./types.ts";
import { WorkQueue, type WorkQueueHooks } from "./workqueue.ts";

export interface ReconcileResult {
  /** Reconcile again after this many ms (polling; not for errors). */
  requeueAfter?: number;
  /** Reconcile again with the key's error backoff. */
  requeue?: boolean;
}

export interface ReconcileContext {
  key: string;
  namespace?: string;
  name: string;
  reconcileID: string;
  log: Logger;
  /** Aborted when the controller stops; pass it to long waits. */
  signal: AbortSignal;
}

export type ReconcileFunc = (key: string, ctx: ReconcileContext) => Promise<ReconcileResult | void>;

/** Maps an object (of any watched kind) to the keys to reconcile. */
export type MapFunc<T extends KubeObject = KubeObject> = (obj: T) => string | string[] | undefined;

export interface ControllerOptions {
  name: string;
  /** Kind reconciled, for logs. */
  kind?: string;
  reconcile: ReconcileFunc;
  /** Concurrent workers (never two on one key). Default 1. */
  workers?: number;
  logger?: Logger;
  /** Called after a TerminalError (e.g. to set a condition); the key is not retried. */
  onTerminalError?: (key: string, err: Error, ctx: ReconcileContext) => Promise<void> | void;
  /** Re-enqueue every key known to the watched informers at this interval (0 = off). */
  resyncMs?: number;
  /** Backoff for errors. Defaults: 5 ms, 1000 s. */
  baseDelayMs?: number;
  maxDelayMs?: number;
}

/** The owner key of an object whose controller ownerReference is of `kind`. */
export function ownerKey(kind: string, opts: { clusterScopedOwner?: boolean } = {}): MapFunc {
  return (obj) => {
    const ref = obj.metadata?.ownerReferences?.find((r) => r.controller && r.kind === kind);
    if (!ref) return undefined;
    return opts.clusterScopedOwner || !obj.metadata?.namespace ? ref.name : `${obj.metadata.namespace}/${ref.name}`;
  };
}

/** Map to the key named by a label (cluster-scoped owner), e.g. "ldc.io/cell". */
export function labelKey(label: string): MapFunc {
  return (obj) => obj.metadata?.labels?.[label];
}

const promHooks: WorkQueueHooks = {
  add: (name) => workqueueAdds.inc({ name }),
  depth: (name, d) => workqueueDepth.set({ name }, d),
  get: (name, s) => workqueueQueueDuration.observe({ name }, s),
  done: (name, s) => workqueueWorkDuration.observe({ name }, s),
  retry: (name) => workqueueRetries.inc({ name }),
};

export class Controller {
  readonly name: string;
  readonly queue: WorkQueue<string>;
  readonly #opts: ControllerOptions;
  readonly #log: Logger;
  readonly #informers = new Set<Informer<KubeObject>>();
  /** Per watch: enqueue the keys of every object in its cache (resyncAll). */
  readonly #resyncs: (() => void)[] = [];
  #workers: Promise<void>[] = [];
  #stop = new AbortController();
  #untrack: (() => void) | undefined;
  #resync: NodeJS.Timeout | undefined;
  #started = false;

  constructor(opts: ControllerOptions) {
    this.name = opts.name;
    this.#opts = opts;
    this.#log = (opts.logger ?? silentLogger).child({
      controller: opts.name,
      ...(opts.kind ? { kind: opts.kind } : {}),
    });
    this.queue = new WorkQueue<string>(opts.name, {
      hooks: promHooks,
      ...(opts.baseDelayMs !== undefined ? { baseDelayMs: opts.baseDelayMs } : {}),
      ...(opts.maxDelayMs !== undefined ? { maxDelayMs: opts.maxDelayMs } : {}),
    });
  }

  /** Informers this controller watches (the Manager waits for their sync). */
  get informers(): Informer<KubeObject>[] {
    return [...this.#informers];
  }

  /**
   * Enqueue keys for events on `informer`: by default the object's own key;
   * with `map`, the keys it returns (e.g. ownerKey("Cell")). Updates that
   * change nothing but the resourceVersion-free status are still enqueued:
   * reconcile is idempotent. `waitForSync: false` keeps the informer out of
   * the caches the Manager waits for before starting the workers (a member
   * cluster's: one may be unreachable, and it may come and go).
   */
  watch<T extends KubeObject>(informer: Informer<T>, map?: MapFunc<T>, opts: { waitForSync?: boolean } = {}): this {
    const toKeys = (obj: T): string[] => {
      const k = map ? map(obj) : keyOf(obj);
      return k === undefined ? [] : Array.isArray(k) ? k : [k];
    };
    const enqueue = (obj: T): void => {
      for (const k of toKeys(obj)) this.queue.add(k);
    };
    informer.on({
      add: enqueue,
      update: (oldObj, newObj) => {
        // an owner change must reconcile both the old and the new owner
        const keys = new Set([...toKeys(oldObj), ...toKeys(newObj)]);
        for (const k of keys) this.queue.add(k);
      },
      delete: enqueue,
    });
    if (opts.waitForSync !== false) this.#informers.add(informer as unknown as Informer<KubeObject>);
    this.#resyncs.push(() => {
      for (const obj of informer.store.list()) enqueue(obj);
    });
    return this;
  }

  /**
   * Enqueue the keys of every object in every watched cache, mapped as their
   * events are: a pass over the whole world, as if every object had just
   * changed (the periodic resync, or a check that the steady state is quiet).
   */
  resyncAll(): void {
    for (const resync of this.#resyncs) resync();
  }

  /**
   * Resolves once no key is waiting or being reconciled (requeueAfter and
   * backoff delays are not waited for). After resyncAll(): every key has
   * been reconciled at least once since the call. Only once start()ed: no
   * worker takes the keys of a controller that is not running.
   */
  idle(): Promise<void> {
    return this.queue.idle();
  }

  enqueue(key: string): void {
    this.queue.add(key);
  }

  enqueueAfter(key: string, delayMs: number): void {
    this.queue.addAfter(key, delayMs);
  }

  /** Start the workers (the Manager calls this after the caches synced). */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    const n = Math.max(1, this.#opts.workers ?? 1);
    maxConcurrentReconciles.set({ controller: this.name }, n);
    activeWorkers.set({ controller: this.name }, 0);
    this.#untrack = trackInFlight(this.queue);
    if (this.#opts.resyncMs && this.#opts.resyncMs > 0) {
      this.#resync = setInterval(() => this.resyncAll(), this.#opts.resyncMs);
      this.#resync.unref();
    }
    this.#log.info({ workers: n }, "starting workers");
    for (let i = 0; i < n; i++) this.#workers.push(this.#worker());
  }

  /**
   * Stop accepting keys and wait for the reconciles in flight; after
   * `graceMs` (default 30 s) their signal is aborted.
   */
  async stop(graceMs = 30_000): Promise<void> {
    if (this.#resync) clearInterval(this.#resync);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.queue.shutDownWithDrain(),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs))),
    ]);
    clearTimeout(timer);
    this.#stop.abort(new Error("controller stopped"));
    await Promise.all(this.#workers);
    this.#workers = [];
    this.#untrack?.();
    this.#log.info("stopped");
  }

  async #worker(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      try {
        await this.reconcileKey(key);
      } finally {
        this.queue.done(key);
      }
    }
  }

  /** One reconcile of `key`, with logging, metrics and requeue handling. */
  async reconcileKey(key: string): Promise<void> {
    const { namespace, name } = splitKey(key);
    const reconcileID = randomUUID();
    const log = this.#log.child({ ...(namespace ? { namespace } : {}), name, reconcileID });
    const ctx: ReconcileContext = {
      key,
      name,
      reconcileID,
      log,
      signal: this.#stop.signal,
      ...(namespace ? { namespace } : {}),
    };
    const labels = { controller: this.name };
    activeWorkers.inc(labels);
    const start = performance.now();
    try {
      const res = (await this.#opts.reconcile(key, ctx)) ?? {};
      if (res.requeueAfter !== undefined && res.requeueAfter > 0) {
        this.queue.forget(key);
        this.queue.addAfter(key, res.requeueAfter);
        reconcileTotal.inc({ ...labels, result: "requeue_after" });
      } else if (res.requeue) {
        this.queue.addRateLimited(key);
        reconcileTotal.inc({ ...labels, result: "requeue" });
      } else {
        this.queue.forget(key);
        reconcileTotal.inc({ ...labels, result: "success" });
      }
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      reconcileErrorsTotal.inc(labels);
      reconcileTotal.inc({ ...labels, result: "error" });
      if (isTerminal(err)) {
        terminalReconcileErrorsTotal.inc(labels);
        this.queue.forget(key);
        log.error({ err: err.message }, "reconcile failed terminally: not retrying until the object changes");
        try {
          await this.#opts.onTerminalError?.(key, err, ctx);
        } catch (hookErr) {
          log.error({ err: hookErr }, "onTerminalError hook failed");
        }
      } else {
        this.queue.addRateLimited(key);
        log.error(
          { err: err.message, retries: this.queue.numRequeues(key) },
          "reconcile failed: retrying with backoff",
        );
      }
    } finally {
      reconcileTime.observe(labels, (performance.now() - start) / 1000);
      activeWorkers.dec(labels);
    }
  }
}
