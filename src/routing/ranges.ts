// Shard range sets: the "0-19,40-49" notation of spec.assignments, frozen
// shards, diffs and status. The one grammar of the project: the API's schema
// (SHARD_RANGES_PATTERN in the CRD), the operator and the sidecar all accept
// exactly what parseRanges accepts. The routing core depends on nothing.

/** An inclusive range of shard numbers: `[first, last]`, first <= last. */
export type ShardRange = readonly [first: number, last: number];

export type ParseRangesResult =
  { readonly ok: true; readonly ranges: readonly ShardRange[] } | { readonly ok: false; readonly error: string };

/**
 * The notation: shard numbers or low-high ranges separated by commas, no
 * spaces, no leading zeros ("0-19,40-49", "7"). Canonical text is written
 * this way, so the CRD pattern can check it without normalising first.
 */
export const SHARD_RANGES_PATTERN = /^(0|[1-9][0-9]*)(-(0|[1-9][0-9]*))?(,(0|[1-9][0-9]*)(-(0|[1-9][0-9]*))?)*$/;

const ITEM = /^(0|[1-9][0-9]*)(?:-(0|[1-9][0-9]*))?$/;

/**
 * Parses "0-19,40-49" (also "7"); "" is the empty set. Ranges are returned
 * in the order written, as written (not merged: callers report overlaps and
 * shards beyond the rule's count). Errors name the offending item and the fix.
 */
export function parseRanges(text: string): ParseRangesResult {
  if (typeof text !== "string") return { ok: false, error: `expected a string like "0-19,40-49"` };
  if (text === "") return { ok: true, ranges: [] };
  const ranges: ShardRange[] = [];
  for (const item of text.split(",")) {
    if (item === "") return { ok: false, error: `empty item in "${text}": write shard ranges like "0-19,40-49"` };
    const m = ITEM.exec(item);
    if (m === null) {
      return {
        ok: false,
        error: `"${item}" is not a shard number or range: write numbers or low-high ranges separated by commas, without spaces or leading zeros (e.g. "7" or "0-19,40-49")`,
      };
    }
    const a = m[1]!;
    const b = m[2] ?? a;
    // At most 9 digits: shard counts are far below, and the numbers stay exact.
    if (a.length > 9 || b.length > 9) {
      return { ok: false, error: `"${item}" is out of range: shard numbers have at most 9 digits` };
    }
    const first = Number(a);
    const last = Number(b);
    if (first > last) return { ok: false, error: `"${item}" runs backwards: write "${last}-${first}"` };
    ranges.push([first, last]);
  }
  return { ok: true, ranges };
}

/** Sorts and merges overlapping or adjacent ranges. */
export function normalizeRanges(ranges: readonly ShardRange[]): ShardRange[] {
  const sorted = ranges.slice().sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  const out: [number, number][] = [];
  for (const [first, last] of sorted) {
    const prev = out[out.length - 1];
    if (prev && first <= prev[1] + 1) {
      if (last > prev[1]) prev[1] = last;
    } else out.push([first, last]);
  }
  return out;
}

/** Canonical text of a range set: sorted, merged, "0-19,40-49,77". */
export function formatRanges(ranges: readonly ShardRange[]): string {
  let s = "";
  for (const [first, last] of normalizeRanges(ranges)) {
    if (s !== "") s += ",";
    s += first === last ? String(first) : `${first}-${last}`;
  }
  return s;
}

/** Ranges of the shards `0..n-1` for which `pred(shard)` holds, in order. */
export function rangesWhere(n: number, pred: (shard: number) => boolean): ShardRange[] {
  const out: ShardRange[] = [];
  let start = -1;
  for (let i = 0; i < n; i++) {
    if (pred(i)) {
      if (start < 0) start = i;
    } else if (start >= 0) {
      out.push([start, i - 1]);
      start = -1;
    }
  }
  if (start >= 0) out.push([start, n - 1]);
  return out;
}

/** Number of shards in a range set (ranges assumed disjoint). */
export function countShards(ranges: readonly ShardRange[]): number {
  let n = 0;
  for (const [first, last] of ranges) n += last - first + 1;
  return n;
}

/** Expands a range string to its shard numbers (sorted, unique). Throws on a malformed string. */
export function expandRanges(text: string): number[] {
  const r = parseRanges(text);
  if (!r.ok) throw new Error(r.error);
  const out: number[] = [];
  for (const [first, last] of normalizeRanges(r.ranges)) for (let i = first; i <= last; i++) out.push(i);
  return out;
}

/** "shard 7" or "shards 20-24" or "shards 1,3,5-9", for messages. */
export function describeRanges(ranges: readonly ShardRange[]): string {
  const text = formatRanges(ranges);
  return countShards(normalizeRanges(ranges)) === 1 ? `shard ${text}` : `shards ${text}`;
}
