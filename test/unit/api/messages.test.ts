import { describe, expect, it } from "vitest";
import {
  clampMessage,
  CONDITION_MESSAGE_MAX_LENGTH,
  Condition,
  FAILOVER_MESSAGE_MAX_LENGTH,
  FailoverStepStatus,
  setCondition,
} from "../../../src/api/index.ts";

describe("clampMessage", () => {
  it("keeps a message within the limit as it is", () => {
    expect(clampMessage("short", 10)).toBe("short");
    expect(clampMessage("x".repeat(10), 10)).toBe("x".repeat(10));
  });

  it("cuts a longer message to exactly the limit and says it was cut", () => {
    const m = clampMessage("y".repeat(5000), FAILOVER_MESSAGE_MAX_LENGTH);
    expect(m).toHaveLength(FAILOVER_MESSAGE_MAX_LENGTH);
    expect(m.endsWith(" ... (truncated)")).toBe(true);
    expect(FailoverStepStatus.safeParse({ name: "Preflight", phase: "Failed", message: m }).success).toBe(true);
  });

  it("cuts without a note when the limit is too small for one", () => {
    expect(clampMessage("abcdefgh", 4)).toBe("abcd");
  });
});

describe("setCondition", () => {
  it("clamps the message to what the CRDs accept", () => {
    const [c] = setCondition(
      undefined,
      { type: "Ready", status: "False", reason: "Long", message: "z".repeat(CONDITION_MESSAGE_MAX_LENGTH + 1) },
      "2026-01-01T00:00:00Z",
    );
    expect(c!.message).toHaveLength(CONDITION_MESSAGE_MAX_LENGTH);
    expect(Condition.safeParse(c).success).toBe(true);
  });
});
