// fast-check arbitraries shared by the routing tests: random (valid) rule
// inputs, built tables and HTTP-ish requests.

import fc from "fast-check";
import type { AssignmentInput, CellInfo, RoutingTableInput, ShardFunctionSpec } from "../../../src/routing/index.ts";
import { formatRanges } from "../../../src/routing/index.ts";

export const ZONES: readonly { zone: string; region: string }[] = [
  { zone: "hz-a", region: "hangzhou" },
  { zone: "hz-b", region: "hangzhou" },
  { zone: "sh-a", region: "shanghai" },
];

/** Regional cells rz00..rzNN with random active zones, a global cell and a City cell per region. */
export const cellsArb = (maxRegional = 6): fc.Arbitrary<CellInfo[]> =>
  fc
    .array(fc.constantFrom(...ZONES), { minLength: 1, maxLength: maxRegional })
    .map((zones) => [
      ...zones.map((z, i) => ({ name: `rz${String(i).padStart(2, "0")}`, type: "Regional" as const, ...z })),
      { name: "gz00", type: "Global" as const, zone: "hz-a", region: "hangzhou" },
      { name: "cz-hz", type: "City" as const, zone: "hz-b", region: "hangzhou" },
      { name: "cz-sh", type: "City" as const, zone: "sh-a", region: "shanghai" },
    ]);

/** A shard function valid for `shards`. */
export const functionArb = (shards: number): fc.Arbitrary<ShardFunctionSpec> => {
  const minWidth = Math.max(1, Math.ceil(Math.log10(shards)));
  const digits = fc
    .tuple(fc.integer({ min: minWidth, max: Math.min(minWidth + 3, 15) }), fc.integer({ min: 0, max: 4 }), fc.boolean())
    .map(([width, offset, fromStart]): ShardFunctionSpec => {
      if (fromStart) return { type: "Digits", from: offset, to: offset + width };
      const to = -offset;
      return to === 0 ? { type: "Digits", from: -width } : { type: "Digits", from: to - width, to };
    });
  return fc.oneof(
    digits,
    fc.constant<ShardFunctionSpec>({ type: "Modulo" }),
    fc.constant<ShardFunctionSpec>({ type: "Hash", algorithm: "FNV1a32" }),
  );
};

/** Per-shard values from runs (mostly short, sometimes long), covering exactly `n` shards. */
export const runsArb = <T>(n: number, value: fc.Arbitrary<T>): fc.Arbitrary<T[]> =>
  fc
    .array(fc.tuple(value, fc.oneof(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: Math.max(1, n) }))), {
      minLength: 1,
      maxLength: n,
    })
    .map((runs) => {
      const out: T[] = [];
      let i = 0;
      while (out.length < n) {
        const [v, len] = runs[i % runs.length]!;
        for (let k = 0; k < len && out.length < n; k++) out.push(v);
        i++;
      }
      return out;
    });

/** Assignments (one per cell, shard ranges as text, sometimes split into several entries) from per-shard owners. */
export function assignmentsOf(owners: readonly string[], split = false): AssignmentInput[] {
  const byCell = new Map<string, [number, number][]>();
  owners.forEach((cell, s) => {
    const list = byCell.get(cell) ?? [];
    const last = list[list.length - 1];
    if (last && last[1] === s - 1) last[1] = s;
    else list.push([s, s]);
    byCell.set(cell, list);
  });
  const out: AssignmentInput[] = [];
  for (const [cell, ranges] of byCell) {
    if (split && ranges.length > 1) for (const r of ranges) out.push({ cell, shards: formatRanges([r]) });
    else out.push({ cell, shards: formatRanges(ranges) });
  }
  return out;
}

export interface GeneratedRule {
  input: RoutingTableInput;
  /** Owner cell name per shard. */
  owners: string[];
  frozen: boolean[];
}

/** A valid rule input with random ownership, freezes, function and settings. */
export const ruleArb = (
  opts: { maxShards?: number; cells?: fc.Arbitrary<CellInfo[]> } = {},
): fc.Arbitrary<GeneratedRule> =>
  fc
    .record({ shards: fc.integer({ min: 1, max: opts.maxShards ?? 300 }), cells: opts.cells ?? cellsArb() })
    .chain(({ shards, cells }) => {
      const regional = cells.filter((c) => c.type === "Regional").map((c) => c.name);
      return fc.record({
        shards: fc.constant(shards),
        cells: fc.shuffledSubarray(cells, { minLength: cells.length, maxLength: cells.length }),
        owners: runsArb(shards, fc.constantFrom(...regional)),
        frozen: fc.oneof(fc.constant(new Array<boolean>(shards).fill(false)), runsArb(shards, fc.boolean())),
        fn: functionArb(shards),
        withGlobal: fc.boolean(),
        unitProtection: fc.constantFrom("Forward" as const, "Reject" as const),
        onInvalidKey: fc.constantFrom("Global" as const, "Reject" as const),
        split: fc.boolean(),
        epoch: fc.nat(1_000_000),
        key: fc.constantFrom(
          [{ type: "Header" as const, name: "x-user-id" }],
          [
            { type: "Query" as const, name: "uid" },
            { type: "Header" as const, name: "x-user-id" },
          ],
          [
            { type: "Cookie" as const, name: "uid" },
            { type: "Query" as const, name: "uid" },
            { type: "Header" as const, name: "x-user-id" },
          ],
        ),
        pattern: fc.constantFrom(undefined, undefined, "^[0-9]+$", "^[^ ]+$"),
      });
    })
    .map((r) => {
      const frozenShards = formatRanges(r.frozen.flatMap((f, s) => (f ? [[s, s] as const] : [])));
      const input: RoutingTableInput = {
        ruleName: "users",
        shards: r.shards,
        function: r.fn,
        key: r.pattern === undefined ? r.key : { sources: r.key, pattern: r.pattern },
        assignments: assignmentsOf(r.owners, r.split),
        globalCell: r.withGlobal ? "gz00" : undefined,
        unitProtection: r.unitProtection,
        onInvalidKey: r.withGlobal ? r.onInvalidKey : "Reject",
        cells: r.cells,
        frozenShards,
        epoch: r.epoch,
      };
      return { input, owners: r.owners, frozen: r.frozen };
    });

/** Decimal ids: short, typical and huge (beyond 2^53 and 2^64). */
export const decimalIdArb: fc.Arbitrary<string> = fc.oneof(
  fc.nat().map(String),
  fc.bigInt({ min: 0n, max: 2n ** 64n }).map(String),
  fc.stringMatching(/^[0-9]{1,256}$/),
);

/** Any UTF-16 string, lone surrogates included. */
export const utf16Arb = (maxLength: number): fc.Arbitrary<string> =>
  fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength }).map((codes) => String.fromCharCode(...codes));

/** Keys of any kind: decimal ids and arbitrary strings (including non-ASCII and lone surrogates). */
export const anyKeyArb: fc.Arbitrary<string> = fc.oneof(
  decimalIdArb,
  fc.string({ maxLength: 300 }),
  fc.string({ unit: "binary", maxLength: 300 }),
  utf16Arb(300),
);

const headerValueArb: fc.Arbitrary<string | string[] | undefined> = fc.oneof(
  fc.constant(undefined),
  decimalIdArb,
  fc.string({ maxLength: 40 }),
  fc.string({ unit: "binary", maxLength: 300 }),
  utf16Arb(300),
  fc.array(fc.oneof(decimalIdArb, fc.string({ maxLength: 20 })), { maxLength: 3 }),
);

/** Arbitrary (mostly hostile) requests. */
export const requestArb = fc.record({
  method: fc.oneof(
    fc.constantFrom("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"),
    fc.string({ maxLength: 10 }),
  ),
  url: fc.oneof(
    fc.string({ maxLength: 200 }),
    fc.string({ unit: "binary", maxLength: 200 }),
    utf16Arb(200),
    decimalIdArb.map((id) => `/pay?uid=${id}`),
    fc.tuple(fc.string({ maxLength: 30 }), fc.string({ maxLength: 30 })).map(([a, b]) => `/p?${a}&uid=${b}#${a}`),
    fc.constant(undefined),
  ),
  headers: fc.record(
    {
      "x-user-id": headerValueArb,
      cookie: fc.oneof(
        headerValueArb,
        decimalIdArb.map((id) => `a=b; uid=${id}; c="d"`),
        fc.string({ maxLength: 10_000 }),
        fc.nat(9000).map((n) => `uid=1; pad=${"x".repeat(n)}`),
      ),
      other: headerValueArb,
    },
    { requiredKeys: [] },
  ),
});
