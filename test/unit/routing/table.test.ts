import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { CellInfo, RoutingTableInput } from "../../../src/routing/index.ts";
import {
  buildTable,
  describeOwnership,
  expandRanges,
  isNewerTable,
  MAX_KEY_BYTES,
  nextEpoch,
  MAX_EPOCH,
  parseTable,
  RoutingRuleError,
  RoutingTable,
  tableAssignments,
  tableToInput,
} from "../../../src/routing/index.ts";
import { anyKeyArb, assignmentsOf, decimalIdArb, ruleArb } from "./arbitraries.ts";
import { CELLS, USERS } from "./fixtures.ts";

/** The error message buildTable throws for `patch` applied to USERS. */
function errorOf(patch: Partial<Record<keyof RoutingTableInput, unknown>>): string {
  try {
    buildTable({ ...USERS, ...patch } as RoutingTableInput);
  } catch (e) {
    expect(e).toBeInstanceOf(RoutingRuleError);
    return (e as Error).message;
  }
  throw new Error("expected buildTable to throw");
}

describe("buildTable", () => {
  it("resolves shard -> cell -> active zone -> state", () => {
    const t = buildTable({ ...USERS, frozenShards: "23,60-61" });
    expect(t).toBeInstanceOf(RoutingTable);
    expect(t.shardOf("1234")).toBe(23);
    expect(t.ownerOf(23)).toEqual({ name: "rz02", type: "Regional", zone: "hz-b", region: "hangzhou" });
    expect(t.isFrozen(23)).toBe(true);
    expect(t.isFrozen(24)).toBe(false);
    expect(t.frozenCount).toBe(3);
    expect(t.cells[t.cellIndexForKey("99515")]!.name).toBe("rz01");
    expect(t.cellIndexForKey("abc")).toBe(-1);
    expect(t.globalCell?.name).toBe("gz00");
    expect(t.cells[t.cityCellIndex("shanghai")]!.name).toBe("cz-sh");
    expect(t.cityCellIndex("beijing")).toBe(-1);
    expect(t.cells.map((c) => c.name)).toEqual(["cz-hz", "cz-sh", "gz00", "rz01", "rz02", "rz03"]);
    expect(t.writeMethods).toEqual(["DELETE", "PATCH", "POST", "PUT"]);
    expect(t.isWriteMethod("POST")).toBe(true);
    expect(t.isWriteMethod("GET")).toBe(false);
    expect(t.unitProtection).toBe("Forward");
    expect(t.onInvalidKey).toBe("Global");
    expect(buildTable({ ...USERS, onInvalidKey: undefined }).onInvalidKey).toBe("Reject"); // the default
    expect(
      buildTable({ ...USERS, onInvalidKey: undefined, key: { sources: USERS.key as never, onInvalidKey: "Global" } })
        .onInvalidKey,
    ).toBe("Global"); // spec.key.onInvalidKey, as in the API
    expect(t.epoch).toBe(7);
  });

  it("treats keys that do not match spec.key.pattern as malformed", () => {
    const t = buildTable({ ...USERS, key: { sources: USERS.key as never, pattern: "^[1-9][0-9]{3,19}$" } });
    expect(t.keyPattern).toBe("^[1-9][0-9]{3,19}$");
    expect(t.shardOf("1234")).toBe(23);
    expect(t.shardOf("0234")).toBe(-1);
    expect(t.shardOf("123")).toBe(-1);
    expect(t.cellIndexForKey("123")).toBe(-1);
    expect(parseTable(t.serialize()).keyPattern).toBe("^[1-9][0-9]{3,19}$");
    expect(JSON.parse(t.serialize()).keyPattern).toBe("^[1-9][0-9]{3,19}$");
    expect(JSON.parse(buildTable(USERS).serialize()).keyPattern).toBeNull();
  });

  it("matches spec.key.pattern in linear time: a backtracking pattern and a hostile key get their answer", () => {
    // ECMAScript RegExp takes seconds (doubling per character) to refuse the second key; RE2 does not backtrack.
    const evil = "^(a+)+$";
    const t = buildTable({ ...USERS, function: { type: "Hash" }, key: { sources: USERS.key as never, pattern: evil } });
    const sidecar = parseTable(t.serialize()); // how a sidecar gets it: the same compiled pattern
    for (const table of [t, sidecar]) {
      expect(table.matchesKeyPattern("a".repeat(40))).toBe(true);
      expect(table.matchesKeyPattern(`${"a".repeat(40)}!`)).toBe(false);
      expect(table.shardOf(`${"a".repeat(40)}!`)).toBe(-1);
      expect(table.shardOf("a".repeat(40))).toBe(t.shardOf("a".repeat(40)));
      expect(table.shardOf("a".repeat(40))).toBeGreaterThanOrEqual(0);
      // longer than any shard function takes: refused before the pattern runs
      expect(table.shardOf("a".repeat(MAX_KEY_BYTES + 1))).toBe(-1);
    }
  });

  it("is immutable", () => {
    const t = buildTable(USERS);
    expect(Object.isFrozen(t)).toBe(true);
    expect(Object.isFrozen(t.cells[0])).toBe(true);
    const { owner } = t.ownership();
    owner[0] = 5;
    expect(t.ownerIndex(0)).not.toBe(5);
  });

  it("reports overlaps and gaps by range, with the fix", () => {
    const msg = errorOf({
      assignments: [
        { cell: "rz01", shards: "0-24" },
        { cell: "rz02", shards: "20-89" },
      ],
    });
    expect(msg).toBe(
      `invalid ShardingRule "users": spec.assignments: shards 20-24 are assigned to both rz01 and rz02; ` +
        `shards 90-99 are assigned to no cell — assign them or lower spec.shards`,
    );
    expect(
      errorOf({
        assignments: [
          { cell: "rz01", shards: "0-9,5,30-99" },
          { cell: "rz02", shards: "5-6,40" },
          { cell: "rz03", shards: "6" },
        ],
      }),
    ).toBe(
      `invalid ShardingRule "users": spec.assignments: shards 5,40 are assigned to both rz01 and rz02; ` +
        `shard 6 is assigned to rz01, rz02 and rz03; ` +
        `shards 10-29 are assigned to no cell — assign them to a cell`,
    );
    expect(errorOf({ assignments: [{ cell: "rz01", shards: "0-99,50" }] })).toContain(
      "shard 50 is assigned to rz01 more than once",
    );
  });

  it("rejects unknown cells, Global/City cells owning shards, and shards beyond spec.shards", () => {
    const msg = errorOf({
      assignments: [
        { cell: "rz09", shards: "0-19" },
        { cell: "gz00", shards: "20-29" },
        { cell: "cz-hz", shards: "30-39" },
        { cell: "rz01", shards: "40-109" },
      ],
    });
    expect(msg).toContain(
      `spec.assignments[0].cell: unknown cell "rz09"; known cells: cz-hz, cz-sh, gz00, rz01, rz02 and rz03`,
    );
    expect(msg).toContain("spec.assignments[1].cell: gz00 is a Global cell; only Regional cells own user shards");
    expect(msg).toContain("spec.assignments[2].cell: cz-hz is a City cell; only Regional cells own user shards");
    expect(msg).toContain(
      "spec.assignments[3].shards: shards 100-109 are beyond spec.shards (100): shards are numbered 0-99",
    );
    expect(msg).not.toContain("no cell"); // bad assignments still count as claims: no noise about gaps
  });

  it("names every other bad field", () => {
    expect(errorOf({ shards: 0 })).toContain("spec.shards: must be an integer from 1 to 16384, got 0");
    expect(errorOf({ shards: 1.5 })).toContain("spec.shards");
    expect(errorOf({ epoch: -1 })).toContain("epoch: must be a non-negative integer, got -1");
    expect(errorOf({ epoch: 1.5 })).toContain("epoch: must be a non-negative integer");
    expect(errorOf({ function: { type: "Crc" } })).toContain(
      `spec.function.type: unknown shard function "Crc"; allowed values: Digits, Modulo, Hash`,
    );
    expect(errorOf({ globalCell: "gz09" })).toContain(`spec.globalCell: unknown cell "gz09"`);
    expect(errorOf({ globalCell: "rz01" })).toContain(
      "spec.globalCell: rz01 is a Regional cell; the global cell must be of type Global",
    );
    expect(errorOf({ globalCell: undefined, onInvalidKey: "Global" })).toContain(
      "spec.key.onInvalidKey: Global routes requests without a key to the global cell: set spec.globalCell, or use Reject",
    );
    expect(errorOf({ unitProtection: "Maybe" })).toContain(
      `spec.unitProtection: unknown value "Maybe"; allowed values: Forward, Reject`,
    );
    expect(errorOf({ onInvalidKey: "Drop" })).toContain("spec.key.onInvalidKey");
    expect(errorOf({ writeMethods: [] })).toContain("spec.writeMethods: is empty");
    expect(errorOf({ writeMethods: ["PO ST"] })).toContain(`spec.writeMethods[0]: "PO ST" is not an HTTP method`);
    expect(errorOf({ frozenShards: "0-200" })).toContain("frozenShards: shards 100-200 are beyond spec.shards (100)");
    expect(errorOf({ frozenShards: "x" })).toContain(`frozenShards: "x" is not a shard number or range`);
    expect(errorOf({ key: [] })).toContain("spec.key: lists no key source");
    expect(errorOf({ key: { sources: [{ type: "Header", name: "x" }], pattern: "(" } })).toContain(
      "spec.key.pattern: not a valid regular expression",
    );
    expect(errorOf({ assignments: [{ cell: "rz01", shards: "0-19,x" }] })).toContain(
      `spec.assignments[0].shards: "x" is not a shard number or range`,
    );
    expect(errorOf({ assignments: [{ cell: "rz01", shards: "" }] })).toContain("spec.assignments[0].shards: is empty");
    expect(
      errorOf({
        assignments: [null, { cell: "rz01", shards: "0-50" }, { cell: "rz02", shards: "40-99" }],
      }),
    ).toBe(
      `invalid ShardingRule "users": spec.assignments[0]: expected {cell, shards}, e.g. {cell: rz01, shards: "0-19,40-49"}; ` +
        `spec.assignments: shards 40-50 are assigned to both rz01 and rz02`,
    );
    expect(errorOf({ cells: [...CELLS, CELLS[0]] })).toContain("cells[6].name: cell rz01 is listed twice");
    expect(
      errorOf({ cells: [...CELLS, { name: "cz-hz2", type: "City", zone: "hz-a", region: "hangzhou" }] }),
    ).toContain("cz-hz and cz-hz2 are both City cells in region hangzhou");
    expect(errorOf({ cells: [{ name: "x", type: "Edge", zone: "", region: "r" }] })).toContain(
      `cells[0].type: unknown cell type "Edge"; allowed values: Regional, Global, City; cells[0].zone: required`,
    );
  });

  it("lists every problem at once, with paths", () => {
    try {
      buildTable({ ...USERS, shards: -1, epoch: -1, function: { type: "X" }, globalCell: "nope" });
      expect.unreachable();
    } catch (e) {
      const paths = (e as RoutingRuleError).issues.map((i) => i.path);
      expect(paths).toEqual(expect.arrayContaining(["spec.shards", "epoch", "spec.globalCell"]));
    }
  });

  it("never throws anything but RoutingRuleError for garbage input", () => {
    fc.assert(
      fc.property(fc.anything(), fc.anything(), fc.anything(), fc.anything(), (a, b, c, d) => {
        try {
          buildTable({ ...USERS, assignments: a, function: b, key: c, cells: d } as unknown as RoutingTableInput);
        } catch (e) {
          expect(e).toBeInstanceOf(RoutingRuleError);
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe("every key maps to exactly one shard and cell", () => {
  it("holds for random tables and keys", () => {
    fc.assert(
      fc.property(ruleArb(), fc.array(anyKeyArb, { maxLength: 20 }), ({ input, owners }, keys) => {
        const t = buildTable(input);
        // Each shard is in exactly one assignment, and the table agrees with it.
        const claims = new Array<number>(input.shards).fill(0);
        for (const a of input.assignments) for (const s of expandRanges(a.shards)) claims[s]!++;
        expect(claims.every((c) => c === 1)).toBe(true);
        for (let s = 0; s < t.shards; s++) expect(t.ownerOf(s).name).toBe(owners[s]);
        for (const key of keys) {
          const shard = t.shardOf(key);
          if (shard === -1) continue; // malformed for this function
          expect(Number.isInteger(shard) && shard >= 0 && shard < t.shards).toBe(true);
          expect(t.shardOf(key)).toBe(shard); // deterministic
          const cell = t.ownerOf(shard);
          expect(cell.type).toBe("Regional");
          expect(t.cells[t.cellIndexForKey(key)]).toBe(cell);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("decimal ids are never malformed for any function", () => {
    fc.assert(
      fc.property(
        ruleArb({ maxShards: 2000 }),
        fc.array(decimalIdArb, { minLength: 1, maxLength: 20 }),
        ({ input }, ids) => {
          const t = buildTable(input);
          for (const id of ids) expect(t.shardOf(id)).toBeGreaterThanOrEqual(0);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe("serialised form", () => {
  it("is compact JSON with runs", () => {
    const t = buildTable({ ...USERS, frozenShards: "20-24" });
    const json = JSON.parse(t.serialize());
    expect(json).toMatchObject({
      format: "ldc.io/routing-table/v1",
      rule: "users",
      epoch: 7,
      shards: 100,
      globalCell: "gz00",
      // cells sorted by name: rz01 = 3, rz02 = 4, rz03 = 5
      runs: "3:20,4!:5,4:25,3:10,5:40",
    });
  });

  it("round-trips (property)", () => {
    fc.assert(
      fc.property(ruleArb(), ({ input }) => {
        const t = buildTable(input);
        const back = parseTable(t.serialize());
        expect(back.serialize()).toBe(t.serialize());
        expect(back.contentHash).toBe(t.contentHash);
        expect(back.epoch).toBe(t.epoch);
        expect(back.ownership()).toEqual(t.ownership());
        expect(parseTable(JSON.parse(t.serialize())).serialize()).toBe(t.serialize());
        expect(buildTable(tableToInput(t)).serialize()).toBe(t.serialize());
      }),
      { numRuns: 300 },
    );
  });

  it("fits well under 100 KiB for 16,384 shards even when ownership alternates", () => {
    const cells: CellInfo[] = Array.from({ length: 16 }, (_, i) => ({
      name: `rz${String(i).padStart(2, "0")}`,
      type: "Regional",
      zone: `zone-${i % 3}`,
      region: "hangzhou",
    }));
    const base = {
      ...USERS,
      shards: 16384,
      function: { type: "Modulo" as const },
      globalCell: undefined,
      onInvalidKey: "Reject" as const,
      cells,
    };
    const alternating = Array.from({ length: 16384 }, (_, s) => cells[s % 2]!.name);
    const a = buildTable({ ...base, assignments: assignmentsOf(alternating), frozenShards: "0-16383" });
    // Every shard its own run, every shard a different cell from its neighbour.
    let seed = 42;
    const rnd = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed / 2 ** 31);
    const random = Array.from({ length: 16384 }, () => cells[Math.floor(rnd() * 16)]!.name);
    const frozen = Array.from({ length: 16384 }, (_, s) => s).filter(() => rnd() < 0.5);
    const b = buildTable({
      ...base,
      assignments: assignmentsOf(random),
      frozenShards: frozen.join(","),
    });
    const sizes = { alternating: a.serialize().length, random: b.serialize().length };
    expect(sizes.alternating).toBeLessThan(64 * 1024);
    expect(sizes.random).toBeLessThan(64 * 1024);
    expect(parseTable(b.serialize()).contentHash).toBe(b.contentHash);
  });

  it("rejects corrupt serialised tables with a clear error", () => {
    const good = JSON.parse(buildTable(USERS).serialize());
    const bad = (patch: object): string => {
      try {
        parseTable(JSON.stringify({ ...good, ...patch }));
      } catch (e) {
        expect(e).toBeInstanceOf(RoutingRuleError);
        return (e as Error).message;
      }
      throw new Error("expected parseTable to throw");
    };
    expect(bad({ format: "v0" })).toContain("format");
    expect(bad({ runs: "3:20,4:30" })).toContain("runs cover 50 shards, expected 100");
    expect(bad({ runs: "3:20,4:30,9:50" })).toContain("names cell index 9");
    expect(bad({ runs: "3:200" })).toContain("runs cover more than 100 shards");
    expect(bad({ runs: "3:x" })).toContain(`is not "cellIndex[!][:length]"`);
    expect(bad({ runs: "0:100" })).toContain("cz-hz is a City cell");
    expect(() => parseTable("{")).toThrow(/not JSON/);
    fc.assert(
      fc.property(fc.string(), fc.anything(), (runs, fn) => {
        try {
          parseTable({ ...good, runs, function: fn });
        } catch (e) {
          expect(e).toBeInstanceOf(RoutingRuleError);
        }
      }),
    );
  });
});

describe("hostile serialised tables", () => {
  const good = JSON.parse(buildTable(USERS).serialize());
  const refusal = (patch: object): string => {
    try {
      parseTable(JSON.stringify({ ...good, ...patch }));
    } catch (e) {
      expect(e).toBeInstanceOf(RoutingRuleError);
      return (e as Error).message;
    }
    throw new Error("expected parseTable to throw");
  };
  const withCell = (patch: object): object => ({
    cells: good.cells.map((c: object, i: number) => (i === 3 ? { ...c, ...patch } : c)),
  });

  it("refuses cell, zone and region names that are not DNS labels: they become peer host names", () => {
    for (const name of ["evil.example.com", "a/b", "x:1@attacker", "RZ01", "-rz", "a".repeat(64), "rz 01"]) {
      expect(refusal(withCell({ name })), name).toMatch(/cells\[3\]\.name: .* must be a DNS-1123 label/);
    }
    for (const zone of ["attacker.example:80", "hz-a/..", "HZ-A", "hz-a#"]) {
      expect(refusal(withCell({ zone })), zone).toMatch(/cells\[3\]\.zone: .* must be a DNS-1123 label/);
    }
    expect(refusal(withCell({ region: "hang zhou" }))).toMatch(/cells\[3\]\.region: .* must be a DNS-1123 label/);
    expect(refusal({ rule: "users/../x" })).toMatch(/metadata\.name: .* must be a DNS-1123 label/);
  });

  it("refuses an epoch above 2^40 or not a safe integer, so no table sticks forever", () => {
    expect(parseTable(JSON.stringify({ ...good, epoch: MAX_EPOCH })).epoch).toBe(MAX_EPOCH);
    for (const epoch of [MAX_EPOCH + 1, 2 ** 53 - 1, 2 ** 53, 1e300, -1, 1.5]) {
      expect(refusal({ epoch }), String(epoch)).toContain("epoch: must be a non-negative integer");
    }
    expect(refusal({ epoch: 2 ** 53 - 1 })).toContain("at most 2^40");
  });
});

describe("content hash and epochs", () => {
  it("depends on content only: not on epoch, cell order or how ranges are written", () => {
    const a = buildTable(USERS);
    const b = buildTable({
      ...USERS,
      epoch: 8,
      cells: [...CELLS].reverse(),
      assignments: [
        { cell: "rz03", shards: "60-79" },
        { cell: "rz01", shards: "50-59,0-9" },
        { cell: "rz02", shards: "20-49" },
        { cell: "rz01", shards: "10-19" },
        { cell: "rz03", shards: "80-99" },
      ],
      writeMethods: ["PUT", "POST", "DELETE", "PATCH", "POST"],
    });
    expect(b.contentHash).toBe(a.contentHash);
    expect(b.contentHash).toMatch(/^[0-9a-f]{64}$/);
    expect(a.etag).toBe(`"7-${a.contentHash.slice(0, 16)}"`);
    expect(b.etag).not.toBe(a.etag);
  });

  it("changes when any shard moves or freezes, or a cell changes zone", () => {
    const a = buildTable(USERS);
    const moved = buildTable({
      ...USERS,
      assignments: [
        { cell: "rz01", shards: "0-20,50-59" },
        { cell: "rz02", shards: "21-49" },
        { cell: "rz03", shards: "60-99" },
      ],
    });
    const frozen = buildTable({ ...USERS, frozenShards: "99" });
    const rezoned = buildTable({ ...USERS, cells: CELLS.map((c) => (c.name === "rz01" ? { ...c, zone: "hz-b" } : c)) });
    const hashes = new Set([a, moved, frozen, rezoned].map((t) => t.contentHash));
    expect(hashes.size).toBe(4);
  });

  it("epochs only move forward", () => {
    const a = buildTable(USERS);
    const b = buildTable({ ...USERS, epoch: 8, frozenShards: "1" });
    expect(isNewerTable(undefined, a)).toBe(true);
    expect(isNewerTable(a, b)).toBe(true);
    expect(isNewerTable(b, a)).toBe(false);
    expect(isNewerTable(a, a)).toBe(false);
    expect(isNewerTable(a, buildTable({ ...USERS, ruleName: "orders", epoch: 100 }))).toBe(false);
    expect(nextEpoch(a, a.contentHash)).toBe(7);
    expect(nextEpoch(a, b.contentHash)).toBe(8);
    expect(nextEpoch(undefined, a.contentHash)).toBe(1);
  });
});

describe("ownership views", () => {
  it("gives per-cell ranges for status", () => {
    const t = buildTable({ ...USERS, frozenShards: "55" });
    expect(tableAssignments(t)).toEqual({
      assignments: [
        { cell: "rz01", shards: "0-19,50-59" },
        { cell: "rz02", shards: "20-49" },
        { cell: "rz03", shards: "60-99" },
      ],
      frozenShards: "55",
    });
    expect(describeOwnership(t).find((o) => o.cell === "rz01")).toEqual({
      cell: "rz01",
      type: "Regional",
      zone: "hz-a",
      shards: "0-19,50-59",
      count: 30,
      frozen: "55",
    });
    expect(describeOwnership(t).find((o) => o.cell === "gz00")?.count).toBe(0);
  });
});
