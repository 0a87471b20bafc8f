// Validation that needs other objects (the API server checks one object at a
// time): every shard owned by exactly one Regional cell, references resolve,
// failover destinations are standby zones. Pure functions: controllers pass
// what their informers hold and publish the result as the `Valid` condition.

import type { CellAppSpec } from "./cell-app.ts";
import type { CellSpec, CellType } from "./cell.ts";
import type { ConditionInput } from "./conditions.ts";
import type { DrillScheduleSpec } from "./drill-schedule.ts";
import type { FailoverSpec } from "./failover.ts";
import type { ShardingRuleSpec } from "./sharding-rule.ts";
import { formatShardRanges, parseShardRanges, shardRangesOf } from "./shards.ts";
import type { ShardRange } from "./shards.ts";
import type { ZoneSpec } from "./zone.ts";

/** One problem: the field (path from the object root), a CamelCase reason, and a message that says how to fix it. */
export interface Problem {
  field: string;
  reason: string;
  message: string;
}

export interface ValidationResult {
  valid: boolean;
  problems: Problem[];
}

interface Named<Spec> {
  metadata: { name: string };
  spec: Spec;
}

export type ZoneRef = Named<Pick<ZoneSpec, "region" | "cordoned">>;
export type CellRef = Named<Pick<CellSpec, "type" | "zone" | "standbyZones">> & {
  status?: { activeZone?: string | undefined } | undefined;
};
export type ShardingRuleRef = Named<unknown>;

function result(problems: Problem[]): ValidationResult {
  return { valid: problems.length === 0, problems };
}

function byName<T extends { metadata: { name: string } }>(xs: readonly T[]): Map<string, T> {
  return new Map(xs.map((x) => [x.metadata.name, x]));
}

function someNames(xs: ReadonlyMap<string, unknown>, filter: (name: string) => boolean = () => true): string {
  const names = [...xs.keys()].filter(filter).sort();
  if (names.length === 0) return "none exist yet";
  return names.length <= 8 ? names.join(", ") : `${names.slice(0, 8).join(", ")}, ...`;
}

function zoneNotFound(field: string, zone: string, zones: ReadonlyMap<string, ZoneRef>): Problem {
  return {
    field,
    reason: "ZoneNotFound",
    message: `${field}: Zone ${zone} does not exist: create it or use an existing zone (${someNames(zones)})`,
  };
}

function cellNotFound(field: string, cell: string, cells: ReadonlyMap<string, CellRef>, type?: CellType): Problem {
  const known = someNames(cells, (n) => type === undefined || cells.get(n)?.spec.type === type);
  return {
    field,
    reason: "CellNotFound",
    message: `${field}: Cell ${cell} does not exist: create it or use an existing ${type ?? ""}${type ? " " : ""}cell (${known})`,
  };
}

/** The zone a cell serves from now. */
export function activeZoneOf(cell: CellRef): string {
  return cell.status?.activeZone ?? cell.spec.zone;
}

// ------------------------------------------------------------ ShardingRule

export interface ShardOwnership {
  /** owners[s] = the cell owning shard s, or undefined. */
  owners: (string | undefined)[];
  problems: Problem[];
}

/**
 * Resolves which cell owns each shard of a rule, reporting malformed ranges,
 * shards owned twice and shards owned by no cell. No other objects needed.
 */
export function shardOwners(spec: Pick<ShardingRuleSpec, "shards" | "assignments">): ShardOwnership {
  const problems: Problem[] = [];
  const owners: (string | undefined)[] = new Array<string | undefined>(spec.shards).fill(undefined);
  const overlaps = new Map<string, number[]>(); // "a|b" -> shards
  for (const a of spec.assignments) {
    const field = `spec.assignments[cell=${a.cell}].shards`;
    const parsed = parseShardRanges(a.shards, spec.shards);
    if (!parsed.ok) {
      problems.push({ field, reason: "InvalidShardRanges", message: `${field}: ${parsed.error}` });
      continue;
    }
    for (const r of parsed.ranges) {
      for (let s = r.from; s <= r.to; s++) {
        const prev = owners[s];
        if (prev !== undefined && prev !== a.cell) {
          const key = `${prev}|${a.cell}`;
          const list = overlaps.get(key) ?? [];
          list.push(s);
          overlaps.set(key, list);
        } else {
          owners[s] = a.cell;
        }
      }
    }
  }
  for (const [key, shards] of overlaps) {
    const [first, second] = key.split("|");
    problems.push({
      field: `spec.assignments[cell=${second}].shards`,
      reason: "ShardsAssignedTwice",
      message: `spec.assignments: shards ${formatShardRanges(shardRangesOf(shards))} are assigned to both ${first} and ${second}: remove them from one of the two`,
    });
  }
  const unowned: number[] = [];
  owners.forEach((o, s) => {
    if (o === undefined) unowned.push(s);
  });
  if (unowned.length > 0 && problems.every((p) => p.reason !== "InvalidShardRanges")) {
    problems.push({
      field: "spec.assignments",
      reason: "ShardsUnassigned",
      message: `spec.assignments: shards ${formatShardRanges(shardRangesOf(unowned))} are assigned to no cell: add them to an assignment (every shard 0..${spec.shards - 1} needs exactly one owner)`,
    });
  }
  return { owners, problems };
}

/** The shards each cell owns, as normalized ranges (cells with no valid shards omitted). */
export function shardsByCell(owners: readonly (string | undefined)[]): Map<string, ShardRange[]> {
  const acc = new Map<string, number[]>();
  owners.forEach((cell, s) => {
    if (cell === undefined) return;
    const list = acc.get(cell) ?? [];
    list.push(s);
    acc.set(cell, list);
  });
  return new Map([...acc].map(([cell, shards]) => [cell, shardRangesOf(shards)]));
}

/**
 * Validates a ShardingRule against the cells: every shard 0..N-1 owned by
 * exactly one existing Regional cell, globalCell an existing Global cell,
 * key.pattern a valid regular expression.
 */
export function validateShardingRule(
  rule: Named<ShardingRuleSpec>,
  world: { cells: readonly CellRef[] },
): ValidationResult {
  const cells = byName(world.cells);
  const problems = [...shardOwners(rule.spec).problems];
  for (const a of rule.spec.assignments) {
    const field = `spec.assignments[cell=${a.cell}].cell`;
    const cell = cells.get(a.cell);
    if (cell === undefined) problems.push(cellNotFound(field, a.cell, cells, "Regional"));
    else if (cell.spec.type !== "Regional") {
      problems.push({
        field,
        reason: "WrongCellType",
        message: `${field}: Cell ${a.cell} is ${cell.spec.type}; only Regional cells own shards: assign these shards to a Regional cell`,
      });
    }
  }
  const g = rule.spec.globalCell;
  if (g !== undefined) {
    const cell = cells.get(g);
    if (cell === undefined) problems.push(cellNotFound("spec.globalCell", g, cells, "Global"));
    else if (cell.spec.type !== "Global") {
      problems.push({
        field: "spec.globalCell",
        reason: "WrongCellType",
        message: `spec.globalCell: Cell ${g} is ${cell.spec.type}, not Global: name a cell of type Global`,
      });
    }
  }
  if (rule.spec.key.pattern !== undefined) {
    try {
      new RegExp(rule.spec.key.pattern, "u");
    } catch (e) {
      problems.push({
        field: "spec.key.pattern",
        reason: "InvalidPattern",
        message: `spec.key.pattern: not a valid regular expression (${(e as Error).message}): fix it or remove it`,
      });
    }
  }
  return result(problems);
}

// -------------------------------------------------------------------- Cell

/** Validates a Cell against the zones: home and standby zones exist. */
export function validateCell(cell: Named<CellSpec>, world: { zones: readonly ZoneRef[] }): ValidationResult {
  const zones = byName(world.zones);
  const problems: Problem[] = [];
  if (!zones.has(cell.spec.zone)) problems.push(zoneNotFound("spec.zone", cell.spec.zone, zones));
  (cell.spec.standbyZones ?? []).forEach((z, i) => {
    if (!zones.has(z)) problems.push(zoneNotFound(`spec.standbyZones[${i}]`, z, zones));
  });
  return result(problems);
}

// ----------------------------------------------------------------- CellApp

/** Validates a CellApp: its rule exists, listed and overridden cells exist and are of the app's scope. */
export function validateCellApp(
  app: Named<CellAppSpec>,
  world: { cells: readonly CellRef[]; shardingRules: readonly ShardingRuleRef[] },
): ValidationResult {
  const cells = byName(world.cells);
  const rules = byName(world.shardingRules);
  const problems: Problem[] = [];
  const scope = app.spec.scope;
  if (!rules.has(app.spec.shardingRule)) {
    problems.push({
      field: "spec.shardingRule",
      reason: "ShardingRuleNotFound",
      message: `spec.shardingRule: ShardingRule ${app.spec.shardingRule} does not exist: create it or use an existing rule (${someNames(rules)})`,
    });
  }
  const checkCell = (field: string, name: string) => {
    const cell = cells.get(name);
    if (cell === undefined) problems.push(cellNotFound(field, name, cells, scope));
    else if (cell.spec.type !== scope) {
      problems.push({
        field,
        reason: "WrongCellType",
        message: `${field}: Cell ${name} is ${cell.spec.type}, but spec.scope is ${scope}: use ${scope} cells only`,
      });
    }
  };
  (app.spec.cells ?? []).forEach((c, i) => checkCell(`spec.cells[${i}]`, c));
  for (const o of app.spec.overrides ?? []) {
    const field = `spec.overrides[cell=${o.cell}].cell`;
    checkCell(field, o.cell);
    if (app.spec.cells !== undefined && !app.spec.cells.includes(o.cell)) {
      problems.push({
        field,
        reason: "OverrideUnused",
        message: `${field}: Cell ${o.cell} is not in spec.cells, so this override has no effect: add the cell to spec.cells or remove the override`,
      });
    }
  }
  return result(problems);
}

// ---------------------------------------------------------------- Failover

/** The cells a failover moves: those listed, or those active in the target zone. */
export function failoverTargetCells(spec: Pick<FailoverSpec, "target">, cells: readonly CellRef[]): CellRef[] {
  if (spec.target.cells !== undefined) {
    const wanted = new Set(spec.target.cells);
    return cells.filter((c) => wanted.has(c.metadata.name));
  }
  return cells.filter((c) => activeZoneOf(c) === spec.target.zone);
}

/**
 * Validates a Failover (or a DrillSchedule's template, with `prefix`
 * "spec.template"): target and destination exist, the destination is not
 * cordoned and is a standby zone of every moving cell (or, with no
 * destination, every moving cell has a standby zone).
 */
export function validateFailover(
  spec: FailoverSpec,
  world: { zones: readonly ZoneRef[]; cells: readonly CellRef[] },
  prefix = "spec",
): ValidationResult {
  const zones = byName(world.zones);
  const cells = byName(world.cells);
  const problems: Problem[] = [];
  const t = spec.target;
  if (t.zone !== undefined && !zones.has(t.zone)) problems.push(zoneNotFound(`${prefix}.target.zone`, t.zone, zones));
  (t.cells ?? []).forEach((c, i) => {
    if (!cells.has(c)) problems.push(cellNotFound(`${prefix}.target.cells[${i}]`, c, cells));
  });
  const dest = spec.destination?.zone;
  if (dest !== undefined) {
    const z = zones.get(dest);
    if (z === undefined) problems.push(zoneNotFound(`${prefix}.destination.zone`, dest, zones));
    else if (z.spec.cordoned) {
      problems.push({
        field: `${prefix}.destination.zone`,
        reason: "DestinationCordoned",
        message: `${prefix}.destination.zone: Zone ${dest} is cordoned and cannot take cells: uncordon it or choose another zone`,
      });
    }
  }
  for (const cell of failoverTargetCells(spec, world.cells)) {
    const name = cell.metadata.name;
    const standby = cell.spec.standbyZones ?? [];
    if (dest !== undefined) {
      if (dest === activeZoneOf(cell)) {
        problems.push({
          field: `${prefix}.destination.zone`,
          reason: "AlreadyActiveThere",
          message: `${prefix}.destination.zone: Cell ${name} is already active in ${dest}: choose another destination or leave the cell out of the target`,
        });
      } else if (!standby.includes(dest) && dest !== cell.spec.zone) {
        problems.push({
          field: `${prefix}.destination.zone`,
          reason: "NoStandby",
          message: `${prefix}.destination.zone: ${dest} is not a standby zone of Cell ${name} (standbyZones: ${standby.join(", ") || "none"}), so no warm standby runs there: add ${dest} to the cell's spec.standbyZones or choose one of them`,
        });
      }
    } else if (standby.filter((z) => z !== activeZoneOf(cell)).length === 0 && activeZoneOf(cell) === cell.spec.zone) {
      problems.push({
        field: `${prefix}.destination`,
        reason: "NoStandby",
        message: `${prefix}.destination: Cell ${name} has no standby zone to move to: add spec.standbyZones to the cell or set ${prefix}.destination.zone`,
      });
    }
  }
  return result(problems);
}

/** Validates a DrillSchedule's template like a Failover. */
export function validateDrillSchedule(
  ds: Named<DrillScheduleSpec>,
  world: { zones: readonly ZoneRef[]; cells: readonly CellRef[] },
): ValidationResult {
  return validateFailover(ds.spec.template, world, "spec.template");
}

// --------------------------------------------------------------- condition

/** The `Valid` condition for a validation result. */
export function validCondition(r: ValidationResult, observedGeneration?: number): ConditionInput {
  const gen = observedGeneration !== undefined ? { observedGeneration } : {};
  if (r.valid) return { type: "Valid", status: "True", reason: "Valid", message: "spec is valid", ...gen };
  const message = r.problems.map((p) => p.message).join("; ");
  return {
    type: "Valid",
    status: "False",
    reason: r.problems[0]?.reason ?? "Invalid",
    message: message.length > 32768 ? `${message.slice(0, 32700)}... (${r.problems.length} problems)` : message,
    ...gen,
  };
}
