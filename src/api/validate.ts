// Validation that needs other objects (the API server checks one object at a
// time): a Cell's zones and a CellApp's rule and cells exist. Pure functions:
// controllers pass what their informers hold and publish the result as the
// `Valid` condition. A ShardingRule's ownership (every shard owned by exactly
// one Regional cell) is the routing core's buildTable (src/routing), run by the
// ShardingRule reconcile; a Failover's plan is src/reconcilers/failover.ts.

import type { CellAppSpec } from "./cell-app.ts";
import type { CellSpec, CellType } from "./cell.ts";

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

export type ZoneRef = Named<unknown>;
export type CellRef = Named<Pick<CellSpec, "type">>;
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
