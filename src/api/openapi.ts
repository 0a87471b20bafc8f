// A small zod -> structural OpenAPI v3 converter for CRD schemas.
//
// z.toJSONSchema output is not structural (it uses $ref, anyOf for optional
// values, no x-kubernetes-* extensions), so this walks the zod schema itself
// and emits exactly what the API server's structural schema rules accept:
// every node typed, no $ref, maps as `additionalProperties`, list types and
// CEL rules from `.meta()`. It refuses (throws, naming the field) what it
// cannot express rather than emitting something the API server would reject
// or silently not enforce: unions other than int-or-string, nullable, strings
// without maxLength, lists without maxItems, fields without a description.

import { z } from "zod";
import type { CelRule, CrdMeta } from "./common.ts";

/** The subset of apiextensions.k8s.io/v1 JSONSchemaProps the generator emits. */
export interface JSONSchemaProps {
  description?: string;
  type?: "object" | "array" | "string" | "integer" | "number" | "boolean";
  format?: string;
  enum?: unknown[];
  default?: unknown;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: boolean;
  exclusiveMaximum?: boolean;
  minItems?: number;
  maxItems?: number;
  minProperties?: number;
  maxProperties?: number;
  anyOf?: JSONSchemaProps[];
  items?: JSONSchemaProps;
  properties?: Record<string, JSONSchemaProps>;
  required?: string[];
  additionalProperties?: JSONSchemaProps;
  "x-kubernetes-preserve-unknown-fields"?: true;
  "x-kubernetes-int-or-string"?: true;
  "x-kubernetes-list-type"?: "atomic" | "set" | "map";
  "x-kubernetes-list-map-keys"?: string[];
  "x-kubernetes-map-type"?: "atomic" | "granular";
  "x-kubernetes-validations"?: CelRule[];
}

/** An additionalPrinterColumns entry. */
export interface PrinterColumn {
  name: string;
  type: "string" | "integer" | "number" | "boolean" | "date";
  jsonPath: string;
  description?: string;
  priority?: number;
  format?: string;
}

export interface ConvertContext {
  /** JSONPath of the node being converted, e.g. ".spec.health" (printer columns, selectable fields, errors). */
  jsonPath: string;
  /** Printer columns found on fields, with their declared order. */
  columns: (PrinterColumn & { order: number })[];
  /** JSONPaths of fields marked selectable. */
  selectableFields: string[];
}

export interface Converted {
  schema: JSONSchemaProps;
  /** Not required in the parent object: optional, or defaulted by the API server. */
  optional: boolean;
}

export class SchemaConversionError extends Error {
  override name = "SchemaConversionError";
}

// zod internals the walker reads: `_zod.def` (the definition) and
// `_zod.parent` (the schema a `.meta()`, `.describe()` or check was cloned from).
interface ZodInternals {
  _zod: {
    def: Record<string, unknown> & { type: string; checks?: { _zod: { def: Record<string, unknown> } }[] };
    parent?: z.ZodType;
  };
}

function internals(s: z.ZodType): ZodInternals["_zod"] {
  return (s as unknown as ZodInternals)._zod;
}

/** Own metadata of a schema and of every schema it was cloned from, root-most first. */
function metaChain(s: z.ZodType): CrdMeta[] {
  const chain: CrdMeta[] = [];
  for (let cur: z.ZodType | undefined = s; cur !== undefined; cur = internals(cur).parent) {
    const m = z.globalRegistry._map.get(cur) as CrdMeta | undefined;
    if (m !== undefined) chain.unshift(m);
  }
  return chain;
}

/** Merges metadata, later entries winning, CEL rules concatenated (deduplicated). */
function mergeMeta(metas: readonly CrdMeta[]): CrdMeta {
  const out: CrdMeta = {};
  const rules: CelRule[] = [];
  for (const m of metas) {
    const { "x-kubernetes-validations": v, ...rest } = m;
    Object.assign(out, rest);
    for (const r of v ?? []) if (!rules.some((x) => JSON.stringify(x) === JSON.stringify(r))) rules.push(r);
  }
  if (rules.length > 0) out["x-kubernetes-validations"] = rules;
  return out;
}

/** Converts a zod schema to a structural schema (see the file comment). */
export function toStructuralSchema(schema: z.ZodType, ctx: ConvertContext): Converted {
  const levels: CrdMeta[][] = []; // one metadata chain per wrapper level, outermost first
  let optional = false;
  let hasDefault = false;
  let defaultValue: unknown;
  let cur = schema;
  // Unwrap wrappers, outermost first; inner metadata is overridden by outer.
  for (;;) {
    levels.push(metaChain(cur));
    const def = internals(cur).def;
    if (def.type === "optional") {
      optional = true;
      cur = def.innerType as z.ZodType;
    } else if (def.type === "default" || def.type === "prefault") {
      optional = true;
      if (!hasDefault) {
        hasDefault = true;
        // Emit the default fully materialized (a prefault's nested defaults
        // applied): the API server validates a default, CEL rules included,
        // before it applies nested defaults to it.
        defaultValue =
          def.type === "prefault"
            ? (def.innerType as z.ZodType).parse(def.defaultValue)
            : structuredClone(def.defaultValue);
      }
      cur = def.innerType as z.ZodType;
    } else if (def.type === "readonly") {
      cur = def.innerType as z.ZodType;
    } else if (def.type === "pipe") {
      cur = def.in as z.ZodType;
    } else {
      break;
    }
  }
  // Innermost level first, so that outer metadata (and newer within a level) wins.
  const meta = mergeMeta(levels.reverse().flat());
  const node = convertNode(cur, meta, ctx);
  if (hasDefault) node.default = defaultValue;
  const out = withExtensions(node, meta, ctx);
  return { schema: out, optional };
}

function fail(ctx: ConvertContext, message: string): never {
  throw new SchemaConversionError(`${ctx.jsonPath || "<root>"}: ${message}`);
}

function checksOf(s: z.ZodType): Record<string, unknown>[] {
  return (internals(s).def.checks ?? []).map((c) => c._zod.def);
}

function convertNode(s: z.ZodType, meta: CrdMeta, ctx: ConvertContext): JSONSchemaProps {
  const def = internals(s).def;
  const out: JSONSchemaProps = {};
  if (meta.description !== undefined) out.description = meta.description;
  switch (def.type) {
    case "string": {
      out.type = "string";
      if (def.format === "datetime") out.format = "date-time";
      else if (def.format !== undefined) fail(ctx, `string format ${String(def.format)} is not supported`);
      const patterns: string[] = [];
      for (const c of checksOf(s)) {
        if (c.check === "min_length") out.minLength = c.minimum as number;
        else if (c.check === "max_length") out.maxLength = c.maximum as number;
        else if (c.check === "length_equals") out.minLength = out.maxLength = c.length as number;
        else if (c.check === "string_format" && c.format === "regex") patterns.push((c.pattern as RegExp).source);
        else if (c.check !== "custom") fail(ctx, `string check ${String(c.check)} is not supported`);
      }
      if (patterns.length > 1) fail(ctx, "a string may carry at most one regex (combine them)");
      if (patterns[0] !== undefined) out.pattern = patterns[0];
      if (out.maxLength === undefined && out.format !== "date-time") {
        fail(ctx, "every string needs a maximum length (.max(n)) to keep CEL cost estimates bounded");
      }
      return out;
    }
    case "number": {
      out.type = def.format === "safeint" || def.format === "int32" ? "integer" : "number";
      if (def.format === "safeint") out.format = "int64";
      else if (def.format === "int32") out.format = "int32";
      else if (def.format !== undefined) fail(ctx, `number format ${String(def.format)} is not supported`);
      for (const c of checksOf(s)) {
        if (c.check === "greater_than") {
          out.minimum = c.value as number;
          if (c.inclusive !== true) out.exclusiveMinimum = true;
        } else if (c.check === "less_than") {
          out.maximum = c.value as number;
          if (c.inclusive !== true) out.exclusiveMaximum = true;
        } else if (c.check !== "custom") fail(ctx, `number check ${String(c.check)} is not supported`);
      }
      return out;
    }
    case "boolean":
      out.type = "boolean";
      return out;
    case "enum": {
      const values = Object.values(def.entries as Record<string, unknown>);
      if (!values.every((v) => typeof v === "string")) fail(ctx, "only string enums are supported");
      out.type = "string";
      out.enum = values;
      return out;
    }
    case "literal": {
      const values = def.values as unknown[];
      if (!values.every((v) => typeof v === "string")) fail(ctx, "only string literals are supported");
      out.type = "string";
      out.enum = [...values];
      return out;
    }
    case "object": {
      out.type = "object";
      const shape = def.shape as Record<string, z.ZodType>;
      const properties: Record<string, JSONSchemaProps> = {};
      const required: string[] = [];
      for (const [key, child] of Object.entries(shape)) {
        const childCtx = { ...ctx, jsonPath: `${ctx.jsonPath}.${key}` };
        const c = toStructuralSchema(child, childCtx);
        if (c.schema.description === undefined) fail(childCtx, "every field needs a description (kubectl explain)");
        properties[key] = c.schema;
        if (!c.optional) required.push(key);
      }
      if (Object.keys(properties).length > 0) out.properties = properties;
      if (required.length > 0) out.required = required;
      const catchall = def.catchall as z.ZodType | undefined;
      if (catchall !== undefined) {
        const t = internals(catchall).def.type;
        if (t === "unknown" || t === "any") out["x-kubernetes-preserve-unknown-fields"] = true;
        else if (t !== "never") fail(ctx, `object catchall of type ${t} is not supported (use z.record)`);
      }
      return out;
    }
    case "record": {
      out.type = "object";
      const keyType = internals(def.keyType as z.ZodType).def.type;
      if (keyType !== "string") fail(ctx, "record keys must be strings");
      const c = toStructuralSchema(def.valueType as z.ZodType, { ...ctx, jsonPath: `${ctx.jsonPath}.*` });
      out.additionalProperties = c.schema;
      if (meta.maxProperties === undefined) fail(ctx, "every map needs maxProperties (use boundedRecord)");
      out.maxProperties = meta.maxProperties;
      return out;
    }
    case "array": {
      out.type = "array";
      for (const c of checksOf(s)) {
        if (c.check === "min_length") out.minItems = c.minimum as number;
        else if (c.check === "max_length") out.maxItems = c.maximum as number;
        else if (c.check === "length_equals") out.minItems = out.maxItems = c.length as number;
        else if (c.check !== "custom") fail(ctx, `array check ${String(c.check)} is not supported`);
      }
      if (out.maxItems === undefined)
        fail(ctx, "every list needs a maximum length (.max(n)) to keep CEL cost estimates bounded");
      out.items = toStructuralSchema(def.element as z.ZodType, { ...ctx, jsonPath: `${ctx.jsonPath}[*]` }).schema;
      return out;
    }
    case "union": {
      // The one structural union: int-or-string (e.g. resource quantities).
      const options = def.options as z.ZodType[];
      const types = options.map((o) => internals(o).def);
      const intBranch = types.findIndex((d) => d.type === "number" && (d.format === "safeint" || d.format === "int32"));
      const strBranch = types.findIndex((d) => d.type === "string");
      if (options.length !== 2 || intBranch < 0 || strBranch < 0) {
        fail(ctx, "unions are not structural; only z.union([z.int(), z.string()]) (int-or-string) is supported");
      }
      const str = convertNode(options[strBranch] as z.ZodType, {}, ctx);
      out["x-kubernetes-int-or-string"] = true;
      out.anyOf = [{ type: "integer" }, { type: "string" }];
      if (str.pattern !== undefined) out.pattern = str.pattern;
      if (str.maxLength !== undefined) out.maxLength = str.maxLength;
      return out;
    }
    default:
      return fail(ctx, `zod type ${def.type} is not supported in CRD schemas`);
  }
}

function withExtensions(node: JSONSchemaProps, meta: CrdMeta, ctx: ConvertContext): JSONSchemaProps {
  if (meta["x-kubernetes-preserve-unknown-fields"]) node["x-kubernetes-preserve-unknown-fields"] = true;
  const listType = meta["x-kubernetes-list-type"];
  if (listType !== undefined) {
    if (node.type !== "array") fail(ctx, "x-kubernetes-list-type applies to lists only");
    node["x-kubernetes-list-type"] = listType;
    if (listType === "map") {
      const keys = meta["x-kubernetes-list-map-keys"];
      if (keys === undefined || keys.length === 0) fail(ctx, "a list of type map needs x-kubernetes-list-map-keys");
      const item = node.items as JSONSchemaProps;
      for (const k of keys) {
        const prop = item.properties?.[k];
        if (prop === undefined) fail(ctx, `list map key ${k} is not a field of the items`);
        if (!(item.required ?? []).includes(k) && prop.default === undefined) {
          fail(ctx, `list map key ${k} must be required or defaulted`);
        }
      }
      node["x-kubernetes-list-map-keys"] = keys;
    } else if (listType === "set") {
      const t = node.items?.type;
      if (t !== "string" && t !== "integer" && t !== "number" && t !== "boolean") fail(ctx, "a set must hold scalars");
    }
  }
  if (meta["x-kubernetes-map-type"] !== undefined) node["x-kubernetes-map-type"] = meta["x-kubernetes-map-type"];
  if (meta["x-kubernetes-validations"] !== undefined)
    node["x-kubernetes-validations"] = meta["x-kubernetes-validations"];
  if (meta.printerColumn !== undefined) {
    const hint = meta.printerColumn;
    const type: PrinterColumn["type"] =
      node.format === "date-time"
        ? "date"
        : node.type === "integer" || node.type === "number" || node.type === "boolean"
          ? node.type
          : "string";
    if (node.type === "object" || node.type === "array") fail(ctx, "printer columns must show a scalar field");
    const description = hint.description ?? firstSentence(node.description ?? "");
    ctx.columns.push({
      name: hint.name,
      type,
      jsonPath: ctx.jsonPath,
      ...(description ? { description } : {}),
      ...(hint.priority ? { priority: hint.priority } : {}),
      order: hint.order,
    });
  }
  if (meta.selectableField) {
    if (node.type !== "string" && node.type !== "integer" && node.type !== "boolean") {
      fail(ctx, "selectable fields must be strings, integers or booleans");
    }
    ctx.selectableFields.push(ctx.jsonPath);
  }
  return node;
}

function firstSentence(text: string): string {
  const m = /^(.*?\.)(\s|$)/s.exec(text);
  return (m?.[1] ?? text).replace(/\s+/g, " ").trim();
}
