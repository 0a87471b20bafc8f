import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  MAX_SHARDS,
  SHARD_RANGES_MAX_LENGTH,
  SHARD_RANGES_PATTERN,
  ShardingRuleSpec,
  countShards,
  expandShardRanges,
  formatShardRanges,
  normalizeShardRanges,
  parseShardRanges,
  shardRangesOf,
} from "../../../src/api/index.ts";
import type { ShardRange } from "../../../src/api/index.ts";

function ok(text: string, shards?: number): ShardRange[] {
  const r = parseShardRanges(text, shards);
  if (!r.ok) throw new Error(r.error);
  return r.ranges;
}

function err(text: string, shards?: number): string {
  const r = parseShardRanges(text, shards);
  if (r.ok) throw new Error(`expected ${JSON.stringify(text)} to be rejected`);
  return r.error;
}

describe("parseShardRanges", () => {
  it("parses numbers and ranges, sorted and merged", () => {
    expect(ok("0-19,40-49")).toEqual([
      { from: 0, to: 19 },
      { from: 40, to: 49 },
    ]);
    expect(ok("40-49,0-19")).toEqual([
      { from: 0, to: 19 },
      { from: 40, to: 49 },
    ]);
    expect(ok("7")).toEqual([{ from: 7, to: 7 }]);
    expect(ok("0-9,10-19,20")).toEqual([{ from: 0, to: 20 }]);
    expect(ok("5-5")).toEqual([{ from: 5, to: 5 }]);
    expect(ok("0-99", 100)).toEqual([{ from: 0, to: 99 }]);
  });

  it("names the problem and the fix", () => {
    expect(err("")).toMatch(/empty shard list/);
    expect(err("0-19;20-29")).toMatch(/"0-19;20-29" is not a shard number or range.*e\.g\. "0-19,40-49"/);
    expect(err("0-19, 20-29")).toMatch(/" 20-29" is not a shard number or range/);
    expect(err("01")).toMatch(/leading zeros/);
    expect(err("-1")).toMatch(/is not a shard number/);
    expect(err("1-2-3")).toMatch(/is not a shard number/);
    expect(err("0-19,,20")).toMatch(/"" is not a shard number/);
    expect(err("39-20")).toBe('range "39-20" runs backwards: write it low-high ("20-39")');
    expect(err("0-100", 100)).toBe(
      'shard 100 in "0-100" is out of range: shards are numbered 0..99 (the rule has 100 shards)',
    );
    expect(err("0-10,5-20")).toBe('ranges "0-10" and "5-20" overlap: list each shard once');
    expect(err("3,3")).toMatch(/overlap/);
    expect(err("1,".repeat(300) + "1")).toMatch(/longer than 512/);
  });

  it("agrees with the CRD pattern on what is well-formed", () => {
    for (const s of ["0", "0-1", "10-20,30", "0-19,40-49"]) expect(SHARD_RANGES_PATTERN.test(s)).toBe(true);
    for (const s of ["", "01", "1-", "-1", "1,", "a", "1 - 2", "1-2-3"]) {
      expect(SHARD_RANGES_PATTERN.test(s)).toBe(false);
      expect(parseShardRanges(s).ok).toBe(false);
    }
  });
});

describe("formatShardRanges", () => {
  it("formats canonical text", () => {
    expect(formatShardRanges([])).toBe("");
    expect(
      formatShardRanges([
        { from: 40, to: 44 },
        { from: 0, to: 19 },
        { from: 20, to: 20 },
      ]),
    ).toBe("0-20,40-44");
    expect(formatShardRanges([{ from: 3, to: 3 }])).toBe("3");
  });

  it("helpers count, expand and rebuild ranges", () => {
    const r = ok("0-2,5,7-8");
    expect(countShards(r)).toBe(6);
    expect(expandShardRanges(r)).toEqual([0, 1, 2, 5, 7, 8]);
    expect(shardRangesOf([8, 7, 5, 2, 1, 0, 1])).toEqual(r);
    expect(
      normalizeShardRanges([
        { from: 0, to: 5 },
        { from: 3, to: 9 },
      ]),
    ).toEqual([{ from: 0, to: 9 }]);
  });
});

// ------------------------------------------------------------- properties

/** A shard count and a set of shards in 0..N-1. */
const shardSet = fc
  .integer({ min: 1, max: MAX_SHARDS })
  .chain((n) =>
    fc.tuple(fc.constant(n), fc.uniqueArray(fc.integer({ min: 0, max: n - 1 }), { minLength: 1, maxLength: 60 })),
  );

/**
 * A shard count and range-list text for it: well-formed syntax, but sometimes
 * backwards, overlapping or just past the end (numbers up to N+1).
 */
const countAndText = fc.oneof(fc.integer({ min: 1, max: 200 }), fc.integer({ min: 1, max: MAX_SHARDS })).chain((n) =>
  fc.tuple(
    fc.constant(n),
    fc
      .array(
        fc.oneof(
          fc.nat({ max: n + 1 }).map(String),
          fc
            .tuple(fc.nat({ max: n + 1 }), fc.nat({ max: n + 1 }))
            .map(([a, b]) => `${Math.min(a, b)}-${Math.max(a, b)}`),
          fc.tuple(fc.nat({ max: n + 1 }), fc.nat({ max: n + 1 })).map(([a, b]) => `${a}-${b}`),
        ),
        { minLength: 1, maxLength: 6 },
      )
      .map((items) => items.join(",")),
  ),
);

describe("shard range properties", () => {
  it("format then parse round-trips normalized ranges", () => {
    fc.assert(
      fc.property(shardSet, ([n, shards]) => {
        const ranges = shardRangesOf(shards);
        const text = formatShardRanges(ranges);
        expect(SHARD_RANGES_PATTERN.test(text)).toBe(true);
        expect(ok(text, n)).toEqual(ranges);
        expect(countShards(ranges)).toBe(shards.length);
      }),
    );
  });

  it("every parsed range is well-formed and inside 0..N-1; the result is sorted, disjoint and merged", () => {
    fc.assert(
      fc.property(countAndText, ([n, text]) => {
        const r = parseShardRanges(text, n);
        if (!r.ok) return;
        r.ranges.forEach((x, i) => {
          expect(x.from).toBeGreaterThanOrEqual(0);
          expect(x.from).toBeLessThanOrEqual(x.to);
          expect(x.to).toBeLessThan(n);
          if (i > 0) expect(x.from).toBeGreaterThan((r.ranges[i - 1] as ShardRange).to + 1);
        });
        // parse -> format is idempotent
        expect(formatShardRanges(ok(formatShardRanges(r.ranges), n))).toBe(formatShardRanges(r.ranges));
      }),
    );
  });

  it("parse accepts exactly what the API server's schema and CEL rules accept, except overlaps (found by the operator)", () => {
    fc.assert(
      fc.property(countAndText, ([n, text]) => {
        const spec = {
          key: { sources: [{ type: "Header", name: "x-user-id" }] },
          shards: n,
          function: { type: "Hash" },
          assignments: [{ cell: "rz00", shards: text }],
        };
        const apiServerAccepts = ShardingRuleSpec.safeParse(spec).success; // the zod mirror of the CRD's rules
        const r = parseShardRanges(text, n);
        if (text.length > SHARD_RANGES_MAX_LENGTH) expect(apiServerAccepts).toBe(false);
        else if (r.ok) expect(apiServerAccepts).toBe(true);
        else if (apiServerAccepts) expect(r.error).toMatch(/overlap/);
      }),
      { numRuns: 500 },
    );
  });
});
