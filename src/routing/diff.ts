// The difference between two routing tables of one rule, as ranges: which
// shards moved (to another cell, or with their cell to another zone), which
// froze or unfroze, which cells and settings changed. Exact: applyDiff(a,
// diffTables(a, b)) rebuilds b (same content hash and epoch).

import type { AssignmentInput, RoutingTableInput, ShardFunctionInput } from "./build.ts";
import { buildTable } from "./build.ts";
import { RoutingRuleError } from "./errors.ts";
import type { KeySource } from "./key.ts";
import type { ShardRange } from "./ranges.ts";
import { countShards, formatRanges, normalizeRanges, parseRanges, rangesWhere } from "./ranges.ts";
import type { ShardFunctionSpec } from "./shard.ts";
import type { CellInfo, OnInvalidKey, RoutingTable, UnitProtection } from "./table.ts";

/** Where a shard is served: its owning cell and that cell's active zone. */
export interface ShardHome {
  readonly cell: string;
  readonly zone: string;
}

export interface ShardMove {
  /** Range string, e.g. "20-24,60". */
  readonly shards: string;
  readonly from: ShardHome;
  readonly to: ShardHome;
}

/** Settings of the table that changed, with their new values. */
export interface SettingsChange {
  readonly key?: readonly KeySource[];
  readonly keyPattern?: string | null;
  readonly function?: ShardFunctionSpec;
  readonly shards?: number;
  readonly globalCell?: string | null;
  readonly unitProtection?: UnitProtection;
  readonly onInvalidKey?: OnInvalidKey;
  readonly writeMethods?: readonly string[];
  readonly frozenRetryAfterSeconds?: number;
}

export interface TableDiff {
  readonly rule: string;
  readonly fromEpoch: number;
  readonly toEpoch: number;
  /** Anything besides the epoch differs (the same as comparing content hashes). */
  readonly changed: boolean;
  /** The shard count or function changed: keys land on other shards, so `moved` does not describe where keys went. */
  readonly reshard: boolean;
  /** Shards (present in both tables) whose cell or cell's zone changed, grouped by from/to. */
  readonly moved: readonly ShardMove[];
  /** Number of shards in `moved`. */
  readonly movedCount: number;
  /** Shards present only in the new table (its shard count grew), with their homes. */
  readonly added: readonly { readonly shards: string; readonly to: ShardHome }[];
  /** Shards present only in the old table (its shard count shrank). */
  readonly removed: string;
  /** Shards write-frozen in the new table and not in the old one (new shards included). */
  readonly frozen: string;
  /** Shards write-frozen in the old table and not in the new one. */
  readonly unfrozen: string;
  readonly cells: {
    readonly added: readonly CellInfo[];
    readonly removed: readonly string[];
    readonly changed: readonly { readonly name: string; readonly from: CellInfo; readonly to: CellInfo }[];
  };
  readonly settings: SettingsChange;
}

const sameCell = (a: CellInfo, b: CellInfo): boolean =>
  a.name === b.name && a.type === b.type && a.zone === b.zone && a.region === b.region && a.evacuated === b.evacuated;
const json = (v: unknown): string => JSON.stringify(v);

/** The difference from table `a` to table `b` (tables of the same rule). */
export function diffTables(a: RoutingTable, b: RoutingTable): TableDiff {
  if (a.ruleName !== b.ruleName) {
    throw new Error(`cannot diff routing tables of different rules (${a.ruleName} and ${b.ruleName})`);
  }
  const oa = a.ownership();
  const ob = b.ownership();
  const common = Math.min(a.shards, b.shards);

  // Moves, grouped by (from, to) in order of first shard.
  const groups = new Map<string, { from: ShardHome; to: ShardHome; ranges: [number, number][] }>();
  let movedCount = 0;
  for (let s = 0; s < common; s++) {
    const ca = a.cells[oa.owner[s]!]!;
    const cb = b.cells[ob.owner[s]!]!;
    if (ca.name === cb.name && ca.zone === cb.zone) continue;
    movedCount++;
    const k = json([ca.name, ca.zone, cb.name, cb.zone]);
    let g = groups.get(k);
    if (!g) {
      g = { from: { cell: ca.name, zone: ca.zone }, to: { cell: cb.name, zone: cb.zone }, ranges: [] };
      groups.set(k, g);
    }
    const last = g.ranges[g.ranges.length - 1];
    if (last && last[1] === s - 1) last[1] = s;
    else g.ranges.push([s, s]);
  }
  const moved = [...groups.values()].map((g) => ({ shards: formatRanges(g.ranges), from: g.from, to: g.to }));

  // Shards only in b (grouped by home) or only in a.
  const addedGroups = new Map<number, ShardRange[]>();
  for (let s = common; s < b.shards; s++) {
    const c = ob.owner[s]!;
    const list = addedGroups.get(c) ?? [];
    const last = list[list.length - 1];
    if (last && last[1] === s - 1) list[list.length - 1] = [last[0], s];
    else list.push([s, s]);
    addedGroups.set(c, list);
  }
  const added = [...addedGroups].map(([c, ranges]) => ({
    shards: formatRanges(ranges),
    to: { cell: b.cells[c]!.name, zone: b.cells[c]!.zone },
  }));
  const removed = a.shards > b.shards ? formatRanges([[b.shards, a.shards - 1]]) : "";

  const frozen = formatRanges(
    rangesWhere(b.shards, (s) => ob.frozen[s] === 1 && !(s < a.shards && oa.frozen[s] === 1)),
  );
  const unfrozen = formatRanges(rangesWhere(common, (s) => oa.frozen[s] === 1 && ob.frozen[s] === 0));

  // Cells.
  const cellsAdded = b.cells.filter((c) => a.cell(c.name) === undefined);
  const cellsRemoved = a.cells.filter((c) => b.cell(c.name) === undefined).map((c) => c.name);
  const cellsChanged: { name: string; from: CellInfo; to: CellInfo }[] = [];
  for (const cb of b.cells) {
    const ca = a.cell(cb.name);
    if (ca && !sameCell(ca, cb)) cellsChanged.push({ name: cb.name, from: ca, to: cb });
  }

  // Settings.
  const settings: { -readonly [K in keyof SettingsChange]: SettingsChange[K] } = {};
  if (json(a.key) !== json(b.key)) settings.key = b.key;
  if (a.keyPattern !== b.keyPattern) settings.keyPattern = b.keyPattern ?? null;
  if (json(a.function) !== json(b.function)) settings.function = b.function;
  if (a.shards !== b.shards) settings.shards = b.shards;
  if (a.globalCell?.name !== b.globalCell?.name) settings.globalCell = b.globalCell?.name ?? null;
  if (a.unitProtection !== b.unitProtection) settings.unitProtection = b.unitProtection;
  if (a.onInvalidKey !== b.onInvalidKey) settings.onInvalidKey = b.onInvalidKey;
  if (json(a.writeMethods) !== json(b.writeMethods)) settings.writeMethods = b.writeMethods;
  if (a.frozenRetryAfterSeconds !== b.frozenRetryAfterSeconds) {
    settings.frozenRetryAfterSeconds = b.frozenRetryAfterSeconds;
  }

  return {
    rule: b.ruleName,
    fromEpoch: a.epoch,
    toEpoch: b.epoch,
    changed: a.contentHash !== b.contentHash,
    reshard: settings.shards !== undefined || settings.function !== undefined,
    moved,
    movedCount,
    added,
    removed,
    frozen,
    unfrozen,
    cells: { added: cellsAdded, removed: cellsRemoved, changed: cellsChanged },
    settings,
  };
}

function rangesOf(text: string, what: string): ShardRange[] {
  const r = parseRanges(text);
  if (!r.ok) throw new RoutingRuleError([{ path: what, message: r.error }], "routing table diff");
  return normalizeRanges(r.ranges);
}

/**
 * Applies `diff` to table `a` and returns the table it describes. Checks that
 * the diff was made from `a` (rule, epoch, and each move's origin); throws a
 * RoutingRuleError if not, or if the result is not a valid table.
 */
export function applyDiff(a: RoutingTable, diff: TableDiff): RoutingTable {
  const fail = (path: string, message: string): never => {
    throw new RoutingRuleError([{ path, message }], "routing table diff");
  };
  if (diff.rule !== a.ruleName) fail("rule", `the diff is for rule ${diff.rule}, the table is ${a.ruleName}`);
  if (diff.fromEpoch !== a.epoch)
    fail("fromEpoch", `the diff starts at epoch ${diff.fromEpoch}, the table is at ${a.epoch}`);

  // Cells.
  const cells = new Map(a.cells.map((c) => [c.name, c]));
  for (const name of diff.cells.removed) if (!cells.delete(name)) fail("cells.removed", `no cell ${name} to remove`);
  for (const ch of diff.cells.changed) {
    const cur = cells.get(ch.name);
    if (!cur || !sameCell(cur, ch.from)) fail("cells.changed", `cell ${ch.name} is not as the diff expects`);
    cells.set(ch.name, ch.to);
  }
  for (const c of diff.cells.added) {
    if (cells.has(c.name)) fail("cells.added", `cell ${c.name} already exists`);
    cells.set(c.name, c);
  }

  // Ownership: a's owners and frozen flags, then the moves and (un)freezes.
  const st = diff.settings;
  const shards = st.shards ?? a.shards;
  const { owner, frozen } = a.ownership();
  const owners: string[] = new Array<string>(shards);
  const flags = new Uint8Array(shards);
  const common = Math.min(a.shards, shards);
  for (let s = 0; s < common; s++) {
    owners[s] = a.cells[owner[s]!]!.name;
    flags[s] = frozen[s]!;
  }
  let moved = 0;
  for (const [i, m] of diff.moved.entries()) {
    for (const [first, last] of rangesOf(m.shards, `moved[${i}].shards`)) {
      for (let s = first; s <= last; s++) {
        if (s >= common) fail(`moved[${i}].shards`, `shard ${s} is not in both tables`);
        const cur = a.cells[owner[s]!]!;
        if (cur.name !== m.from.cell || cur.zone !== m.from.zone) {
          fail(
            `moved[${i}]`,
            `shard ${s} is served by ${cur.name} in ${cur.zone}, not ${m.from.cell} in ${m.from.zone}`,
          );
        }
        owners[s] = m.to.cell;
        moved++;
      }
    }
  }
  if (moved !== diff.movedCount)
    fail("movedCount", `the moves cover ${moved} shards, the diff says ${diff.movedCount}`);
  for (const [i, ad] of diff.added.entries()) {
    for (const [first, last] of rangesOf(ad.shards, `added[${i}].shards`)) {
      for (let s = first; s <= last; s++) {
        if (s < common || s >= shards) fail(`added[${i}].shards`, `shard ${s} is not a new shard`);
        owners[s] = ad.to.cell;
      }
    }
  }
  for (const [first, last] of rangesOf(diff.frozen, "frozen")) for (let s = first; s <= last; s++) flags[s] = 1;
  for (const [first, last] of rangesOf(diff.unfrozen, "unfrozen")) for (let s = first; s <= last; s++) flags[s] = 0;

  const byCell = new Map<string, ShardRange[]>();
  for (let s = 0; s < shards; s++) {
    const name = owners[s];
    if (name === undefined) fail("added", `the diff leaves shard ${s} without an owner`);
    const list = byCell.get(name!) ?? [];
    const last = list[list.length - 1];
    if (last && last[1] === s - 1) list[list.length - 1] = [last[0], s];
    else list.push([s, s]);
    byCell.set(name!, list);
  }
  const assignments: AssignmentInput[] = [...byCell].map(([cell, ranges]) => ({ cell, shards: formatRanges(ranges) }));
  const globalCell = st.globalCell === undefined ? a.globalCell?.name : (st.globalCell ?? undefined);
  const input: RoutingTableInput = {
    ruleName: a.ruleName,
    epoch: diff.toEpoch,
    shards,
    function: (st.function ?? a.function) as ShardFunctionInput,
    key: {
      sources: st.key ?? a.key,
      pattern: st.keyPattern === undefined ? a.keyPattern : (st.keyPattern ?? undefined),
    },
    assignments,
    globalCell,
    unitProtection: st.unitProtection ?? a.unitProtection,
    onInvalidKey: st.onInvalidKey ?? a.onInvalidKey,
    writeMethods: st.writeMethods ?? a.writeMethods,
    frozenRetryAfterSeconds: st.frozenRetryAfterSeconds ?? a.frozenRetryAfterSeconds,
    cells: [...cells.values()],
    frozenShards: formatRanges(rangesWhere(shards, (s) => flags[s] === 1)),
  };
  const b = buildTable(input);
  // The moves' destinations must be where the rebuilt table serves them.
  for (const [i, m] of diff.moved.entries()) {
    const c = b.cell(m.to.cell);
    if (!c || c.zone !== m.to.zone)
      fail(`moved[${i}].to`, `cell ${m.to.cell} is not active in ${m.to.zone} after the diff`);
  }
  return b;
}

/** A one-line summary of a diff, for events and logs. */
export function summarizeDiff(d: TableDiff): string {
  if (!d.changed) return `epoch ${d.fromEpoch} -> ${d.toEpoch}: no change`;
  const parts: string[] = [];
  for (const m of d.moved) {
    const n = countShards(rangesOf(m.shards, "moved"));
    parts.push(
      `${n} shard${n === 1 ? "" : "s"} (${m.shards}) ${m.from.cell}@${m.from.zone} -> ${m.to.cell}@${m.to.zone}`,
    );
  }
  if (d.frozen) parts.push(`froze ${d.frozen}`);
  if (d.unfrozen) parts.push(`unfroze ${d.unfrozen}`);
  if (d.added.length > 0) parts.push(`added shards ${d.added.map((x) => x.shards).join(",")}`);
  if (d.removed) parts.push(`removed shards ${d.removed}`);
  if (d.cells.added.length > 0) parts.push(`new cells ${d.cells.added.map((c) => c.name).join(", ")}`);
  if (d.cells.removed.length > 0) parts.push(`dropped cells ${d.cells.removed.join(", ")}`);
  for (const c of d.cells.changed) {
    parts.push(
      c.from.zone !== c.to.zone
        ? `cell ${c.name} ${c.from.zone} -> ${c.to.zone}`
        : c.from.evacuated !== c.to.evacuated
          ? `cell ${c.name} ${c.to.evacuated ? "evacuated" : "back"}`
          : `cell ${c.name} changed`,
    );
  }
  const settings = Object.keys(d.settings);
  if (settings.length > 0) parts.push(`changed ${settings.join(", ")}`);
  if (d.reshard) parts.push("RESHARD: keys map to other shards");
  return `epoch ${d.fromEpoch} -> ${d.toEpoch}: ${parts.join("; ")}`;
}
