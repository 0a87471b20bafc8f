import { describe, expect, it } from "vitest";
import { MessageCoalescer, onlyMessagesDiffer, statusEqual } from "../../../src/runtime/status.ts";

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

describe("MessageCoalescer", () => {
  it("writes significant changes at once and coalesces message-only ones", () => {
    const c = new MessageCoalescer(10_000);
    const cond = (status: string, message: string) => ({
      conditions: [{ type: "Ready", status, reason: "R", message, lastTransitionTime: "t" }],
    });
    expect(onlyMessagesDiffer(cond("False", "1/20 ready"), cond("False", "2/20 ready"))).toBe(true);
    expect(onlyMessagesDiffer(cond("True", "20/20 ready"), cond("False", "19/20 ready"))).toBe(false);
    // a top-level progress message counts as a message too
    expect(onlyMessagesDiffer({ phase: "Running", message: "2s left" }, { phase: "Running", message: "3s left" })).toBe(
      true,
    );
    expect(onlyMessagesDiffer({ phase: "Succeeded", message: "done" }, { phase: "Running", message: "1s" })).toBe(
      false,
    );
    expect(c.delay("a", cond("False", "2/20"), cond("False", "1/20"), 0)).toBeUndefined(); // never written: write
    c.wrote("a", 0);
    expect(c.delay("a", cond("False", "3/20"), cond("False", "2/20"), 4_000)).toBe(6_000);
    expect(c.delay("a", cond("True", "20/20"), cond("False", "2/20"), 4_000)).toBeUndefined(); // a flip: at once
    expect(c.delay("a", cond("False", "3/20"), cond("False", "2/20"), 10_000)).toBeUndefined();
  });
});
