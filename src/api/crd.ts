// CustomResourceDefinition objects built from the kind table and the zod
// schemas. hack/generate.ts writes them to crds/ (and, later, the Helm chart).

import type { z } from "zod";
import { NAME_RULES } from "./common.ts";
import { allKinds } from "./kinds.ts";
import type { KindInfo } from "./kinds.ts";
import { toStructuralSchema } from "./openapi.ts";
import type { ConvertContext, JSONSchemaProps, PrinterColumn } from "./openapi.ts";

export interface CustomResourceDefinition {
  apiVersion: "apiextensions.k8s.io/v1";
  kind: "CustomResourceDefinition";
  metadata: { name: string; labels: Record<string, string> };
  spec: {
    group: string;
    names: {
      kind: string;
      listKind: string;
      plural: string;
      singular: string;
      shortNames: string[];
      categories: string[];
    };
    scope: "Cluster" | "Namespaced";
    versions: {
      name: string;
      served: boolean;
      storage: boolean;
      schema: { openAPIV3Schema: JSONSchemaProps };
      subresources: { status: Record<string, never> };
      additionalPrinterColumns: PrinterColumn[];
      selectableFields?: { jsonPath: string }[];
    }[];
  };
}

export const CRD_LABELS: Readonly<Record<string, string>> = {
  "app.kubernetes.io/name": "ldc-operator",
  "app.kubernetes.io/part-of": "ldc-operator",
};

/** The name of a kind's CRD: <plural>.<group>. */
export function crdName(k: Pick<KindInfo, "plural" | "group">): string {
  return `${k.plural}.${k.group}`;
}

/** The structural openAPIV3Schema of a kind, with the printer columns and selectable fields its fields declare. */
export function kindSchema(k: KindInfo): {
  schema: JSONSchemaProps;
  columns: PrinterColumn[];
  selectableFields: string[];
} {
  const ctx: ConvertContext = { jsonPath: "", columns: [...k.extraColumns], selectableFields: [] };
  const shape = k.schema.shape as Record<string, z.ZodType>;
  const spec = toStructuralSchema(shape.spec as z.ZodType, { ...ctx, jsonPath: ".spec" }).schema;
  const status = toStructuralSchema(shape.status as z.ZodType, { ...ctx, jsonPath: ".status" }).schema;
  const nameRule = NAME_RULES[k.nameRule];
  const schema: JSONSchemaProps = {
    description: spec.description ?? k.kind,
    type: "object",
    properties: {
      apiVersion: {
        description:
          "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values.",
        type: "string",
      },
      kind: {
        description:
          "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. In CamelCase.",
        type: "string",
      },
      // The API server allows nothing here but name/generateName restrictions (not even a description).
      metadata: {
        type: "object",
        properties: {
          name: {
            description: `Name of the ${k.kind}: ${nameRule.hint}.`,
            type: "string",
            maxLength: nameRule.maxLength,
            pattern: nameRule.pattern.source,
          },
        },
      },
      spec,
      status,
    },
    required: ["spec"],
  };
  const columns = ctx.columns
    .slice()
    .sort((a, b) => a.order - b.order)
    .map(({ order: _order, ...c }) => c);
  columns.push({ name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" });
  return { schema, columns, selectableFields: ctx.selectableFields };
}

/** The CustomResourceDefinition of a kind. */
export function crdFor(k: KindInfo): CustomResourceDefinition {
  const { schema, columns, selectableFields } = kindSchema(k);
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: crdName(k), labels: { ...CRD_LABELS } },
    spec: {
      group: k.group,
      names: {
        kind: k.kind,
        listKind: k.listKind,
        plural: k.plural,
        singular: k.singular,
        shortNames: [...k.shortNames],
        categories: [...k.categories],
      },
      scope: k.scope,
      versions: [
        {
          name: k.version,
          served: true,
          storage: true,
          schema: { openAPIV3Schema: schema },
          subresources: { status: {} },
          additionalPrinterColumns: columns,
          ...(selectableFields.length > 0
            ? { selectableFields: selectableFields.map((jsonPath) => ({ jsonPath })) }
            : {}),
        },
      ],
    },
  };
}

/** Every kind's CRD, in kind-table order. */
export function allCrds(): CustomResourceDefinition[] {
  return allKinds.map(crdFor);
}
