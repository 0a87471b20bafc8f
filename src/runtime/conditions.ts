// Status conditions as metav1.Condition, with apimachinery's SetStatusCondition
// semantics: lastTransitionTime moves only when the status flips.
import { getCondition, setCondition as setApiCondition } from "../api/conditions.ts";

export type ConditionStatus = "True" | "False" | "Unknown";

export interface Condition {
  type: string;
  status: ConditionStatus;
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

/** A condition to set; lastTransitionTime is filled in. */
export type NewCondition = Omit<Condition, "lastTransitionTime" | "message"> & { message?: string };

/** RFC 3339 at second precision, as metav1.Time serializes. */
export function rfc3339(d: Date = new Date()): string {
  return d.toISOString().replace(/\.\d{3}Z$/, "Z");
}

export function findCondition(conditions: readonly Condition[] | undefined, type: string): Condition | undefined {
  return getCondition(conditions, type);
}

export function isTrue(conditions: readonly Condition[] | undefined, type: string): boolean {
  return findCondition(conditions, type)?.status === "True";
}

export function isFalse(conditions: readonly Condition[] | undefined, type: string): boolean {
  return findCondition(conditions, type)?.status === "False";
}

/**
 * Return `conditions` with `c` set (the input is not changed): one
 * implementation, the API's (src/api/conditions.ts), with an optional message
 * and clock. A new condition, or one whose status flips, gets
 * lastTransitionTime = now; otherwise it keeps the previous one.
 */
export function setCondition(
  conditions: readonly Condition[] | undefined,
  c: NewCondition,
  now: Date = new Date(),
): Condition[] {
  return setApiCondition(conditions, { ...c, message: c.message ?? "" }, now);
}

/** Return `conditions` without the condition of `type`. */
export function removeCondition(conditions: readonly Condition[] | undefined, type: string): Condition[] {
  return (conditions ?? []).filter((c) => c.type !== type);
}
