// A rule's history: every epoch it published, kept for a bounded number of
// epochs, with when, why, what changed (owners, freezes, cells) and the table
// itself, so two epochs can be compared (`kubectl ldc history RULE`,
// `kubectl ldc diff RULE E1 E2`). Stored in one ConfigMap per rule in the
// operator's namespace, one key per epoch, written with merge patches (an
// epoch's key added, the oldest ones removed): writers never conflict. Pure.
import type { Failover } from "../api/index.ts";
import { diffTables, summarizeDiff, type RoutingTable } from "../routing/index.ts";
import { dnsLabel } from "./naming.ts";

/** Epochs kept per rule. */
export const HISTORY_EPOCHS = 50;
/** Bytes of tables kept per rule (a ConfigMap holds at most 1 MiB). */
export const HISTORY_MAX_BYTES = 800 * 1024;
/** The label naming the rule a history ConfigMap belongs to (its name may be hashed). */
export const HISTORY_LABEL = "ldc.io/history-of";

export interface HistoryEntry {
  epoch: number;
  /** When it was published (ISO). */
  time: string;
  /** Why: the Failover(s) moving its cells, or what else changed. */
  why: string;
  /** What changed from the epoch before (summarizeDiff), or "first table". */
  changes: string;
  /** The serialised table. */
  table: string;
}

export function historyConfigMapName(rule: string): string {
  return dnsLabel("ldc-history", rule);
}

const key = (epoch: number) => `epoch-${String(epoch).padStart(12, "0")}`;

/** The entry of a newly published table, from the one before it (if known) and the Failovers running now. */
export function historyEntry(
  prev: RoutingTable | undefined,
  next: RoutingTable,
  failovers: readonly Failover[],
  ruleGeneration: { generation?: number; observed?: number },
  now: Date,
): HistoryEntry {
  const diff = prev && prev.ruleName === next.ruleName ? diffTables(prev, next) : undefined;
  const touched = new Set<string>();
  if (diff) {
    for (const m of diff.moved) touched.add(m.from.cell).add(m.to.cell);
    for (const c of diff.cells.changed) touched.add(c.name);
  }
  if (diff?.frozen || diff?.unfrozen)
    for (let s = 0; s < next.shards; s++) if (next.isFrozen(s) !== prev!.isFrozen(s)) touched.add(next.ownerOf(s).name);
  const by = failovers
    .filter((f) => f.status?.phase === "Running" && (f.status.cells ?? []).some((c) => touched.has(c.cell)))
    .map((f) => `Failover ${f.metadata.name} (${f.status!.step})`);
  const specChanged = ruleGeneration.generation !== undefined && ruleGeneration.generation !== ruleGeneration.observed;
  const why = by.length
    ? by.join(", ")
    : specChanged
      ? `the rule's spec changed (generation ${ruleGeneration.generation})`
      : diff
        ? "cells, zones or a failover's end changed where its cells are"
        : "first table published by this operator";
  return {
    epoch: next.epoch,
    time: now.toISOString(),
    why,
    changes: diff ? summarizeDiff(diff) : "first table",
    table: next.serialize(),
  };
}

/** The merge patch of the ConfigMap's data: the entry added, the oldest removed beyond the bounds. */
export function historyPatch(
  existing: Readonly<Record<string, string>> | undefined,
  entry: HistoryEntry,
): Record<string, string | null> {
  const value = JSON.stringify(entry);
  const keep = Object.entries(existing ?? {})
    .filter(([k]) => k.startsWith("epoch-") && k !== key(entry.epoch))
    .sort(([a], [b]) => (a < b ? 1 : -1)); // newest first
  const patch: Record<string, string | null> = { [key(entry.epoch)]: value };
  let bytes = value.length;
  keep.forEach(([k, v], i) => {
    bytes += v.length;
    if (i + 1 >= HISTORY_EPOCHS || bytes > HISTORY_MAX_BYTES) patch[k] = null;
  });
  return patch;
}

/** The entries of a history ConfigMap, oldest first; unreadable keys skipped. */
export function readHistory(data: Readonly<Record<string, string>> | undefined): HistoryEntry[] {
  const out: HistoryEntry[] = [];
  for (const [k, v] of Object.entries(data ?? {})) {
    if (!k.startsWith("epoch-")) continue;
    try {
      const e = JSON.parse(v) as HistoryEntry;
      if (Number.isSafeInteger(e.epoch) && typeof e.table === "string") out.push(e);
    } catch {
      // a hand-edited key: not history
    }
  }
  return out.sort((a, b) => a.epoch - b.epoch);
}
