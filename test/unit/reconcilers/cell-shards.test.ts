import { describe, expect, it } from "vitest";
import type { ShardingRule } from "../../../src/api/index.ts";
import { cellShards, isRoutingRule } from "../../../src/reconcilers/cell-shards.ts";

/** null: the rule's status has no Valid condition, or no epoch. */
type Valid = "True" | "False" | null;

function rule(
  name: string,
  assignments: { cell: string; shards: string }[],
  opts: { valid?: Valid; epoch?: number | null; generation?: number; validFor?: number } = {},
): ShardingRule {
  const { valid = "True", epoch = 1, generation = 1, validFor = generation } = opts;
  return {
    apiVersion: "ldc.io/v1alpha1",
    kind: "ShardingRule",
    metadata: { name, generation },
    spec: {
      key: { sources: [{ type: "Header", name: "x-user-id" }], onInvalidKey: "Reject" },
      shards: 200,
      function: { type: "Hash" },
      assignments,
      unitProtection: "Forward",
      writeMethods: ["POST"],
    },
    status: {
      ...(epoch !== null ? { epoch } : {}),
      ...(valid
        ? {
            conditions: [
              {
                type: "Valid",
                status: valid,
                reason: valid === "True" ? "Valid" : "InvalidRule",
                message: "",
                lastTransitionTime: "2026-11-30T10:00:00Z",
                observedGeneration: validFor,
              },
            ],
          }
        : {}),
    },
  } as ShardingRule;
}

describe("cellShards", () => {
  it("counts the shards a valid, published rule assigns to the cell", () => {
    const users = rule("users", [
      { cell: "rz00", shards: "100-199" },
      { cell: "rz01", shards: "0-99" },
    ]);
    expect(cellShards("rz00", [users])).toEqual({ shards: "100-199", count: 100 });
    expect(cellShards("rz01", [users])).toEqual({ shards: "0-99", count: 100 });
    expect(cellShards("rz09", [users])).toEqual({ shards: "", count: 0 });
  });

  it("leaves out an invalid second rule naming the cell (it showed 40-199 (160))", () => {
    const users = rule("users", [
      { cell: "rz00", shards: "100-199" },
      { cell: "rz01", shards: "0-99" },
    ]);
    const broken = rule("orders", [{ cell: "rz00", shards: "40-139" }], { valid: "False", epoch: null });
    expect(cellShards("rz00", [users, broken])).toEqual({ shards: "100-199", count: 100 });
  });

  it("unites the shards of several routing rules", () => {
    const a = rule("a", [{ cell: "rz00", shards: "0-9" }]);
    const b = rule("b", [{ cell: "rz00", shards: "5-19,30" }]);
    expect(cellShards("rz00", [a, b])).toEqual({ shards: "0-19,30", count: 21 });
  });
});

describe("isRoutingRule", () => {
  it("needs Valid True for the current generation and a published epoch", () => {
    expect(isRoutingRule(rule("r", []))).toBe(true);
    expect(isRoutingRule(rule("r", [], { valid: "False" }))).toBe(false);
    expect(isRoutingRule(rule("r", [], { valid: null }))).toBe(false);
    expect(isRoutingRule(rule("r", [], { epoch: null }))).toBe(false);
    // Edited since it was validated: the new spec is not known to route yet.
    expect(isRoutingRule(rule("r", [], { generation: 2, validFor: 1 }))).toBe(false);
  });
});
