// The relay's tables: the routing ConfigMaps the operator publishes into the
// relay's namespace (src/reconcilers/shardingrule.ts, routingConfigMap), each
// validated and published into the relay's MemoryTableStore, which the
// routing API serves to the zone's sidecars. Epochs never go back: an older
// table than the one served is refused, also after its ConfigMap was deleted
// and created again.
import { Labels, MANAGED_BY, routingTableName } from "../reconcilers/naming.ts";
import { ROUTING_TABLE_KEY } from "../reconcilers/sidecar.ts";
import { isTablePublishError, type MemoryTableStore } from "../routing-api/index.ts";
import { parseTable } from "../routing/index.ts";

/** The label selector of routing-table ConfigMaps (what the operator stamps). */
export const ROUTING_TABLE_SELECTOR = `${Labels.managedBy}=${MANAGED_BY},${Labels.routingTable}`;

/** A ConfigMap as the relay's informer shows it (only what it reads). */
export interface TableConfigMap {
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string> };
  data?: Record<string, string>;
}

export type IngestOutcome =
  | { outcome: "published"; rule: string; epoch: number }
  | { outcome: "unchanged"; rule: string; epoch: number }
  | { outcome: "refused"; rule: string | undefined; reason: string };

/**
 * Publishes the table a ConfigMap holds, unless it is invalid, for another
 * rule than its label and name say, or not newer than what is served.
 * Never throws: a hostile ConfigMap is refused with the reason.
 */
export class RelayTables {
  readonly store: MemoryTableStore;
  /** rule -> highest epoch ever served, kept when its ConfigMap goes: epochs never go back. */
  readonly #floors = new Map<string, number>();

  constructor(store: MemoryTableStore) {
    this.store = store;
  }

  ingest(cm: TableConfigMap): IngestOutcome {
    const name = cm.metadata?.name ?? "";
    const rule = cm.metadata?.labels?.[Labels.rule];
    const where = `ConfigMap ${cm.metadata?.namespace ?? ""}/${name}`;
    if (!rule) return { outcome: "refused", rule, reason: `${where}: no ${Labels.rule} label` };
    if (name !== routingTableName(rule)) {
      return {
        outcome: "refused",
        rule,
        reason: `${where}: the table of rule ${rule} is named ${routingTableName(rule)}`,
      };
    }
    const data = cm.data?.[ROUTING_TABLE_KEY];
    if (typeof data !== "string") return { outcome: "refused", rule, reason: `${where}: no data.${ROUTING_TABLE_KEY}` };
    let table;
    try {
      table = parseTable(data);
    } catch (e) {
      return { outcome: "refused", rule, reason: `${where}: invalid routing table: ${(e as Error).message}` };
    }
    if (table.ruleName !== rule) {
      return { outcome: "refused", rule, reason: `${where}: holds the table of rule ${table.ruleName}, not ${rule}` };
    }
    const current = this.store.get(rule);
    if (current !== undefined && current.epoch === table.epoch && current.contentHash === table.contentHash) {
      return { outcome: "unchanged", rule, epoch: table.epoch };
    }
    const floor = this.#floors.get(rule);
    if (current === undefined && floor !== undefined && table.epoch < floor) {
      return {
        outcome: "refused",
        rule,
        reason: `${where}: epoch ${table.epoch} is older than epoch ${floor} this relay served: epochs never go back`,
      };
    }
    try {
      this.store.publish(table);
    } catch (e) {
      if (isTablePublishError(e)) return { outcome: "refused", rule, reason: `${where}: ${e.message}` };
      throw e;
    }
    this.#floors.set(rule, Math.max(floor ?? 0, table.epoch));
    return { outcome: "published", rule, epoch: table.epoch };
  }

  /**
   * A routing ConfigMap was deleted (its rule was): the table leaves the API
   * (reads 404, long-polls end with 404), as the operator's own does.
   */
  remove(cm: TableConfigMap): string | undefined {
    const rule = cm.metadata?.labels?.[Labels.rule];
    if (!rule || cm.metadata?.name !== routingTableName(rule) || this.store.get(rule) === undefined) return undefined;
    this.store.unpublish(rule);
    return rule;
  }
}
