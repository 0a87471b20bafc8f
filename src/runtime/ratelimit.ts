// Client-side token bucket, as client-go's flowcontrol.NewTokenBucketRateLimiter:
// `burst` requests at once, then `qps` per second. Callers reserve a token and
// wait until it is theirs, so waiting callers are served in order.

export interface TokenBucketOptions {
  /** Sustained requests per second; <= 0 disables limiting. Default 50. */
  qps?: number;
  /** Bucket size. Default 100. */
  burst?: number;
  /** Clock in ms, for tests. Default Date.now. */
  now?: () => number;
}

export class TokenBucket {
  readonly qps: number;
  readonly burst: number;
  #tokens: number;
  #last: number;
  readonly #now: () => number;

  constructor(opts: TokenBucketOptions = {}) {
    this.qps = opts.qps ?? 50;
    this.burst = Math.max(1, opts.burst ?? 100);
    this.#now = opts.now ?? Date.now;
    this.#tokens = this.burst;
    this.#last = this.#now();
  }

  #refill(): void {
    const now = this.#now();
    const elapsed = Math.max(0, now - this.#last) / 1000;
    this.#last = now;
    this.#tokens = Math.min(this.burst, this.#tokens + elapsed * this.qps);
  }

  /** Take a token if one is available now, without waiting. */
  tryTake(): boolean {
    if (this.qps <= 0) return true;
    this.#refill();
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return true;
    }
    return false;
  }

  /**
   * Reserve a token and return how long (ms) the caller must wait before
   * using it (0 = now). The reservation is kept: callers must then wait.
   */
  reserve(): number {
    if (this.qps <= 0) return 0;
    this.#refill();
    this.#tokens -= 1;
    return this.#tokens >= 0 ? 0 : (-this.#tokens / this.qps) * 1000;
  }

  /** Wait for a token. Resolves at once when one is available. */
  async take(signal?: AbortSignal): Promise<void> {
    const wait = this.reserve();
    if (wait <= 0) return;
    await sleep(wait, signal);
  }
}

/** setTimeout as a promise, rejected with the signal's reason on abort. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason as Error);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
