// A supervised list+watch cache of one resource in one cluster.
//
// Unlike client-node's informer, the supervision loop never gives up: it
// lists (paginated), watches from the list's resourceVersion with bookmarks,
// re-watches from the last seen resourceVersion when the server ends the
// watch, relists on 410 Gone, restarts with capped exponential backoff on any
// other error, restarts a watch that has been silent (no event, no bookmark)
// for `staleAfterMs`, and relists every `relistIntervalMs`. `status()` says
// whether the cache has synced and whether its watch is alive, for /readyz.
//
// Reading one's own writes: `recordWrite(obj)` puts the object a write
// returned into the cache when it is newer than the cached one, so the next
// reconcile sees it before the watch delivers it. Handlers still get every
// watch event, in order, with the object they last got as `old`.
import type { Logger } from "pino";
import type { KubeClient } from "./client.ts";
import { isGone } from "./errors.ts";
import { informerSynced, informerWatchRestarts } from "./metrics.ts";
import { sleep } from "./ratelimit.ts";
import type { Resource } from "./resources.ts";
import { keyOf, type KubeObject, type WatchEvent } from "./types.ts";

export interface EventHandlers<T> {
  add?(obj: T): void;
  update?(oldObj: T, newObj: T): void;
  delete?(obj: T): void;
}

export type IndexFunc<T> = (obj: T) => string[];

/** An index by the value of a label (objects without it are not indexed). */
export function labelIndex<T extends KubeObject>(label: string): IndexFunc<T> {
  return (obj) => {
    const v = obj.metadata?.labels?.[label];
    return v === undefined ? [] : [v];
  };
}

/** kubectl's client-side-apply annotation: a full copy of the last applied object. */
export const LAST_APPLIED_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration";

/**
 * A transform (InformerOptions.transform) that drops what controllers never
 * read from a cache: metadata.managedFields (often half an object's size) and
 * kubectl's last-applied annotation. Mutates and returns its argument.
 */
export function stripManagedFields<T extends KubeObject>(obj: T): T {
  const md = obj.metadata;
  if (!md) return obj;
  delete md.managedFields;
  if (md.annotations && LAST_APPLIED_ANNOTATION in md.annotations) {
    delete md.annotations[LAST_APPLIED_ANNOTATION];
    if (Object.keys(md.annotations).length === 0) delete md.annotations;
  }
  return obj;
}

/** An index by namespace. */
export const namespaceIndex: IndexFunc<KubeObject> = (obj) => (obj.metadata?.namespace ? [obj.metadata.namespace] : []);

/**
 * The cache: objects keyed "namespace/name" with optional secondary
 * indexes. Objects handed out are shared with the cache: do not mutate them.
 */
export class Store<T extends KubeObject> {
  readonly #items = new Map<string, T>();
  readonly #indexers = new Map<string, IndexFunc<T>>();
  readonly #indices = new Map<string, Map<string, Set<string>>>();
  #revision = 0;

  /** Increases on every change: derived views can be cached against it. */
  get revision(): number {
    return this.#revision;
  }

  get size(): number {
    return this.#items.size;
  }

  get(key: string): T | undefined {
    return this.#items.get(key);
  }

  getByName(name: string, namespace?: string): T | undefined {
    return this.#items.get(namespace ? `${namespace}/${name}` : name);
  }

  keys(): string[] {
    return [...this.#items.keys()];
  }

  /** All objects, or those of one namespace. */
  list(namespace?: string): T[] {
    const all = [...this.#items.values()];
    return namespace === undefined ? all : all.filter((o) => o.metadata?.namespace === namespace);
  }

  /** Objects whose labels include every given label=value. */
  listByLabels(selector: Record<string, string>, namespace?: string): T[] {
    const entries = Object.entries(selector);
    return this.list(namespace).filter((o) => entries.every(([k, v]) => o.metadata?.labels?.[k] === v));
  }

  addIndex(name: string, fn: IndexFunc<T>): void {
    this.#indexers.set(name, fn);
    const idx = new Map<string, Set<string>>();
    this.#indices.set(name, idx);
    for (const [key, obj] of this.#items) this.#indexAdd(idx, fn, key, obj);
  }

  byIndex(name: string, value: string): T[] {
    const idx = this.#indices.get(name);
    if (!idx) throw new Error(`no index named ${name}`);
    return [...(idx.get(value) ?? [])].map((k) => this.#items.get(k)).filter((o): o is T => o !== undefined);
  }

  /** Insert or replace; returns the previous object. */
  upsert(obj: T): T | undefined {
    const key = keyOf(obj);
    const old = this.#items.get(key);
    if (old) this.#unindex(key, old);
    this.#items.set(key, obj);
    this.#revision++;
    for (const [name, fn] of this.#indexers) this.#indexAdd(this.#indices.get(name)!, fn, key, obj);
    return old;
  }

  remove(key: string): T | undefined {
    const old = this.#items.get(key);
    if (old) {
      this.#unindex(key, old);
      this.#items.delete(key);
      this.#revision++;
    }
    return old;
  }

  #indexAdd(idx: Map<string, Set<string>>, fn: IndexFunc<T>, key: string, obj: T): void {
    for (const v of fn(obj)) {
      let s = idx.get(v);
      if (!s) idx.set(v, (s = new Set()));
      s.add(key);
    }
  }

  #unindex(key: string, obj: T): void {
    for (const [name, fn] of this.#indexers) {
      const idx = this.#indices.get(name)!;
      for (const v of fn(obj)) {
        const s = idx.get(v);
        s?.delete(key);
        if (s?.size === 0) idx.delete(v);
      }
    }
  }
}

export interface InformerOptions<T extends KubeObject = KubeObject> {
  /** Watch one namespace; default all. */
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Cluster name for logs and metrics. Default "local". */
  cluster?: string;
  logger?: Logger;
  /** Restart a watch that delivered no event or bookmark for this long. Default 180 s. */
  staleAfterMs?: number;
  /** Relist periodically (0 = only on 410). Default 30 min. */
  relistIntervalMs?: number;
  /** The watch counts as dead once disconnected for this long (readiness). Default 30 s. */
  deadAfterMs?: number;
  /** Backoff after errors: initial and cap. Default 500 ms, 30 s. */
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  /** List page size. Default 500. */
  pageSize?: number;
  /**
   * Applied to every listed or watched object before it is cached and handed
   * to handlers, as client-go's SetTransform: e.g. stripManagedFields, to keep
   * the cache small. It gets a fresh object (it may mutate it) and must not throw.
   */
  transform?: (obj: T) => T;
}

export interface InformerStatus {
  name: string;
  synced: boolean;
  /** A watch is established now. */
  connected: boolean;
  /** Disconnected for longer than deadAfterMs (or never synced after an error). */
  dead: boolean;
  lastError?: string;
  disconnectedSince?: Date;
  resourceVersion?: string;
  lists: number;
  watchRestarts: number;
}

/** Stops the watch loop at this point so it restarts (internal). */
class WatchRestart extends Error {
  readonly reason: "stale" | "relist" | "requested";
  constructor(reason: "stale" | "relist" | "requested") {
    super(`watch restart: ${reason}`);
    this.reason = reason;
  }
}

export class Informer<T extends KubeObject = KubeObject> {
  readonly client: KubeClient;
  readonly resource: Resource;
  readonly store = new Store<T>();
  /** "<cluster>/<plural>[/<namespace>][?selector]" */
  readonly name: string;
  readonly #opts: Required<
    Pick<
      InformerOptions<T>,
      "staleAfterMs" | "relistIntervalMs" | "deadAfterMs" | "backoffInitialMs" | "backoffMaxMs" | "pageSize"
    >
  > &
    InformerOptions<T>;
  readonly #handlers: EventHandlers<T>[] = [];
  readonly #log: Logger | undefined;
  readonly #syncWaiters: (() => void)[] = [];
  #synced = false;
  #connected = false;
  #disconnectedSince: number | undefined = Date.now();
  #lastError: string | undefined;
  #rv: string | undefined;
  #lastList = 0;
  #lists = 0;
  #restarts = 0;
  #running: Promise<void> | undefined;
  #stop: AbortController | undefined;
  #watchAbort: AbortController | undefined;
  #forceRv: string | undefined;
  #eventsInWatch = 0;
  /**
   * Keys whose cached object is a recorded write the watch has not delivered
   * yet, with the object the handlers last got (undefined: none yet).
   */
  readonly #ahead = new Map<string, T | undefined>();

  constructor(client: KubeClient, resource: Resource, opts: InformerOptions<T> = {}) {
    this.client = client;
    this.resource = resource;
    this.#opts = {
      staleAfterMs: 180_000,
      relistIntervalMs: 30 * 60_000,
      deadAfterMs: 30_000,
      backoffInitialMs: 500,
      backoffMaxMs: 30_000,
      pageSize: 500,
      ...opts,
    };
    const sel = [opts.labelSelector, opts.fieldSelector].filter(Boolean).join(",");
    this.name = `${opts.cluster ?? "local"}/${resource.plural}${opts.namespace ? `/${opts.namespace}` : ""}${sel ? `?${sel}` : ""}`;
    this.#log = opts.logger?.child({ informer: this.name });
  }

  get synced(): boolean {
    return this.#synced;
  }

  /** Register event handlers. Handlers added after sync get an add for every cached object. */
  on(handlers: EventHandlers<T>): this {
    this.#handlers.push(handlers);
    if (this.#synced && handlers.add) for (const o of this.store.list()) this.#call(() => handlers.add!(o));
    return this;
  }

  addIndex(name: string, fn: IndexFunc<T>): this {
    this.store.addIndex(name, fn);
    return this;
  }

  start(): this {
    if (this.#running) return this;
    this.#stop = new AbortController();
    this.#running = this.#loop(this.#stop.signal);
    return this;
  }

  async stop(): Promise<void> {
    this.#stop?.abort(new Error("informer stopped"));
    await this.#running;
    this.#running = undefined;
    this.#connected = false;
    informerSynced.remove({ cluster: this.#opts.cluster ?? "local", resource: this.#metricResource() });
  }

  /** Resolves once the first list has filled the cache; false on timeout or abort. */
  waitForSync(timeoutMs = 0, signal?: AbortSignal): Promise<boolean> {
    if (this.#synced) return Promise.resolve(true);
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = (v: boolean): void => {
        if (timer) clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        resolve(v);
      };
      const onAbort = (): void => done(false);
      if (timeoutMs > 0) timer = setTimeout(() => done(false), timeoutMs);
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#syncWaiters.push(() => done(true));
    });
  }

  status(): InformerStatus {
    const since = this.#disconnectedSince;
    const dead = !this.#connected && since !== undefined && Date.now() - since > this.#opts.deadAfterMs;
    return {
      name: this.name,
      synced: this.#synced,
      connected: this.#connected,
      dead: this.#running === undefined || dead,
      ...(this.#lastError ? { lastError: this.#lastError } : {}),
      ...(since !== undefined ? { disconnectedSince: new Date(since) } : {}),
      ...(this.#rv ? { resourceVersion: this.#rv } : {}),
      lists: this.#lists,
      watchRestarts: this.#restarts,
    };
  }

  /**
   * Read your own writes: record the object a successful write (create,
   * update, apply, status) returned, so the cache shows it at once. It is
   * cached only when its resourceVersion is newer than the cached object's
   * (compared as integers, as etcd revisions; when either is not an integer,
   * nothing is recorded) or nothing is cached under its key, and only when it
   * is in this informer's namespace. The watch event of that version is
   * still delivered to handlers (an update from the object they last got, or
   * an add), and older events in between reach handlers without moving the
   * cache back. The caller records only objects this informer selects (its
   * label and field selectors are not checked). Returns `obj`, so a write
   * composes: `inf.recordWrite(await client.apply(obj))`.
   */
  recordWrite<W extends KubeObject>(obj: W): W {
    const md = obj.metadata;
    if (!md?.name || !this.#synced) return obj;
    if (this.#opts.namespace !== undefined && md.namespace !== this.#opts.namespace) return obj;
    const key = keyOf(obj);
    const cached = this.store.get(key);
    if (cached && !isNewer(md.resourceVersion, cached.metadata?.resourceVersion)) return obj;
    if (!cached && revisionOf(md.resourceVersion) === undefined) return obj;
    const copy = structuredClone<KubeObject>(obj) as T;
    const stored = this.#opts.transform ? this.#opts.transform(copy) : copy;
    if (!this.#ahead.has(key)) this.#ahead.set(key, cached);
    this.store.upsert(stored);
    return obj;
  }

  /**
   * Restart the watch now. With `fromResourceVersion`, the next watch starts
   * there (a test aid: an expired version exercises the 410 relist path).
   */
  restartWatch(fromResourceVersion?: string): void {
    this.#forceRv = fromResourceVersion;
    this.#watchAbort?.abort(new WatchRestart("requested"));
  }

  // ---- supervision ---------------------------------------------------------

  async #loop(stop: AbortSignal): Promise<void> {
    let needList = true;
    let silent = 0;
    let backoff = this.#opts.backoffInitialMs;
    while (!stop.aborted) {
      try {
        if (needList) {
          await this.#list(stop);
          needList = false;
        }
        await this.#watch(stop);
        // the server ended the watch cleanly (timeoutSeconds): re-watch from #rv
        backoff = this.#opts.backoffInitialMs;
        this.#restarted("closed");
      } catch (err) {
        this.#connected = false;
        this.#disconnectedSince ??= Date.now();
        this.#updateMetric();
        if (stop.aborted) break;
        if (err instanceof WatchRestart) {
          if (err.reason === "relist") needList = true;
          if (err.reason === "stale") {
            // A silent watch may be a half-open connection: reconnect at once.
            // Twice silent in a row from the same resourceVersion: the server
            // may be unable to serve it (seen after an etcd compaction the API
            // server has not noticed yet: the watch hangs instead of 410): relist.
            silent = this.#eventsInWatch === 0 ? silent + 1 : 0;
            if (silent >= 2) {
              this.#log?.warn("watch silent twice from the same resourceVersion: relisting");
              needList = true;
              silent = 0;
            }
          }
          this.#restarted(err.reason);
          continue;
        }
        if (isGone(err)) {
          this.#log?.info({ rv: this.#rv }, "resourceVersion expired (410 Gone): relisting");
          this.#restarted("gone");
          needList = true;
          continue;
        }
        this.#lastError = err instanceof Error ? err.message : String(err);
        this.#restarted("error");
        const delay = backoff * (0.8 + Math.random() * 0.4);
        this.#log?.warn({ err: this.#lastError, retryInMs: Math.round(delay) }, "list/watch failed");
        backoff = Math.min(backoff * 2, this.#opts.backoffMaxMs);
        try {
          await sleep(delay, stop);
        } catch {
          break;
        }
      }
    }
  }

  #restarted(reason: string): void {
    this.#restarts++;
    informerWatchRestarts.inc({ cluster: this.#opts.cluster ?? "local", resource: this.#metricResource(), reason });
  }

  #metricResource(): string {
    return this.name.slice(this.name.indexOf("/") + 1);
  }

  async #list(stop: AbortSignal): Promise<void> {
    const list = await this.client.listAll<T>(this.resource, {
      namespace: this.#opts.namespace,
      labelSelector: this.#opts.labelSelector,
      fieldSelector: this.#opts.fieldSelector,
      pageSize: this.#opts.pageSize,
      ...(this.#opts.transform ? { map: this.#opts.transform } : {}),
    });
    if (stop.aborted) return;
    this.#lists++;
    this.#lastList = Date.now();
    this.#rv = list.metadata.resourceVersion;
    this.#replace(list.items);
    this.#lastError = undefined;
    if (!this.#synced) {
      this.#synced = true;
      this.#log?.debug({ items: list.items.length, rv: this.#rv }, "cache synced");
      for (const w of this.#syncWaiters.splice(0)) w();
    }
    this.#updateMetric();
  }

  /** Make the store equal to `items`, emitting add/update/delete for the differences. */
  #replace(items: T[]): void {
    const seen = new Set<string>();
    for (const obj of items) {
      const key = keyOf(obj);
      seen.add(key);
      if (this.#ahead.has(key)) {
        this.#observeAhead(key, obj);
        continue;
      }
      const old = this.store.upsert(obj);
      if (!old) this.#emit("add", obj);
      else if (old.metadata?.resourceVersion !== obj.metadata?.resourceVersion) this.#emit("update", obj, old);
    }
    for (const key of this.store.keys()) {
      if (seen.has(key)) continue;
      if (this.#ahead.has(key)) {
        // Recorded after this list was served: keep it; the watch delivers it.
        if (isNewer(this.store.get(key)?.metadata?.resourceVersion, this.#rv)) continue;
        const delivered = this.#ahead.get(key);
        this.#ahead.delete(key);
        this.store.remove(key);
        if (delivered) this.#emit("delete", delivered);
        continue;
      }
      const old = this.store.remove(key);
      if (old) this.#emit("delete", old);
    }
  }

  /**
   * A listed or watched object for a key whose cache holds a recorded write:
   * handlers get it as the watch says; the cache moves only forward.
   */
  #observeAhead(key: string, obj: T): void {
    const delivered = this.#ahead.get(key);
    const recorded = this.store.get(key);
    if (recorded && isNewer(recorded.metadata?.resourceVersion, obj.metadata?.resourceVersion)) {
      this.#ahead.set(key, obj);
    } else {
      this.#ahead.delete(key);
      this.store.upsert(obj);
    }
    if (!delivered) this.#emit("add", obj);
    else if (delivered.metadata?.resourceVersion !== obj.metadata?.resourceVersion)
      this.#emit("update", obj, delivered);
  }

  async #watch(stop: AbortSignal): Promise<void> {
    const ac = new AbortController();
    this.#watchAbort = ac;
    const onStop = (): void => ac.abort(stop.reason);
    stop.addEventListener("abort", onStop, { once: true });
    let staleTimer: NodeJS.Timeout | undefined;
    const arm = (): void => {
      if (staleTimer) clearTimeout(staleTimer);
      staleTimer = setTimeout(() => {
        this.#log?.warn({ staleAfterMs: this.#opts.staleAfterMs }, "watch silent for too long: restarting");
        ac.abort(new WatchRestart("stale"));
      }, this.#opts.staleAfterMs);
    };
    let relistTimer: NodeJS.Timeout | undefined;
    if (this.#opts.relistIntervalMs > 0) {
      const due = Math.max(0, this.#lastList + this.#opts.relistIntervalMs - Date.now());
      relistTimer = setTimeout(() => ac.abort(new WatchRestart("relist")), due);
    }
    if (this.#forceRv !== undefined) {
      this.#rv = this.#forceRv;
      this.#forceRv = undefined;
    }
    try {
      arm();
      // like client-go: a random server-side timeout between 5 and 10 minutes
      const timeoutSeconds = 300 + Math.floor(Math.random() * 300);
      const events = this.client.watch<T>(
        this.resource,
        {
          namespace: this.#opts.namespace,
          labelSelector: this.#opts.labelSelector,
          fieldSelector: this.#opts.fieldSelector,
          resourceVersion: this.#rv,
          timeoutSeconds,
          allowWatchBookmarks: true,
          onOpen: () => this.#markConnected(),
        },
        ac.signal,
      );
      this.#eventsInWatch = 0;
      for await (const ev of events) {
        this.#eventsInWatch++;
        arm();
        this.#apply(ev);
      }
      if (ac.signal.aborted) throw ac.signal.reason;
    } catch (err) {
      throw ac.signal.aborted && !stop.aborted ? (ac.signal.reason ?? err) : err;
    } finally {
      if (staleTimer) clearTimeout(staleTimer);
      if (relistTimer) clearTimeout(relistTimer);
      stop.removeEventListener("abort", onStop);
      this.#watchAbort = undefined;
    }
  }

  #markConnected(): void {
    this.#connected = true;
    this.#disconnectedSince = undefined;
    this.#lastError = undefined;
    this.#updateMetric();
  }

  #apply(ev: WatchEvent<T>): void {
    const rv = ev.object.metadata?.resourceVersion;
    if (rv) this.#rv = rv;
    if (ev.type !== "BOOKMARK" && this.#opts.transform) ev.object = this.#opts.transform(ev.object);
    switch (ev.type) {
      case "BOOKMARK":
        return;
      case "ADDED":
      case "MODIFIED": {
        const key = keyOf(ev.object);
        if (this.#ahead.has(key)) {
          this.#observeAhead(key, ev.object);
          return;
        }
        const old = this.store.upsert(ev.object);
        if (old) this.#emit("update", ev.object, old);
        else this.#emit("add", ev.object);
        return;
      }
      case "DELETED": {
        const key = keyOf(ev.object);
        const ahead = this.#ahead.has(key);
        const delivered = this.#ahead.get(key);
        this.#ahead.delete(key);
        const old = this.store.remove(key);
        this.#emit("delete", (ahead ? delivered : old) ?? ev.object);
        return;
      }
    }
  }

  #emit(kind: "add" | "update" | "delete", obj: T, old?: T): void {
    for (const h of this.#handlers) {
      if (kind === "add" && h.add) this.#call(() => h.add!(obj));
      else if (kind === "update" && h.update) this.#call(() => h.update!(old!, obj));
      else if (kind === "delete" && h.delete) this.#call(() => h.delete!(obj));
    }
  }

  #call(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.#log?.error({ err }, "event handler threw");
    }
  }

  #updateMetric(): void {
    informerSynced.set(
      { cluster: this.#opts.cluster ?? "local", resource: this.#metricResource() },
      this.#synced && this.#connected ? 1 : 0,
    );
  }
}

/** An etcd revision: a resourceVersion that is a non-negative integer, else undefined. */
function revisionOf(rv: string | undefined): bigint | undefined {
  return rv !== undefined && /^\d+$/.test(rv) ? BigInt(rv) : undefined;
}

/** `a` is a later revision than `b` (false when either is not an integer). */
function isNewer(a: string | undefined, b: string | undefined): boolean {
  const x = revisionOf(a);
  const y = revisionOf(b);
  return x !== undefined && y !== undefined && x > y;
}
