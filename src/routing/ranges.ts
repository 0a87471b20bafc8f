// Shard range sets: the "0-19,40-49" notation of spec.assignments, frozen
// shards, diffs and status. A tiny parser of its own: the routing core
// depends on nothing (the API package has its own for schema validation).

/** An inclusive range of shard numbers: `[first, last]`, first <= last. */
export type ShardRange = readonly [first: number, last: number];

export type ParseRangesResult =
  { readonly ok: true; readonly ranges: readonly ShardRange[] } | { readonly ok: false; readonly error: string };

/** Largest shard number the notation accepts (shard counts are far below this). */
const MAX_NUMBER = 999_999_999;

const isDigits = (s: string): boolean => {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
};

/**
 * Parses "0-19,40-49" (also "7", " 0-3 , 9 "). Whitespace around items is
 * ignored; an empty or blank string is the empty set. Ranges are returned in
 * the order written, as written (not merged: callers report overlaps).
 * Errors name the offending item.
 */
export function parseRanges(text: string): ParseRangesResult {
  if (typeof text !== "string") return { ok: false, error: `expected a string like "0-19,40-49"` };
  if (text.trim() === "") return { ok: true, ranges: [] };
  const ranges: ShardRange[] = [];
  for (const raw of text.split(",")) {
    const item = raw.trim();
    if (item === "") return { ok: false, error: `empty item in "${text}": write shard ranges like "0-19,40-49"` };
    const dash = item.indexOf("-");
    const a = (dash < 0 ? item : item.slice(0, dash)).trim();
    const b = dash < 0 ? a : item.slice(dash + 1).trim();
    if (!isDigits(a) || !isDigits(b)) {
      return { ok: false, error: `"${item}" is not a shard number or range (write "7" or "0-19")` };
    }
    if (a.length > 9 || b.length > 9 || Number(a) > MAX_NUMBER || Number(b) > MAX_NUMBER) {
      return { ok: false, error: `"${item}" is out of range` };
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
