// Routing lookup benchmark: key -> cell in process, single thread (= per core).
//
//   node bench/routing-lookup.ts            all cases, one JSON line on stdout
//   node bench/routing-lookup.ts --case digits [--seconds 3]
//
// Each case runs in its own child process so that one case's JIT feedback
// (e.g. a polymorphic call site) does not slow another: a sidecar holds one
// or a few tables. Per case: warm-up, then timed rounds of a fixed number of
// lookups over 64 Ki pre-built decimal-string keys (flat strings, 8 to 19
// digits), results folded into a sink that is printed (no dead-code
// elimination). Reports the median round as ops/s and ns/op. Baselines: a
// Map<string, number> lookup of the same keys (rounds interleaved with every
// case's, so the ratio holds on a busy machine) and Number(key) % N (a bare
// string parse, its own case).

import { execFileSync } from "node:child_process";
import os from "node:os";
import type { CellInfo, RouteContext, RequestLike } from "../src/routing/index.ts";
import { buildTable, createRouter } from "../src/routing/index.ts";

const TARGET_OPS_PER_SEC = 20_000_000;
const KEYS = 1 << 16;
const BATCH = 1 << 20;

const CASES = ["map", "parse", "digits", "modulo", "hash", "route"] as const;
type CaseName = (typeof CASES)[number];

interface CaseResult {
  opsPerSec: number;
  nsPerOp: number;
  rounds: number;
  minOpsPerSec: number;
  maxOpsPerSec: number;
  /** Median over rounds of (this case's ops/s) / (Map baseline ops/s), rounds interleaved. */
  vsMap: number;
  sink: number;
}

/** Deterministic PRNG (mulberry32) so every run uses the same keys. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Decimal user ids, 8 to 19 digits, as flat strings. */
function makeKeys(): string[] {
  const r = rng(1234);
  const keys: string[] = [];
  for (let i = 0; i < KEYS; i++) {
    const digits = 8 + Math.floor(r() * 12);
    let s = String(1 + Math.floor(r() * 9));
    while (s.length < digits) s += String(Math.floor(r() * 10));
    keys.push(s);
  }
  // Round-trip through JSON: flat, sequential strings (no cons-strings from +=).
  return JSON.parse(JSON.stringify(keys)) as string[];
}

function cells(n: number): CellInfo[] {
  return Array.from({ length: n }, (_, i) => ({
    name: `rz${String(i).padStart(2, "0")}`,
    type: "Regional" as const,
    zone: ["hz-a", "hz-b", "sh-a"][i % 3]!,
    region: i % 3 === 2 ? "shanghai" : "hangzhou",
  }));
}

/** Ownership alternating in blocks of 7 shards, so lookups hit many cells. */
function assignments(shards: number, cs: CellInfo[]): { cell: string; shards: string }[] {
  const by = new Map<string, string[]>();
  for (let s = 0; s < shards; s += 7) {
    const c = cs[(s / 7) % cs.length]!.name;
    const list = by.get(c) ?? [];
    list.push(`${s}-${Math.min(s + 6, shards - 1)}`);
    by.set(c, list);
  }
  return [...by].map(([cell, r]) => ({ cell, shards: r.join(",") }));
}

function tableFor(kind: "Digits" | "Modulo" | "Hash") {
  const shards = kind === "Digits" ? 100 : 16384;
  const cs = cells(kind === "Digits" ? 10 : 64);
  return buildTable({
    ruleName: "users",
    shards,
    function: kind === "Digits" ? { type: "Digits", from: -3, to: -1 } : { type: kind },
    key: [{ type: "Header", name: "x-user-id" }],
    assignments: assignments(shards, cs),
    cells: cs,
    epoch: 1,
  });
}

/** Returns a function doing `n` lookups starting at key offset `i0`, folding results into a number. */
function makeLoop(name: CaseName, keys: string[]): (i0: number, n: number) => number {
  const mask = KEYS - 1;
  switch (name) {
    case "map": {
      const t = tableFor("Digits");
      const m = new Map<string, number>(keys.map((k) => [k, t.cellIndexForKey(k)]));
      return (i0, n) => {
        let s = 0;
        for (let i = i0; i < i0 + n; i++) s += m.get(keys[i & mask]!)!;
        return s;
      };
    }
    case "parse":
      return (i0, n) => {
        let s = 0;
        for (let i = i0; i < i0 + n; i++) s += Number(keys[i & mask]!) % 16384;
        return s;
      };
    case "digits":
    case "modulo":
    case "hash": {
      const t = tableFor(name === "digits" ? "Digits" : name === "modulo" ? "Modulo" : "Hash");
      return (i0, n) => {
        let s = 0;
        for (let i = i0; i < i0 + n; i++) s += t.cellIndexForKey(keys[i & mask]!);
        return s;
      };
    }
    case "route": {
      // The full sidecar decision: header extraction, Digits shard, owner, freeze check.
      const t = tableFor("Digits");
      const ctx: RouteContext = { localCell: "rz00", localRegion: "hangzhou" };
      const router = createRouter(t, ctx);
      const reqs: RequestLike[] = keys.map((k, i) => ({
        method: i % 4 === 0 ? "POST" : "GET",
        url: "/pay",
        headers: { "x-user-id": k, host: "pay.example" },
      }));
      return (i0, n) => {
        let s = 0;
        for (let i = i0; i < i0 + n; i++) s += router(reqs[i & mask]!).kind.length;
        return s;
      };
    }
  }
}

/** Times `loop` over one batch; returns ns. */
function timeBatch(loop: (i0: number, n: number) => number, state: { sink: number; offset: number }): number {
  const t0 = process.hrtime.bigint();
  state.sink = (state.sink + loop(state.offset, BATCH)) % 1_000_000_007;
  const ns = Number(process.hrtime.bigint() - t0);
  state.offset = (state.offset + 7919) & (KEYS - 1);
  return ns;
}

/** One timed round of whole batches lasting about `ms`; returns ops/s. */
function round(loop: (i0: number, n: number) => number, state: { sink: number; offset: number }, ms: number): number {
  let ns = 0;
  let ops = 0;
  while (ns < ms * 1e6) {
    ns += timeBatch(loop, state);
    ops += BATCH;
  }
  return (ops / ns) * 1e9;
}

const median = (xs: number[]): number => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/**
 * Measures `name` and, interleaved round by round in the same process, the
 * Map baseline, so that the ratio holds even on a busy machine.
 */
function runCase(name: CaseName, seconds: number): CaseResult {
  const keys = makeKeys();
  const loop = makeLoop(name, keys);
  const base = name === "map" ? loop : makeLoop("map", keys);
  const state = { sink: 0, offset: 0 };
  const baseState = { sink: 0, offset: 0 };
  // Warm-up: at least 0.5 s and 5 batches each (tiers up to the optimizing compiler).
  const warmEnd = performance.now() + 500;
  for (let b = 0; b < 5 || performance.now() < warmEnd; b++) {
    timeBatch(loop, state);
    if (base !== loop) timeBatch(base, baseState);
  }
  const rates: number[] = [];
  const ratios: number[] = [];
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end || rates.length < 5) {
    const r = round(loop, state, 200);
    const b = base === loop ? r : round(base, baseState, 200);
    rates.push(r);
    ratios.push(r / b);
  }
  const m = median(rates);
  return {
    opsPerSec: Math.round(m),
    nsPerOp: Number((1e9 / m).toFixed(2)),
    rounds: rates.length,
    minOpsPerSec: Math.round(Math.min(...rates)),
    maxOpsPerSec: Math.round(Math.max(...rates)),
    vsMap: Number(median(ratios).toFixed(2)),
    sink: (state.sink + baseState.sink) % 1_000_000_007,
  };
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const seconds = Number(arg("--seconds") ?? 3);
const only = arg("--case");
if (only !== undefined) {
  if (!(CASES as readonly string[]).includes(only)) {
    console.error(`unknown case ${only}; cases: ${CASES.join(", ")}`);
    process.exit(2);
  }
  process.stdout.write(`${JSON.stringify(runCase(only as CaseName, seconds))}\n`);
} else {
  const results = {} as Record<CaseName, CaseResult>;
  for (const c of CASES) {
    const out = execFileSync(process.execPath, [import.meta.filename, "--case", c, "--seconds", String(seconds)], {
      encoding: "utf8",
    });
    results[c] = JSON.parse(out) as CaseResult;
  }
  const report = {
    bench: "routing-lookup",
    node: process.version,
    cpu: os.cpus()[0]?.model ?? "unknown",
    loadavg: os.loadavg().map((l) => Number(l.toFixed(2))),
    keys: `${KEYS} decimal ids, 8-19 digits`,
    targetOpsPerSec: TARGET_OPS_PER_SEC,
    results,
    meetsTarget: {
      digits: results.digits.opsPerSec >= TARGET_OPS_PER_SEC,
      modulo: results.modulo.opsPerSec >= TARGET_OPS_PER_SEC,
    },
    // Each case over the Map baseline, measured interleaved in the same process.
    ratiosVsMap: Object.fromEntries(CASES.filter((c) => c !== "map").map((c) => [c, results[c].vsMap])),
  };
  process.stdout.write(`${JSON.stringify(report)}\n`);
}
