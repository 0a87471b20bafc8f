// Errors of the routing core. A rule or table that cannot be built throws a
// RoutingRuleError listing every problem found, each naming the field and,
// where there is one, the fix.

/** One problem with a rule or table: the field (e.g. `spec.assignments[1].shards`) and what is wrong. */
export interface RoutingIssue {
  readonly path: string;
  readonly message: string;
}

/** At most this many issues are spelled out in an error's message (all are kept in `issues`). */
const MAX_LISTED = 20;

export class RoutingRuleError extends Error {
  readonly issues: readonly RoutingIssue[];

  constructor(issues: readonly RoutingIssue[], subject = "routing rule") {
    // Issues of the same field are listed together: "spec.assignments: A; B".
    const byPath = new Map<string, string[]>();
    for (const i of issues.slice(0, MAX_LISTED)) {
      const list = byPath.get(i.path);
      if (list) list.push(i.message);
      else byPath.set(i.path, [i.message]);
    }
    const lines = [...byPath].map(([path, messages]) => `${path}: ${messages.join("; ")}`);
    if (issues.length > MAX_LISTED) lines.push(`… and ${issues.length - MAX_LISTED} more`);
    super(`invalid ${subject}: ${lines.join("; ")}`);
    this.name = "RoutingRuleError";
    this.issues = Object.freeze(issues.slice());
  }
}

export const isRoutingRuleError = (e: unknown): e is RoutingRuleError => e instanceof RoutingRuleError;
