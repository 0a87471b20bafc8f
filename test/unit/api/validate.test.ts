import { describe, expect, it } from "vitest";
import {
  Cell,
  CellApp,
  DrillSchedule,
  Failover,
  ShardingRule,
  Zone,
  failoverTargetCells,
  setCondition,
  shardOwners,
  shardsByCell,
  validCondition,
  validateCell,
  validateCellApp,
  validateDrillSchedule,
  validateFailover,
  validateShardingRule,
  formatShardRanges,
} from "../../../src/api/index.ts";
import type { CellInput, Condition } from "../../../src/api/index.ts";
import { validExamples } from "./examples.ts";

const examples = validExamples();
const of = (kind: string) => examples.filter((e) => e.obj.kind === kind).map((e) => e.obj);
const zones = of("Zone").map((o) => Zone.parse(o));
const cells = of("Cell").map((o) => Cell.parse(o));
const users = ShardingRule.parse(of("ShardingRule")[0]);
const apps = of("CellApp").map((o) => CellApp.parse(o));
const drill = Failover.parse(of("Failover")[0]);
const schedule = DrillSchedule.parse(of("DrillSchedule")[0]);

const cell = (name: string, spec: CellInput["spec"], activeZone?: string) =>
  Cell.parse({
    apiVersion: "ldc.io/v1alpha1",
    kind: "Cell",
    metadata: { name },
    spec,
    ...(activeZone ? { status: { activeZone } } : {}),
  });

describe("the example topology", () => {
  it("is valid across objects", () => {
    for (const c of cells) expect(validateCell(c, { zones }).problems).toEqual([]);
    expect(validateShardingRule(users, { cells }).problems).toEqual([]);
    for (const a of apps) expect(validateCellApp(a, { cells, shardingRules: [users] }).problems).toEqual([]);
    expect(validateFailover(drill.spec, { zones, cells }).problems).toEqual([]);
    expect(validateDrillSchedule(schedule, { zones, cells }).problems).toEqual([]);
  });

  it("gives every shard exactly one owner", () => {
    const { owners, problems } = shardOwners(users.spec);
    expect(problems).toEqual([]);
    expect(owners).toHaveLength(100);
    expect(owners.every((o) => o !== undefined)).toBe(true);
    const byCell = shardsByCell(owners);
    expect(formatShardRanges(byCell.get("rz00")!)).toBe("0-24");
    expect(formatShardRanges(byCell.get("rz03")!)).toBe("75-99");
  });
});

describe("validateShardingRule", () => {
  const withAssignments = (assignments: { cell: string; shards: string }[]) => ({
    ...users,
    spec: { ...users.spec, assignments },
  });

  it("reports shards owned twice and shards owned by no cell, naming the field and the fix", () => {
    const r = validateShardingRule(
      withAssignments([
        { cell: "rz00", shards: "0-24" },
        { cell: "rz01", shards: "20-49" },
        { cell: "rz02", shards: "50-89" },
      ]),
      { cells },
    );
    expect(r.valid).toBe(false);
    expect(r.problems).toEqual([
      {
        field: "spec.assignments[cell=rz01].shards",
        reason: "ShardsAssignedTwice",
        message: "spec.assignments: shards 20-24 are assigned to both rz00 and rz01: remove them from one of the two",
      },
      {
        field: "spec.assignments",
        reason: "ShardsUnassigned",
        message:
          "spec.assignments: shards 90-99 are assigned to no cell: add them to an assignment (every shard 0..99 needs exactly one owner)",
      },
    ]);
  });

  it("reports overlaps within one assignment and out-of-range shards", () => {
    const r = validateShardingRule(withAssignments([{ cell: "rz00", shards: "0-60,50-99" }]), { cells });
    expect(r.problems.map((p) => p.message)).toEqual([
      'spec.assignments[cell=rz00].shards: ranges "0-60" and "50-99" overlap: list each shard once',
    ]);
    const r2 = validateShardingRule(withAssignments([{ cell: "rz00", shards: "0-100" }]), { cells });
    expect(r2.problems[0]!.message).toMatch(/shard 100 in "0-100" is out of range: shards are numbered 0\.\.99/);
  });

  it("requires existing Regional cells and a Global globalCell", () => {
    const r = validateShardingRule(
      {
        ...users,
        spec: {
          ...users.spec,
          globalCell: "rz00",
          assignments: [
            { cell: "rz00", shards: "0-49" },
            { cell: "gz00", shards: "50-89" },
            { cell: "rz09", shards: "90-99" },
          ],
        },
      },
      { cells },
    );
    expect(r.problems.map((p) => [p.field, p.reason])).toEqual([
      ["spec.assignments[cell=gz00].cell", "WrongCellType"],
      ["spec.assignments[cell=rz09].cell", "CellNotFound"],
      ["spec.globalCell", "WrongCellType"],
    ]);
    expect(r.problems[1]!.message).toBe(
      "spec.assignments[cell=rz09].cell: Cell rz09 does not exist: create it or use an existing Regional cell (rz00, rz01, rz02, rz03)",
    );
  });

  it("checks that key.pattern compiles", () => {
    const r = validateShardingRule(
      { ...users, spec: { ...users.spec, key: { ...users.spec.key, pattern: "^[0-9+$" } } },
      { cells },
    );
    expect(r.problems.map((p) => p.field)).toEqual(["spec.key.pattern"]);
    expect(r.problems[0]!.message).toMatch(
      /^spec\.key\.pattern: not a valid regular expression .*: fix it or remove it$/,
    );
  });
});

describe("validateCell", () => {
  it("requires the home and standby zones to exist", () => {
    const r = validateCell(cell("rz09", { type: "Regional", zone: "hz-c", standbyZones: ["hz-a", "bj-a"] }), { zones });
    expect(r.problems.map((p) => p.message)).toEqual([
      "spec.zone: Zone hz-c does not exist: create it or use an existing zone (hz-a, hz-b, sh-a)",
      "spec.standbyZones[1]: Zone bj-a does not exist: create it or use an existing zone (hz-a, hz-b, sh-a)",
    ]);
  });
});

describe("validateCellApp", () => {
  const account = apps.find((a) => a.metadata.name === "account")!;

  it("requires the rule and cells of the app's scope", () => {
    const r = validateCellApp(
      {
        ...account,
        spec: {
          ...account.spec,
          shardingRule: "orders",
          cells: ["rz00", "gz00"],
          overrides: [{ cell: "rz01", replicas: 3 }],
        },
      },
      { cells, shardingRules: [users] },
    );
    expect(r.problems.map((p) => [p.field, p.reason])).toEqual([
      ["spec.shardingRule", "ShardingRuleNotFound"],
      ["spec.cells[1]", "WrongCellType"],
      ["spec.overrides[cell=rz01].cell", "OverrideUnused"],
    ]);
    expect(r.problems[1]!.message).toBe(
      "spec.cells[1]: Cell gz00 is Global, but spec.scope is Regional: use Regional cells only",
    );
  });
});

describe("validateFailover", () => {
  const fo = (spec: Record<string, unknown>) =>
    Failover.parse({ apiVersion: "ldc.io/v1alpha1", kind: "Failover", metadata: { name: "f" }, spec }).spec;

  it("resolves the target cells from the zone they are active in", () => {
    const moved = cell("rz01", { type: "Regional", zone: "hz-b", standbyZones: ["hz-a"] }, "hz-a");
    const names = failoverTargetCells(fo({ type: "Emergency", target: { zone: "hz-a" } }), [
      ...cells.filter((c) => c.metadata.name !== "rz01"),
      moved,
    ]).map((c) => c.metadata.name);
    expect(names.sort()).toEqual(["gz00", "rz00", "rz01"]);
  });

  it("requires the destination to be a standby zone of every moving cell, and not cordoned", () => {
    const r = validateFailover(fo({ type: "Emergency", target: { zone: "hz-a" }, destination: { zone: "sh-a" } }), {
      zones,
      cells,
    });
    expect(r.problems.map((p) => p.message)).toEqual([
      "spec.destination.zone: sh-a is not a standby zone of Cell gz00 (standbyZones: hz-b), so no warm standby runs there: add sh-a to the cell's spec.standbyZones or choose one of them",
    ]);
    const cordoned = zones.map((z) => (z.metadata.name === "hz-b" ? { ...z, spec: { ...z.spec, cordoned: true } } : z));
    const r2 = validateFailover(fo({ type: "Emergency", target: { cells: ["rz00"] }, destination: { zone: "hz-b" } }), {
      zones: cordoned,
      cells,
    });
    expect(r2.problems.map((p) => p.reason)).toEqual(["DestinationCordoned"]);
  });

  it("requires a standby zone when no destination is given, and existing targets", () => {
    const lonely = cell("rz09", { type: "Regional", zone: "hz-a" });
    const r = validateFailover(fo({ type: "Emergency", target: { cells: ["rz09", "rz42"] } }), {
      zones,
      cells: [...cells, lonely],
    });
    expect(r.problems.map((p) => [p.field, p.reason])).toEqual([
      ["spec.target.cells[1]", "CellNotFound"],
      ["spec.destination", "NoStandby"],
    ]);
    const r2 = validateFailover(fo({ type: "Emergency", target: { zone: "bj-a" } }), { zones, cells });
    expect(r2.problems.map((p) => p.reason)).toEqual(["ZoneNotFound"]);
  });

  it("prefixes a DrillSchedule template's fields", () => {
    const r = validateDrillSchedule(
      { ...schedule, spec: { ...schedule.spec, template: { ...schedule.spec.template, target: { zone: "bj-a" } } } },
      { zones, cells },
    );
    expect(r.problems[0]!.field).toBe("spec.template.target.zone");
  });
});

describe("conditions", () => {
  it("validCondition summarizes problems", () => {
    expect(validCondition({ valid: true, problems: [] }, 3)).toEqual({
      type: "Valid",
      status: "True",
      reason: "Valid",
      message: "spec is valid",
      observedGeneration: 3,
    });
    const c = validCondition({
      valid: false,
      problems: [
        { field: "a", reason: "ZoneNotFound", message: "a: x" },
        { field: "b", reason: "CellNotFound", message: "b: y" },
      ],
    });
    expect(c).toEqual({ type: "Valid", status: "False", reason: "ZoneNotFound", message: "a: x; b: y" });
  });

  it("setCondition keeps lastTransitionTime while the status holds, and changes nothing when nothing changes", () => {
    const t0 = "2026-11-21T09:00:00Z";
    const a = setCondition(undefined, { type: "Ready", status: "False", reason: "Pending", message: "" }, t0);
    expect(a).toEqual([{ type: "Ready", status: "False", reason: "Pending", message: "", lastTransitionTime: t0 }]);
    const b = setCondition(
      a,
      { type: "Ready", status: "False", reason: "Waiting", message: "1 of 2" },
      new Date("2026-11-21T09:01:00.123Z"),
    );
    expect(b[0]!.lastTransitionTime).toBe(t0);
    expect(b[0]!.reason).toBe("Waiting");
    const c = setCondition(
      b,
      { type: "Ready", status: "True", reason: "Ready", message: "" },
      new Date("2026-11-21T09:02:00.456Z"),
    );
    expect(c[0]!.lastTransitionTime).toBe("2026-11-21T09:02:00Z");
    const d = setCondition(c, { type: "Ready", status: "True", reason: "Ready", message: "" }, "2026-11-21T10:00:00Z");
    expect(d).toBe(c);
    const e: Condition[] = setCondition(
      d,
      { type: "Valid", status: "True", reason: "Valid", message: "", observedGeneration: 2 },
      t0,
    );
    expect(e.map((x) => x.type)).toEqual(["Ready", "Valid"]);
  });
});
