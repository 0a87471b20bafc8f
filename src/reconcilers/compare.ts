// Steady state is quiet: the operator writes only when what it wants is not
// already there. `covers(observed, desired)` is true when every field the
// operator sets has that value in the observed object; fields the API server
// defaults or others add are ignored.
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
