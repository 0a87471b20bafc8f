import { describe, expect, it } from "vitest";
import { findCondition, isTrue, removeCondition, setCondition } from "../../../src/runtime/conditions.ts";

const t0 = new Date("2026-01-01T00:00:00Z");
const t1 = new Date("2026-01-01T00:05:00Z");
const t2 = new Date("2026-01-01T00:10:00Z");

describe("conditions", () => {
  it("adds a new condition with lastTransitionTime now", () => {
    const cs = setCondition([], { type: "Ready", status: "False", reason: "Starting", message: "wait" }, t0);
    expect(cs).toEqual([
      {
        type: "Ready",
        status: "False",
        reason: "Starting",
        message: "wait",
        lastTransitionTime: "2026-01-01T00:00:00Z",
      },
    ]);
  });

  it("keeps lastTransitionTime when the status does not flip, updating reason and message", () => {
    let cs = setCondition(undefined, { type: "Ready", status: "False", reason: "A" }, t0);
    cs = setCondition(cs, { type: "Ready", status: "False", reason: "B", message: "m", observedGeneration: 2 }, t1);
    expect(cs[0]).toMatchObject({
      reason: "B",
      message: "m",
      observedGeneration: 2,
      lastTransitionTime: "2026-01-01T00:00:00Z",
    });
  });

  it("moves lastTransitionTime when the status flips", () => {
    let cs = setCondition(undefined, { type: "Ready", status: "False", reason: "A" }, t0);
    cs = setCondition(cs, { type: "Ready", status: "True", reason: "Ok" }, t1);
    expect(cs[0]!.lastTransitionTime).toBe("2026-01-01T00:05:00Z");
    cs = setCondition(cs, { type: "Ready", status: "True", reason: "Ok" }, t2);
    expect(cs[0]!.lastTransitionTime).toBe("2026-01-01T00:05:00Z");
    expect(isTrue(cs, "Ready")).toBe(true);
  });

  it("does not mutate its input, keeps other conditions and their order", () => {
    const input = setCondition(
      setCondition([], { type: "Ready", status: "True", reason: "Ok" }, t0),
      { type: "Degraded", status: "False", reason: "Fine" },
      t0,
    );
    const copy = structuredClone(input);
    const out = setCondition(input, { type: "Ready", status: "False", reason: "Down" }, t1);
    expect(input).toEqual(copy);
    expect(out.map((c) => c.type)).toEqual(["Ready", "Degraded"]);
    expect(findCondition(out, "Degraded")).toEqual(input[1]);
  });

  it("removes a condition", () => {
    const cs = setCondition([], { type: "Ready", status: "True", reason: "Ok" }, t0);
    expect(removeCondition(cs, "Ready")).toEqual([]);
    expect(removeCondition(undefined, "Ready")).toEqual([]);
  });
});
