import { describe, expect, it } from "vitest";
import { statusEqual } from "../../../src/runtime/status.ts";

describe("statusEqual", () => {
  it("ignores key order", () => {
    expect(statusEqual({ a: 1, b: { c: 2, d: 3 } }, { b: { d: 3, c: 2 }, a: 1 })).toBe(true);
  });

  it("treats undefined, null, empty arrays and empty objects as absent", () => {
    expect(statusEqual({ a: 1, b: undefined, c: null, d: [], e: {} }, { a: 1 })).toBe(true);
    expect(statusEqual(undefined, {})).toBe(true);
  });

  it("ignores the order of lists keyed by type or name (conditions)", () => {
    const ready = {
      type: "Ready",
      status: "True",
      reason: "Ok",
      message: "",
      lastTransitionTime: "2026-01-01T00:00:00Z",
    };
    const degraded = {
      type: "Degraded",
      status: "False",
      reason: "Ok",
      message: "",
      lastTransitionTime: "2026-01-01T00:00:00Z",
    };
    expect(statusEqual({ conditions: [ready, degraded] }, { conditions: [degraded, ready] })).toBe(true);
    expect(
      statusEqual(
        {
          zones: [
            { name: "a", n: 1 },
            { name: "b", n: 2 },
          ],
        },
        {
          zones: [
            { name: "b", n: 2 },
            { name: "a", n: 1 },
          ],
        },
      ),
    ).toBe(true);
  });

  it("keeps the order of plain lists", () => {
    expect(statusEqual({ shards: [1, 2] }, { shards: [2, 1] })).toBe(false);
  });

  it("sees real differences", () => {
    expect(statusEqual({ phase: "Ready" }, { phase: "Degraded" })).toBe(false);
    expect(statusEqual({ observedGeneration: 2 }, { observedGeneration: 1 })).toBe(false);
    expect(
      statusEqual(
        { conditions: [{ type: "Ready", status: "True" }] },
        { conditions: [{ type: "Ready", status: "False" }] },
      ),
    ).toBe(false);
    expect(statusEqual({ a: 1 }, { a: 1, extra: "x" })).toBe(false);
  });

  it("compares Dates with their serialized form", () => {
    expect(statusEqual({ t: new Date("2026-01-01T00:00:00Z") }, { t: "2026-01-01T00:00:00Z" })).toBe(true);
  });
});
