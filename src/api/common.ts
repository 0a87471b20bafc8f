// Building blocks shared by every kind: the API group, the metadata that the
// CRD generator reads from zod schemas (descriptions, CEL rules, list types,
// printer columns), and common field schemas (names, durations, conditions).

import { z } from "zod";
import { DURATION_PATTERN, tryParseDuration } from "./durations.ts";

export const GROUP = "ldc.io";
export const VERSION = "v1alpha1";
export const API_VERSION = `${GROUP}/${VERSION}` as const;
/** The `kubectl get ldc` category every kind belongs to. */
export const CATEGORY = "ldc";

// ------------------------------------------------------------------ metadata

/** One `x-kubernetes-validations` entry: a CEL rule the API server evaluates. */
export interface CelRule {
  rule: string;
  message?: string;
  messageExpression?: string;
  /** JSONPath relative to the schema node carrying the rule, e.g. ".standbyZones". */
  fieldPath?: string;
  reason?: "FieldValueInvalid" | "FieldValueForbidden" | "FieldValueRequired" | "FieldValueDuplicate";
}

/** A printer column declared on the field it shows. */
export interface PrinterHint {
  name: string;
  /** Position among the kind's columns (ascending); Age always comes last. */
  order: number;
  /** 0: always shown; 1: only with `-o wide`. */
  priority?: 0 | 1;
  /** Defaults to the first sentence of the field's description. */
  description?: string;
}

/** The metadata keys the CRD generator understands (see src/api/openapi.ts). */
export interface CrdMeta {
  description?: string;
  "x-kubernetes-validations"?: CelRule[];
  "x-kubernetes-list-type"?: "atomic" | "set" | "map";
  "x-kubernetes-list-map-keys"?: string[];
  "x-kubernetes-map-type"?: "atomic" | "granular";
  "x-kubernetes-preserve-unknown-fields"?: true;
  /** For records (maps); zod has no such check, so `boundedRecord` adds one. */
  maxProperties?: number;
  printerColumn?: PrinterHint;
  /** Lists the field in the CRD's selectableFields (`kubectl get --field-selector`). */
  selectableField?: true;
}

declare module "zod" {
  // Types the keys .meta() accepts for the generator (zod merges this interface).
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  interface GlobalMeta extends CrdMeta {}
}

/**
 * A rule enforced twice: by the API server (as CEL, emitted into the CRD) and
 * by zod at run time (`check`, on the parsed value). `path` is the zod path of
 * the issue; it mirrors `fieldPath`.
 */
export interface Rule<T> {
  cel: string;
  message: string;
  messageExpression?: string;
  fieldPath?: string;
  check: (value: T) => boolean;
}

/** Adds a rule to a schema: CEL for the CRD, a refinement for zod. */
export function withRules<T extends z.ZodType>(schema: T, ...rules: Rule<z.output<T>>[]): T {
  let out = schema.meta({
    "x-kubernetes-validations": rules.map((r) => ({
      rule: r.cel,
      message: r.message,
      ...(r.messageExpression !== undefined ? { messageExpression: r.messageExpression } : {}),
      ...(r.fieldPath !== undefined ? { fieldPath: r.fieldPath } : {}),
    })),
  });
  for (const r of rules) {
    const path = r.fieldPath === undefined ? [] : r.fieldPath.replace(/^\./, "").split(".");
    out = out.refine((v) => r.check(v), { message: r.message, path }) as T;
  }
  return out;
}

/**
 * A transition rule (CEL only: it needs the stored object, which the API
 * server has and zod does not).
 */
export function withTransitionRule<T extends z.ZodType>(schema: T, rule: string, message: string): T {
  return schema.meta({ "x-kubernetes-validations": [{ rule, message }] });
}

/** `self == oldSelf`: the field cannot change once set. */
export function immutable<T extends z.ZodType>(schema: T, message: string): T {
  return withTransitionRule(schema, "self == oldSelf", message);
}

// ------------------------------------------------------------------- strings

export const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
export const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
export const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
export const QUALIFIED_NAME =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
export const QUANTITY =
  /^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$/;

/** Name rules for the objects of a kind and for references to them. */
export type NameRule = "dns1123Label" | "dns1035Label" | "dns1123Subdomain";

export const NAME_RULES: Readonly<Record<NameRule, { pattern: RegExp; maxLength: number; hint: string }>> = {
  dns1123Label: {
    pattern: DNS1123_LABEL,
    maxLength: 63,
    hint: "at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit",
  },
  dns1035Label: {
    pattern: DNS1035_LABEL,
    maxLength: 63,
    hint: "at most 63 lowercase letters, digits and '-', starting with a letter and ending with a letter or digit",
  },
  dns1123Subdomain: {
    pattern: DNS1123_SUBDOMAIN,
    maxLength: 253,
    hint: "at most 253 lowercase letters, digits, '-' and '.', each dot-separated part starting and ending with a letter or digit",
  },
};

/** A string following a name rule (object names, references to them). */
export function name(rule: NameRule, description: string) {
  const r = NAME_RULES[rule];
  return z.string().min(1).max(r.maxLength).regex(r.pattern, `must be ${r.hint}`).describe(description);
}

/** A reference to a Zone (or any name that must be a DNS-1123 label). */
export function zoneName(description: string) {
  return name("dns1123Label", description);
}

/** A reference to a Cell. */
export function cellName(description: string) {
  return name("dns1123Label", description);
}

/** A Go-style duration string ("10s", "5m", "1h30m"). */
export function duration(description: string) {
  return z
    .string()
    .max(32)
    .regex(DURATION_PATTERN, "must be a Go duration such as 10s, 5m, 1h30m or 250ms")
    .describe(`${description} A Go duration such as 10s, 5m or 1h30m.`);
}

/** A duration that must be greater than zero (also checked by CEL). */
export function positiveDuration(description: string) {
  return withRules(duration(description), {
    cel: "duration(self) > duration('0s')",
    message: "must be greater than zero",
    check: (v) => {
      const ms = tryParseDuration(v);
      return typeof ms === "string" || ms > 0; // malformed: the pattern reports it
    },
  });
}

/** A map with a bounded number of entries (maxProperties in the CRD, a refinement in zod). */
export function boundedRecord<K extends z.ZodType<string, string>, V extends z.ZodType>(key: K, value: V, max: number) {
  return z
    .record(key, value)
    .meta({ maxProperties: max })
    .refine((m) => Object.keys(m).length <= max, { message: `must have at most ${max} entries` });
}

/** A list of unique names (`x-kubernetes-list-type: set`). */
export function nameSet<T extends z.ZodType<string>>(item: T, maxItems: number, description: string) {
  return z
    .array(item)
    .max(maxItems)
    .meta({ "x-kubernetes-list-type": "set" })
    .refine((xs) => new Set(xs).size === xs.length, { message: "must not contain duplicates" })
    .describe(description);
}

/** A list of objects keyed by one or more fields (`x-kubernetes-list-type: map`), so server-side apply merges by key. */
export function keyedList<T extends z.ZodObject>(
  item: T,
  keys: readonly (keyof z.output<T> & string)[],
  maxItems: number,
  description: string,
) {
  return z
    .array(item)
    .max(maxItems)
    .meta({ "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": [...keys] })
    .refine(
      (xs) => {
        const seen = new Set(xs.map((x) => JSON.stringify(keys.map((k) => (x as Record<string, unknown>)[k]))));
        return seen.size === xs.length;
      },
      { message: `must not contain two entries with the same ${keys.join(", ")}` },
    )
    .describe(description);
}

// ---------------------------------------------------------------- conditions

export const CONDITION_TYPE =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$/;
export const CONDITION_REASON = /^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/;

export const ConditionStatus = z
  .enum(["True", "False", "Unknown"])
  .describe("Status of the condition: True, False or Unknown.");
export type ConditionStatus = z.infer<typeof ConditionStatus>;

/** The longest condition message the CRDs accept (metav1.Condition's limit). */
export const CONDITION_MESSAGE_MAX_LENGTH = 32768;
/** The longest condition reason the CRDs accept. */
export const CONDITION_REASON_MAX_LENGTH = 1024;

/**
 * The longest Event message the operator records: the Kubernetes Events API's
 * limit (events.k8s.io note, 1 kB), enforced by the API server, not our CRDs.
 */
export const EVENT_MESSAGE_MAX_LENGTH = 1024;

const TRUNCATED = " ... (truncated)";

/**
 * `message` cut to at most `maxLength` characters (a schema's limit, e.g.
 * CONDITION_MESSAGE_MAX_LENGTH), saying so at its end, so a write never fails
 * validation for a long message.
 */
export function clampMessage(message: string, maxLength: number): string {
  if (message.length <= maxLength) return message;
  if (maxLength <= TRUNCATED.length) return message.slice(0, maxLength);
  return message.slice(0, maxLength - TRUNCATED.length) + TRUNCATED;
}

/** metav1.Condition. */
export const Condition = z
  .object({
    type: z.string().max(316).regex(CONDITION_TYPE).describe("Type of condition in CamelCase, e.g. Ready or Valid."),
    status: ConditionStatus,
    observedGeneration: z.int().min(0).optional().describe("The .metadata.generation the condition was set for."),
    lastTransitionTime: z.iso
      .datetime({ offset: true })
      .describe("When the condition last changed from one status to another."),
    reason: z
      .string()
      .min(1)
      .max(CONDITION_REASON_MAX_LENGTH)
      .regex(CONDITION_REASON)
      .describe("A CamelCase reason for the condition's last transition, for machines."),
    message: z
      .string()
      .max(CONDITION_MESSAGE_MAX_LENGTH)
      .describe("A human-readable message with details about the transition; may be empty."),
  })
  .describe("A standard Kubernetes condition (metav1.Condition).");
export type Condition = z.infer<typeof Condition>;

export function conditions(description = "Standard conditions, one per type (Ready, Valid, ...).") {
  return keyedList(Condition, ["type"], 32, description);
}

export function observedGeneration() {
  return z.int().min(0).optional().describe("The .metadata.generation this status was computed from.");
}

// ----------------------------------------------------------------- resources

/** The metadata every object read from the API server has (runtime shape only: not emitted into CRDs). */
export const ObjectMeta = z.looseObject({
  name: z.string(),
  namespace: z.string().optional(),
  uid: z.string().optional(),
  resourceVersion: z.string().optional(),
  generation: z.number().optional(),
  creationTimestamp: z.string().optional(),
  deletionTimestamp: z.string().optional(),
  labels: z.record(z.string(), z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  finalizers: z.array(z.string()).optional(),
  ownerReferences: z.array(z.looseObject({})).optional(),
});
export type ObjectMeta = z.infer<typeof ObjectMeta>;

/** The runtime schema of a whole object of a kind: apiVersion, kind, metadata, spec and optional status. */
export function resource<K extends string, Spec extends z.ZodType, Status extends z.ZodType>(
  kind: K,
  nameRule: NameRule,
  spec: Spec,
  status: Status,
) {
  const r = NAME_RULES[nameRule];
  return z.object({
    apiVersion: z.literal(API_VERSION),
    kind: z.literal(kind),
    metadata: ObjectMeta.extend({
      name: z.string().max(r.maxLength).regex(r.pattern, `metadata.name must be ${r.hint}`),
    }),
    spec,
    status: status.optional(),
  });
}
