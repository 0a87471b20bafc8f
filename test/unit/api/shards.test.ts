// The API's shard range lists and shard limit are the routing core's: what the
// CRD (and its zod mirror) accepts is exactly what the operator and the
// sidecar parse.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MAX_SHARDS, SHARD_RANGES_MAX_LENGTH, SHARD_RANGES_PATTERN, ShardingRuleSpec } from "../../../src/api/index.ts";
import * as routing from "../../../src/routing/index.ts";
import { buildTable, formatRanges, parseRanges } from "../../../src/routing/index.ts";

const spec = (shards: number, text: string) => ({
  key: { sources: [{ type: "Header", name: "x-user-id" }] },
  shards,
  function: { type: "Hash" },
  assignments: [{ cell: "rz00", shards: text }],
});

/** What the API server's schema and CEL rules accept (the zod mirror of the CRD). */
const apiAccepts = (shards: number, text: string): boolean => ShardingRuleSpec.safeParse(spec(shards, text)).success;

/** What the routing core accepts for one assignment of a rule with `shards` shards (overlaps aside). */
function routingAccepts(shards: number, text: string): boolean {
  const r = parseRanges(text);
  return r.ok && r.ranges.length > 0 && r.ranges.every(([, last]) => last < shards);
}

describe("one grammar and one limit", () => {
  it("the API takes them from the routing core", () => {
    expect(MAX_SHARDS).toBe(routing.MAX_SHARDS);
    expect(SHARD_RANGES_PATTERN).toBe(routing.SHARD_RANGES_PATTERN);
  });

  it("the shard limit is the same in the schema and in the routing core", () => {
    const table = (shards: number) => () =>
      buildTable({
        ruleName: "users",
        shards,
        function: { type: "Hash" },
        key: [{ type: "Header", name: "x-user-id" }],
        assignments: [{ cell: "rz00", shards: `0-${shards - 1}` }],
        cells: [{ name: "rz00", type: "Regional", zone: "hz-a", region: "hangzhou" }],
        epoch: 1,
      });
    expect(apiAccepts(MAX_SHARDS, `0-${MAX_SHARDS - 1}`)).toBe(true);
    expect(table(MAX_SHARDS)).not.toThrow();
    expect(apiAccepts(MAX_SHARDS + 1, `0-${MAX_SHARDS}`)).toBe(false);
    expect(table(MAX_SHARDS + 1)).toThrow(`spec.shards: must be an integer from 1 to ${MAX_SHARDS}`);
  });

  it("rejects spaces and leading zeros in both, naming the item", () => {
    for (const text of ["0-19, 20-29", " 7", "01", "0-019", "1 - 2"]) {
      expect(apiAccepts(100, text), text).toBe(false);
      const r = parseRanges(text);
      expect(r.ok, text).toBe(false);
      if (!r.ok) expect(r.error).toMatch(/without spaces or leading zeros/);
    }
  });

  it("the pattern matches canonical text", () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.nat(MAX_SHARDS - 1), { minLength: 1, maxLength: 60 }), (shards) => {
        expect(SHARD_RANGES_PATTERN.test(formatRanges(shards.map((s) => [s, s] as const)))).toBe(true);
      }),
    );
  });
});

// ------------------------------------------------------------- properties

/**
 * A shard count and range-list text for it: mostly well-formed syntax, but
 * sometimes backwards, overlapping, just past the end (numbers up to N+1),
 * with spaces, leading zeros or stray characters.
 */
const countAndText = fc
  .oneof(fc.integer({ min: 1, max: 200 }), fc.integer({ min: 1, max: MAX_SHARDS }))
  .chain((n) =>
    fc.tuple(
      fc.constant(n),
      fc.oneof(
        { weight: 4, arbitrary: wellFormedish(n) },
        { weight: 1, arbitrary: fc.stringMatching(/^[0-9, -]{0,12}$/) },
      ),
    ),
  );

function wellFormedish(n: number): fc.Arbitrary<string> {
  const num = fc.oneof(
    { weight: 8, arbitrary: fc.nat({ max: n + 1 }).map(String) },
    { weight: 1, arbitrary: fc.nat({ max: n + 1 }).map((x) => `0${x}`) },
    { weight: 1, arbitrary: fc.nat({ max: n + 1 }).map((x) => ` ${x}`) },
  );
  const item = fc.oneof(
    num,
    fc.tuple(fc.nat({ max: n + 1 }), fc.nat({ max: n + 1 })).map(([a, b]) => `${Math.min(a, b)}-${Math.max(a, b)}`),
    fc.tuple(num, num).map(([a, b]) => `${a}-${b}`),
  );
  return fc.array(item, { minLength: 1, maxLength: 6 }).map((items) => items.join(","));
}

describe("shard range properties", () => {
  it("the API server's schema and CEL rules accept exactly what the routing core parses within 0..N-1 (overlaps are the operator's to find)", () => {
    fc.assert(
      fc.property(countAndText, ([n, text]) => {
        const expected = text.length <= SHARD_RANGES_MAX_LENGTH && routingAccepts(n, text);
        expect(apiAccepts(n, text)).toBe(expected);
      }),
      { numRuns: 500 },
    );
  });

  it("a list longer than the API's limit is refused there", () => {
    const text = Array.from({ length: 200 }, (_, i) => String(i * 2)).join(",");
    expect(text.length).toBeGreaterThan(SHARD_RANGES_MAX_LENGTH);
    expect(routingAccepts(400, text)).toBe(true);
    expect(apiAccepts(400, text)).toBe(false);
  });
});
