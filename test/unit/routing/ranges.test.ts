import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  countShards,
  describeRanges,
  expandRanges,
  formatRanges,
  normalizeRanges,
  parseRanges,
  rangesWhere,
} from "../../../src/routing/index.ts";

describe("shard range notation", () => {
  it("parses items and ranges in the order written", () => {
    expect(parseRanges("0-19,40-49")).toEqual({
      ok: true,
      ranges: [
        [0, 19],
        [40, 49],
      ],
    });
    expect(parseRanges("7,3-4")).toEqual({
      ok: true,
      ranges: [
        [7, 7],
        [3, 4],
      ],
    });
    expect(parseRanges("")).toEqual({ ok: true, ranges: [] });
  });

  it.each([
    ["0-19,", "empty item"],
    [",1", "empty item"],
    ["x", `"x" is not a shard number or range`],
    ["1-2-3", `"1-2-3" is not a shard number or range`],
    ["-3", `"-3" is not a shard number or range`],
    ["+3", `"+3" is not a shard number or range`],
    ["1.5", `"1.5" is not a shard number or range`],
    ["9-3", `"9-3" runs backwards: write "3-9"`],
    ["12345678901", "out of range"],
    [
      " 7 , 3-4 ",
      `" 7 " is not a shard number or range: write numbers or low-high ranges separated by commas, without spaces or leading zeros`,
    ],
    ["  ", "without spaces"],
    ["07", `"07" is not a shard number or range`],
    ["0-019", `"0-019" is not a shard number or range`],
  ])("rejects %j with a message naming the item", (text, message) => {
    const r = parseRanges(text);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toContain(message);
  });

  it("formats canonically: sorted, merged, singles bare", () => {
    expect(
      formatRanges([
        [40, 49],
        [0, 19],
        [20, 20],
        [45, 60],
        [62, 62],
      ]),
    ).toBe("0-20,40-60,62");
    expect(formatRanges([])).toBe("");
    expect(describeRanges([[5, 5]])).toBe("shard 5");
    expect(describeRanges([[5, 6]])).toBe("shards 5-6");
    expect(rangesWhere(10, (s) => s % 5 < 2)).toEqual([
      [0, 1],
      [5, 6],
    ]);
    expect(
      countShards(
        normalizeRanges([
          [0, 9],
          [20, 29],
        ]),
      ),
    ).toBe(20);
  });

  it("round-trips any set of shard numbers", () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.nat(20_000), { maxLength: 300 }), (set) => {
        const text = formatRanges(set.map((s) => [s, s] as const));
        const sorted = set.slice().sort((a, b) => a - b);
        expect(expandRanges(text)).toEqual(sorted);
        const parsed = parseRanges(text);
        expect(parsed.ok).toBe(true);
        if (parsed.ok) expect(formatRanges(parsed.ranges)).toBe(text);
      }),
    );
  });

  it("never throws on arbitrary input", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 100 }), (text) => {
        const r = parseRanges(text);
        if (r.ok) for (const [a, b] of r.ranges) expect(a <= b).toBe(true);
      }),
    );
  });
});
