import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { WorkQueue } from "../../../src/runtime/workqueue.ts";

describe("WorkQueue", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("dedups a key added many times while waiting", async () => {
    const q = new WorkQueue("t");
    q.add("a");
    q.add("a");
    q.add("b");
    q.add("a");
    expect(q.len()).toBe(2);
    expect(await q.get()).toBe("a");
    expect(await q.get()).toBe("b");
    expect(q.len()).toBe(0);
  });

  it("never hands a key being processed to a second worker, and re-queues it once when done", async () => {
    const q = new WorkQueue("t");
    q.add("a");
    const k = await q.get();
    expect(k).toBe("a");
    q.add("a");
    q.add("a");
    expect(q.len()).toBe(0); // dirty, not queued while processing
    let second: string | undefined;
    void q.get().then((x) => (second = x));
    await Promise.resolve();
    expect(second).toBeUndefined();
    q.done("a");
    await Promise.resolve();
    expect(second).toBe("a"); // re-queued exactly once
    expect(q.len()).toBe(0);
    q.done("a");
    expect(q.len()).toBe(0);
  });

  it("a key added while processing but not re-added is not re-queued", async () => {
    const q = new WorkQueue("t");
    q.add("a");
    await q.get();
    q.done("a");
    expect(q.len()).toBe(0);
  });

  it("workers in parallel process distinct keys only", async () => {
    const q = new WorkQueue("t");
    const active = new Set<string>();
    let overlap = false;
    const seen: string[] = [];
    const worker = async (): Promise<void> => {
      for (;;) {
        const k = await q.get();
        if (k === undefined) return;
        if (active.has(k)) overlap = true;
        active.add(k);
        seen.push(k);
        await Promise.resolve();
        if (seen.length < 6) q.add(k); // re-add while processing
        active.delete(k);
        q.done(k);
      }
    };
    for (const k of ["a", "b", "a", "c"]) q.add(k);
    const workers = [worker(), worker(), worker()];
    for (let i = 0; i < 20; i++) await Promise.resolve();
    q.shutDown();
    await Promise.all(workers);
    expect(overlap).toBe(false);
    expect(new Set(seen)).toEqual(new Set(["a", "b", "c"]));
  });

  it("backs off per key, doubling from 5 ms up to the cap, reset by forget", () => {
    const q = new WorkQueue("t", { baseDelayMs: 5, maxDelayMs: 1_000_000 });
    const delays = Array.from({ length: 20 }, () => q.when("a"));
    expect(delays.slice(0, 5)).toEqual([5, 10, 20, 40, 80]);
    expect(delays.at(-1)).toBe(1_000_000);
    expect(Math.max(...delays)).toBe(1_000_000);
    expect(q.when("b")).toBe(5); // per key
    expect(q.numRequeues("a")).toBe(20);
    q.forget("a");
    expect(q.numRequeues("a")).toBe(0);
    expect(q.when("a")).toBe(5);
  });

  it("addRateLimited adds after the backoff delay and counts retries", async () => {
    const retries: string[] = [];
    const q = new WorkQueue("t", { hooks: { retry: (n) => retries.push(n) } });
    q.addRateLimited("a"); // 5 ms
    expect(q.len()).toBe(0);
    vi.advanceTimersByTime(4);
    expect(q.len()).toBe(0);
    vi.advanceTimersByTime(1);
    expect(q.len()).toBe(1);
    expect(await q.get()).toBe("a");
    q.done("a");
    q.addRateLimited("a"); // 10 ms
    vi.advanceTimersByTime(9);
    expect(q.len()).toBe(0);
    vi.advanceTimersByTime(1);
    expect(q.len()).toBe(1);
    expect(retries).toEqual(["t", "t"]);
  });

  it("addAfter delays, keeps the earliest pending time and dedups with add", async () => {
    const q = new WorkQueue("t");
    q.addAfter("a", 1000);
    q.addAfter("a", 500);
    q.addAfter("a", 2000);
    expect(q.delayedCount()).toBe(1);
    vi.advanceTimersByTime(499);
    expect(q.len()).toBe(0);
    vi.advanceTimersByTime(1);
    expect(q.len()).toBe(1);
    vi.advanceTimersByTime(5000);
    expect(q.len()).toBe(1);
    q.addAfter("b", 0);
    expect(q.len()).toBe(2);
  });

  it("shutdown stops accepting and handing out keys; drain waits for the keys in flight", async () => {
    const q = new WorkQueue("t");
    q.add("a");
    q.add("b");
    q.addAfter("c", 100);
    expect(await q.get()).toBe("a");
    let drained = false;
    const drain = q.shutDownWithDrain().then(() => (drained = true));
    q.add("d");
    expect(await q.get()).toBeUndefined(); // nothing new handed out
    vi.advanceTimersByTime(200); // delayed adds cancelled
    expect(q.delayedCount()).toBe(0);
    await Promise.resolve();
    expect(drained).toBe(false);
    q.done("a");
    await drain;
    expect(drained).toBe(true);
  });

  it("is idle once no key waits or is processed; delayed keys are not waited for", async () => {
    const q = new WorkQueue("t");
    let idle = false;
    await q.idle(); // empty: at once
    q.add("a");
    q.addAfter("later", 1000);
    const whenIdle = q.idle().then(() => (idle = true));
    const k = await q.get();
    q.add("a"); // re-added while processing: queued again when done
    q.done(k!);
    await Promise.resolve();
    expect(idle).toBe(false);
    q.done((await q.get())!);
    await whenIdle;
    expect(idle).toBe(true);
    expect(q.delayedCount()).toBe(1);
    // shutting down releases whoever waits
    q.add("b");
    const onShutdown = q.idle();
    q.shutDown();
    await onShutdown;
  });

  it("wakes a waiting worker on shutdown", async () => {
    const q = new WorkQueue("t");
    const got = q.get();
    q.shutDown();
    expect(await got).toBeUndefined();
  });

  it("reports metrics through hooks", async () => {
    const events: string[] = [];
    const q = new WorkQueue("m", {
      hooks: {
        add: () => events.push("add"),
        depth: (_n, d) => events.push(`depth:${d}`),
        get: () => events.push("get"),
        done: () => events.push("done"),
      },
    });
    q.add("a");
    await q.get();
    vi.advanceTimersByTime(10);
    expect(q.processingStartTimes()).toHaveLength(1);
    q.done("a");
    expect(events).toEqual(["add", "depth:1", "depth:0", "get", "done"]);
  });
});
