// The REST resources of the ldc.io kinds, from the API's kind table, registered
// with the runtime so clients can apply them. One table for the operator, the
// kubectl plugin and the benchmarks.
import { Kinds, type KindName } from "./api/index.ts";
import { registerResource, type Resource } from "./runtime/resources.ts";

export const LdcResources = Object.fromEntries(
  Object.values(Kinds).map((k) => [
    k.kind,
    registerResource({
      group: k.group,
      version: k.version,
      plural: k.plural,
      kind: k.kind,
      namespaced: k.scope === "Namespaced",
    }),
  ]),
) as Record<KindName, Resource>;
