// Shard range lists: the human notation "0-19,40-44" used by
// ShardingRule.spec.assignments[].shards and Cell.status.shards.

/** An inclusive range of shard numbers, `from <= to`. */
export interface ShardRange {
  readonly from: number;
  readonly to: number;
}

export type ShardRangesResult = { ok: true; ranges: ShardRange[] } | { ok: false; error: string };

/**
 * The pattern a shard range list must match in the CRD schema: comma-separated
 * numbers or low-high ranges, no spaces, no leading zeros ("0-19,40-49", "7").
 */
export const SHARD_RANGES_PATTERN = /^(0|[1-9][0-9]*)(-(0|[1-9][0-9]*))?(,(0|[1-9][0-9]*)(-(0|[1-9][0-9]*))?)*$/;

/** Longest shard range list accepted by the API (keeps CEL cost bounded). */
export const SHARD_RANGES_MAX_LENGTH = 512;

/** Largest shard count a ShardingRule may have. */
export const MAX_SHARDS = 16384;

const ITEM = /^(0|[1-9][0-9]*)(?:-(0|[1-9][0-9]*))?$/;

/**
 * Parses "0-19,40-49" into sorted, merged ranges ("0-9,10-19" becomes one
 * range 0-19). With `shards`, every shard must lie in 0..shards-1. Returns an
 * error naming the offending item and the fix; never throws.
 */
export function parseShardRanges(text: string, shards?: number): ShardRangesResult {
  if (text === "") return { ok: false, error: `empty shard list: write shard numbers or ranges such as "0-19,40-49"` };
  if (text.length > SHARD_RANGES_MAX_LENGTH) {
    return {
      ok: false,
      error: `shard list is ${text.length} characters, longer than ${SHARD_RANGES_MAX_LENGTH}: merge adjacent ranges`,
    };
  }
  const parsed: ShardRange[] = [];
  for (const item of text.split(",")) {
    const m = ITEM.exec(item);
    if (m === null) {
      return {
        ok: false,
        error: `${JSON.stringify(item)} is not a shard number or range: write numbers or low-high ranges separated by commas, without spaces or leading zeros (e.g. "0-19,40-49")`,
      };
    }
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    if (from > to) return { ok: false, error: `range "${item}" runs backwards: write it low-high ("${to}-${from}")` };
    if (shards !== undefined && to >= shards) {
      return {
        ok: false,
        error: `shard ${to} in "${item}" is out of range: shards are numbered 0..${shards - 1} (the rule has ${shards} shards)`,
      };
    }
    parsed.push({ from, to });
  }
  parsed.sort((a, b) => a.from - b.from || a.to - b.to);
  const ranges: ShardRange[] = [];
  for (const r of parsed) {
    const last = ranges[ranges.length - 1];
    if (last !== undefined && r.from <= last.to) {
      return {
        ok: false,
        error: `ranges "${formatShardRange(last)}" and "${formatShardRange(r)}" overlap: list each shard once`,
      };
    }
    if (last !== undefined && r.from === last.to + 1) ranges[ranges.length - 1] = { from: last.from, to: r.to };
    else ranges.push(r);
  }
  return { ok: true, ranges };
}

function formatShardRange(r: ShardRange): string {
  return r.from === r.to ? `${r.from}` : `${r.from}-${r.to}`;
}

/**
 * Formats ranges as "0-19,40-44": sorted, adjacent and overlapping ranges
 * merged, single shards without a dash. The inverse of parseShardRanges.
 */
export function formatShardRanges(ranges: readonly ShardRange[]): string {
  return normalizeShardRanges(ranges).map(formatShardRange).join(",");
}

/** Sorts and merges ranges (overlapping or adjacent ranges become one). */
export function normalizeShardRanges(ranges: readonly ShardRange[]): ShardRange[] {
  const sorted = [...ranges].sort((a, b) => a.from - b.from || a.to - b.to);
  const out: ShardRange[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && r.from <= last.to + 1)
      out[out.length - 1] = { from: last.from, to: Math.max(last.to, r.to) };
    else out.push({ from: r.from, to: r.to });
  }
  return out;
}

/** The ranges covering exactly the given shard numbers (any order, duplicates ignored). */
export function shardRangesOf(shards: Iterable<number>): ShardRange[] {
  return normalizeShardRanges([...shards].map((s) => ({ from: s, to: s })));
}

/** Number of shards in (normalized, non-overlapping) ranges. */
export function countShards(ranges: readonly ShardRange[]): number {
  return ranges.reduce((n, r) => n + (r.to - r.from + 1), 0);
}

/** Every shard number in the ranges, ascending. */
export function expandShardRanges(ranges: readonly ShardRange[]): number[] {
  const out: number[] = [];
  for (const r of normalizeShardRanges(ranges)) for (let s = r.from; s <= r.to; s++) out.push(s);
  return out;
}
