// The supervised informer against a real kube-apiserver: events, 410 relist,
// staleness restarts, recovery from cut connections, readiness.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestNamespace, datacenters, type Datacenter } from "../harness.ts";
import { KubeClient } from "../../../src/runtime/client.ts";
import { Informer, labelIndex, stripManagedFields } from "../../../src/runtime/informer.ts";
import { Resources } from "../../../src/runtime/resources.ts";
import type { KubeObject } from "../../../src/runtime/types.ts";
import { clientFor, compactEtcd, CuttableProxy, until } from "./helpers.ts";

interface ConfigMap extends KubeObject {
  data?: Record<string, string>;
}

describe("Informer", () => {
  let dc: Datacenter;
  let client: KubeClient;
  const informers: Informer<ConfigMap>[] = [];

  beforeAll(async () => {
    [dc] = (await datacenters()) as [Datacenter];
    client = await clientFor(dc);
  });
  afterAll(async () => {
    await Promise.all(informers.map((i) => i.stop()));
    client?.close();
  });

  function track(inf: Informer<ConfigMap>): Informer<ConfigMap> {
    informers.push(inf);
    return inf;
  }

  it("lists, then sees create, update and delete through the watch", async () => {
    const ns = await createTestNamespace(dc, "rt-inf");
    await client.create(Resources.ConfigMap, { metadata: { name: "pre", namespace: ns, labels: { cell: "rz01" } } });
    const inf = track(new Informer<ConfigMap>(client, Resources.ConfigMap, { namespace: ns }));
    inf.addIndex("cell", labelIndex("cell"));
    const log: string[] = [];
    const mine = (o: ConfigMap): boolean => o.metadata?.name !== "kube-root-ca.crt";
    inf.on({
      add: (o) => mine(o) && log.push(`add ${o.metadata?.name}`),
      update: (_old, o) => log.push(`update ${o.metadata?.name} ${o.data?.v ?? ""}`),
      delete: (o) => log.push(`delete ${o.metadata?.name}`),
    });
    inf.start();
    expect(await inf.waitForSync(30_000)).toBe(true);
    expect(inf.store.getByName("pre", ns)).toBeDefined();
    expect(inf.store.byIndex("cell", "rz01")).toHaveLength(1);

    await client.create(Resources.ConfigMap, { metadata: { name: "x", namespace: ns, labels: { cell: "rz02" } } });
    await client.mergePatch(Resources.ConfigMap, "x", ns, { data: { v: "1" } });
    await until("add and update of x", () => inf.store.getByName("x", ns)?.data?.v === "1");
    expect(inf.store.byIndex("cell", "rz02").map((o) => o.metadata?.name)).toEqual(["x"]);
    await client.delete(Resources.ConfigMap, "x", ns);
    await until("delete of x", () => inf.store.getByName("x", ns) === undefined);
    expect(log).toEqual(["add pre", "add x", "update x 1", "delete x"]);
    const s = inf.status();
    expect(s.synced && s.connected && !s.dead).toBe(true);
  });

  // After a compaction, a watch from a compacted resourceVersion gets 410 once
  // the API server has noticed the compaction; until then (up to its own
  // 5 min compaction cycle) the watch hangs silently. Either way the
  // informer must relist: on 410 at once, on a hang after two silent watches.
  it("applies its transform to listed and watched objects (stripManagedFields keeps managedFields out of the cache)", async () => {
    const ns = await createTestNamespace(dc, "rt-inf-tr");
    await client.apply({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "listed", namespace: ns },
      data: { v: "1" },
    });
    const inf = track(
      new Informer<ConfigMap>(client, Resources.ConfigMap, { namespace: ns, transform: stripManagedFields }),
    );
    const seen: ConfigMap[] = [];
    inf.on({ add: (o) => seen.push(o), update: (_old, o) => seen.push(o) });
    inf.start();
    expect(await inf.waitForSync(30_000)).toBe(true);
    await client.apply({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "watched", namespace: ns },
      data: { v: "2" },
    });
    await until("watched in the cache", () => inf.store.getByName("watched", ns));
    for (const name of ["listed", "watched"]) {
      const o = inf.store.getByName(name, ns)!;
      expect(o.metadata?.managedFields, name).toBeUndefined();
      expect(o.data, name).toBeDefined();
    }
    expect(seen.every((o) => o.metadata?.managedFields === undefined)).toBe(true);
    // the server still has them: only the cache is trimmed
    expect((await client.get<ConfigMap>(Resources.ConfigMap, "watched", ns)).metadata?.managedFields).toBeDefined();
  });

  it("recordWrite: the cache shows one's own writes at once; their watch events still reach handlers", async () => {
    const ns = await createTestNamespace(dc, "rt-inf-rw");
    const inf = track(
      new Informer<ConfigMap>(client, Resources.ConfigMap, { namespace: ns, transform: stripManagedFields }).start(),
    );
    expect(await inf.waitForSync(30_000)).toBe(true);
    const log: string[] = [];
    const mine = (o: ConfigMap): boolean => o.metadata?.name === "own";
    inf.on({
      add: (o) => mine(o) && log.push(`add ${o.data?.v}`),
      update: (old, o) => mine(o) && log.push(`update ${old.data?.v} -> ${o.data?.v}`),
    });
    const cm = (v: string) => ({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "own", namespace: ns },
      data: { v },
    });

    const created = inf.recordWrite(await client.apply<ConfigMap>(cm("1")));
    expect(inf.store.getByName("own", ns)?.data?.v).toBe("1");
    expect(inf.store.getByName("own", ns)?.metadata?.managedFields).toBeUndefined();
    expect(created.metadata?.managedFields).toBeDefined(); // the caller's object is not transformed
    inf.recordWrite(await client.apply<ConfigMap>(cm("2")));
    expect(inf.store.getByName("own", ns)?.data?.v).toBe("2");
    // the watch delivers both versions in order; the cache never goes back to 1
    await until("both watch events delivered", () => log.length === 2);
    expect(log).toEqual(["add 1", "update 1 -> 2"]);
    expect(inf.store.getByName("own", ns)?.data?.v).toBe("2");
  });

  it("relists when the watch's resourceVersion expired (410 Gone, or a hung watch) and keeps the cache right", async (ctx) => {
    const ns = await createTestNamespace(dc, "rt-410");
    if (!(await compactEtcd(dc))) ctx.skip("etcd of this cluster is not reachable to compact it");
    await client.create(Resources.ConfigMap, { metadata: { name: "a", namespace: ns } });
    const inf = track(
      new Informer<ConfigMap>(client, Resources.ConfigMap, { namespace: ns, staleAfterMs: 1500 }).start(),
    );
    await inf.waitForSync(30_000);
    await until("watch connected", () => inf.status().connected);
    expect(inf.status().lists).toBe(1);
    const deleted: string[] = [];
    inf.on({ delete: (o) => deleted.push(o.metadata?.name ?? "") });

    // deletes that the next (failing) watch will not report: the relist must
    inf.restartWatch("1");
    await client.delete(Resources.ConfigMap, "a", ns);
    await client.create(Resources.ConfigMap, { metadata: { name: "b", namespace: ns } });
    await until("relist", () => inf.status().lists >= 2, 20_000);
    await until(
      "cache matches the server",
      () => inf.store.getByName("b", ns) !== undefined && !inf.store.getByName("a", ns),
    );
    expect(deleted).toEqual(["a"]);
    await client.create(Resources.ConfigMap, { metadata: { name: "c", namespace: ns } });
    await until("events after the relist", () => inf.store.getByName("c", ns) !== undefined);
  });

  it("restarts a watch that stays silent longer than staleAfterMs (relisting after two), without losing events", async () => {
    const ns = await createTestNamespace(dc, "rt-stale");
    const inf = track(
      new Informer<ConfigMap>(client, Resources.ConfigMap, { namespace: ns, staleAfterMs: 1000 }).start(),
    );
    await inf.waitForSync(30_000);
    await until("two stale restarts", () => inf.status().watchRestarts >= 2, 15_000);
    await client.create(Resources.ConfigMap, { metadata: { name: "after-stale", namespace: ns } });
    await until("event after restarts", () => inf.store.getByName("after-stale", ns) !== undefined);
    await until("relisted after two silent watches in a row", () => inf.status().lists >= 2, 15_000);
  });

  it("recovers when connections to the API server are cut, and reports a dead watch meanwhile", async () => {
    const ns = await createTestNamespace(dc, "rt-cut");
    const proxy = new CuttableProxy(dc.kubeConfig.getCurrentCluster()!.server);
    await proxy.start();
    const viaProxy = await KubeClient.fromKubeConfig(proxy.kubeConfig(dc.kubeConfig));
    const inf = track(
      new Informer<ConfigMap>(viaProxy, Resources.ConfigMap, {
        namespace: ns,
        deadAfterMs: 500,
        backoffInitialMs: 100,
        backoffMaxMs: 400,
      }).start(),
    );
    try {
      await inf.waitForSync(30_000);
      await until("watch connected", () => inf.status().connected);

      // a blip: connections dropped, reconnect allowed
      proxy.cut();
      await client.create(Resources.ConfigMap, { metadata: { name: "during-blip", namespace: ns } });
      await until("recovered after a blip", () => inf.store.getByName("during-blip", ns) !== undefined);

      // an outage: refused for a while -> dead, then back
      proxy.cut(true);
      await until("watch reported dead", () => inf.status().dead, 10_000);
      expect(inf.status().lastError).toBeTruthy();
      await client.create(Resources.ConfigMap, { metadata: { name: "during-outage", namespace: ns } });
      expect(inf.store.getByName("during-outage", ns), "seen through a refusing proxy").toBeUndefined();
      proxy.unblock();
      await until("recovered after the outage", () => inf.store.getByName("during-outage", ns) !== undefined, 20_000);
      await until("alive again", () => !inf.status().dead && inf.status().connected);
    } finally {
      await inf.stop();
      viaProxy.close();
      await proxy.stop();
    }
  });
});
