// metav1.Condition helpers. setCondition keeps lastTransitionTime unless the
// status changes, so applying the same state twice writes nothing new.

import { clampMessage, CONDITION_MESSAGE_MAX_LENGTH, type Condition, type ConditionStatus } from "./common.ts";

export interface ConditionInput {
  type: string;
  status: ConditionStatus;
  reason: string;
  message: string;
  observedGeneration?: number;
}

export function getCondition(conditions: readonly Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

export function isConditionTrue(conditions: readonly Condition[] | undefined, type: string): boolean {
  return getCondition(conditions, type)?.status === "True";
}

/**
 * Returns conditions with `next` set: replaces the condition of the same type
 * (keeping its lastTransitionTime when the status is unchanged) or appends it.
 * Returns the same array when nothing changes. The message is clamped to
 * CONDITION_MESSAGE_MAX_LENGTH.
 */
export function setCondition(
  conditions: readonly Condition[] | undefined,
  next: ConditionInput,
  now: Date | string,
): Condition[] {
  const list = conditions ?? [];
  const old = getCondition(list, next.type);
  const lastTransitionTime =
    old !== undefined && old.status === next.status
      ? old.lastTransitionTime
      : typeof now === "string"
        ? now
        : now.toISOString().replace(/\.\d{3}Z$/, "Z");
  const cond: Condition = {
    type: next.type,
    status: next.status,
    ...(next.observedGeneration !== undefined ? { observedGeneration: next.observedGeneration } : {}),
    lastTransitionTime,
    reason: next.reason,
    message: clampMessage(next.message, CONDITION_MESSAGE_MAX_LENGTH),
  };
  if (old !== undefined && sameCondition(old, cond)) return list as Condition[];
  return old === undefined ? [...list, cond] : list.map((c) => (c.type === next.type ? cond : c));
}

function sameCondition(a: Condition, b: Condition): boolean {
  return (
    a.status === b.status &&
    a.reason === b.reason &&
    a.message === b.message &&
    a.lastTransitionTime === b.lastTransitionTime &&
    a.observedGeneration === b.observedGeneration
  );
}
