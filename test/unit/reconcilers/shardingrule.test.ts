import { describe, expect, it } from "vitest";
import { parseResource, type ShardingRule } from "../../../src/api/index.ts";
import { Annotations, Labels, routingTableName } from "../../../src/reconcilers/naming.ts";
import { cellsOfRule, resolveRule, routingInput } from "../../../src/reconcilers/routing.ts";
import {
  ACK_WARMUP_MS,
  planRuleRemoval,
  planShardingRule,
  RuleResolver,
  type ShardingRuleObservation,
  type ZonePublication,
} from "../../../src/reconcilers/shardingrule.ts";
import { buildTable } from "../../../src/routing/index.ts";
import { validExamples } from "../api/examples.ts";
import { topology, withStatus } from "./fixtures.ts";

const NOW = new Date("2026-11-30T10:00:00Z");

function usersRule(status?: ShardingRule["status"]): ShardingRule {
  const e = validExamples().find((x) => x.obj.kind === "ShardingRule")!;
  const r = parseResource("ShardingRule", {
    ...e.obj,
    metadata: { ...e.obj.metadata, uid: "uid-users", generation: 2 },
  });
  if (!r.ok) throw new Error(r.errors.join("; "));
  return { ...(r.value as ShardingRule), ...(status ? { status } : {}) };
}

/** hz-a in the operator's own cluster, hz-b and sh-a in member clusters; all reachable, nothing published. */
function publications(over: Partial<Record<string, Partial<ZonePublication>>> = {}): ZonePublication[] {
  return [
    { zone: "hz-a", cluster: "local", reachable: true, publishedEpochs: {} },
    { zone: "hz-b", cluster: "zone-hz-b", reachable: true, publishedEpochs: {} },
    { zone: "sh-a", cluster: "zone-sh-a", reachable: true, publishedEpochs: {} },
  ].map((p) => ({ ...p, ...over[p.zone] }));
}

function observe(over: Partial<ShardingRuleObservation> = {}): ShardingRuleObservation {
  const { cells, zones } = topology();
  const rule = over.rule ?? usersRule();
  return {
    rule,
    cells: cellsOfRule(rule, over.cells ?? cells),
    zones,
    current: undefined,
    epochFloor: undefined,
    namespaces: ["shop", "web"],
    publications: publications(),
    ackedEpochs: [],
    acksSince: new Date(NOW.getTime() - 60_000),
    now: NOW,
    ...over,
  };
}

/** The hash of the users rule resolved against the example topology. */
function usersHash(): string {
  const { cells, zones } = topology();
  return resolveRule(usersRule(), cells, zones).table!.contentHash;
}

function tableAt(epoch: number) {
  const { cells, zones } = topology();
  return buildTable(routingInput(usersRule(), cells, zones, epoch));
}

describe("planShardingRule", () => {
  it("a new rule: records epoch 1 first, then publishes it to the API and every zone's namespaces", () => {
    const plan = planShardingRule(observe());
    expect(plan.recordEpoch).toEqual({ epoch: 1, tableHash: usersHash() });
    expect(plan.publish?.epoch).toBe(1);
    expect(plan.configMaps.map((c) => [c.cluster, c.object.metadata.namespace])).toEqual([
      ["local", "shop"],
      ["local", "web"],
      ["zone-hz-b", "shop"],
      ["zone-hz-b", "web"],
      ["zone-sh-a", "shop"],
      ["zone-sh-a", "web"],
    ]);
    const cm = plan.configMaps[0]!.object;
    expect(cm.metadata.name).toBe(routingTableName("users"));
    expect(cm.metadata.labels[Labels.rule]).toBe("users");
    expect(cm.metadata.annotations[Annotations.epoch]).toBe("1");
    expect(cm.metadata.annotations[Annotations.tableHash]).toBe(usersHash());
    expect(plan.status).toMatchObject({
      observedGeneration: 2,
      epoch: 1,
      tableHash: usersHash(),
      publishedZones: ["hz-a", "hz-b", "sh-a"],
      sidecars: { total: 0, converged: 0 },
    });
    const cond = (type: string) => plan.status.conditions?.find((c) => c.type === type);
    expect(cond("Valid")).toMatchObject({ status: "True", observedGeneration: 2 });
    expect(cond("Valid")!.message).toMatch(/^every shard owned by exactly one cell: rz00 0-24/);
    expect(cond("Published")).toMatchObject({ status: "True", reason: "Published" });
    expect(cond("Published")!.message).toBe("epoch 1 published to 3 zone(s) in namespace(s) shop, web");
    expect(plan.events).toEqual([
      { type: "Normal", reason: "EpochPublished", message: expect.stringMatching(/^routing epoch 1: rz00 0-24/) },
    ]);
    expect(plan.requeueAfterMs).toBe(15_000);
  });

  it("unchanged content keeps its epoch: nothing recorded, the API's table reused", () => {
    const current = tableAt(4);
    const plan = planShardingRule(
      observe({
        rule: usersRule({ epoch: 4, tableHash: usersHash() }),
        current,
        publications: publications({ "hz-a": { publishedEpochs: { shop: 4, web: 4 } } }),
      }),
    );
    expect(plan.recordEpoch).toBeUndefined();
    expect(plan.publish).toBeUndefined();
    expect(plan.events).toEqual([]);
    expect(plan.status.epoch).toBe(4);
    // Only where epoch 4 is missing.
    expect(plan.configMaps.map((c) => c.cluster)).toEqual(["zone-hz-b", "zone-hz-b", "zone-sh-a", "zone-sh-a"]);
    expect(plan.configMaps[0]!.object.data["table.json"]).toBe(current.serialize());
  });

  it("a content change takes one epoch above the operator's records: status, a deleted rule's floor, the API", () => {
    const rule = usersRule({ epoch: 3, tableHash: "old" });
    expect(planShardingRule(observe({ rule, epochFloor: 7 })).recordEpoch?.epoch).toBe(8);
    expect(planShardingRule(observe({ rule, current: tableAt(9) })).recordEpoch?.epoch).toBe(10);
    expect(planShardingRule(observe({ rule })).recordEpoch?.epoch).toBe(4);
  });

  it("never takes an epoch from a ConfigMap in a zone (anyone able to create one could forge it)", () => {
    const rule = usersRule({ epoch: 3, tableHash: "old" });
    const forged = publications({ "hz-b": { publishedEpochs: { shop: 9_007_199_254_740_000 } } });
    expect(planShardingRule(observe({ rule, publications: forged })).recordEpoch?.epoch).toBe(4);
  });

  it("after a restart (empty routing API) the recorded epoch is published again, never a lower one", () => {
    const plan = planShardingRule(
      observe({
        rule: usersRule({ epoch: 5, tableHash: usersHash() }),
        publications: publications({ "hz-b": { publishedEpochs: { shop: 5, web: 6 } } }),
      }),
    );
    expect(plan.recordEpoch).toBeUndefined();
    expect(plan.publish?.epoch).toBe(5);
    // A ConfigMap holding the same or a newer epoch is never overwritten.
    expect(plan.configMaps.some((c) => c.cluster === "zone-hz-b")).toBe(false);
    expect(plan.configMaps.every((c) => c.object.metadata.annotations[Annotations.epoch] === "5")).toBe(true);
  });

  it("a cell moved by a failover changes the content: a new epoch whose event says what moved", () => {
    const { cells } = topology();
    const moved = cells.map((c) => (c.metadata.name === "rz00" ? withStatus(c, { activeZone: "hz-b" }) : c));
    const plan = planShardingRule(
      observe({ rule: usersRule({ epoch: 4, tableHash: usersHash() }), cells: moved, current: tableAt(4) }),
    );
    expect(plan.recordEpoch?.epoch).toBe(5);
    expect(plan.publish?.ownerOf(0).zone).toBe("hz-b");
    expect(plan.events[0]!.message).toMatch(/^routing epoch 5: /);
  });

  it("an invalid rule keeps the last good table and says why, once", () => {
    const good = usersRule({ epoch: 4, tableHash: usersHash() });
    const rule = { ...good, spec: { ...good.spec, assignments: good.spec.assignments.slice(1) } };
    const plan = planShardingRule(observe({ rule, current: tableAt(4) }));
    expect(plan.recordEpoch).toBeUndefined();
    expect(plan.publish).toBeUndefined();
    expect(plan.configMaps).toEqual([]);
    expect(plan.status.epoch).toBe(4);
    expect(plan.status.tableHash).toBe(usersHash());
    const valid = plan.status.conditions?.find((c) => c.type === "Valid");
    expect(valid).toMatchObject({ status: "False", reason: "InvalidRule", observedGeneration: 2 });
    expect(valid!.message).toMatch(/0-24/);
    expect(plan.events).toEqual([
      expect.objectContaining({
        type: "Warning",
        reason: "InvalidRule",
        message: expect.stringMatching(/epoch 4 stays in force/),
      }),
    ]);
    expect(plan.requeueAfterMs).toBeUndefined();
    // The next reconcile, on the status it wrote: nothing new to say.
    const again = planShardingRule(observe({ rule: { ...rule, status: plan.status }, current: tableAt(4) }));
    expect(again.status).toEqual(plan.status);
    expect(again.events).toEqual([]);
  });

  it("an unreachable or unconnected zone: Published=False naming it, the others published, looked at again", () => {
    const plan = planShardingRule(
      observe({
        publications: publications({ "hz-b": { reachable: false }, "sh-a": { cluster: undefined, reachable: false } }),
      }),
    );
    expect(plan.configMaps.map((c) => c.cluster)).toEqual(["local", "local"]);
    expect(plan.status.publishedZones).toEqual(["hz-a"]);
    const published = plan.status.conditions?.find((c) => c.type === "Published");
    expect(published).toMatchObject({ status: "False", reason: "ZonesUnreachable" });
    expect(published!.message).toBe(
      "epoch 1 not yet in zone(s) hz-b, sh-a (unreachable); sidecars there keep their last table",
    );
    expect(plan.requeueAfterMs).toBe(10_000);
  });

  it("a cluster serving several zones gets one ConfigMap per namespace", () => {
    const plan = planShardingRule(
      observe({ publications: publications({ "hz-b": { cluster: "local" }, "sh-a": { cluster: "local" } }) }),
    );
    expect(plan.configMaps.map((c) => [c.cluster, c.object.metadata.namespace])).toEqual([
      ["local", "shop"],
      ["local", "web"],
    ]);
    expect(plan.status.publishedZones).toEqual(["hz-a", "hz-b", "sh-a"]);
  });

  it("relays on: every zone's cluster also gets the table in the relay namespace, apps or not, once per cluster, never over the same epoch", () => {
    const plan = planShardingRule(
      observe({
        relayNamespace: "ldc-system",
        publications: publications({ "sh-a": { cluster: "zone-hz-b" } }),
      }),
    );
    expect(plan.configMaps.map((c) => [c.cluster, c.object.metadata.namespace])).toEqual([
      ["local", "shop"],
      ["local", "web"],
      ["local", "ldc-system"],
      ["zone-hz-b", "shop"],
      ["zone-hz-b", "web"],
      ["zone-hz-b", "ldc-system"],
    ]);
    const relayed = plan.configMaps.find((c) => c.object.metadata.namespace === "ldc-system")!.object;
    expect(relayed.metadata.name).toBe(routingTableName("users"));
    expect(relayed.metadata.labels).toMatchObject({ [Labels.routingTable]: "true", [Labels.rule]: "users" });
    expect(relayed.metadata.annotations[Annotations.epoch]).toBe("1");

    // No apps: still published for the relays; a relay namespace already at this epoch is left alone;
    // a relay namespace that is also an app namespace gets one ConfigMap.
    const noApps = planShardingRule(
      observe({
        namespaces: ["ldc-system"],
        relayNamespace: "ldc-system",
        publications: publications({ "hz-b": { publishedEpochs: { "ldc-system": 1 } } }),
      }),
    );
    expect(noApps.configMaps.map((c) => [c.cluster, c.object.metadata.namespace])).toEqual([
      ["local", "ldc-system"],
      ["zone-sh-a", "ldc-system"],
    ]);
  });

  it("no apps yet: nothing to apply, said in the Published condition", () => {
    const plan = planShardingRule(observe({ namespaces: [] }));
    expect(plan.configMaps).toEqual([]);
    expect(plan.status.conditions?.find((c) => c.type === "Published")?.message).toBe(
      "epoch 1 published to 3 zone(s) in namespace(s) (no apps yet)",
    );
  });

  it("counts the sidecars holding the epoch, and looks again soon while some lag", () => {
    const plan = planShardingRule(
      observe({ rule: usersRule({ epoch: 4, tableHash: usersHash() }), current: tableAt(4), ackedEpochs: [4, 4, 3] }),
    );
    expect(plan.status.sidecars).toEqual({ total: 3, converged: 2 });
    expect(plan.requeueAfterMs).toBe(1000);
  });

  it("a restarted operator keeps the last sidecar count until it has listened for an ack interval", () => {
    const rule = usersRule({ epoch: 4, tableHash: usersHash(), sidecars: { total: 5, converged: 5 } });
    const base = { rule, current: tableAt(4), ackedEpochs: [4, 4] };
    const warming = planShardingRule(observe({ ...base, acksSince: new Date(NOW.getTime() - 1000) }));
    expect(warming.status.sidecars).toEqual({ total: 5, converged: 5 });
    const listened = planShardingRule(observe({ ...base, acksSince: new Date(NOW.getTime() - ACK_WARMUP_MS) }));
    expect(listened.status.sidecars).toEqual({ total: 2, converged: 2 });
    // More sidecars than recorded count at once, warm-up or not.
    const more = planShardingRule(
      observe({ ...base, ackedEpochs: [4, 4, 4, 4, 4, 4], acksSince: new Date(NOW.getTime() - 1000) }),
    );
    expect(more.status.sidecars).toEqual({ total: 6, converged: 6 });
  });
});

describe("RuleResolver", () => {
  it("resolves again only when something it reads changed; a new one starts empty", () => {
    const { cells, zones } = topology();
    const rule = usersRule();
    const resolver = new RuleResolver();
    const first = resolver.resolve(rule, cells, zones);
    expect(
      resolver.resolve(
        rule,
        cells.map((c) => withStatus(c, { conditions: [] })),
        zones,
      ),
    ).toBe(first);
    const moved = cells.map((c) => (c.metadata.name === "rz00" ? withStatus(c, { activeZone: "hz-b" }) : c));
    const second = resolver.resolve(rule, moved, zones);
    expect(second).not.toBe(first);
    expect(second.table!.ownerOf(0).zone).toBe("hz-b");
    expect(new RuleResolver().resolve(rule, cells, zones)).not.toBe(first);
    resolver.forget("users");
    expect(resolver.resolve(rule, moved, zones)).not.toBe(second);
  });
});

describe("planRuleRemoval", () => {
  const table = { name: routingTableName("users"), namespace: "shop" };

  it("deletes what is left in every cluster that answers; unreachable ones are retried, never block", () => {
    const plan = planRuleRemoval([
      { cluster: "local", reachable: true, tables: [table, { ...table, namespace: "web" }] },
      { cluster: "zone-hz-b", reachable: false, tables: [table] },
      { cluster: "zone-sh-a", reachable: true, tables: [table] },
      { cluster: "zone-gone", reachable: false, tables: [] },
    ]);
    expect(plan.deletes).toEqual([
      { cluster: "local", configMap: table },
      { cluster: "local", configMap: { ...table, namespace: "web" } },
      { cluster: "zone-sh-a", configMap: table },
    ]);
    expect(plan.pending).toEqual(["zone-hz-b"]);
    expect(plan.requeueAfterMs).toBe(10_000);
  });

  it("nothing left: nothing to do, no requeue", () => {
    expect(planRuleRemoval([{ cluster: "local", reachable: true, tables: [] }])).toEqual({
      deletes: [],
      pending: [],
      requeueAfterMs: undefined,
    });
  });
});
