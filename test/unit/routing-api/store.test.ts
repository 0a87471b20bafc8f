import { describe, expect, it } from "vitest";
import { MemoryTableStore, isTablePublishError } from "../../../src/routing-api/index.ts";
import { usersTable } from "../sidecar/helpers.ts";

describe("MemoryTableStore", () => {
  it("only moves forward: an epoch not greater than the current one is refused", () => {
    const store = new MemoryTableStore();
    store.publish(usersTable({ epoch: 7 }));
    for (const epoch of [7, 6, 0]) {
      let err: unknown;
      try {
        store.publish(usersTable({ epoch, frozenShards: "1" }));
      } catch (e) {
        err = e;
      }
      expect(isTablePublishError(err) && err.code).toBe("Stale");
      expect(String(err)).toContain(`epoch ${epoch} is not newer than the published epoch 7`);
    }
    expect(store.get("users")?.epoch).toBe(7);
    store.publish(usersTable({ epoch: 8 }));
    expect(store.rules()).toEqual([
      { name: "users", epoch: 8, hash: usersTable().contentHash, etag: usersTable({ epoch: 8 }).etag },
    ]);
  });

  it("refuses an invalid serialised table and keeps the current one", () => {
    const store = new MemoryTableStore();
    store.publishSerialized(usersTable({ epoch: 3 }).serialize());
    expect(() => store.publishSerialized('{"format":"nope"}')).toThrow(/invalid routing table: .*format/);
    expect(() => store.publishSerialized("not json")).toThrow(/not JSON/);
    expect(store.get("users")?.epoch).toBe(3);
  });

  it("wakes waiters with a newer table; an aborted wait resolves undefined and is forgotten", async () => {
    const store = new MemoryTableStore();
    store.publish(usersTable({ epoch: 1 }));
    expect((await store.waitForNewer("users", 0, new AbortController().signal))?.epoch).toBe(1);
    const ac = new AbortController();
    const pending = store.waitForNewer("users", 1, new AbortController().signal);
    const aborted = store.waitForNewer("users", 1, ac.signal);
    expect(store.waiters("users")).toBe(2);
    ac.abort();
    expect(await aborted).toBeUndefined();
    expect(store.waiters("users")).toBe(1);
    const seen: number[] = [];
    const unsubscribe = store.subscribe((t) => seen.push(t.epoch));
    store.publish(usersTable({ epoch: 2 }));
    expect((await pending)?.epoch).toBe(2);
    expect(store.waiters("users")).toBe(0);
    unsubscribe();
    store.publish(usersTable({ epoch: 3 }));
    expect(seen).toEqual([2]);
  });

  it("counts converged sidecars among those seen within the window", () => {
    let now = 1_000_000;
    const store = new MemoryTableStore({ ackWindowSeconds: 30, now: () => now });
    store.publish(usersTable({ epoch: 5 }));
    const ack = (sidecar: string, epoch: number) =>
      store.recordAck({ rule: "users", sidecar, cell: "rz01", zone: "hz-a", epoch });
    ack("a", 5);
    ack("b", 4);
    now += 20_000;
    ack("c", 5);
    expect(store.convergence("users")).toEqual({ epoch: 5, total: 3, converged: 2, oldestEpoch: 4, windowSeconds: 30 });
    now += 15_000; // a and b are now 35 s old
    expect(store.convergence("users")).toEqual({ epoch: 5, total: 1, converged: 1, oldestEpoch: 5, windowSeconds: 30 });
    ack("b", 5); // b catches up
    expect(store.convergence("users")).toMatchObject({ total: 2, converged: 2, oldestEpoch: 5 });
    expect(store.convergence("nope")).toEqual({
      epoch: undefined,
      total: 0,
      converged: 0,
      oldestEpoch: undefined,
      windowSeconds: 30,
    });
  });

  it("bounds the sidecars remembered per rule", () => {
    const store = new MemoryTableStore({ maxSidecarsPerRule: 3 });
    for (let i = 0; i < 10; i++)
      store.recordAck({ rule: "users", sidecar: `s${i}`, cell: "rz01", zone: "hz-a", epoch: 1 });
    expect(store.acks("users").map((a) => a.sidecar)).toEqual(["s7", "s8", "s9"]);
  });
});
