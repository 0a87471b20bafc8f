import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { RoutingTableInput, TableDiff } from "../../../src/routing/index.ts";
import { applyDiff, buildTable, diffTables, RoutingRuleError, summarizeDiff } from "../../../src/routing/index.ts";
import type { GeneratedRule } from "./arbitraries.ts";
import { assignmentsOf, runsArb, ruleArb, ZONES } from "./arbitraries.ts";
import { CELLS, USERS } from "./fixtures.ts";

/** B from A: some shards change owner, some freeze or unfreeze, some cells move zone. */
const mutatedPairArb: fc.Arbitrary<[RoutingTableInput, RoutingTableInput]> = ruleArb().chain((a: GeneratedRule) => {
  const regional = a.input.cells.filter((c) => c.type === "Regional").map((c) => c.name);
  const n = a.input.shards;
  return fc
    .record({
      owners: runsArb(n, fc.option(fc.constantFrom(...regional), { freq: 2 })),
      frozen: runsArb(n, fc.option(fc.boolean(), { freq: 2 })),
      zones: fc.array(fc.option(fc.constantFrom(...ZONES), { freq: 2 }), {
        minLength: a.input.cells.length,
        maxLength: a.input.cells.length,
      }),
      epochStep: fc.integer({ min: 1, max: 3 }),
    })
    .map(({ owners, frozen, zones, epochStep }): [RoutingTableInput, RoutingTableInput] => {
      const bOwners = a.owners.map((o, s) => owners[s] ?? o);
      const bFrozen = a.frozen.map((f, s) => frozen[s] ?? f);
      const cells = a.input.cells.map((c, i) => (c.type === "Regional" && zones[i] ? { ...c, ...zones[i] } : c));
      const b: RoutingTableInput = {
        ...a.input,
        epoch: a.input.epoch + epochStep,
        assignments: assignmentsOf(bOwners),
        frozenShards: bFrozen.flatMap((f, s) => (f ? [String(s)] : [])).join(","),
        cells,
      };
      return [a.input, b];
    });
});

/** Independent A and B (other shard counts, functions, cells, settings). */
const independentPairArb: fc.Arbitrary<[RoutingTableInput, RoutingTableInput]> = fc
  .tuple(ruleArb(), ruleArb())
  .map(([a, b]) => [a.input, { ...b.input, epoch: a.input.epoch + 1 + b.input.epoch }]);

describe("diffTables", () => {
  it("describes a failover: the cell's shards move with it to another zone", () => {
    const a = buildTable(USERS);
    const frozen = buildTable({ ...USERS, epoch: 8, frozenShards: "0-19,50-59" });
    const switched = buildTable({
      ...USERS,
      epoch: 9,
      cells: CELLS.map((c) => (c.name === "rz01" ? { ...c, zone: "hz-b" } : c)),
    });
    const d1 = diffTables(a, frozen);
    expect(d1).toMatchObject({
      fromEpoch: 7,
      toEpoch: 8,
      changed: true,
      reshard: false,
      moved: [],
      frozen: "0-19,50-59",
      unfrozen: "",
    });
    const d2 = diffTables(frozen, switched);
    expect(d2.moved).toEqual([
      { shards: "0-19,50-59", from: { cell: "rz01", zone: "hz-a" }, to: { cell: "rz01", zone: "hz-b" } },
    ]);
    expect(d2.movedCount).toBe(30);
    expect(d2.unfrozen).toBe("0-19,50-59");
    expect(d2.cells.changed).toEqual([{ name: "rz01", from: CELLS[0], to: { ...CELLS[0], zone: "hz-b" } }]);
    expect(summarizeDiff(d2)).toBe(
      "epoch 8 -> 9: 30 shards (0-19,50-59) rz01@hz-a -> rz01@hz-b; unfroze 0-19,50-59; cell rz01 hz-a -> hz-b",
    );
  });

  it("groups moves between cells by origin and destination", () => {
    const a = buildTable(USERS);
    const b = buildTable({
      ...USERS,
      epoch: 8,
      assignments: [
        { cell: "rz01", shards: "0-9,50-59" },
        { cell: "rz02", shards: "10-49,95-99" },
        { cell: "rz03", shards: "60-94" },
      ],
    });
    expect(diffTables(a, b).moved).toEqual([
      { shards: "10-19", from: { cell: "rz01", zone: "hz-a" }, to: { cell: "rz02", zone: "hz-b" } },
      { shards: "95-99", from: { cell: "rz03", zone: "sh-a" }, to: { cell: "rz02", zone: "hz-b" } },
    ]);
  });

  it("finds nothing between equal tables", () => {
    const a = buildTable(USERS);
    const d = diffTables(a, buildTable({ ...USERS, epoch: 8 }));
    expect(d).toMatchObject({ changed: false, moved: [], movedCount: 0, frozen: "", unfrozen: "", settings: {} });
    expect(summarizeDiff(d)).toBe("epoch 7 -> 8: no change");
  });

  it("flags a reshard", () => {
    const a = buildTable(USERS);
    const d = diffTables(
      a,
      buildTable({
        ...USERS,
        epoch: 8,
        shards: 120,
        function: { type: "Digits", from: -4, to: -1 },
        assignments: [...USERS.assignments, { cell: "rz03", shards: "100-119" }],
      }),
    );
    expect(d.reshard).toBe(true);
    expect(d.settings).toEqual({ shards: 120, function: { type: "Digits", from: -4, to: -1 } });
    expect(d.added).toEqual([{ shards: "100-119", to: { cell: "rz03", zone: "sh-a" } }]);
  });

  it("is exact: applying diff(A, B) to A yields B (property)", () => {
    fc.assert(
      fc.property(fc.oneof(mutatedPairArb, independentPairArb), ([ia, ib]) => {
        const a = buildTable(ia);
        const b = buildTable(ib);
        const d = diffTables(a, b);
        const b2 = applyDiff(a, d);
        expect(b2.contentHash).toBe(b.contentHash);
        expect(b2.epoch).toBe(b.epoch);
        expect(b2.ownership()).toEqual(b.ownership());
        expect(d.changed).toBe(a.contentHash !== b.contentHash);
        // The diff survives JSON (it is what events and status carry).
        expect(applyDiff(a, JSON.parse(JSON.stringify(d)) as TableDiff).contentHash).toBe(b.contentHash);
        // Moves name exactly the shards whose home changed.
        let moved = 0;
        for (let s = 0; s < Math.min(a.shards, b.shards); s++) {
          const x = a.ownerOf(s);
          const y = b.ownerOf(s);
          if (x.name !== y.name || x.zone !== y.zone) moved++;
        }
        expect(d.movedCount).toBe(moved);
      }),
      { numRuns: 300 },
    );
  });

  it("refuses a diff made from another table", () => {
    const a = buildTable(USERS);
    const b = buildTable({ ...USERS, epoch: 8, frozenShards: "1" });
    const c = buildTable({
      ...USERS,
      epoch: 9,
      assignments: [
        { cell: "rz02", shards: "0-49" },
        { cell: "rz01", shards: "50-59" },
        { cell: "rz03", shards: "60-99" },
      ],
    });
    expect(() => applyDiff(a, diffTables(b, c))).toThrow(/starts at epoch 8, the table is at 7/);
    const d = diffTables(a, c);
    const other = buildTable({ ...USERS, assignments: [{ cell: "rz03", shards: "0-99" }] });
    expect(() => applyDiff(other, d)).toThrow(RoutingRuleError);
    expect(() => applyDiff(other, d)).toThrow(/shard 0 is served by rz03 in sh-a, not rz01 in hz-a/);
    expect(() => diffTables(a, buildTable({ ...USERS, ruleName: "orders" }))).toThrow(/different rules/);
  });
});
