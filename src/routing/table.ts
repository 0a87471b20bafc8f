// The resolved routing table: shard -> cell -> active zone -> state, as an
// immutable structure with O(1) lookups, its compact serialised form and a
// deterministic content hash. Tables are made by buildTable (build.ts), which
// validates; the constructor here trusts its (internal) input.

import { createHash } from "node:crypto";
import type { KeySource } from "./key.ts";
import { compileKeyPattern, type KeyPattern } from "./key.ts";
import type { ShardFn, ShardFunctionSpec } from "./shard.ts";
import { MAX_KEY_BYTES, compileShardFunction } from "./shard.ts";

export type CellType = "Regional" | "Global" | "City";
export const CELL_TYPES: readonly CellType[] = ["Regional", "Global", "City"];
export type UnitProtection = "Forward" | "Reject";
export type OnInvalidKey = "Global" | "Reject";

/** A cell as the routing table knows it: its type and the zone it is active in. */
export interface CellInfo {
  readonly name: string;
  readonly type: CellType;
  /** The cell's ACTIVE zone. */
  readonly zone: string;
  /** The region (city) of that zone. */
  readonly region: string;
  /**
   * A City cell whose zone is evacuated: it serves nothing, and its region's
   * City-scope reads go to its stand-in (cityStandIn). Only City cells; in the
   * serialised form only when true.
   */
  readonly evacuated?: true;
}

/**
 * Who serves the City-scope reads of an evacuated City cell's region: the
 * first City cell (by name) that is not evacuated itself (another region's
 * read copy), else the global cell (undefined: none; reads go to the global
 * cell, which is what a region without a City cell gets anyway). The one
 * definition the routing table and the failover planner both use.
 */
export function cityStandIn(
  cells: readonly Pick<CellInfo, "name" | "type" | "evacuated">[],
  globalCell: string | undefined,
): string | undefined {
  let best: string | undefined;
  for (const c of cells) {
    if (c.type === "City" && c.evacuated !== true && (best === undefined || c.name < best)) best = c.name;
  }
  return best ?? globalCell;
}

/** Tag and version of the serialised form. */
export const TABLE_FORMAT = "ldc.io/routing-table/v1";

/** The serialised table (JSON). `runs` encodes ownership, see docs/routing.md. */
export interface SerializedTable {
  readonly format: typeof TABLE_FORMAT;
  readonly rule: string;
  readonly epoch?: number;
  readonly shards: number;
  readonly key: readonly KeySource[];
  readonly keyPattern: string | null;
  readonly function: ShardFunctionSpec;
  readonly unitProtection: UnitProtection;
  readonly onInvalidKey: OnInvalidKey;
  readonly writeMethods: readonly string[];
  readonly frozenRetryAfterSeconds: number;
  readonly globalCell: string | null;
  readonly cells: readonly CellInfo[];
  /** Runs of consecutive shards with the same cell and state: "cellIndex[!][:length]", comma-separated. */
  readonly runs: string;
}

/** @internal What buildTable hands the constructor: validated, normalised, cells sorted by name. */
export interface ResolvedParts {
  readonly ruleName: string;
  readonly epoch: number;
  readonly shards: number;
  readonly key: readonly KeySource[];
  readonly keyPattern: string | undefined;
  readonly function: ShardFunctionSpec;
  readonly cells: readonly CellInfo[];
  readonly owner: Uint16Array;
  readonly frozen: Uint8Array;
  readonly globalCell: number;
  readonly unitProtection: UnitProtection;
  readonly onInvalidKey: OnInvalidKey;
  readonly writeMethods: readonly string[];
  readonly frozenRetryAfterSeconds: number;
}

export class RoutingTable {
  /** The ShardingRule's name. */
  readonly ruleName: string;
  /** Version: strictly increasing across the tables of one rule. */
  readonly epoch: number;
  /** Number of shards N; shards are 0..N-1. */
  readonly shards: number;
  /** Where the routing key is, tried in order. */
  readonly key: readonly KeySource[];
  /** A regular expression (compiled with the `u` flag) a key must match to be valid, if any. */
  readonly keyPattern: string | undefined;
  readonly function: ShardFunctionSpec;
  /** All cells, sorted by name; a cell's index is its position here. */
  readonly cells: readonly CellInfo[];
  /** The global cell, if the rule has one. */
  readonly globalCell: CellInfo | undefined;
  readonly unitProtection: UnitProtection;
  readonly onInvalidKey: OnInvalidKey;
  /** HTTP methods that count as writes (sorted). */
  readonly writeMethods: readonly string[];
  /** Retry-After for a write to a write-frozen shard. */
  readonly frozenRetryAfterSeconds: number;
  /** Number of write-frozen shards. */
  readonly frozenCount: number;

  readonly #owner: Uint16Array;
  readonly #frozen: Uint8Array;
  readonly #globalIndex: number;
  readonly #cellIndex: ReadonlyMap<string, number>;
  readonly #cityByRegion: ReadonlyMap<string, number>;
  readonly #writeSet: ReadonlySet<string>;
  readonly #shardFn: ShardFn;
  readonly #pattern: KeyPattern | undefined;
  #serialized: string | undefined;
  #contentHash: string | undefined;

  /** @internal Use buildTable or parseTable. */
  constructor(p: ResolvedParts) {
    this.ruleName = p.ruleName;
    this.epoch = p.epoch;
    this.shards = p.shards;
    this.key = Object.freeze(p.key.slice());
    this.keyPattern = p.keyPattern;
    this.#pattern = p.keyPattern === undefined ? undefined : compileKeyPattern(p.keyPattern);
    this.function = p.function;
    this.cells = Object.freeze(p.cells.map((c) => Object.freeze({ ...c })));
    this.globalCell = p.globalCell >= 0 ? this.cells[p.globalCell] : undefined;
    this.unitProtection = p.unitProtection;
    this.onInvalidKey = p.onInvalidKey;
    this.writeMethods = Object.freeze(p.writeMethods.slice());
    this.frozenRetryAfterSeconds = p.frozenRetryAfterSeconds;
    this.#owner = p.owner;
    this.#frozen = p.frozen;
    this.#globalIndex = p.globalCell;
    this.#cellIndex = new Map(this.cells.map((c, i) => [c.name, i]));
    const city = new Map<string, number>();
    // An evacuated City cell's region is served by its stand-in (a City cell, or the global cell: -1 falls back to it).
    const standIn = this.#cellIndex.get(cityStandIn(this.cells, undefined) ?? "") ?? -1;
    this.cells.forEach((c, i) => {
      if (c.type === "City") city.set(c.region, c.evacuated ? standIn : i);
    });
    this.#cityByRegion = city;
    this.#writeSet = new Set(this.writeMethods);
    this.#shardFn = compileShardFunction(p.function, p.shards);
    let frozen = 0;
    for (let i = 0; i < p.frozen.length; i++) frozen += p.frozen[i]!;
    this.frozenCount = frozen;
    Object.freeze(this);
  }

  /** The shard of a routing key, or -1 if the key is malformed (for the shard function, or not matching keyPattern). */
  shardOf(key: string): number {
    // Every shard function refuses more than MAX_KEY_BYTES bytes: bound the pattern's work too.
    if (key.length > MAX_KEY_BYTES || !this.matchesKeyPattern(key)) return -1;
    return this.#shardFn(key);
  }

  /** Whether `key` matches spec.key.pattern (true without one); linear in the key. */
  matchesKeyPattern(key: string): boolean {
    return this.#pattern === undefined || this.#pattern.test(key);
  }

  /** Index (into `cells`) of the cell owning `shard` (0 <= shard < shards). */
  ownerIndex(shard: number): number {
    return this.#owner[shard]!;
  }

  /** The cell owning `shard`. */
  ownerOf(shard: number): CellInfo {
    return this.cells[this.#owner[shard]!]!;
  }

  /** Whether writes to `shard` are frozen. */
  isFrozen(shard: number): boolean {
    return this.#frozen[shard] === 1;
  }

  /** Index of the cell owning `key`'s shard, or -1 for a malformed key. */
  cellIndexForKey(key: string): number {
    const s = this.shardOf(key);
    return s < 0 ? -1 : this.#owner[s]!;
  }

  /** Index of cell `name` in `cells`, or -1. */
  cellIndex(name: string): number {
    return this.#cellIndex.get(name) ?? -1;
  }

  cell(name: string): CellInfo | undefined {
    const i = this.#cellIndex.get(name);
    return i === undefined ? undefined : this.cells[i];
  }

  /** Index of the global cell, or -1. */
  get globalCellIndex(): number {
    return this.#globalIndex;
  }

  /** Index of the City cell serving `region` (an evacuated one's stand-in), or -1: the global cell serves it. */
  cityCellIndex(region: string): number {
    return this.#cityByRegion.get(region) ?? -1;
  }

  /** Whether an HTTP method counts as a write. */
  isWriteMethod(method: string | undefined): boolean {
    return method !== undefined && this.#writeSet.has(method);
  }

  /** Copies of the per-shard owner indices and frozen flags (for diffs, status, tests). */
  ownership(): { owner: Uint16Array; frozen: Uint8Array } {
    return { owner: this.#owner.slice(), frozen: this.#frozen.slice() };
  }

  /** The run-length encoded ownership: "cellIndex[!][:length]" per run, comma-separated. */
  encodeRuns(): string {
    const owner = this.#owner;
    const frozen = this.#frozen;
    const parts: string[] = [];
    let i = 0;
    while (i < this.shards) {
      const c = owner[i]!;
      const f = frozen[i]!;
      let j = i + 1;
      while (j < this.shards && owner[j] === c && frozen[j] === f) j++;
      const len = j - i;
      parts.push(`${c}${f ? "!" : ""}${len > 1 ? `:${len}` : ""}`);
      i = j;
    }
    return parts.join(",");
  }

  /** The serialised form as an object (epoch omitted when `withEpoch` is false). */
  toSerialized(withEpoch = true): SerializedTable {
    const base = {
      format: TABLE_FORMAT,
      rule: this.ruleName,
      ...(withEpoch ? { epoch: this.epoch } : {}),
      shards: this.shards,
      key: this.key.map((k) => ({ type: k.type, name: k.name })),
      keyPattern: this.keyPattern ?? null,
      function: { ...this.function },
      unitProtection: this.unitProtection,
      onInvalidKey: this.onInvalidKey,
      writeMethods: this.writeMethods.slice(),
      frozenRetryAfterSeconds: this.frozenRetryAfterSeconds,
      globalCell: this.globalCell?.name ?? null,
      cells: this.cells.map((c) => ({
        name: c.name,
        type: c.type,
        zone: c.zone,
        region: c.region,
        ...(c.evacuated ? { evacuated: true as const } : {}),
      })),
      runs: this.encodeRuns(),
    } as const;
    return base;
  }

  /** The serialised form: compact, deterministic JSON (same table, same bytes). */
  serialize(): string {
    this.#serialized ??= JSON.stringify(this.toSerialized(true));
    return this.#serialized;
  }

  toJSON(): SerializedTable {
    return this.toSerialized(true);
  }

  /**
   * SHA-256 (hex) of the serialised form without the epoch: equal for tables
   * with the same content whatever their epochs, so "did anything change" is
   * a string compare (bump the epoch only when it differs).
   */
  get contentHash(): string {
    this.#contentHash ??= createHash("sha256")
      .update(JSON.stringify(this.toSerialized(false)))
      .digest("hex");
    return this.#contentHash;
  }

  /** A strong HTTP ETag for this table: epoch and content. */
  get etag(): string {
    return `"${this.epoch}-${this.contentHash.slice(0, 16)}"`;
  }
}

/**
 * Whether a router holding `current` should take `incoming`: same rule and a
 * strictly higher epoch (a router never goes back to an older table).
 */
export function isNewerTable(current: RoutingTable | undefined, incoming: RoutingTable): boolean {
  return current === undefined || (incoming.ruleName === current.ruleName && incoming.epoch > current.epoch);
}

/** The epoch a rebuilt table should carry: `prev.epoch + 1` if its content changed, else `prev.epoch`. */
export function nextEpoch(prev: RoutingTable | undefined, nextContentHash: string): number {
  if (prev === undefined) return 1;
  return prev.contentHash === nextContentHash ? prev.epoch : prev.epoch + 1;
}
