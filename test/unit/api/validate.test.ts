import { describe, expect, it } from "vitest";
import {
  Cell,
  CellApp,
  ShardingRule,
  Zone,
  setCondition,
  validateCell,
  validateCellApp,
} from "../../../src/api/index.ts";
import type { CellInput, Condition } from "../../../src/api/index.ts";
import { validExamples } from "./examples.ts";

const examples = validExamples();
const of = (kind: string) => examples.filter((e) => e.obj.kind === kind).map((e) => e.obj);
const zones = of("Zone").map((o) => Zone.parse(o));
const cells = of("Cell").map((o) => Cell.parse(o));
const users = ShardingRule.parse(of("ShardingRule")[0]);
const apps = of("CellApp").map((o) => CellApp.parse(o));

const cell = (name: string, spec: CellInput["spec"]) =>
  Cell.parse({ apiVersion: "ldc.io/v1alpha1", kind: "Cell", metadata: { name }, spec });

describe("the example topology", () => {
  it("is valid across objects", () => {
    for (const c of cells) expect(validateCell(c, { zones }).problems).toEqual([]);
    for (const a of apps) expect(validateCellApp(a, { cells, shardingRules: [users] }).problems).toEqual([]);
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

describe("conditions", () => {
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
