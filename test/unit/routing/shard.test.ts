import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  compileShardFunction,
  digitsShard,
  fnv1a32,
  hashShard,
  MAX_KEY_BYTES,
  moduloShard,
  normalizeShardFunction,
} from "../../../src/routing/index.ts";
import vectors from "./hash-vectors.json" with { type: "json" };
import { decimalIdArb, utf16Arb } from "./arbitraries.ts";

/** Reference Digits: Python slice of the id left-padded with zeros to the length the slice needs. */
function digitsReference(id: string, from: number, to: number | undefined, shards: number): number {
  const need = from < 0 ? -from : (to ?? from);
  const padded = id.padStart(Math.max(id.length, need), "0");
  const len = padded.length;
  const norm = (i: number): number => (i < 0 ? Math.max(0, len + i) : Math.min(i, len));
  const slice = padded.slice(norm(from), to === undefined ? len : norm(to));
  return Number(BigInt(slice) % BigInt(shards));
}

/** Reference FNV-1a 32 via TextEncoder and BigInt. */
function fnvReference(key: string): number {
  let h = 0x811c9dc5n;
  for (const b of new TextEncoder().encode(key)) h = ((h ^ BigInt(b)) * 0x01000193n) & 0xffffffffn;
  return Number(h);
}

describe("Digits", () => {
  it("takes the 3rd- and 2nd-to-last digits: 1234 -> 23", () => {
    expect(digitsShard("1234", -3, -1, 100)).toBe(23);
    expect(digitsShard("2088001234", -3, -1, 100)).toBe(23);
    expect(digitsShard("9999999999999999999999999991234", -3, -1, 100)).toBe(23);
  });

  it("left-pads short ids with zeros", () => {
    expect(digitsShard("5", -3, -1, 100)).toBe(0); // "005"[-3:-1] = "00"
    expect(digitsShard("45", -3, -1, 100)).toBe(4); // "045" -> "04"
    expect(digitsShard("345", -3, -1, 100)).toBe(34);
    expect(digitsShard("0", -2, undefined, 100)).toBe(0);
    expect(digitsShard("7", -2, undefined, 100)).toBe(7);
    expect(digitsShard("5", 0, 2, 100)).toBe(5); // "05"
  });

  it("follows Python slice semantics, to omitted = the end", () => {
    expect(digitsShard("1234", -2, undefined, 100)).toBe(34);
    expect(digitsShard("1234", 0, 2, 100)).toBe(12);
    expect(digitsShard("1234", 1, 3, 100)).toBe(23);
    expect(digitsShard("1234", -4, -1, 1000)).toBe(123);
  });

  it("takes the number mod spec.shards", () => {
    expect(digitsShard("1234", -3, -1, 10)).toBe(3);
    expect(digitsShard("1999", -4, undefined, 1000)).toBe(999);
    expect(digitsShard("19999", -4, undefined, 1000)).toBe(999);
  });

  it("rejects non-digits, empty and over-long ids", () => {
    for (const k of ["", "12a4", "-123", " 123", "123 ", "１２３", "0x12", "1".repeat(MAX_KEY_BYTES + 1)]) {
      expect(digitsShard(k, -3, -1, 100)).toBe(-1);
    }
    expect(digitsShard("1".repeat(MAX_KEY_BYTES), -3, -1, 100)).toBe(11);
  });

  it("matches the Python-slice reference for random ids and slices", () => {
    const slice = fc.oneof(
      fc.tuple(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 0, max: 5 })).map(([w, o]) => ({
        from: -o - w,
        to: o === 0 ? undefined : -o,
      })),
      fc
        .tuple(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 0, max: 5 }))
        .map(([w, o]) => ({ from: o, to: o + w })),
    );
    fc.assert(
      fc.property(decimalIdArb, slice, fc.integer({ min: 1, max: 100_000 }), (id, { from, to }, shards) => {
        expect(digitsShard(id, from, to, shards)).toBe(digitsReference(id, from, to, shards));
      }),
    );
  });
});

describe("Modulo", () => {
  it("is exact beyond 2^53 and 2^64", () => {
    expect(moduloShard("9007199254740993", 100)).toBe(93);
    expect(moduloShard("18446744073709551617", 16384)).toBe(Number(18446744073709551617n % 16384n));
    expect(moduloShard("0", 7)).toBe(0);
    expect(moduloShard("000123", 100)).toBe(23);
  });

  it("equals the BigInt reference for random huge ids", () => {
    fc.assert(
      fc.property(decimalIdArb, fc.integer({ min: 1, max: 65_536 }), (id, n) => {
        expect(moduloShard(id, n)).toBe(Number(BigInt(id) % BigInt(n)));
      }),
      { numRuns: 2000 },
    );
  });

  it("is exact next to multiples of N (the division-based remainder's fix-up)", () => {
    for (const n of [1, 2, 3, 7, 100, 127, 128, 129, 16383, 16384, 65521, 65535, 65536]) {
      for (const k of [1n, 10n ** 9n, 10n ** 15n, 2n ** 53n, 10n ** 18n + 7n, 10n ** 40n]) {
        for (const d of [-1n, 0n, 1n]) {
          const id = k * BigInt(n) + d;
          if (id < 0n) continue;
          expect(moduloShard(String(id), n), `${id} mod ${n}`).toBe(Number(id % BigInt(n)));
        }
      }
    }
  });

  it("rejects anything but 1..256 ASCII digits", () => {
    for (const k of ["", "-1", "+1", "1e3", "1.0", " 1", "٣", "1".repeat(257)]) expect(moduloShard(k, 100)).toBe(-1);
  });
});

describe("Hash (FNV1a32)", () => {
  it("has the canonical FNV-1a test vectors", () => {
    expect(fnv1a32("")).toBe(0x811c9dc5);
    expect(fnv1a32("a")).toBe(0xe40c292c);
    expect(fnv1a32("foobar")).toBe(0xbf9cf968);
  });

  it("matches hash-vectors.json (made by an independent Python implementation)", () => {
    expect(vectors.algorithm).toBe("FNV1a32");
    expect(vectors.vectors.length).toBeGreaterThan(10);
    for (const v of vectors.vectors) {
      expect(fnv1a32(v.key), v.key).toBe(Number.parseInt(v.hash, 16));
      if (v.key !== "") {
        expect(hashShard(v.key, 100), v.key).toBe(v.shard100);
        expect(hashShard(v.key, 16384), v.key).toBe(v.shard16384);
      }
    }
  });

  it("hashes UTF-8 bytes like TextEncoder (lone surrogates as U+FFFD)", () => {
    expect(fnv1a32("\ud800")).toBe(fnv1a32("\ufffd"));
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: "binary" }), utf16Arb(50)), (key) => {
        expect(fnv1a32(key)).toBe(fnvReference(key));
      }),
      { numRuns: 2000 },
    );
  });

  it("bounds keys at 256 UTF-8 bytes", () => {
    expect(hashShard("", 100)).toBe(-1);
    expect(hashShard("a".repeat(256), 100)).toBe(fnv1a32("a".repeat(256)) % 100);
    expect(hashShard("a".repeat(257), 100)).toBe(-1);
    expect(hashShard("é".repeat(128), 100)).toBe(fnv1a32("é".repeat(128)) % 100); // 256 bytes
    expect(hashShard("é".repeat(129), 100)).toBe(-1); // 258 bytes, 129 chars
    expect(hashShard("😀".repeat(64), 100)).toBeGreaterThanOrEqual(0);
    expect(hashShard("😀".repeat(65), 100)).toBe(-1);
  });
});

describe("shard function specs", () => {
  const issue = (input: unknown, shards = 100): string => {
    const r = normalizeShardFunction(input, shards);
    expect(r.spec).toBeUndefined();
    return r.issues.map((i) => `${i.path}: ${i.message}`).join("; ");
  };

  it("normalises valid specs", () => {
    expect(normalizeShardFunction({ type: "Digits", from: -3, to: -1 }, 100).spec).toEqual({
      type: "Digits",
      from: -3,
      to: -1,
    });
    expect(normalizeShardFunction({ type: "Digits", from: -2, to: null }, 100).spec).toEqual({
      type: "Digits",
      from: -2,
    });
    expect(normalizeShardFunction({ type: "Modulo" }, 7).spec).toEqual({ type: "Modulo" });
    expect(normalizeShardFunction({ type: "Hash" }, 7).spec).toEqual({ type: "Hash", algorithm: "FNV1a32" });
  });

  it("names spec.function.type and the allowed values for an unknown function", () => {
    expect(issue({ type: "Crc32" })).toBe(
      `spec.function.type: unknown shard function "Crc32"; allowed values: Digits, Modulo, Hash`,
    );
    expect(issue({})).toBe("spec.function.type: required; allowed values: Digits, Modulo, Hash");
    expect(issue(undefined)).toContain("spec.function: required");
    expect(issue({ type: "Hash", algorithm: "md5" })).toBe(
      `spec.function.algorithm: unknown hash algorithm "md5"; allowed values: FNV1a32`,
    );
  });

  it("explains bad Digits slices", () => {
    expect(issue({ type: "Digits" })).toContain("spec.function.from: required for Digits");
    expect(issue({ type: "Digits", from: -3, to: 0 })).toContain("omit to");
    expect(issue({ type: "Digits", from: -3, to: 2 })).toContain("must both be negative");
    expect(issue({ type: "Digits", from: 2 })).toContain("spec.function.to: required when from is non-negative");
    expect(issue({ type: "Digits", from: -1, to: -3 })).toContain("takes no digits");
    expect(issue({ type: "Digits", from: -20 })).toContain("at most 15");
    expect(issue({ type: "Digits", from: -3, to: -1 }, 16384)).toBe(
      "spec.function: Digits from -3 to -1 takes 2 digits (values 0-99), fewer than spec.shards (16384): " +
        "shards 100-16383 would never receive a key; widen the slice or lower spec.shards",
    );
    expect(issue({ type: "Digits", from: "x" })).toContain("spec.function.from");
  });

  it("compiles to the same function as the primitives", () => {
    fc.assert(
      fc.property(decimalIdArb, fc.integer({ min: 1, max: 10_000 }), (id, n) => {
        expect(compileShardFunction({ type: "Modulo" }, n)(id)).toBe(moduloShard(id, n));
        expect(compileShardFunction({ type: "Hash", algorithm: "FNV1a32" }, n)(id)).toBe(hashShard(id, n));
        expect(compileShardFunction({ type: "Digits", from: -6, to: -1 }, n)(id)).toBe(digitsShard(id, -6, -1, n));
      }),
    );
  });
});
