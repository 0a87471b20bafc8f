// Shard functions: routing key -> shard number 0..N-1. Each returns -1 for a
// malformed key (empty, longer than MAX_KEY_BYTES, not a decimal id where one
// is needed) and never throws. docs/routing.md specifies each precisely, so
// routers in other languages compute the same shards.

import type { RoutingIssue } from "./errors.ts";

export const SHARD_FUNCTION_TYPES = ["Digits", "Modulo", "Hash"] as const;
export type ShardFunctionType = (typeof SHARD_FUNCTION_TYPES)[number];
export const HASH_ALGORITHMS = ["FNV1a32"] as const;
export type HashAlgorithm = (typeof HASH_ALGORITHMS)[number];

/** A routing key longer than this many UTF-8 bytes is malformed. */
export const MAX_KEY_BYTES = 256;
/** Digits takes at most this many digits (so the value is exact in a double). */
export const MAX_DIGITS_WIDTH = 15;

/**
 * A shard function, normalised.
 * - `Digits`: the digits `id[from:to]` (Python slice semantics) of a decimal
 *   id left-padded with zeros to the length the slice needs, as a number, mod N.
 *   `from`/`to` are both negative (counted from the end; `to` omitted = the
 *   end) or both non-negative (from the start, `to` required).
 * - `Modulo`: a decimal id of any length (up to MAX_KEY_BYTES digits), mod N, exactly.
 * - `Hash`: 32-bit FNV-1a of the key's UTF-8 bytes, mod N.
 */
export type ShardFunctionSpec =
  | { readonly type: "Digits"; readonly from: number; readonly to?: number }
  | { readonly type: "Modulo" }
  | { readonly type: "Hash"; readonly algorithm: HashAlgorithm };

/** A compiled shard function: key -> shard in 0..N-1, or -1 for a malformed key. */
export type ShardFn = (key: string) => number;

// ---------------------------------------------------------------------------
// FNV-1a, 32 bit

export const FNV32_OFFSET_BASIS = 0x811c9dc5;
export const FNV32_PRIME = 0x01000193;

/**
 * 32-bit FNV-1a over the UTF-8 bytes of `key` (unsigned result). A lone
 * surrogate is encoded as U+FFFD, as TextEncoder does. No length bound.
 */
export function fnv1a32(key: string): number {
  return fnv1a32Bounded(key, Infinity);
}

/** FNV-1a 32 of `key`'s UTF-8 bytes, or -1 if they are more than `maxBytes`. */
function fnv1a32Bounded(key: string, maxBytes: number): number {
  let h = FNV32_OFFSET_BASIS | 0;
  let bytes = 0;
  const n = key.length;
  for (let i = 0; i < n; i++) {
    let c = key.charCodeAt(i);
    if (c < 0x80) {
      h = Math.imul(h ^ c, FNV32_PRIME);
      bytes += 1;
    } else if (c < 0x800) {
      h = Math.imul(h ^ (0xc0 | (c >> 6)), FNV32_PRIME);
      h = Math.imul(h ^ (0x80 | (c & 0x3f)), FNV32_PRIME);
      bytes += 2;
    } else {
      if (c >= 0xd800 && c <= 0xdfff) {
        const d = i + 1 < n ? key.charCodeAt(i + 1) : 0;
        if (c <= 0xdbff && d >= 0xdc00 && d <= 0xdfff) {
          const cp = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
          i++;
          h = Math.imul(h ^ (0xf0 | (cp >> 18)), FNV32_PRIME);
          h = Math.imul(h ^ (0x80 | ((cp >> 12) & 0x3f)), FNV32_PRIME);
          h = Math.imul(h ^ (0x80 | ((cp >> 6) & 0x3f)), FNV32_PRIME);
          h = Math.imul(h ^ (0x80 | (cp & 0x3f)), FNV32_PRIME);
          bytes += 4;
          if (bytes > maxBytes) return -1;
          continue;
        }
        c = 0xfffd; // lone surrogate
      }
      h = Math.imul(h ^ (0xe0 | (c >> 12)), FNV32_PRIME);
      h = Math.imul(h ^ (0x80 | ((c >> 6) & 0x3f)), FNV32_PRIME);
      h = Math.imul(h ^ (0x80 | (c & 0x3f)), FNV32_PRIME);
      bytes += 3;
    }
    if (bytes > maxBytes) return -1;
  }
  return h >>> 0;
}

/** Hash shard: FNV-1a 32 of the UTF-8 bytes, mod `shards`; -1 if empty or over MAX_KEY_BYTES bytes. */
export function hashShard(key: string, shards: number): number {
  if (key.length === 0 || key.length > MAX_KEY_BYTES) return -1;
  const h = fnv1a32Bounded(key, MAX_KEY_BYTES);
  return h < 0 ? -1 : h % shards;
}

// ---------------------------------------------------------------------------
// Decimal ids

const POW10 = [1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9];

/**
 * Modulo shard: the decimal id mod `shards`, exact for any length, without
 * BigInt. -1 unless the key is 1..MAX_KEY_BYTES ASCII digits.
 */
export function moduloShard(key: string, shards: number): number {
  return moduloWithInverse(key, shards, 1 / shards);
}

/**
 * Digits are read in chunks of up to 9 into an int32; each chunk folds into
 * the remainder: acc = (acc * 10^k + chunk) mod N. With acc < N <= 2^16 and
 * chunk < 10^9, v = acc * 10^k + chunk < 2^47 is exact in a double. The mod
 * uses the precomputed reciprocal `inv` = 1/N (a multiply, not a divide):
 * v * inv is within 2^-5 of v/N, so floor() is off by at most one and
 * v - floor(v * inv) * N (exact: every term is an integer below 2^53) lands
 * in [-N, 2N); one correction step gives the exact remainder.
 */
function moduloWithInverse(key: string, shards: number, inv: number): number {
  const n = key.length;
  if (n === 0 || n > MAX_KEY_BYTES) return -1;
  let acc = 0;
  let i = 0;
  while (i < n) {
    const end = i + 9 < n ? i + 9 : n;
    let chunk = 0;
    for (let j = i; j < end; j++) {
      const d = key.charCodeAt(j) - 48;
      if (d >>> 0 > 9) return -1; // not 0-9
      chunk = chunk * 10 + d;
    }
    const v = acc * POW10[end - i]! + chunk;
    acc = v - Math.floor(v * inv) * shards;
    if (acc < 0) acc += shards;
    else if (acc >= shards) acc -= shards;
    i = end;
  }
  return acc;
}

/**
 * Digits shard for a negative slice: digits at `key[len+from .. len+to-1]`
 * (`to` <= 0; 0 meaning the end), zeros where the id is too short, mod N.
 */
function digitsFromEnd(key: string, from: number, to: number, shards: number): number {
  const n = key.length;
  if (n === 0 || n > MAX_KEY_BYTES) return -1;
  for (let i = 0; i < n; i++) if ((key.charCodeAt(i) - 48) >>> 0 > 9) return -1; // not 0-9
  let v = 0;
  const end = n + to;
  for (let i = n + from; i < end; i++) v = v * 10 + (i < 0 ? 0 : key.charCodeAt(i) - 48);
  return v % shards;
}

/** Digits shard for a non-negative slice `[from, to)` of the id left-padded to length `to`. */
function digitsFromStart(key: string, from: number, to: number, shards: number): number {
  const n = key.length;
  if (n === 0 || n > MAX_KEY_BYTES) return -1;
  for (let i = 0; i < n; i++) if ((key.charCodeAt(i) - 48) >>> 0 > 9) return -1; // not 0-9
  const pad = to > n ? to - n : 0; // zeros in front
  let v = 0;
  for (let p = from; p < to; p++) {
    const i = p - pad;
    v = v * 10 + (i < 0 ? 0 : key.charCodeAt(i) - 48);
  }
  return v % shards;
}

/** Digits shard (see ShardFunctionSpec); `to` undefined = the end. Assumes a valid slice. */
export function digitsShard(key: string, from: number, to: number | undefined, shards: number): number {
  return from < 0 ? digitsFromEnd(key, from, to ?? 0, shards) : digitsFromStart(key, from, to ?? from, shards);
}

// ---------------------------------------------------------------------------
// Spec normalisation and compilation

const isInt = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v);

const describeSlice = (from: number, to: number | undefined): string =>
  `Digits from ${from}${to === undefined ? "" : ` to ${to}`}`;

/**
 * Validates a shard function spec (as found in `spec.function`) against the
 * shard count and returns its normalised form, or the issues found.
 */
export function normalizeShardFunction(
  input: unknown,
  shards: number,
  path = "spec.function",
): { spec?: ShardFunctionSpec; issues: RoutingIssue[] } {
  const issues: RoutingIssue[] = [];
  const allowed = `allowed values: ${SHARD_FUNCTION_TYPES.join(", ")}`;
  if (input === null || typeof input !== "object" || Array.isArray(input)) {
    issues.push({ path, message: `required: an object like {type: Digits, from: -3, to: -1}; type ${allowed}` });
    return { issues };
  }
  const f = input as Record<string, unknown>;
  const type = f["type"];
  if (type === undefined || type === null || type === "") {
    issues.push({ path: `${path}.type`, message: `required; ${allowed}` });
    return { issues };
  }
  if (typeof type !== "string" || !(SHARD_FUNCTION_TYPES as readonly string[]).includes(type)) {
    issues.push({ path: `${path}.type`, message: `unknown shard function ${JSON.stringify(type)}; ${allowed}` });
    return { issues };
  }
  if (type === "Modulo") return { spec: Object.freeze({ type: "Modulo" }), issues };
  if (type === "Hash") {
    const algorithm = f["algorithm"] ?? "FNV1a32";
    if (typeof algorithm !== "string" || !(HASH_ALGORITHMS as readonly string[]).includes(algorithm)) {
      issues.push({
        path: `${path}.algorithm`,
        message: `unknown hash algorithm ${JSON.stringify(algorithm)}; allowed values: ${HASH_ALGORITHMS.join(", ")}`,
      });
      return { issues };
    }
    return { spec: Object.freeze({ type: "Hash", algorithm: algorithm as HashAlgorithm }), issues };
  }
  // Digits
  const from = f["from"];
  const toRaw = f["to"];
  const to = toRaw === null ? undefined : toRaw;
  if (!isInt(from)) {
    issues.push({
      path: `${path}.from`,
      message:
        "required for Digits: an integer digit position, negative to count from the end " +
        "(from -3 to -1 takes the 3rd- and 2nd-to-last digits: 1234 -> 23)",
    });
    return { issues };
  }
  if (to !== undefined && !isInt(to)) {
    issues.push({ path: `${path}.to`, message: "must be an integer (or omitted for the end of the id)" });
    return { issues };
  }
  let width: number;
  if (from < 0) {
    if (to !== undefined && to >= 0) {
      issues.push({
        path: `${path}.to`,
        message:
          to === 0
            ? `with a negative from, omit to for "up to the last digit" (a Python slice ${from}:0 is empty)`
            : `from (${from}) and to (${to}) must both be negative (counted from the end) or both non-negative`,
      });
      return { issues };
    }
    width = (to ?? 0) - from;
  } else {
    if (to === undefined || to < 0) {
      issues.push({
        path: `${path}.to`,
        message:
          to === undefined
            ? `required when from is non-negative (${from}): the position after the last digit to take`
            : `from (${from}) and to (${to}) must both be negative (counted from the end) or both non-negative`,
      });
      return { issues };
    }
    width = to - from;
  }
  if (width <= 0) {
    issues.push({ path: `${path}.to`, message: `${describeSlice(from, to)} takes no digits: to must be after from` });
    return { issues };
  }
  if (width > MAX_DIGITS_WIDTH) {
    issues.push({
      path,
      message: `${describeSlice(from, to)} takes ${width} digits; at most ${MAX_DIGITS_WIDTH} (use Modulo for whole ids)`,
    });
    return { issues };
  }
  if (Math.abs(from) > MAX_KEY_BYTES || (to !== undefined && Math.abs(to) > MAX_KEY_BYTES)) {
    issues.push({ path, message: `${describeSlice(from, to)} reaches past the longest key (${MAX_KEY_BYTES} digits)` });
    return { issues };
  }
  if (10 ** width < shards) {
    const max = 10 ** width - 1;
    issues.push({
      path,
      message:
        `${describeSlice(from, to)} takes ${width} digit${width === 1 ? "" : "s"} (values 0-${max}), ` +
        `fewer than spec.shards (${shards}): shards ${max + 1}-${shards - 1} would never receive a key; ` +
        `widen the slice or lower spec.shards`,
    });
    return { issues };
  }
  const spec: ShardFunctionSpec = to === undefined ? { type: "Digits", from } : { type: "Digits", from, to };
  return { spec: Object.freeze(spec), issues };
}

/** The shard function of a (normalised) spec for `shards` shards. */
export function compileShardFunction(spec: ShardFunctionSpec, shards: number): ShardFn {
  switch (spec.type) {
    case "Digits": {
      const { from } = spec;
      if (from < 0) {
        const to = spec.to ?? 0;
        return (key) => digitsFromEnd(key, from, to, shards);
      }
      const to = spec.to ?? from;
      return (key) => digitsFromStart(key, from, to, shards);
    }
    case "Modulo": {
      const inv = 1 / shards;
      return (key) => moduloWithInverse(key, shards, inv);
    }
    case "Hash":
      return (key) => hashShard(key, shards);
  }
}
