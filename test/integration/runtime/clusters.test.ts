// The cluster registry with real member clusters: reachability, caches per
// cluster, replacement and removal.
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { datacenters, type Datacenter } from "../harness.ts";
import { ClusterRegistry, type ClusterChange } from "../../../src/runtime/clusters.ts";
import { Resources } from "../../../src/runtime/resources.ts";
import { clientFor, until } from "./helpers.ts";

describe("ClusterRegistry", () => {
  let dc1: Datacenter;
  let dc2: Datacenter;
  const registry = new ClusterRegistry({ probeIntervalMs: 300, probeTimeoutMs: 1000 });
  const changes: ClusterChange[] = [];

  beforeAll(async () => {
    [dc1, dc2] = (await datacenters()) as [Datacenter, Datacenter];
    registry.onChange((c) => changes.push(c));
  });
  afterAll(async () => {
    await registry.stop();
  });

  it("holds a client and caches per cluster, probes reachability, replaces and removes members", async () => {
    await registry.setLocal(dc1.name, await clientFor(dc1));
    const member = await registry.setMember(dc2.name, readFileSync(dc2.kubeconfigPath, "utf8"));
    expect(member.reachable).toBe(true);
    expect(registry.get(dc1.name)?.reachable).toBe(true);

    // the member's nodes are those of its zone
    const nodes = member.informer(Resources.Node);
    expect(await nodes.waitForSync(30_000)).toBe(true);
    const zones = new Set(nodes.store.list().map((n) => n.metadata?.labels?.["topology.kubernetes.io/zone"]));
    expect([...zones]).toEqual([dc2.zone]);
    expect(member.informer(Resources.Node)).toBe(nodes); // shared

    // same kubeconfig: nothing happens
    expect(await registry.setMember(dc2.name, readFileSync(dc2.kubeconfigPath, "utf8"))).toBe(member);

    // a changed kubeconfig pointing nowhere: old caches torn down, the new one is unreachable
    const broken = readFileSync(dc2.kubeconfigPath, "utf8").replace(
      /server: https:\/\/127\.0\.0\.1:\d+/,
      "server: https://127.0.0.1:1",
    );
    const replaced = await registry.setMember(dc2.name, broken);
    expect(replaced).not.toBe(member);
    expect(replaced.reachable).toBe(false);
    expect(replaced.state.lastError).toBeTruthy();
    expect(nodes.status().dead).toBe(true); // stopped

    // back to the good kubeconfig: reachable again, with a change callback on the way
    const good = await registry.setMember(dc2.name, readFileSync(dc2.kubeconfigPath, "utf8"));
    expect(good.reachable).toBe(true);
    expect(changes.filter((c) => c.type === "replaced")).toHaveLength(2);

    await registry.remove(dc2.name);
    expect(registry.get(dc2.name)).toBeUndefined();
    expect(changes.at(-1)).toEqual({ type: "removed", name: dc2.name });
    // an unreachable member does not make the operator unready; the local caches do
    expect(registry.readiness().every((r) => r.ok)).toBe(true);
  });

  it("reports reachability changes to callbacks", async () => {
    const member = await registry.setMember(
      "flaky",
      readFileSync(dc2.kubeconfigPath, "utf8").replace(
        /server: https:\/\/127\.0\.0\.1:\d+/,
        "server: https://127.0.0.1:1",
      ),
    );
    expect(member.reachable).toBe(false);
    const { since, lastProbe } = member.state;
    // two more probes (every 300 ms), both failing
    let seen = lastProbe!;
    for (let probes = 0; probes < 2; probes++) {
      const previous = seen;
      seen = await until("probed again", () => {
        const now = member.state.lastProbe;
        return now && now > previous ? now : undefined;
      });
    }
    expect(member.reachable).toBe(false);
    expect(member.state.since).toEqual(since); // unchanged while still unreachable
    await registry.remove("flaky");
  });
});
