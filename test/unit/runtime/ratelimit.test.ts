import { afterEach, describe, expect, it, vi } from "vitest";
import { TokenBucket } from "../../../src/runtime/ratelimit.ts";

describe("TokenBucket", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("allows a burst, then qps per second", () => {
    let now = 0;
    const b = new TokenBucket({ qps: 10, burst: 3, now: () => now });
    expect([b.tryTake(), b.tryTake(), b.tryTake(), b.tryTake()]).toEqual([true, true, true, false]);
    now += 100; // one token per 100 ms
    expect(b.tryTake()).toBe(true);
    expect(b.tryTake()).toBe(false);
    now += 10_000; // refills only up to burst
    expect([b.tryTake(), b.tryTake(), b.tryTake(), b.tryTake()]).toEqual([true, true, true, false]);
  });

  it("defaults to 50 qps with a burst of 100", () => {
    const b = new TokenBucket();
    expect(b.qps).toBe(50);
    expect(b.burst).toBe(100);
  });

  it("reservations queue callers in order with growing waits", () => {
    const now = 0;
    const b = new TokenBucket({ qps: 10, burst: 1, now: () => now });
    expect(b.reserve()).toBe(0);
    expect(b.reserve()).toBeCloseTo(100);
    expect(b.reserve()).toBeCloseTo(200);
  });

  it("take() waits for its token", async () => {
    vi.useFakeTimers();
    const b = new TokenBucket({ qps: 2, burst: 1 });
    await b.take();
    let done = false;
    const p = b.take().then(() => (done = true));
    await vi.advanceTimersByTimeAsync(400);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(100);
    await p;
    expect(done).toBe(true);
  });

  it("qps <= 0 disables limiting", () => {
    const b = new TokenBucket({ qps: 0, burst: 1 });
    for (let i = 0; i < 1000; i++) expect(b.tryTake()).toBe(true);
  });
});
