// Deterministic names and labels for what the operator stamps: the cache may
// be stale, so a child's name must follow from its owner alone.
import { createHash } from "node:crypto";

export const MANAGED_BY = "ldc-operator";

export const Labels = {
  managedBy: "app.kubernetes.io/managed-by",
  name: "app.kubernetes.io/name",
  app: "ldc.io/app",
  appNamespace: "ldc.io/app-namespace",
  appUid: "ldc.io/app-uid",
  cell: "ldc.io/cell",
  zone: "ldc.io/zone",
  role: "ldc.io/role",
  rule: "ldc.io/sharding-rule",
  routingTable: "ldc.io/routing-table",
} as const;

export const Annotations = {
  epoch: "ldc.io/epoch",
  tableHash: "ldc.io/table-hash",
} as const;

export const CELLAPP_FINALIZER = "ldc.io/cleanup";
/** Holds a running Failover until it has ended: deleting it then aborts it first (ADR 0004). */
export const FAILOVER_FINALIZER = "ldc.io/failover";

/**
 * A DNS-1035 label (≤ 63 chars, starts with a letter) from parts: the plain
 * join when it fits, else a truncation plus a hash of the whole so two long
 * names never collide.
 */
export function dnsLabel(...parts: string[]): string {
  const joined = parts.join("-");
  if (joined.length <= 63 && /^[a-z]/.test(joined)) return joined;
  const hash = createHash("sha256").update(joined).digest("hex").slice(0, 8);
  const prefix = /^[a-z]/.test(joined) ? "" : "x";
  return `${(prefix + joined).slice(0, 63 - 9).replace(/-+$/, "")}-${hash}`;
}

/** The Deployment and Service of an app in one cell and zone: `<app>-<cell>-<zone>`. */
export function workloadName(app: string, cell: string, zone: string): string {
  return dnsLabel(app, cell, zone);
}

/** The ConfigMap holding a sharding rule's routing table in every zone. */
export function routingTableName(rule: string): string {
  return dnsLabel("ldc-routing", rule);
}
