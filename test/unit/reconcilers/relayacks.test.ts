import { describe, expect, it } from "vitest";
import type { Zone } from "../../../src/api/index.ts";
import { ackZone, parseAckConfigMap, RelayAckIngester } from "../../../src/controllers/relayacks.ts";
import { MemoryTableStore } from "../../../src/routing-api/index.ts";
import { usersTable } from "../sidecar/helpers.ts";

const cm = (entries: Record<string, unknown>, rule = "users") => ({ data: { [rule]: JSON.stringify(entries) } });

function storeAt(epoch: number) {
  const store = new MemoryTableStore();
  for (let e = 1; e <= epoch; e++) store.publish(usersTable({ epoch: e }));
  return store;
}

describe("operator-side ingestion of the relays' ack ConfigMaps", () => {
  it("records a valid entry as the pod's ack in the cluster's zone, and wakes the ack listeners", () => {
    const store = storeAt(3);
    const heard: string[] = [];
    store.subscribeAcks((a) => heard.push(a.sidecar));
    const hash = store.get("users")!.contentHash;
    const ing = new RelayAckIngester(store);
    const n = ing.set(
      "zone-hz-b/ldc-system/ldc-acks-r1",
      parseAckConfigMap(cm({ "shop/app-1": [3, hash, "hz-x", "rz01"] })),
      () => "hz-b",
    );
    expect(n).toBe(1);
    expect(store.acks("users")).toMatchObject([{ sidecar: "shop/app-1", zone: "hz-b", cell: "rz01", epoch: 3, hash }]);
    expect(heard).toEqual(["shop/app-1"]);
  });

  it("ignores forged entries: an epoch never published, another hash at the published epoch, malformed ones", () => {
    const store = storeAt(3);
    const hash = store.get("users")!.contentHash;
    const other = "f".repeat(64);
    const ing = new RelayAckIngester(store);
    const entries = parseAckConfigMap({
      data: {
        users: JSON.stringify({
          "shop/ahead": [4, hash, "z", "c"],
          "shop/forged": [3, other, "z", "c"],
          "shop/older": [2, other, "z", "c"],
          "Not A Pod": [3, hash, "z", "c"],
          "shop/neg": [-1, hash, "z", "c"],
          "shop/short": [3],
        }),
        orders: JSON.stringify({ "shop/x": [1, hash, "z", "c"] }), // no such rule published
        junk: "{not json",
        arr: "[1,2]",
      },
    });
    expect(entries.map((e) => e.sidecar).sort()).toEqual(["shop/ahead", "shop/forged", "shop/older", "shop/x"]);
    ing.set("zone-hz-b/ns/cm", entries, () => "hz-b");
    // Only the older epoch stands (any content: it is behind, which only holds the barrier back).
    expect(store.acks("users").map((a) => [a.sidecar, a.epoch])).toEqual([["shop/older", 2]]);
    expect(store.acks("orders")).toEqual([]);
  });

  it("takes a pod's highest epoch over relay replicas, and re-records what the ConfigMaps hold on refresh", () => {
    let t = 0;
    const store = new MemoryTableStore({ now: () => t });
    for (let e = 1; e <= 3; e++) store.publish(usersTable({ epoch: e }));
    const hash = store.get("users")!.contentHash;
    const ing = new RelayAckIngester(store);
    ing.set("c/ns/a", parseAckConfigMap(cm({ "shop/p": [3, hash, "z", "c"] })), () => "z");
    ing.set("c/ns/b", parseAckConfigMap(cm({ "shop/p": [2, "e".repeat(64), "z", "c"] })), () => "z");
    expect(store.acks("users")).toMatchObject([{ sidecar: "shop/p", epoch: 3 }]);
    t = 25_000;
    expect(ing.refresh()).toBe(1);
    t = 50_000;
    expect(store.acks("users")).toMatchObject([{ sidecar: "shop/p", epoch: 3 }]);
    ing.delete("c/ns/a");
    ing.delete("c/ns/b");
    expect(ing.refresh()).toBe(0);
  });

  it("a member cluster's acks count for its zone; the operator's cluster's for a claimed zone that lives there", () => {
    const zones = [
      { metadata: { name: "home-a" }, spec: {} },
      { metadata: { name: "hz-b" }, spec: { cluster: { kubeconfigSecret: "x" } } },
    ] as unknown as Zone[];
    expect(ackZone({ name: "zone-hz-b", local: false }, zones, "home-a")).toBe("hz-b");
    expect(ackZone({ name: "local", local: true }, zones, "home-a")).toBe("home-a");
    expect(ackZone({ name: "local", local: true }, zones, "hz-b")).toBeUndefined();
    expect(ackZone({ name: "local", local: true }, zones, "nowhere")).toBeUndefined();
  });
});
