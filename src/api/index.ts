// The ldc.io/v1alpha1 API: one zod schema per kind (types, CRD schemas,
// runtime validation), the kind table, and helpers controllers use.

export * from "./common.ts";
export * from "./durations.ts";
export * from "./shards.ts";
export * from "./zone.ts";
export * from "./cell.ts";
export * from "./sharding-rule.ts";
export * from "./cell-app.ts";
export * from "./pod-security.ts";
export * from "./failover.ts";
export * from "./drill-schedule.ts";
export * from "./kinds.ts";
export * from "./conditions.ts";
export * from "./validate.ts";
export { allCrds, crdFor, crdName, kindSchema, CRD_LABELS } from "./crd.ts";
export type { CustomResourceDefinition } from "./crd.ts";
export { toStructuralSchema, SchemaConversionError } from "./openapi.ts";
export type { JSONSchemaProps, PrinterColumn, ConvertContext } from "./openapi.ts";
