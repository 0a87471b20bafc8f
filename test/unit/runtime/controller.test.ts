import { afterEach, describe, expect, it } from "vitest";
import { Controller, ownerKey, type ReconcileResult } from "../../../src/runtime/controller.ts";
import { TerminalError } from "../../../src/runtime/errors.ts";
import { Informer } from "../../../src/runtime/informer.ts";
import { metricsRegistry } from "../../../src/runtime/metrics.ts";
import { Resources } from "../../../src/runtime/resources.ts";
import type { KubeClient } from "../../../src/runtime/client.ts";

const tick = (ms = 5): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not met");
    await tick();
  }
}

describe("Controller", () => {
  const controllers: Controller[] = [];
  afterEach(async () => {
    await Promise.all(controllers.splice(0).map((c) => c.stop(100)));
  });

  function make(name: string, reconcile: (key: string) => Promise<ReconcileResult | void>, workers = 1): Controller {
    const c = new Controller({ name, reconcile: (k) => reconcile(k), workers, baseDelayMs: 1, maxDelayMs: 20 });
    controllers.push(c);
    return c;
  }

  it("retries errors with backoff until success, then forgets", async () => {
    let calls = 0;
    const c = make("retry", async () => {
      calls++;
      if (calls < 4) throw new Error("transient");
    });
    c.start();
    c.enqueue("ns/a");
    await until(() => calls === 4);
    await c.idle();
    expect(c.queue.delayedCount()).toBe(0); // nothing left to retry
    expect(calls).toBe(4);
    expect(c.queue.numRequeues("ns/a")).toBe(0);
    const m = await metricsRegistry.getSingleMetricAsString("controller_runtime_reconcile_total");
    expect(m).toContain('controller_runtime_reconcile_total{controller="retry",result="error"} 3');
    expect(m).toContain('controller_runtime_reconcile_total{controller="retry",result="success"} 1');
  });

  it("records a TerminalError without retrying", async () => {
    let calls = 0;
    const terminal: string[] = [];
    const c = new Controller({
      name: "terminal",
      baseDelayMs: 1,
      reconcile: async () => {
        calls++;
        throw new TerminalError("spec.shards: must be > 0");
      },
      onTerminalError: (key, err) => {
        terminal.push(`${key}: ${err.message}`);
      },
    });
    controllers.push(c);
    c.start();
    c.enqueue("x");
    await until(() => terminal.length === 1);
    await c.idle();
    expect(c.queue.delayedCount()).toBe(0); // not retried
    expect(calls).toBe(1);
    expect(terminal).toEqual(["x: spec.shards: must be > 0"]);
  });

  it("requeues after the requested delay", async () => {
    let calls = 0;
    const c = make("poll", async () => {
      calls++;
      return calls < 3 ? { requeueAfter: 10 } : {};
    });
    c.start();
    c.enqueue("k");
    await until(() => calls === 3);
    await c.idle();
    expect(c.queue.delayedCount()).toBe(0); // no further poll
    expect(calls).toBe(3);
  });

  it("never runs two reconciles of one key at once, with many workers", async () => {
    const running = new Set<string>();
    let overlap = false;
    let calls = 0;
    const c = make(
      "parallel",
      async (key) => {
        if (running.has(key)) overlap = true;
        running.add(key);
        calls++;
        await tick(2);
        running.delete(key);
      },
      4,
    );
    c.start();
    for (let i = 0; i < 50; i++) {
      c.enqueue(`k${i % 3}`);
      if (i % 7 === 0) await tick(1);
    }
    await c.idle();
    expect(overlap).toBe(false);
    expect(calls).toBeGreaterThanOrEqual(3);
  });

  it("stop() lets the reconcile in flight finish", async () => {
    let finished = false;
    const c = make("drain", async () => {
      await tick(30);
      finished = true;
    });
    c.start();
    c.enqueue("a");
    await until(() => c.queue.processingCount() === 1);
    await c.stop();
    expect(finished).toBe(true);
  });

  it("resyncAll reconciles every key of every watched cache, mapped as its events are; idle waits for them", async () => {
    const seen: string[] = [];
    const c = make("resync", async (key) => {
      seen.push(key);
    });
    // caches filled by hand: informers that are never started need no client
    const apps = new Informer(undefined as unknown as KubeClient, Resources.ConfigMap);
    const children = new Informer(undefined as unknown as KubeClient, Resources.ConfigMap);
    apps.store.upsert({ metadata: { namespace: "p", name: "account" } });
    children.store.upsert({
      metadata: {
        namespace: "p",
        name: "account-rz00",
        ownerReferences: [{ apiVersion: "v", kind: "CellApp", name: "account", uid: "u", controller: true }],
      },
    });
    children.store.upsert({
      metadata: {
        namespace: "p",
        name: "orphan",
        ownerReferences: [{ apiVersion: "v", kind: "CellApp", name: "gone", uid: "u", controller: true }],
      },
    });
    c.watch(apps).watch(children, ownerKey("CellApp"));
    c.start();
    c.resyncAll();
    await c.idle();
    expect([...new Set(seen)].sort()).toEqual(["p/account", "p/gone"]);
  });

  it("ownerKey maps a child to its controller owner", () => {
    const map = ownerKey("CellApp");
    expect(
      map({
        metadata: {
          namespace: "payments",
          name: "account-rz01",
          ownerReferences: [
            { apiVersion: "ldc.io/v1alpha1", kind: "CellApp", name: "account", uid: "u", controller: true },
          ],
        },
      }),
    ).toBe("payments/account");
    expect(map({ metadata: { namespace: "p", name: "x" } })).toBeUndefined();
    expect(
      ownerKey("Cell", { clusterScopedOwner: true })({
        metadata: {
          namespace: "p",
          name: "x",
          ownerReferences: [{ apiVersion: "v", kind: "Cell", name: "rz01", uid: "u", controller: true }],
        },
      }),
    ).toBe("rz01");
  });
});
