// Building a routing table from plain inputs (a ShardingRule's spec plus the
// cells it names, resolved to their active zones), with validation that
// reports every problem by field; and parsing the serialised form back.

import type { RoutingIssue } from "./errors.ts";
import { RoutingRuleError } from "./errors.ts";
import type { KeySource, KeySpec } from "./key.ts";
import { normalizeKeySpec } from "./key.ts";
import type { ShardRange } from "./ranges.ts";
import { describeRanges, formatRanges, parseRanges, rangesWhere } from "./ranges.ts";
import type { ShardFunctionSpec } from "./shard.ts";
import { normalizeShardFunction } from "./shard.ts";
import type { CellInfo, CellType, OnInvalidKey, SerializedTable, UnitProtection } from "./table.ts";
import { CELL_TYPES, RoutingTable, TABLE_FORMAT } from "./table.ts";

/**
 * Most shards a rule may have: the one limit, also the CRD's maximum for
 * spec.shards (src/api imports it). 16,384 is the size benchmarked at 1,000
 * cells (README); a table of that size stays well under 100 KiB.
 */
export const MAX_SHARDS = 16_384;
/** Most cells a table may hold (cell indices are 16-bit). */
export const MAX_CELLS = 65_535;
export const DEFAULT_WRITE_METHODS: readonly string[] = Object.freeze(["POST", "PUT", "PATCH", "DELETE"]);
export const DEFAULT_FROZEN_RETRY_AFTER_SECONDS = 1;
/**
 * Highest epoch a table may carry. Epochs count publishes (one per change), so
 * 2^40 is never reached honestly; a hostile table near 2^53 would otherwise
 * stick in every router forever (a router never takes an older epoch).
 */
export const MAX_EPOCH = 2 ** 40;
/**
 * Rule, cell, zone and region names: DNS-1123 labels, as the ShardingRule,
 * Cell and Zone objects they come from. A table is input from the network or
 * a ConfigMap; its cell and zone names become peer host names
 * (`<app>-<cell>-<zone>.<namespace>.svc`), so nothing else may pass.
 */
export const TABLE_NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const NAME_HINT =
  "must be a DNS-1123 label (at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit), as the object it names";

/** `{cell: rz01, shards: "0-19,40-49"}`: cell rz01 owns those shards. */
export interface AssignmentInput {
  readonly cell: string;
  readonly shards: string;
}

/** Where the key is: `spec.key` (`{sources, pattern?, onInvalidKey?}`) or just the ordered sources. */
export type KeySpecInput = KeySpec | readonly KeySource[];

/** A shard function as written in spec.function (validated by buildTable). */
export type ShardFunctionInput = ShardFunctionSpec | { readonly type: string; readonly [field: string]: unknown };

export interface RoutingTableInput {
  readonly ruleName: string;
  readonly shards: number;
  readonly function: ShardFunctionInput;
  readonly key: KeySpecInput;
  readonly assignments: readonly AssignmentInput[];
  /** The Global cell: key-less requests (onInvalidKey Global), Global-scope traffic, City-scope writes. */
  readonly globalCell?: string | undefined;
  /** Default Forward. */
  readonly unitProtection?: UnitProtection | undefined;
  /** Default POST, PUT, PATCH, DELETE. */
  readonly writeMethods?: readonly string[] | undefined;
  /** Missing key: route to the global cell or reject (400); a present but invalid key is always rejected. Default: key.onInvalidKey, else Reject. */
  readonly onInvalidKey?: OnInvalidKey | undefined;
  /** Every cell the table may route to, each with its ACTIVE zone. */
  readonly cells: readonly CellInfo[];
  /** Write-frozen shards, "20-24,90". */
  readonly frozenShards?: string | undefined;
  /** Retry-After for writes to frozen shards. Default 1. */
  readonly frozenRetryAfterSeconds?: number | undefined;
  /** The table's version: a non-negative integer, strictly increasing across tables of one rule. */
  readonly epoch: number;
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);
const isNonEmptyString = (v: unknown): v is string => typeof v === "string" && v.length > 0;
const METHOD = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const q = (s: string): string => JSON.stringify(s);

/** "rz01", "rz01 and rz02", "rz01, rz02 and rz03". */
function listNames(names: readonly string[]): string {
  if (names.length <= 1) return names.join("");
  return `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]}`;
}

function beyondMessage(beyond: readonly ShardRange[], n: number): string {
  const d = describeRanges(beyond);
  return `${d} ${d.startsWith("shards") ? "are" : "is"} beyond spec.shards (${n}): shards are numbered 0-${n - 1}`;
}

/**
 * Validates the inputs and builds the table. Throws a RoutingRuleError that
 * lists every problem (field and fix) if anything is wrong.
 */
export function buildTable(input: RoutingTableInput): RoutingTable {
  const issues: RoutingIssue[] = [];
  const add = (path: string, message: string): void => {
    issues.push({ path, message });
  };
  if (!isObject(input)) throw new RoutingRuleError([{ path: "input", message: "expected an object" }]);

  // --- scalars
  const ruleName = input.ruleName;
  if (!isNonEmptyString(ruleName)) add("metadata.name", "the rule name is required");
  else if (!TABLE_NAME.test(ruleName)) add("metadata.name", `${q(ruleName.slice(0, 64))} ${NAME_HINT}`);
  const epoch = input.epoch;
  if (typeof epoch !== "number" || !Number.isSafeInteger(epoch) || epoch < 0 || epoch > MAX_EPOCH) {
    add(
      "epoch",
      `must be a non-negative integer, got ${String(epoch).slice(0, 32)}; at most 2^40 (${MAX_EPOCH}): a larger one is refused so one hostile table cannot stick in every router forever`,
    );
  }
  const shards = input.shards;
  const shardsOk = typeof shards === "number" && Number.isInteger(shards) && shards >= 1 && shards <= MAX_SHARDS;
  if (!shardsOk) add("spec.shards", `must be an integer from 1 to ${MAX_SHARDS}, got ${String(shards)}`);
  const n = shardsOk ? shards : 0;

  // --- function and key
  let fn: ShardFunctionSpec | undefined;
  if (shardsOk) {
    const r = normalizeShardFunction(input.function, n);
    issues.push(...r.issues);
    fn = r.spec;
  }
  const keyResult = normalizeKeySpec(input.key);
  issues.push(...keyResult.issues);

  // --- cells
  const cellsIn: unknown = input.cells;
  const cells: CellInfo[] = [];
  if (!Array.isArray(cellsIn)) add("cells", "required: the cells the rule routes to, with their active zones");
  else {
    const seen = new Set<string>();
    (cellsIn as unknown[]).forEach((c, i) => {
      const p = `cells[${i}]`;
      if (!isObject(c)) return add(p, "expected {name, type, zone, region}");
      const { name, type, zone, region, evacuated } = c;
      const bad = (path: string, message: string): void => {
        add(path, message);
        ok = false;
      };
      let ok = true;
      if (!isNonEmptyString(name)) bad(`${p}.name`, "required");
      else if (!TABLE_NAME.test(name)) bad(`${p}.name`, `${q(name.slice(0, 64))} ${NAME_HINT}`);
      else if (seen.has(name)) bad(`${p}.name`, `cell ${name} is listed twice`);
      if (typeof type !== "string" || !(CELL_TYPES as readonly string[]).includes(type)) {
        bad(`${p}.type`, `unknown cell type ${q(String(type).slice(0, 64))}; allowed values: ${CELL_TYPES.join(", ")}`);
      }
      if (!isNonEmptyString(zone)) bad(`${p}.zone`, "required: the zone the cell is active in");
      else if (!TABLE_NAME.test(zone)) bad(`${p}.zone`, `${q(zone.slice(0, 64))} ${NAME_HINT}`);
      if (!isNonEmptyString(region)) bad(`${p}.region`, "required: the region of the cell's active zone");
      else if (!TABLE_NAME.test(region)) bad(`${p}.region`, `${q(region.slice(0, 64))} ${NAME_HINT}`);
      if (evacuated !== undefined && evacuated !== false && !(evacuated === true && type === "City"))
        bad(`${p}.evacuated`, "only a City cell can be evacuated, and the value is true or absent");
      if (isNonEmptyString(name)) seen.add(name);
      if (ok)
        cells.push({
          name: name as string,
          type: type as CellType,
          zone: zone as string,
          region: region as string,
          ...(evacuated === true ? { evacuated: true as const } : {}),
        });
    });
    if (cells.length > MAX_CELLS) add("cells", `at most ${MAX_CELLS} cells, got ${cells.length}`);
  }
  cells.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const cellIndex = new Map(cells.map((c, i) => [c.name, i]));
  const knownCells = (): string =>
    cells.length === 0 ? "no cells are known" : `known cells: ${listNames(cells.map((c) => c.name))}`;
  const cityByRegion = new Map<string, string>();
  for (const c of cells) {
    if (c.type !== "City") continue;
    const other = cityByRegion.get(c.region);
    if (other !== undefined) {
      add(
        "cells",
        `${other} and ${c.name} are both City cells in region ${c.region}; a region has at most one City cell`,
      );
    } else cityByRegion.set(c.region, c.name);
  }

  // --- global cell and policies
  let globalIndex = -1;
  const globalCell = input.globalCell;
  if (globalCell !== undefined && globalCell !== null && globalCell !== "") {
    const gi = typeof globalCell === "string" ? cellIndex.get(globalCell) : undefined;
    if (gi === undefined) add("spec.globalCell", `unknown cell ${q(String(globalCell))}; ${knownCells()}`);
    else if (cells[gi]!.type !== "Global") {
      add("spec.globalCell", `${globalCell} is a ${cells[gi]!.type} cell; the global cell must be of type Global`);
    } else globalIndex = gi;
  }
  const hasGlobal = globalCell !== undefined && globalCell !== null && globalCell !== "";
  const unitProtection = input.unitProtection ?? "Forward";
  if (unitProtection !== "Forward" && unitProtection !== "Reject") {
    add("spec.unitProtection", `unknown value ${q(String(unitProtection))}; allowed values: Forward, Reject`);
  }
  const onInvalidKey = input.onInvalidKey ?? keyResult.spec?.onInvalidKey ?? "Reject";
  if (onInvalidKey !== "Global" && onInvalidKey !== "Reject") {
    add("spec.key.onInvalidKey", `unknown value ${q(String(onInvalidKey))}; allowed values: Global, Reject`);
  } else if (onInvalidKey === "Global" && !hasGlobal) {
    add(
      "spec.key.onInvalidKey",
      "Global routes requests without a key to the global cell: set spec.globalCell, or use Reject",
    );
  }
  const methodsIn: unknown = input.writeMethods ?? DEFAULT_WRITE_METHODS;
  const writeMethods: string[] = [];
  if (!Array.isArray(methodsIn))
    add("spec.writeMethods", "expected a list of HTTP methods, e.g. [POST, PUT, PATCH, DELETE]");
  else {
    (methodsIn as unknown[]).forEach((m, i) => {
      if (typeof m !== "string" || !METHOD.test(m))
        add(`spec.writeMethods[${i}]`, `${q(String(m))} is not an HTTP method`);
      else if (!writeMethods.includes(m)) writeMethods.push(m);
    });
    if (methodsIn.length === 0) {
      add(
        "spec.writeMethods",
        "is empty: list the methods that write (e.g. POST, PUT, PATCH, DELETE), or write freezes cannot work",
      );
    }
  }
  writeMethods.sort();
  const retryAfter = input.frozenRetryAfterSeconds ?? DEFAULT_FROZEN_RETRY_AFTER_SECONDS;
  if (typeof retryAfter !== "number" || !Number.isInteger(retryAfter) || retryAfter < 0 || retryAfter > 86_400) {
    add("frozenRetryAfterSeconds", `must be an integer from 0 to 86400, got ${String(retryAfter)}`);
  }

  // --- assignments: every shard owned by exactly one Regional cell
  const owner = new Uint16Array(n);
  const frozen = new Uint8Array(n);
  const assignmentsIn: unknown = input.assignments;
  if (!Array.isArray(assignmentsIn))
    add("spec.assignments", `required: which cell owns which shards, e.g. [{cell: rz01, shards: "0-49"}]`);
  else if (shardsOk) {
    // claim[s]: index of the first assignment naming shard s, -1 if none.
    const claim = new Int32Array(n).fill(-1);
    const names: string[] = [];
    let overlaps: Map<number, number[]> | undefined; // shard -> every assignment naming it (2+)
    (assignmentsIn as unknown[]).forEach((a, i) => {
      const p = `spec.assignments[${i}]`;
      if (!isObject(a)) return add(p, `expected {cell, shards}, e.g. {cell: rz01, shards: "0-19,40-49"}`);
      const cell = a["cell"];
      const text = a["shards"];
      names[i] = typeof cell === "string" ? cell : String(cell);
      let cellOk = false;
      if (!isNonEmptyString(cell)) add(`${p}.cell`, "required: the owning cell's name");
      else {
        const ci = cellIndex.get(cell);
        if (ci === undefined) add(`${p}.cell`, `unknown cell ${q(cell)}; ${knownCells()}`);
        else if (cells[ci]!.type !== "Regional") {
          add(
            `${p}.cell`,
            `${cell} is a ${cells[ci]!.type} cell; only Regional cells own user shards ` +
              "(Global and City cells serve key-less, global-scope and city-scope traffic)",
          );
        } else cellOk = true;
      }
      if (typeof text !== "string") return add(`${p}.shards`, `required: a shard range string like "0-19,40-49"`);
      const parsed = parseRanges(text);
      if (!parsed.ok) return add(`${p}.shards`, parsed.error);
      if (parsed.ranges.length === 0)
        return add(`${p}.shards`, `is empty: list the shards ${String(cell)} owns, like "0-19,40-49"`);
      const beyond: ShardRange[] = [];
      for (const [first, last] of parsed.ranges) {
        if (last >= n) beyond.push([Math.max(first, n), last]);
        for (let s = first; s <= Math.min(last, n - 1); s++) {
          const prev = claim[s]!;
          if (prev < 0) {
            claim[s] = i;
            if (cellOk) owner[s] = cellIndex.get(cell as string)!;
          } else {
            overlaps ??= new Map();
            const list = overlaps.get(s);
            if (list) list.push(i);
            else overlaps.set(s, [prev, i]);
          }
        }
      }
      if (beyond.length > 0) {
        add(`${p}.shards`, beyondMessage(beyond, n));
      }
    });
    if (overlaps) {
      // Group consecutive shards claimed by the same cells into one message.
      const groups = new Map<string, ShardRange[]>();
      let prevShard = -2;
      let prevKey = "";
      for (const [s, list] of [...overlaps].sort((x, y) => x[0] - y[0])) {
        const cellNames = list.map((ai) => names[ai]!);
        const unique = [...new Set(cellNames)];
        const key =
          unique.length === 1
            ? `are assigned to ${unique[0]} more than once`
            : `are assigned to ${unique.length === 2 ? "both " : ""}${listNames(unique)}`;
        const ranges = groups.get(key) ?? [];
        const last = ranges[ranges.length - 1];
        if (last && prevKey === key && prevShard === s - 1) ranges[ranges.length - 1] = [last[0], s];
        else ranges.push([s, s]);
        groups.set(key, ranges);
        prevShard = s;
        prevKey = key;
      }
      for (const [what, ranges] of groups) {
        const d = describeRanges(ranges);
        add("spec.assignments", `${d} ${d.startsWith("shards") ? what : what.replace(/^are/, "is")}`);
      }
    }
    const gaps = rangesWhere(n, (s) => claim[s]! < 0);
    if (gaps.length > 0) {
      const d = describeRanges(gaps);
      const atEnd = gaps[gaps.length - 1]![1] === n - 1;
      add(
        "spec.assignments",
        `${d} ${d.startsWith("shards") ? "are" : "is"} assigned to no cell — ` +
          (atEnd ? "assign them or lower spec.shards" : "assign them to a cell"),
      );
    }
  }

  // --- frozen shards
  const frozenIn: unknown = input.frozenShards;
  if (frozenIn !== undefined && frozenIn !== null) {
    if (typeof frozenIn !== "string") add("frozenShards", `expected a shard range string like "20-24"`);
    else {
      const parsed = parseRanges(frozenIn);
      if (!parsed.ok) add("frozenShards", parsed.error);
      else if (shardsOk) {
        const beyond: ShardRange[] = [];
        for (const [first, last] of parsed.ranges) {
          if (last >= n) beyond.push([Math.max(first, n), last]);
          for (let s = first; s <= Math.min(last, n - 1); s++) frozen[s] = 1;
        }
        if (beyond.length > 0) add("frozenShards", beyondMessage(beyond, n));
      }
    }
  }

  if (issues.length > 0) {
    throw new RoutingRuleError(issues, isNonEmptyString(ruleName) ? `ShardingRule ${q(ruleName)}` : "ShardingRule");
  }
  return new RoutingTable({
    ruleName,
    epoch,
    shards: n,
    key: keyResult.spec!.sources,
    keyPattern: keyResult.spec!.pattern,
    function: fn!,
    cells,
    owner,
    frozen,
    globalCell: globalIndex,
    unitProtection,
    onInvalidKey,
    writeMethods,
    frozenRetryAfterSeconds: retryAfter,
  });
}

/** The table's ownership as assignments (one per cell, canonical ranges) and its frozen shards. */
export function tableAssignments(table: RoutingTable): { assignments: AssignmentInput[]; frozenShards: string } {
  const { owner, frozen } = table.ownership();
  const byCell = new Map<number, ShardRange[]>();
  let start = 0;
  for (let s = 1; s <= table.shards; s++) {
    if (s === table.shards || owner[s] !== owner[start]) {
      const c = owner[start]!;
      const list = byCell.get(c) ?? [];
      list.push([start, s - 1]);
      byCell.set(c, list);
      start = s;
    }
  }
  const assignments = [...byCell]
    .sort((a, b) => a[0] - b[0])
    .map(([c, ranges]) => ({ cell: table.cells[c]!.name, shards: formatRanges(ranges) }));
  return { assignments, frozenShards: formatRanges(rangesWhere(table.shards, (s) => frozen[s] === 1)) };
}

/** For status and `kubectl describe`: per cell, its zone and shard ranges (cells owning nothing included). */
export function describeOwnership(
  table: RoutingTable,
): { cell: string; type: CellType; zone: string; shards: string; count: number; frozen: string }[] {
  const { owner, frozen } = table.ownership();
  return table.cells.map((c, ci) => ({
    cell: c.name,
    type: c.type,
    zone: c.zone,
    shards: formatRanges(rangesWhere(table.shards, (s) => owner[s] === ci)),
    count: owner.reduce((acc, o) => acc + (o === ci ? 1 : 0), 0),
    frozen: formatRanges(rangesWhere(table.shards, (s) => owner[s] === ci && frozen[s] === 1)),
  }));
}

/** The inputs that rebuild `table` (with another epoch, or as a base to change). */
export function tableToInput(table: RoutingTable): RoutingTableInput {
  const { assignments, frozenShards } = tableAssignments(table);
  return {
    ruleName: table.ruleName,
    shards: table.shards,
    function: table.function,
    key: { sources: table.key, pattern: table.keyPattern },
    assignments,
    globalCell: table.globalCell?.name,
    unitProtection: table.unitProtection,
    writeMethods: table.writeMethods,
    onInvalidKey: table.onInvalidKey,
    cells: table.cells,
    frozenShards,
    frozenRetryAfterSeconds: table.frozenRetryAfterSeconds,
    epoch: table.epoch,
  };
}

/**
 * Parses the serialised form (JSON text or the parsed object) back into a
 * table, validating it as buildTable does. Throws RoutingRuleError.
 */
export function parseTable(data: string | unknown): RoutingTable {
  let o: unknown = data;
  if (typeof data === "string") {
    try {
      o = JSON.parse(data);
    } catch (e) {
      throw new RoutingRuleError([{ path: "table", message: `not JSON: ${(e as Error).message}` }], "routing table");
    }
  }
  const fail = (path: string, message: string): never => {
    throw new RoutingRuleError([{ path, message }], "routing table");
  };
  if (!isObject(o)) return fail("table", "expected an object");
  const t = o as Partial<Record<keyof SerializedTable, unknown>>;
  if (t.format !== TABLE_FORMAT) return fail("format", `expected ${q(TABLE_FORMAT)}, got ${q(String(t.format))}`);
  if (typeof t.epoch !== "number") return fail("epoch", "required");
  const shards = t.shards;
  if (typeof shards !== "number" || !Number.isInteger(shards) || shards < 1 || shards > MAX_SHARDS) {
    return fail("shards", `must be an integer from 1 to ${MAX_SHARDS}`);
  }
  if (!Array.isArray(t.cells)) return fail("cells", "required");
  const cells = t.cells as CellInfo[];
  if (typeof t.runs !== "string") return fail("runs", "required");
  // Decode the runs into per-cell ranges.
  const perCell: ShardRange[][] = cells.map(() => []);
  const frozen: ShardRange[] = [];
  let pos = 0;
  const runs = t.runs === "" ? [] : t.runs.split(",");
  for (const [ri, run] of runs.entries()) {
    const m = /^(0|[1-9][0-9]{0,4})(!?)(?::([1-9][0-9]{0,5}))?$/.exec(run);
    if (!m) return fail("runs", `run ${ri} (${q(run)}) is not "cellIndex[!][:length]"`);
    const c = Number(m[1]);
    const len = m[3] === undefined ? 1 : Number(m[3]);
    if (c >= cells.length) return fail("runs", `run ${ri} names cell index ${c}, but there are ${cells.length} cells`);
    if (pos + len > shards) return fail("runs", `runs cover more than ${shards} shards`);
    perCell[c]!.push([pos, pos + len - 1]);
    if (m[2] === "!") frozen.push([pos, pos + len - 1]);
    pos += len;
  }
  if (pos !== shards) return fail("runs", `runs cover ${pos} shards, expected ${shards}`);
  const assignments: AssignmentInput[] = [];
  perCell.forEach((ranges, c) => {
    if (ranges.length > 0) assignments.push({ cell: String(cells[c]?.name), shards: formatRanges(ranges) });
  });
  return buildTable({
    ruleName: t.rule as string,
    epoch: t.epoch,
    shards,
    function: t.function as ShardFunctionInput,
    key: { sources: t.key as KeySource[], pattern: (t.keyPattern as string | null) ?? undefined },
    assignments,
    globalCell: (t.globalCell as string | null) ?? undefined,
    unitProtection: t.unitProtection as UnitProtection,
    onInvalidKey: t.onInvalidKey as OnInvalidKey,
    writeMethods: t.writeMethods as string[],
    frozenRetryAfterSeconds: t.frozenRetryAfterSeconds as number,
    cells,
    frozenShards: formatRanges(frozen),
  });
}
