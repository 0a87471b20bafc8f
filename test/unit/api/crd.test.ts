import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { SchemaConversionError, allCrds, allKinds, keyedList, toStructuralSchema } from "../../../src/api/index.ts";
import type { CustomResourceDefinition, JSONSchemaProps } from "../../../src/api/index.ts";
import { OUTPUTS, ROOT, check, crdFileName } from "../../../hack/generate.ts";

const crds = allCrds();

/** Every schema node with its path. */
function* nodes(s: JSONSchemaProps, path: string): Generator<[string, JSONSchemaProps]> {
  yield [path, s];
  for (const [k, v] of Object.entries(s.properties ?? {})) yield* nodes(v, `${path}.${k}`);
  if (s.items) yield* nodes(s.items, `${path}[*]`);
  if (s.additionalProperties) yield* nodes(s.additionalProperties, `${path}.*`);
}

const rootOf = (crd: CustomResourceDefinition) => crd.spec.versions[0]!.schema.openAPIV3Schema;

describe.each(crds.map((c) => [c.metadata.name, c] as const))("CRD %s", (_name, crd) => {
  const root = rootOf(crd);
  const all = [...nodes(root, "")];

  it("is structural: every node typed, no $ref, anyOf only for int-or-string", () => {
    for (const [path, n] of all) {
      expect(JSON.stringify(n)).not.toContain("$ref");
      if (n.type === undefined) {
        expect(
          n["x-kubernetes-int-or-string"] ?? n["x-kubernetes-preserve-unknown-fields"],
          `${path} has no type`,
        ).toBe(true);
      }
      if (n.anyOf !== undefined) {
        expect(n["x-kubernetes-int-or-string"], path).toBe(true);
        expect(n.anyOf).toEqual([{ type: "integer" }, { type: "string" }]);
      }
      if (n.type === "array") expect(n.items, path).toBeDefined();
    }
  });

  it("describes every field (kubectl explain)", () => {
    for (const [path, n] of all) {
      // metadata may carry nothing but name restrictions (the API server rejects even a description)
      if (path === "" || path === ".metadata" || path.includes("[*]") || path.endsWith(".*")) continue;
      expect(n.description, `${path} has no description`).toBeTruthy();
    }
  });

  it("bounds every string, list and map (CEL cost)", () => {
    for (const [path, n] of all) {
      if (path === ".apiVersion" || path === ".kind" || path === ".metadata") continue;
      if (n.type === "string" && n.enum === undefined && n.format !== "date-time")
        expect(n.maxLength, path).toBeDefined();
      if (n.type === "array") expect(n.maxItems, path).toBeDefined();
      if (n.additionalProperties) expect(n.maxProperties, path).toBeDefined();
    }
  });

  it("marks keyed lists as list-type map with required keys", () => {
    for (const [path, n] of all) {
      if (n["x-kubernetes-list-type"] !== "map") continue;
      const keys = n["x-kubernetes-list-map-keys"] ?? [];
      expect(keys.length, path).toBeGreaterThan(0);
      for (const k of keys) expect(n.items?.required, path).toContain(k);
    }
  });

  it("has a status subresource, observedGeneration and metav1.Condition conditions", () => {
    expect(crd.spec.versions[0]!.subresources).toEqual({ status: {} });
    const status = root.properties!.status!;
    expect(status.properties!.observedGeneration!.type).toBe("integer");
    const conds = status.properties!.conditions!;
    expect(conds["x-kubernetes-list-type"]).toBe("map");
    expect(conds["x-kubernetes-list-map-keys"]).toEqual(["type"]);
    expect(Object.keys(conds.items!.properties!).sort()).toEqual(
      ["lastTransitionTime", "message", "observedGeneration", "reason", "status", "type"].sort(),
    );
    expect([...conds.items!.required!].sort()).toEqual(
      ["lastTransitionTime", "message", "reason", "status", "type"].sort(),
    );
    expect(conds.items!.properties!.status!.enum).toEqual(["True", "False", "Unknown"]);
  });

  it("is in the ldc category, with short names, printer columns that resolve and Age last", () => {
    expect(crd.spec.names.categories).toEqual(["ldc"]);
    expect(crd.spec.names.shortNames.length).toBeGreaterThan(0);
    const cols = crd.spec.versions[0]!.additionalPrinterColumns;
    expect(cols.at(-1)).toEqual({ name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" });
    const paths = new Set(all.map(([p]) => p));
    for (const c of cols.slice(0, -1)) {
      const plain = c.jsonPath.replace(/\[\?\(@\.type=="[A-Za-z]+"\)\]/, "[*]");
      expect(paths, `${c.name}: ${c.jsonPath}`).toContain(plain);
    }
    for (const f of crd.spec.versions[0]!.selectableFields ?? []) expect(paths).toContain(f.jsonPath);
  });

  it("restricts metadata to name only", () => {
    const { properties, ...rest } = root.properties!.metadata!;
    expect(rest).toEqual({ type: "object" });
    expect(Object.keys(properties ?? {})).toEqual(["name"]);
    expect(root.required).toEqual(["spec"]);
  });
});

describe("CRD set", () => {
  it("has one CRD per kind, unique names and short names", () => {
    expect(crds.map((c) => c.spec.names.kind)).toEqual(allKinds.map((k) => k.kind));
    const short = crds.flatMap((c) => c.spec.names.shortNames);
    expect(new Set(short).size).toBe(short.length);
    expect(crds.find((c) => c.spec.names.kind === "CellApp")!.spec.scope).toBe("Namespaced");
    expect(crds.filter((c) => c.spec.scope === "Cluster").map((c) => c.spec.names.kind)).toEqual([
      "Zone",
      "Cell",
      "ShardingRule",
      "Failover",
      "DrillSchedule",
    ]);
  });

  it("shows what an SRE looks at", () => {
    const columns = (kind: string) =>
      crds
        .find((c) => c.spec.names.kind === kind)!
        .spec.versions[0]!.additionalPrinterColumns.filter((c) => !c.priority)
        .map((c) => c.name);
    expect(columns("Zone")).toEqual(["Region", "Phase", "Cells", "Age"]);
    // Active is the durable record (updated once the switch is acknowledged); Failover names the one moving the cell now.
    expect(columns("Cell")).toEqual(["Type", "Active", "Shards", "Phase", "Failover", "Age"]);
    expect(columns("ShardingRule")).toEqual(["Shards", "Epoch", "Converged", "Valid", "Age"]);
    expect(columns("CellApp")).toEqual(["Scope", "Ready", "Cells", "Age"]);
    expect(columns("Failover")).toEqual(["Type", "Phase", "Step", "RTO(ms)", "Age"]);
  });

  it("marks unsafe changes immutable with transition rules", () => {
    const rules = (kind: string) =>
      JSON.stringify(rootOf(crds.find((c) => c.spec.names.kind === kind)!).properties!.spec);
    expect(rules("ShardingRule")).toContain("shards is immutable");
    expect(rules("ShardingRule")).toContain("function is immutable");
    expect(rules("Failover")).toContain("spec is immutable except spec.abort");
    expect(rules("Failover")).not.toMatch(/self\.abort == oldSelf\.abort/);
    expect(rules("DrillSchedule")).not.toContain("oldSelf"); // the template is a Failover spec, but mutable
  });

  it("generated files are up to date (npm run check:generated)", () => {
    expect(check()).toEqual({ drifted: [], stale: [] });
    for (const k of allKinds) {
      const file = join(ROOT, "crds", crdFileName(k));
      expect(parse(readFileSync(file, "utf8"))).toEqual(
        JSON.parse(JSON.stringify(crds.find((c) => c.spec.names.kind === k.kind))),
      );
    }
    expect(OUTPUTS.map((o) => o.path).filter((p) => p.startsWith("crds/"))).toEqual(
      allKinds.map((k) => `crds/ldc.io_${k.plural}.yaml`),
    );
  });
});

describe("toStructuralSchema", () => {
  const ctx = () => ({ jsonPath: ".spec", columns: [], selectableFields: [] });
  const convert = (s: z.ZodType) => toStructuralSchema(s, ctx()).schema;

  it("emits defaults, required fields, maps and int-or-string", () => {
    const s = z
      .object({
        a: z.string().max(5).default("x").describe("A."),
        b: z.int32().min(1).describe("B."),
        m: z.record(z.string(), z.string().max(3)).meta({ maxProperties: 4 }).optional().describe("M."),
        q: z
          .union([z.int(), z.string().max(8)])
          .optional()
          .describe("Q."),
        n: z
          .object({ c: z.boolean().default(true).describe("C.") })
          .prefault({})
          .describe("N."),
      })
      .describe("S.");
    expect(convert(s)).toEqual({
      description: "S.",
      type: "object",
      properties: {
        a: { description: "A.", type: "string", maxLength: 5, default: "x" },
        b: { description: "B.", type: "integer", format: "int32", minimum: 1 },
        m: {
          description: "M.",
          type: "object",
          additionalProperties: { type: "string", maxLength: 3 },
          maxProperties: 4,
        },
        q: {
          description: "Q.",
          "x-kubernetes-int-or-string": true,
          anyOf: [{ type: "integer" }, { type: "string" }],
          maxLength: 8,
        },
        n: {
          description: "N.",
          type: "object",
          properties: { c: { description: "C.", type: "boolean", default: true } },
          default: { c: true },
        },
      },
      required: ["b"],
    });
  });

  it("concatenates CEL rules from every .meta() and keeps the outermost description", () => {
    const s = z
      .string()
      .max(3)
      .describe("inner")
      .meta({ "x-kubernetes-validations": [{ rule: "a" }] })
      .meta({ "x-kubernetes-validations": [{ rule: "b" }] })
      .optional()
      .describe("outer");
    expect(convert(s)).toEqual({
      description: "outer",
      type: "string",
      maxLength: 3,
      "x-kubernetes-validations": [{ rule: "a" }, { rule: "b" }],
    });
  });

  it("refuses what is not structural or not bounded, naming the field", () => {
    const bad: [z.ZodType, RegExp][] = [
      [z.object({ x: z.string().describe("X.") }), /\.spec\.x: every string needs a maximum length/],
      [z.object({ x: z.array(z.int()).describe("X.") }), /\.spec\.x: every list needs a maximum length/],
      [z.object({ x: z.string().max(1) }), /\.spec\.x: every field needs a description/],
      [z.object({ x: z.union([z.string().max(1), z.boolean()]).describe("X.") }), /unions are not structural/],
      [z.object({ x: z.string().max(1).nullable().describe("X.") }), /zod type nullable is not supported/],
      [z.object({ x: z.record(z.string(), z.int()).describe("X.") }), /needs maxProperties/],
      [
        z.object({ x: keyedList(z.object({ k: z.string().max(1).optional().describe("K.") }), ["k"], 3, "X.") }),
        /list map key k must be required/,
      ],
    ];
    for (const [schema, message] of bad) {
      expect(() => convert(schema)).toThrow(SchemaConversionError);
      expect(() => convert(schema)).toThrow(message);
    }
  });
});
