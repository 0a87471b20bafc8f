import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseResource, type ShardingRule } from "../../../src/api/index.ts";
import { chooseEpoch, resolveRule, routingInput, rulesRoutingTo } from "../../../src/reconcilers/routing.ts";
import { buildTable } from "../../../src/routing/index.ts";
import { validExamples } from "../api/examples.ts";
import { topology, withStatus } from "./fixtures.ts";

function usersRule(): ShardingRule {
  const e = validExamples().find((x) => x.obj.kind === "ShardingRule")!;
  const r = parseResource("ShardingRule", e.obj);
  if (!r.ok) throw new Error(r.errors.join("; "));
  return r.value as ShardingRule;
}

describe("resolveRule", () => {
  it("resolves the example rule: every shard to one cell in that cell's active zone", () => {
    const { cells, zones } = topology();
    const resolved = resolveRule(usersRule(), cells, zones);
    expect(resolved.problems).toEqual([]);
    const t = resolved.table!;
    expect(t.ownerOf(0).name).toBe("rz00");
    expect(t.ownerOf(0).zone).toBe("hz-a");
    expect(t.ownerOf(99).name).toBe("rz03");
    // uid ...1234 -> shard 23 -> rz00
    expect(t.ownerOf(t.shardOf("20881234")).name).toBe("rz00");
  });

  it("follows a cell's active zone and its write freeze", () => {
    const { cells, zones } = topology();
    const moved = cells.map((c) =>
      c.metadata.name === "rz00"
        ? { ...withStatus(c, { activeZone: "hz-b" }), moving: { writeFrozen: true, failover: "fo" } }
        : c,
    );
    const t = resolveRule(usersRule(), moved, zones).table!;
    expect(t.ownerOf(10).zone).toBe("hz-b");
    expect(t.isFrozen(10)).toBe(true);
    expect(t.isFrozen(30)).toBe(false);
    const before = resolveRule(usersRule(), cells, zones).table!;
    expect(t.contentHash).not.toBe(before.contentHash);
  });

  it("names overlapping and missing ranges and unknown cells instead of throwing", () => {
    const { cells, zones } = topology();
    const rule = usersRule();
    const overlap = {
      ...rule,
      spec: {
        ...rule.spec,
        assignments: [
          { cell: "rz00", shards: "0-30" },
          { cell: "rz01", shards: "25-89" },
        ],
      },
    };
    const r = resolveRule(overlap, cells, zones);
    expect(r.table).toBeUndefined();
    const text = r.problems.map((p) => p.message).join("\n");
    expect(text).toMatch(/25-30/);
    expect(text).toMatch(/90-99/);
    const ghost = {
      ...rule,
      spec: { ...rule.spec, assignments: [...rule.spec.assignments.slice(1), { cell: "nope", shards: "0-24" }] },
    };
    expect(resolveRule(ghost, cells, zones).problems[0]!.message).toMatch(/Cell nope does not exist/);
  });
});

describe("chooseEpoch", () => {
  it("keeps the epoch while the content is unchanged", () => {
    expect(chooseEpoch("h1", { epoch: 7, tableHash: "h1" }, [7])).toBe(7);
  });

  it("never repeats or goes back: a change takes one above everything seen", () => {
    fc.assert(
      fc.property(fc.option(fc.nat(1e6), { nil: undefined }), fc.array(fc.nat(1e6)), (recorded, seen) => {
        const e = chooseEpoch(
          "new",
          { ...(recorded !== undefined ? { epoch: recorded } : {}), tableHash: "old" },
          seen,
        );
        expect(e).toBeGreaterThan(recorded ?? 0);
        for (const s of seen) expect(e).toBeGreaterThan(s);
      }),
    );
  });

  it("recovers from a lost status write: a published epoch higher than the recorded one is never reused", () => {
    expect(chooseEpoch("h2", { epoch: 3, tableHash: "h1" }, [5])).toBe(6);
  });
});

describe("rulesRoutingTo", () => {
  const cell = (name: string) => topology().cells.find((c) => c.metadata.name === name)!;
  const users = usersRule();
  const orders = {
    ...users,
    metadata: { ...users.metadata, name: "orders" },
    spec: { ...users.spec, assignments: [{ cell: "rz01", shards: "0-99" }], globalCell: undefined },
  };
  const names = (cells: string[]) => rulesRoutingTo([users, orders], cells.map(cell)).map((r) => r.metadata.name);

  it("finds the rules naming a cell in an assignment or as the global cell", () => {
    expect(names(["rz00"])).toEqual(["users"]);
    expect(names(["rz01"])).toEqual(["users", "orders"]);
    // orders names neither rz02 nor a global cell.
    expect(names(["rz02"])).toEqual(["users"]);
    expect(names(["gz00"])).toEqual(["users"]);
    expect(names(["rz00", "gz00"])).toEqual(["users"]);
    expect(names([])).toEqual([]);
  });

  it("a City cell serves every rule's reads in its city: every rule routes to it", () => {
    expect(cell("cz-hangzhou").spec.type).toBe("City");
    expect(names(["cz-hangzhou"])).toEqual(["users", "orders"]);
  });
});

describe("routingInput", () => {
  it("is accepted by the routing core with every routed cell's region", () => {
    const { cells, zones } = topology();
    const input = routingInput(usersRule(), cells, zones, 4);
    expect(input.cells.every((c) => c.region === "hangzhou" || c.region === "shanghai")).toBe(true);
    expect(buildTable(input).epoch).toBe(4);
  });
});

describe("covers", () => {
  it("compares what the operator sets, ignoring what the API server or others add", async () => {
    const { covers } = await import("../../../src/reconcilers/compare.ts");
    const desired = {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "a", labels: { x: "1" } },
      spec: { replicas: 2 },
    };
    // As the cache holds it (KubeClient.list restores apiVersion/kind on list items).
    const listed = {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "a", labels: { x: "1", extra: "y" }, uid: "u" },
      spec: { replicas: 2, paused: false },
    };
    expect(covers(listed, desired)).toBe(true);
    expect(covers({ ...listed, spec: { replicas: 3 } }, desired)).toBe(false);
    expect(covers({ ...listed, metadata: { name: "a", labels: {} } }, desired)).toBe(false);
  });
});
