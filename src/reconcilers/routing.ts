// ShardingRule -> routing table: resolve the rule against the cells (their
// active zones and write freezes) and zones, and pick the epoch. Pure.
import type { EffectiveCell } from "./failover.ts";
import type { Cell, ShardingRule, Zone } from "../api/index.ts";
import {
  buildTable,
  formatRanges,
  RoutingRuleError,
  type RoutingTable,
  type RoutingTableInput,
} from "../routing/index.ts";
import { activeZoneOf } from "./cellapp.ts";

export interface ResolvedRule {
  /** The table at a placeholder epoch (content and hash are what matter). */
  table?: RoutingTable;
  /** What is wrong, each naming the field and the fix. */
  problems: { field: string; message: string }[];
}

/** The routing-table input of a rule, at `epoch`. */
export function routingInput(
  rule: ShardingRule,
  cells: readonly EffectiveCell[],
  zones: readonly Zone[],
  epoch: number,
): RoutingTableInput {
  const regionOf = new Map(zones.map((z) => [z.metadata.name, z.spec.region]));
  const byName = new Map(cells.map((c) => [c.metadata.name, c]));
  const routed = cellsOfRule(rule, cells);
  const frozen: string[] = [];
  for (const a of rule.spec.assignments) {
    if (byName.get(a.cell)?.moving?.writeFrozen) frozen.push(a.shards);
  }
  return {
    ruleName: rule.metadata.name,
    shards: rule.spec.shards,
    function: rule.spec.function,
    key: rule.spec.key,
    assignments: rule.spec.assignments,
    globalCell: rule.spec.globalCell,
    unitProtection: rule.spec.unitProtection,
    writeMethods: rule.spec.writeMethods,
    onInvalidKey: rule.spec.key.onInvalidKey,
    cells: routed.map((c) => {
      const zone = activeZoneOf(c);
      return {
        name: c.metadata.name,
        type: c.spec.type,
        zone,
        region: regionOf.get(zone) ?? "unknown",
        // An evacuated City cell: the table sends its region's City reads to a stand-in (docs/routing.md).
        ...(c.spec.type === "City" && c.status?.evacuated ? { evacuated: true as const } : {}),
      };
    }),
    ...(frozen.length ? { frozenShards: frozen.join(",") } : {}),
    epoch,
  };
}

export function resolveRule(rule: ShardingRule, cells: readonly EffectiveCell[], zones: readonly Zone[]): ResolvedRule {
  const problems: ResolvedRule["problems"] = [];
  const names = new Set(cells.map((c) => c.metadata.name));
  for (const a of rule.spec.assignments) {
    if (!names.has(a.cell))
      problems.push({
        field: `spec.assignments[cell=${a.cell}]`,
        message: `Cell ${a.cell} does not exist: create it or assign its shards to an existing cell`,
      });
  }
  if (rule.spec.globalCell && !names.has(rule.spec.globalCell)) {
    problems.push({
      field: "spec.globalCell",
      message: `Cell ${rule.spec.globalCell} does not exist: create it or fix spec.globalCell`,
    });
  }
  const zoneNames = new Set(zones.map((z) => z.metadata.name));
  const named = namedCells(rule);
  for (const c of cells) {
    if (named.has(c.metadata.name) && !zoneNames.has(activeZoneOf(c))) {
      problems.push({
        field: `Cell ${c.metadata.name}`,
        message: `its active zone ${activeZoneOf(c)} does not exist: create the Zone`,
      });
    }
  }
  if (problems.length) return { problems };
  try {
    return { table: buildTable(routingInput(rule, cells, zones, 0)), problems };
  } catch (err) {
    if (err instanceof RoutingRuleError)
      return { problems: err.issues.map((i) => ({ field: i.path, message: i.message })) };
    return { problems: [{ field: "spec", message: (err as Error).message }] };
  }
}

/**
 * The epoch to publish: the recorded one while the content is unchanged,
 * else one above everything ever seen (status, published objects, memory),
 * so epochs never repeat or go back, across restarts and leader changes.
 */
export function chooseEpoch(
  contentHash: string,
  recorded: { epoch?: number; tableHash?: string },
  seenEpochs: readonly number[],
): number {
  if (recorded.epoch !== undefined && recorded.tableHash === contentHash) return recorded.epoch;
  return Math.max(recorded.epoch ?? 0, ...seenEpochs, 0) + 1;
}

/** The cells a rule names: the assigned ones and the global cell. */
function namedCells(rule: ShardingRule): Set<string> {
  const named = new Set(rule.spec.assignments.map((a) => a.cell));
  if (rule.spec.globalCell) named.add(rule.spec.globalCell);
  return named;
}

/** The parts of a Cell that decide whether a rule routes to it. */
export type RoutedCell = Pick<Cell, "metadata" | "spec">;

/**
 * Whether a rule's table routes to `cell`: the rule names it (an assignment or
 * its global cell), or it is a City cell (a City cell serves every rule's reads
 * in its city). The one definition behind cellsOfRule and rulesRoutingTo.
 */
function routesTo(named: ReadonlySet<string>, cell: RoutedCell): boolean {
  return named.has(cell.metadata.name) || cell.spec.type === "City";
}

/** The cells a rule's table may route to: the ones it names and every City cell. */
export function cellsOfRule<C extends RoutedCell>(rule: ShardingRule, all: readonly C[]): C[] {
  const named = namedCells(rule);
  return all.filter((c) => routesTo(named, c));
}

/**
 * The rules whose tables route to any of `cells` (the Cell objects, for their
 * type): a rule naming one of them, and every rule when one is a City cell.
 */
export function rulesRoutingTo<R extends ShardingRule>(rules: readonly R[], cells: Iterable<RoutedCell>): R[] {
  const list = [...cells];
  if (list.length === 0) return [];
  if (list.some((c) => c.spec.type === "City")) return [...rules];
  return rules.filter((r) => {
    const named = namedCells(r);
    return list.some((c) => routesTo(named, c));
  });
}

const summaries = new WeakMap<RoutingTable, string>();

/** Per-cell ownership, for messages: "rz00 0-24, rz01 25-49" (computed once per table). */
export function ownershipSummary(table: RoutingTable): string {
  let s = summaries.get(table);
  if (s === undefined) {
    s = summarizeOwnership(table);
    summaries.set(table, s);
  }
  return s;
}

function summarizeOwnership(table: RoutingTable): string {
  const byCell = new Map<string, number[]>();
  for (let s = 0; s < table.shards; s++) {
    const owner = table.ownerOf(s);
    if (!owner) continue;
    const list = byCell.get(owner.name) ?? [];
    list.push(s);
    byCell.set(owner.name, list);
  }
  return [...byCell.entries()]
    .map(([c, shards]) => `${c} ${formatRanges(shards.map((s) => [s, s] as [number, number]))}`)
    .join(", ");
}
