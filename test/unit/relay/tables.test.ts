// The relay's table ingestion (src/relay/tables.ts): routing ConfigMaps as the
// operator writes them are validated and published; invalid, mislabelled and
// older tables are refused with the reason; epochs never go back.
import { describe, expect, it } from "vitest";
import { RelayTables } from "../../../src/relay/index.ts";
import { routingConfigMap } from "../../../src/reconcilers/shardingrule.ts";
import { MemoryTableStore } from "../../../src/routing-api/index.ts";
import { usersTable } from "../sidecar/helpers.ts";

const cm = (epoch: number, over: Partial<Parameters<typeof usersTable>[0]> = {}) => {
  const t = usersTable({ epoch, ...over });
  return routingConfigMap(t.ruleName, "ldc-system", t);
};

describe("RelayTables", () => {
  it("publishes a valid table, and a newer one over it", () => {
    const tables = new RelayTables(new MemoryTableStore());
    const first = cm(3);
    const rule = first.metadata.labels["ldc.io/sharding-rule"]!;
    expect(tables.ingest(first)).toEqual({ outcome: "published", rule, epoch: 3 });
    expect(tables.store.get(rule)?.epoch).toBe(3);
    expect(tables.ingest(cm(3))).toEqual({ outcome: "unchanged", rule, epoch: 3 });
    expect(tables.ingest(cm(5))).toEqual({ outcome: "published", rule, epoch: 5 });
    expect(tables.store.get(rule)?.epoch).toBe(5);
  });

  it("refuses an older epoch, and the same epoch with other content", () => {
    const tables = new RelayTables(new MemoryTableStore());
    tables.ingest(cm(5));
    const older = tables.ingest(cm(4));
    expect(older.outcome).toBe("refused");
    expect(older.outcome === "refused" && older.reason).toMatch(/epoch 4 is not newer than the published epoch 5/);
    const other = tables.ingest(cm(5, { frozenRetryAfterSeconds: 9 }));
    expect(other.outcome).toBe("refused");
    expect(tables.store.get(cm(5).metadata.labels["ldc.io/sharding-rule"]!)?.epoch).toBe(5);
  });

  it("never goes back, even when the ConfigMap is deleted and an older one appears", () => {
    const tables = new RelayTables(new MemoryTableStore());
    const c = cm(5);
    const rule = c.metadata.labels["ldc.io/sharding-rule"]!;
    tables.ingest(c);
    expect(tables.remove(c)).toBe(rule);
    expect(tables.store.get(rule)).toBeUndefined();
    const r = tables.ingest(cm(4));
    expect(r.outcome === "refused" && r.reason).toMatch(/older than epoch 5 this relay served/);
    // The operator writing it again (same epoch) or a newer one is served.
    expect(tables.ingest(cm(5)).outcome).toBe("published");
    expect(tables.ingest(cm(6)).outcome).toBe("published");
  });

  it("refuses invalid, mislabelled or misnamed tables, naming why, without throwing", () => {
    const tables = new RelayTables(new MemoryTableStore());
    const good = cm(2);
    const cases: [unknown, RegExp][] = [
      [{ ...good, data: { "table.json": "{not json" } }, /invalid routing table: .*not JSON/],
      [{ ...good, data: { "table.json": JSON.stringify({ format: "x" }) } }, /invalid routing table/],
      [{ ...good, data: {} }, /no data\.table\.json/],
      [{ ...good, data: undefined }, /no data\.table\.json/],
      [{ ...good, metadata: { ...good.metadata, labels: {} } }, /no ldc\.io\/sharding-rule label/],
      [
        {
          ...good,
          metadata: { ...good.metadata, labels: { ...good.metadata.labels, "ldc.io/sharding-rule": "other" } },
        },
        /the table of rule other is named ldc-routing-other/,
      ],
      [
        {
          ...good,
          metadata: {
            ...good.metadata,
            name: "ldc-routing-other",
            labels: { ...good.metadata.labels, "ldc.io/sharding-rule": "other" },
          },
        },
        /holds the table of rule .*, not other/,
      ],
      [{}, /no ldc\.io\/sharding-rule label/],
    ];
    for (const [c, why] of cases) {
      const r = tables.ingest(c as Parameters<RelayTables["ingest"]>[0]);
      expect(r.outcome).toBe("refused");
      expect(r.outcome === "refused" && r.reason).toMatch(why);
    }
    expect(tables.store.rules()).toEqual([]);
  });
});
