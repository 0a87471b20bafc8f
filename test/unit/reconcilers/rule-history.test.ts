// A rule's history (kubectl ldc history / diff): each epoch's entry says when,
// why (the Failover and its step, a spec change) and what changed; the
// ConfigMap's merge patch keeps it bounded; the CLI prints it and a diff.
import { describe, expect, it } from "vitest";
import type { Failover } from "../../../src/api/index.ts";
import { formatHistory, formatTableDiff } from "../../../src/cli/format.ts";
import { parseInvocation } from "../../../src/cli/args.ts";
import {
  HISTORY_EPOCHS,
  historyConfigMapName,
  historyEntry,
  historyPatch,
  readHistory,
} from "../../../src/reconcilers/rule-history.ts";
import { buildTable, diffTables, parseTable } from "../../../src/routing/index.ts";

const table = (epoch: number, rz00Zone: string, frozen = "", evacuated = false) =>
  buildTable({
    ruleName: "users",
    shards: 100,
    function: { type: "Modulo" },
    key: { sources: [{ type: "Header", name: "x-user-id" }] },
    assignments: [
      { cell: "rz00", shards: "0-49" },
      { cell: "rz01", shards: "50-99" },
    ],
    globalCell: "gz00",
    cells: [
      { name: "rz00", type: "Regional", zone: rz00Zone, region: "hangzhou" },
      { name: "rz01", type: "Regional", zone: "sh-a", region: "shanghai" },
      { name: "gz00", type: "Global", zone: "hz-a", region: "hangzhou" },
      { name: "cz-hz", type: "City", zone: "hz-a", region: "hangzhou", ...(evacuated ? { evacuated: true } : {}) },
      { name: "cz-sh", type: "City", zone: "sh-a", region: "shanghai" },
    ],
    ...(frozen ? { frozenShards: frozen } : {}),
    epoch,
  });

const running = (name: string, step: string, cells: string[]) =>
  ({
    metadata: { name },
    status: { phase: "Running", step, cells: cells.map((cell) => ({ cell, from: "hz-a", to: "hz-b" })) },
  }) as unknown as Failover;

const now = new Date("2026-11-30T10:00:00Z");

describe("rule history", () => {
  it("says why an epoch was published: the Failover moving its cells, else a spec change, else the first table", () => {
    const freeze = historyEntry(
      table(7, "hz-a"),
      table(8, "hz-a", "0-49"),
      [running("drill-1", "Freeze", ["rz00"]), running("other", "Freeze", ["rz01"])],
      {},
      now,
    );
    expect(freeze).toMatchObject({
      epoch: 8,
      time: "2026-11-30T10:00:00.000Z",
      why: "Failover drill-1 (Freeze)",
      changes: "epoch 7 -> 8: froze 0-49",
    });
    const sw = historyEntry(
      table(8, "hz-a", "0-49"),
      table(9, "hz-b", "", true),
      [running("drill-1", "Switch", ["rz00", "cz-hz"])],
      {},
      now,
    );
    expect(sw.changes).toBe(
      "epoch 8 -> 9: 50 shards (0-49) rz00@hz-a -> rz00@hz-b; unfroze 0-49; cell cz-hz evacuated; cell rz00 hz-a -> hz-b",
    );
    expect(parseTable(sw.table).contentHash).toBe(table(9, "hz-b", "", true).contentHash);
    expect(historyEntry(table(9, "hz-b"), table(10, "hz-b", "1"), [], { generation: 3, observed: 2 }, now).why).toBe(
      "the rule's spec changed (generation 3)",
    );
    expect(historyEntry(undefined, table(1, "hz-a"), [], {}, now)).toMatchObject({
      why: "first table published by this operator",
      changes: "first table",
    });
  });

  it("keeps a bounded number of epochs: the patch adds the new one and removes the oldest", () => {
    let data: Record<string, string> = {};
    for (let e = 1; e <= HISTORY_EPOCHS + 5; e++) {
      const patch = historyPatch(data, historyEntry(undefined, table(e, "hz-a"), [], {}, now));
      data = Object.fromEntries(
        Object.entries({ ...data, ...patch }).filter((x): x is [string, string] => x[1] !== null),
      );
    }
    const kept = readHistory({ ...data, "not-history": "x", "epoch-000000000999": "{broken" });
    expect(kept).toHaveLength(HISTORY_EPOCHS);
    expect([kept[0]!.epoch, kept.at(-1)!.epoch]).toEqual([6, HISTORY_EPOCHS + 5]);
    expect(historyConfigMapName("users")).toBe("ldc-history-users");
    expect(historyConfigMapName("a".repeat(253)).length).toBeLessThanOrEqual(63);
  });

  it("kubectl ldc history and diff: parsed, printed with owners, freezes and evacuations", () => {
    expect(parseInvocation(["history", "users"]).command).toEqual({ name: "history", rule: "users" });
    expect(parseInvocation(["diff", "users", "7", "9"]).command).toEqual({
      name: "diff",
      rule: "users",
      from: 7,
      to: 9,
    });
    expect(() => parseInvocation(["diff", "users", "7"])).toThrow(/kubectl ldc diff RULE E1 E2/);
    const entries = [
      historyEntry(undefined, table(7, "hz-a"), [], {}, now),
      historyEntry(table(7, "hz-a"), table(8, "hz-a", "0-49"), [running("drill-1", "Freeze", ["rz00"])], {}, now),
    ];
    const text = formatHistory("users", entries);
    expect(text).toMatch(
      /^rule users: 2 epoch\(s\) kept \(7-8\); compare two with kubectl ldc diff users E1 E2\n\nEPOCH +PUBLISHED +WHY +CHANGES\n/,
    );
    expect(text).toMatch(/\n7 +2026-11-30T10:00:00Z +first table published by this operator +first table\n/);
    expect(text).toMatch(/\n8 +2026-11-30T10:00:00Z +Failover drill-1 \(Freeze\) +froze 0-49\n$/);
    expect(formatTableDiff(diffTables(table(7, "hz-a"), table(9, "hz-b", "", true)))).toBe(
      [
        "rule users: epoch 7 -> 9",
        "",
        "SHARDS  FROM       TO",
        "0-49    rz00@hz-a  rz00@hz-b",
        "50 shard(s) changed owner or zone",
        "cell cz-hz: evacuated (its region's reads served elsewhere)",
        "cell rz00: hz-a -> hz-b",
        "",
      ].join("\n"),
    );
  });
});
