// The kind table: everything a client, a controller or the CRD generator
// needs to know about each kind, in one place.

import type { z } from "zod";
import { API_VERSION, CATEGORY, GROUP, VERSION } from "./common.ts";
import type { NameRule } from "./common.ts";
import { CellApp } from "./cell-app.ts";
import { Cell } from "./cell.ts";
import { DrillSchedule } from "./drill-schedule.ts";
import { Failover } from "./failover.ts";
import type { PrinterColumn } from "./openapi.ts";
import { ShardingRule } from "./sharding-rule.ts";
import { Zone } from "./zone.ts";

export type Scope = "Cluster" | "Namespaced";

/** A printer column that no single field declares (e.g. a condition's status). */
export type ExtraColumn = PrinterColumn & { order: number };

export interface KindInfo<
  K extends string = string,
  S extends Scope = Scope,
  R extends z.ZodObject = z.ZodObject,
  P extends string = string,
> {
  readonly group: typeof GROUP;
  readonly version: typeof VERSION;
  readonly apiVersion: typeof API_VERSION;
  readonly kind: K;
  readonly listKind: `${K}List`;
  readonly plural: P;
  readonly singular: Lowercase<K>;
  readonly scope: S;
  readonly shortNames: readonly string[];
  readonly categories: readonly string[];
  /** What metadata.name must look like (also enforced in the CRD). */
  readonly nameRule: NameRule;
  /** The zod schema of a whole object of this kind. */
  readonly schema: R;
  readonly extraColumns: readonly ExtraColumn[];
}

function defineKind<const K extends string, const S extends Scope, R extends z.ZodObject, const P extends string>(d: {
  kind: K;
  plural: P;
  scope: S;
  shortNames: readonly string[];
  nameRule: NameRule;
  schema: R;
  extraColumns?: readonly ExtraColumn[];
}): KindInfo<K, S, R, P> {
  return {
    group: GROUP,
    version: VERSION,
    apiVersion: API_VERSION,
    kind: d.kind,
    listKind: `${d.kind}List`,
    plural: d.plural,
    singular: d.kind.toLowerCase() as Lowercase<K>,
    scope: d.scope,
    shortNames: d.shortNames,
    categories: [CATEGORY],
    nameRule: d.nameRule,
    schema: d.schema,
    extraColumns: d.extraColumns ?? [],
  };
}

const conditionColumn = (type: string, order: number, priority?: 1): ExtraColumn => ({
  name: type,
  type: "string",
  jsonPath: `.status.conditions[?(@.type=="${type}")].status`,
  description: `Status of the ${type} condition.`,
  ...(priority ? { priority } : {}),
  order,
});

export const Kinds = {
  Zone: defineKind({
    kind: "Zone",
    plural: "zones",
    scope: "Cluster",
    shortNames: ["zn"],
    nameRule: "dns1123Label",
    schema: Zone,
  }),
  Cell: defineKind({
    kind: "Cell",
    plural: "cells",
    scope: "Cluster",
    shortNames: ["cell"],
    nameRule: "dns1123Label",
    schema: Cell,
  }),
  ShardingRule: defineKind({
    kind: "ShardingRule",
    plural: "shardingrules",
    scope: "Cluster",
    shortNames: ["sr"],
    nameRule: "dns1123Label",
    schema: ShardingRule,
    extraColumns: [conditionColumn("Valid", 50)],
  }),
  CellApp: defineKind({
    kind: "CellApp",
    plural: "cellapps",
    scope: "Namespaced",
    shortNames: ["capp"],
    nameRule: "dns1035Label",
    schema: CellApp,
  }),
  Failover: defineKind({
    kind: "Failover",
    plural: "failovers",
    scope: "Cluster",
    shortNames: ["fo"],
    nameRule: "dns1123Subdomain",
    schema: Failover,
  }),
  DrillSchedule: defineKind({
    kind: "DrillSchedule",
    plural: "drillschedules",
    scope: "Cluster",
    shortNames: ["drill"],
    nameRule: "dns1123Subdomain",
    schema: DrillSchedule,
  }),
} as const;

export type KindName = keyof typeof Kinds;
export const KIND_NAMES = Object.keys(Kinds) as KindName[];
export const allKinds: readonly KindInfo[] = Object.values(Kinds);

/** The type of an object of a kind (defaults applied), e.g. `ResourceOf<"Cell">`. */
export type ResourceOf<K extends KindName> = z.output<(typeof Kinds)[K]["schema"]>;
/** What may be written for a kind (defaulted fields optional). */
export type ResourceInputOf<K extends KindName> = z.input<(typeof Kinds)[K]["schema"]>;

export function isKindName(kind: string): kind is KindName {
  return Object.hasOwn(Kinds, kind);
}

export type ParseResult<T> = { ok: true; value: T } | { ok: false; errors: string[] };

/**
 * Validates an object of a kind at run time (the schema and the rules the
 * CRD's CEL enforces) and applies the same defaults as the API server. Errors
 * read "spec.standbyZones: <what is wrong and how to fix it>".
 */
export function parseResource<K extends KindName>(kind: K, obj: unknown): ParseResult<ResourceOf<K>> {
  const r = (Kinds[kind].schema as z.ZodType).safeParse(obj);
  if (r.success) return { ok: true, value: r.data as ResourceOf<K> };
  return { ok: false, errors: r.error.issues.map((i) => `${formatPath(i.path) || "<object>"}: ${i.message}`) };
}

/** Formats a zod issue path as a field path: spec.assignments[0].shards. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const p of path) {
    if (typeof p === "number") out += `[${p}]`;
    else out += out === "" ? String(p) : `.${String(p)}`;
  }
  return out;
}
