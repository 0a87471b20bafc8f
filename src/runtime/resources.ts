// The resource table: how a kind maps to a REST path. Core kinds are built
// in; custom kinds (the operator's CRDs) are registered at start-up.

export interface Resource {
  /** "" for the core group. */
  group: string;
  version: string;
  plural: string;
  kind: string;
  namespaced: boolean;
}

export function apiVersionOf(r: Resource): string {
  return r.group ? `${r.group}/${r.version}` : r.version;
}

export const Resources = {
  Namespace: { group: "", version: "v1", plural: "namespaces", kind: "Namespace", namespaced: false },
  Node: { group: "", version: "v1", plural: "nodes", kind: "Node", namespaced: false },
  Pod: { group: "", version: "v1", plural: "pods", kind: "Pod", namespaced: true },
  Service: { group: "", version: "v1", plural: "services", kind: "Service", namespaced: true },
  ConfigMap: { group: "", version: "v1", plural: "configmaps", kind: "ConfigMap", namespaced: true },
  Secret: { group: "", version: "v1", plural: "secrets", kind: "Secret", namespaced: true },
  Event: { group: "", version: "v1", plural: "events", kind: "Event", namespaced: true },
  Deployment: { group: "apps", version: "v1", plural: "deployments", kind: "Deployment", namespaced: true },
  Lease: { group: "coordination.k8s.io", version: "v1", plural: "leases", kind: "Lease", namespaced: true },
  ServiceAccount: { group: "", version: "v1", plural: "serviceaccounts", kind: "ServiceAccount", namespaced: true },
  Role: { group: "rbac.authorization.k8s.io", version: "v1", plural: "roles", kind: "Role", namespaced: true },
  RoleBinding: {
    group: "rbac.authorization.k8s.io",
    version: "v1",
    plural: "rolebindings",
    kind: "RoleBinding",
    namespaced: true,
  },
  ClusterRole: {
    group: "rbac.authorization.k8s.io",
    version: "v1",
    plural: "clusterroles",
    kind: "ClusterRole",
    namespaced: false,
  },
  ClusterRoleBinding: {
    group: "rbac.authorization.k8s.io",
    version: "v1",
    plural: "clusterrolebindings",
    kind: "ClusterRoleBinding",
    namespaced: false,
  },
  TokenReview: {
    group: "authentication.k8s.io",
    version: "v1",
    plural: "tokenreviews",
    kind: "TokenReview",
    namespaced: false,
  },
  CustomResourceDefinition: {
    group: "apiextensions.k8s.io",
    version: "v1",
    plural: "customresourcedefinitions",
    kind: "CustomResourceDefinition",
    namespaced: false,
  },
} as const satisfies Record<string, Resource>;

const table = new Map<string, Resource>();
for (const r of Object.values(Resources)) table.set(`${apiVersionOf(r)}/${r.kind}`, r);

/** Register a kind (e.g. a CRD of the operator), so apply() can resolve its objects. */
export function registerResource(r: Resource): Resource {
  table.set(`${apiVersionOf(r)}/${r.kind}`, r);
  return r;
}

/** The resource of an apiVersion and kind; throws when unknown. */
export function resourceFor(apiVersion: string | undefined, kind: string | undefined): Resource {
  const r = table.get(`${apiVersion}/${kind}`);
  if (!r) {
    throw new Error(
      `unknown resource apiVersion=${apiVersion} kind=${kind}: register it with registerResource() from src/runtime/resources.ts`,
    );
  }
  return r;
}

/** The collection path, e.g. /apis/apps/v1/namespaces/ns/deployments. */
export function collectionPath(r: Resource, namespace?: string): string {
  const base = r.group ? `/apis/${r.group}/${r.version}` : `/api/${r.version}`;
  if (r.namespaced && namespace) return `${base}/namespaces/${encodeURIComponent(namespace)}/${r.plural}`;
  return `${base}/${r.plural}`;
}

export function objectPath(r: Resource, name: string, namespace?: string, subresource?: string): string {
  if (r.namespaced && !namespace) throw new Error(`${r.kind} ${name}: namespace required`);
  const p = `${collectionPath(r, namespace)}/${encodeURIComponent(name)}`;
  return subresource ? `${p}/${subresource}` : p;
}
