// Steady state is quiet: the operator writes only when what it wants is not
// already there. `covers(observed, desired)` is true when every field the
// operator sets has that value in the observed object; fields the API server
// defaults or others add are ignored.
import { statusEqual } from "../runtime/index.ts";

export function covers(observed: unknown, desired: unknown): boolean {
  if (desired === undefined || desired === null) return true;
  if (Array.isArray(desired)) {
    if (!Array.isArray(observed) || observed.length !== desired.length) return false;
    return desired.every((d, i) => covers(observed[i], d));
  }
  if (typeof desired === "object") {
    if (typeof observed !== "object" || observed === null || Array.isArray(observed)) return false;
    const o = observed as Record<string, unknown>;
    return Object.entries(desired as Record<string, unknown>).every(([k, v]) => covers(o[k], v));
  }
  // Primitives: "2" and 2 are the same quantity or port to the API server.
  return String(observed) === String(desired);
}

/**
 * Status fields are shared between controllers (each owns some, by field
 * manager): compare only the fields this controller owns.
 */
export function ownedStatusEqual(
  desired: Record<string, unknown>,
  observed: unknown,
  owned: readonly string[],
): boolean {
  const o = (observed ?? {}) as Record<string, unknown>;
  const pick = (s: Record<string, unknown>) => Object.fromEntries(owned.map((k) => [k, s[k]]));
  return statusEqual(pick(desired), pick(o));
}

/**
 * Status writes whose only change is a condition's message (e.g. "7/20 apps
 * ready" while an app rolls out) are coalesced: at most one per object every
 * `intervalMs`. Anything significant (a phase, a condition's status or
 * reason, any other field) is written at once.
 */
export class MessageCoalescer {
  readonly #lastWrite = new Map<string, number>();
  readonly #intervalMs: number;

  constructor(intervalMs = 10_000) {
    this.#intervalMs = intervalMs;
  }

  /** undefined: write now; else wait this many ms (and look again then). */
  delay(key: string, desired: Record<string, unknown>, observed: unknown, now = Date.now()): number | undefined {
    if (!onlyMessagesDiffer(desired, observed)) return undefined;
    const last = this.#lastWrite.get(key);
    if (last === undefined || now - last >= this.#intervalMs) return undefined;
    return this.#intervalMs - (now - last);
  }

  wrote(key: string, now = Date.now()): void {
    this.#lastWrite.set(key, now);
  }

  forget(key: string): void {
    this.#lastWrite.delete(key);
  }
}

function withoutMessages(status: unknown): unknown {
  if (!status || typeof status !== "object") return status;
  const s = { ...(status as Record<string, unknown>) };
  if (Array.isArray(s.conditions)) {
    s.conditions = (s.conditions as Record<string, unknown>[]).map(
      ({ message: _m, lastTransitionTime: _t, ...rest }) => rest,
    );
  }
  return s;
}

/** True when the two statuses differ, but only in condition messages (and their timestamps). */
export function onlyMessagesDiffer(desired: Record<string, unknown>, observed: unknown): boolean {
  return !statusEqual(desired, observed) && statusEqual(withoutMessages(desired), withoutMessages(observed));
}
