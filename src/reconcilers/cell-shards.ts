// The shards a cell owns, as its status (the SHARDS printer column) and
// `kubectl ldc status` show them: only from rules that route, so an invalid
// rule naming the cell adds nothing. Pure.
import type { ShardingRule } from "../api/index.ts";
import { countShards, formatRanges, normalizeRanges, parseRanges, type ShardRange } from "../routing/index.ts";

export interface CellShards {
  /** Canonical ranges, "0-19,40-44"; "" when the cell owns none. */
  readonly shards: string;
  readonly count: number;
}

type RuleView = Pick<ShardingRule, "metadata" | "spec" | "status">;

/**
 * Whether a rule's assignments are the ones routing: its Valid condition is
 * True for the spec as it is now (not an earlier generation) and its status
 * records a published epoch.
 */
export function isRoutingRule(rule: RuleView): boolean {
  const valid = rule.status?.conditions?.find((c) => c.type === "Valid");
  if (valid?.status !== "True" || rule.status?.epoch === undefined) return false;
  const generation = rule.metadata.generation;
  return valid.observedGeneration === undefined || generation === undefined || valid.observedGeneration === generation;
}

/** The shards `cell` owns in the rules that route (the union over those rules). */
export function cellShards(cell: string, rules: readonly RuleView[]): CellShards {
  const owned: ShardRange[] = [];
  for (const rule of rules) {
    if (!isRoutingRule(rule)) continue;
    for (const a of rule.spec.assignments ?? []) {
      if (a.cell !== cell) continue;
      const parsed = parseRanges(a.shards);
      if (parsed.ok) owned.push(...parsed.ranges);
    }
  }
  const ranges = normalizeRanges(owned);
  return { shards: formatRanges(ranges), count: countShards(ranges) };
}
