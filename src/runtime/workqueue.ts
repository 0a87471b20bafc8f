// A work queue of keys with the semantics of client-go's workqueue:
//
// - dedup: a key waiting in the queue is queued once, however often added;
// - a key being processed is never handed to a second worker: adding it
//   meanwhile marks it dirty, and it is queued again (once) when done();
// - per-key exponential backoff for errors (addRateLimited: base doubling up
//   to max; forget() resets), and addAfter() for polling;
// - shutDown() stops accepting keys and hands out no more; shutDownWithDrain()
//   also waits for the keys in flight to be done();
// - idle() resolves once no key is waiting or being processed (keys delayed
//   by addAfter or backoff are not waited for).

export interface WorkQueueHooks {
  /** A key was accepted (deduplicated adds included, as client-go counts them). */
  add?(name: string): void;
  depth?(name: string, depth: number): void;
  /** A worker took a key that waited `queuedSeconds`. */
  get?(name: string, queuedSeconds: number): void;
  /** A worker finished a key after `workSeconds`. */
  done?(name: string, workSeconds: number): void;
  retry?(name: string): void;
}

export interface WorkQueueOptions {
  /** First backoff delay. Default 5 ms. */
  baseDelayMs?: number;
  /** Backoff cap. Default 1000 s. */
  maxDelayMs?: number;
  hooks?: WorkQueueHooks;
}

export class WorkQueue<K = string> {
  readonly name: string;
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #hooks: WorkQueueHooks;
  /** Keys waiting, in order. */
  #queue: K[] = [];
  /** Keys that need processing (waiting, or re-added while processing). */
  readonly #dirty = new Set<K>();
  /** Keys being processed, with start times. */
  readonly #processing = new Map<K, number>();
  /** When each waiting key was added (queue duration metric). */
  readonly #addedAt = new Map<K, number>();
  readonly #failures = new Map<K, number>();
  readonly #delayed = new Map<K, { at: number; timer: NodeJS.Timeout }>();
  readonly #waiters: ((k: K | undefined) => void)[] = [];
  #drainWaiters: (() => void)[] = [];
  readonly #idleWaiters: (() => void)[] = [];
  #shuttingDown = false;

  constructor(name: string, opts: WorkQueueOptions = {}) {
    this.name = name;
    this.#baseDelayMs = opts.baseDelayMs ?? 5;
    this.#maxDelayMs = opts.maxDelayMs ?? 1_000_000;
    this.#hooks = opts.hooks ?? {};
  }

  get shuttingDown(): boolean {
    return this.#shuttingDown;
  }

  /** Keys waiting to be handed out. */
  len(): number {
    return this.#queue.length;
  }

  /** Keys being processed now. */
  processingCount(): number {
    return this.#processing.size;
  }

  processingStartTimes(): number[] {
    return [...this.#processing.values()];
  }

  /** Keys waiting for their addAfter/backoff delay. */
  delayedCount(): number {
    return this.#delayed.size;
  }

  add(key: K): void {
    if (this.#shuttingDown) return;
    this.#hooks.add?.(this.name);
    if (this.#dirty.has(key)) return;
    this.#dirty.add(key);
    if (this.#processing.has(key)) return;
    this.#push(key);
  }

  /** Add the key after `delayMs` (at once when <= 0). An earlier pending time wins. */
  addAfter(key: K, delayMs: number): void {
    if (this.#shuttingDown) return;
    if (delayMs <= 0) {
      this.add(key);
      return;
    }
    const at = Date.now() + delayMs;
    const pending = this.#delayed.get(key);
    if (pending && pending.at <= at) return;
    if (pending) clearTimeout(pending.timer);
    const timer = setTimeout(() => {
      this.#delayed.delete(key);
      this.add(key);
    }, delayMs);
    timer.unref?.();
    this.#delayed.set(key, { at, timer });
  }

  /** Add after the key's backoff delay, and count a failure (retry). */
  addRateLimited(key: K): void {
    if (this.#shuttingDown) return;
    this.#hooks.retry?.(this.name);
    this.addAfter(key, this.when(key));
  }

  /** The key's next backoff delay, counting one more failure: base * 2^failures, capped. */
  when(key: K): number {
    const n = this.#failures.get(key) ?? 0;
    this.#failures.set(key, n + 1);
    const d = this.#baseDelayMs * 2 ** n;
    return Number.isFinite(d) ? Math.min(d, this.#maxDelayMs) : this.#maxDelayMs;
  }

  /** Forget the key's failures: its backoff starts again from the base delay. */
  forget(key: K): void {
    this.#failures.delete(key);
  }

  numRequeues(key: K): number {
    return this.#failures.get(key) ?? 0;
  }

  /**
   * The next key to process, waiting for one if needed. Resolves undefined
   * once the queue is shutting down. Every key got must be passed to done().
   */
  get(): Promise<K | undefined> {
    if (this.#shuttingDown) return Promise.resolve(undefined);
    if (this.#queue.length > 0) return Promise.resolve(this.#take());
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Processing of `key` ended: if it was re-added meanwhile, it is queued again. */
  done(key: K): void {
    const started = this.#processing.get(key);
    if (started === undefined) return;
    this.#processing.delete(key);
    this.#hooks.done?.(this.name, (Date.now() - started) / 1000);
    if (this.#dirty.has(key) && !this.#shuttingDown) this.#push(key);
    if (this.#processing.size === 0) for (const w of this.#drainWaiters.splice(0)) w();
    this.#notifyIdle();
  }

  /**
   * Resolves once no key is waiting and none is being processed (at once if
   * so now, or when shutting down). Keys delayed by addAfter() or backoff are
   * not waited for: a poller requeued every few seconds never lets a queue
   * be idle otherwise. Needs workers taking keys, or it waits forever.
   */
  idle(): Promise<void> {
    if (this.#isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  #isIdle(): boolean {
    return this.#shuttingDown || (this.#queue.length === 0 && this.#processing.size === 0);
  }

  #notifyIdle(): void {
    if (this.#isIdle()) for (const w of this.#idleWaiters.splice(0)) w();
  }

  /** Stop accepting keys, hand out no more, cancel delayed adds. */
  shutDown(): void {
    if (this.#shuttingDown) return;
    this.#shuttingDown = true;
    for (const d of this.#delayed.values()) clearTimeout(d.timer);
    this.#delayed.clear();
    for (const w of this.#waiters.splice(0)) w(undefined);
    this.#notifyIdle();
  }

  /** shutDown(), then wait until every key in flight is done(). */
  async shutDownWithDrain(): Promise<void> {
    this.shutDown();
    if (this.#processing.size === 0) return;
    await new Promise<void>((resolve) => this.#drainWaiters.push(resolve));
  }

  #push(key: K): void {
    this.#addedAt.set(key, Date.now());
    const w = this.#waiters.shift();
    if (w) {
      // hand it straight to a waiting worker
      this.#queue.push(key);
      w(this.#take());
      return;
    }
    this.#queue.push(key);
    this.#hooks.depth?.(this.name, this.#queue.length);
  }

  #take(): K {
    const key = this.#queue.shift()!;
    const now = Date.now();
    this.#processing.set(key, now);
    this.#dirty.delete(key);
    const added = this.#addedAt.get(key);
    this.#addedAt.delete(key);
    this.#hooks.depth?.(this.name, this.#queue.length);
    if (added !== undefined) this.#hooks.get?.(this.name, (now - added) / 1000);
    return key;
  }
}
