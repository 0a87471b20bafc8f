import { describe, expect, it } from "vitest";
import { AckConfigMapWriter, AckMap, ackConfigMapName } from "../../../src/relay/index.ts";
import type { KubeClient } from "../../../src/runtime/index.ts";

const H1 = "a".repeat(64);
const H2 = "b".repeat(64);
const ack = (sidecar: string, epoch: number, hash = H1, rule = "users") => ({
  rule,
  sidecar,
  cell: "c1",
  zone: "z1",
  epoch,
  hash,
});

describe("AckMap", () => {
  it("changes only when an epoch, hash or entry changes: periodic re-acks are quiet", () => {
    let t = 0;
    const m = new AckMap({ now: () => t });
    expect(m.record(ack("shop/p1", 3))).toBe(true);
    t = 10_000;
    expect(m.record(ack("shop/p1", 3))).toBe(false);
    expect(m.record(ack("shop/p1", 3, H2))).toBe(true);
    expect(m.record(ack("shop/p1", 4, H2))).toBe(true);
    expect(JSON.parse(m.data().users!)).toEqual({ "shop/p1": [4, H2, "z1", "c1"] });
  });
  it("drops entries not renewed within the TTL, and only those", () => {
    let t = 0;
    const m = new AckMap({ ttlMs: 30_000, now: () => t });
    m.record(ack("shop/old", 1));
    t = 20_000;
    m.record(ack("shop/new", 1));
    t = 30_000;
    expect(m.expire()).toBe(true);
    expect(Object.keys(JSON.parse(m.data().users!))).toEqual(["shop/new"]);
    expect(m.expire()).toBe(false);
    t = 50_000;
    expect(m.expire()).toBe(true);
    expect(m.data()).toEqual({});
  });
  it("holds at most maxPodsPerRule pods per rule and stays under its byte budget", () => {
    let t = 0;
    const m = new AckMap({ maxPodsPerRule: 100, maxBytes: 5_000, now: () => t });
    for (let i = 0; i < 10_000; i++) {
      t = i;
      m.record(ack(`shop/p${i}`, 1));
    }
    expect(m.size).toBe(100);
    const data = m.data();
    expect(Object.values(data).reduce((n, v) => n + v.length, 0)).toBeLessThanOrEqual(5_000);
    expect(Object.keys(JSON.parse(data.users!))).toContain("shop/p9999");
  });
  it("names the ConfigMap after the relay pod, within the name limit", () => {
    expect(ackConfigMapName("ldc-relay-5d4-x")).toBe("ldc-acks-ldc-relay-5d4-x");
    expect(ackConfigMapName("p".repeat(253)).length).toBeLessThanOrEqual(253);
  });
});

/** A fake client recording the ConfigMap writes. */
function fakeClient() {
  const writes: { verb: string; data: Record<string, string> }[] = [];
  let rv = 0;
  let exists = false;
  const client = {
    tryGet: async () => (exists ? { metadata: { resourceVersion: String(rv) } } : undefined),
    create: async (_r: unknown, o: { data: Record<string, string> }) => {
      exists = true;
      writes.push({ verb: "create", data: o.data });
      return { metadata: { resourceVersion: String(++rv) } };
    },
    update: async (_r: unknown, o: { data: Record<string, string>; metadata: { resourceVersion?: string } }) => {
      if (o.metadata.resourceVersion !== String(rv)) throw new Error("conflict");
      writes.push({ verb: "update", data: o.data });
      return { metadata: { resourceVersion: String(++rv) } };
    },
  } as unknown as KubeClient;
  return { client, writes };
}

describe("AckConfigMapWriter", () => {
  it("coalesces a burst of changes into few writes and writes nothing in steady state", async () => {
    const { client, writes } = fakeClient();
    const acks = new AckMap();
    const w = new AckConfigMapWriter({ client, namespace: "ldc-system", pod: "relay-1", acks, coalesceMs: 50 });
    w.start();
    await w.idle();
    expect(writes).toEqual([{ verb: "create", data: {} }]);
    for (let i = 0; i < 200; i++) if (acks.record(ack(`shop/p${i}`, 2))) w.changed();
    await w.idle();
    // The first change of the burst may go alone; the rest share one write.
    expect(writes.length).toBeLessThanOrEqual(3);
    expect(Object.keys(JSON.parse(writes.at(-1)!.data.users!))).toHaveLength(200);
    const before = writes.length;
    for (let i = 0; i < 200; i++) if (acks.record(ack(`shop/p${i}`, 2))) w.changed();
    await w.idle();
    expect(writes.length).toBe(before);
    await w.stop();
  });

  it("writes a swap's burst of acks, arriving over some milliseconds, in one write", async () => {
    const { client, writes } = fakeClient();
    const acks = new AckMap();
    const w = new AckConfigMapWriter({
      client,
      namespace: "ldc-system",
      pod: "relay-1",
      acks,
      coalesceMs: 0,
      settleMs: 2000,
    });
    w.start();
    await w.idle();
    for (let i = 0; i < 40; i++) {
      if (acks.record(ack(`shop/p${i}`, 3))) w.changed();
      if (i % 10 === 9) await new Promise((r) => setTimeout(r, 5));
    }
    await w.idle();
    expect(writes).toHaveLength(2);
    expect(Object.keys(JSON.parse(writes[1]!.data.users!))).toHaveLength(40);
    await w.stop();
  });
});
