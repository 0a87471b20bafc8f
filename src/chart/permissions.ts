// What the operator may do, in one table: the Helm chart's ClusterRole and
// Role (charts/ldc-operator/templates/_rules.tpl) and the member-cluster
// manifest (deploy/member-cluster-rbac.yaml) are generated from it by
// hack/generate.ts. A permission the code needs is added here, with why;
// nothing is granted with `*`.
//
// Not listed because every authenticated user has them already: discovery
// (system:discovery) and GET /readyz, /healthz, /version (system:public-info-viewer),
// which the cluster registry's reachability probe uses.

import { allKinds } from "../api/kinds.ts";

export type Verb = "get" | "list" | "watch" | "create" | "update" | "patch" | "delete";

export interface PermissionRule {
  apiGroups: readonly string[];
  resources: readonly string[];
  verbs: readonly Verb[];
  /** What the operator does with it (shown as a comment in the generated RBAC). */
  why: string;
  /**
   * "cluster": a ClusterRole (every namespace, and cluster-scoped resources);
   * "namespace": a Role in the operator's own namespace only.
   */
  scope: "cluster" | "namespace";
}

const READ: readonly Verb[] = ["get", "list", "watch"];
/** Informer caches only: the code never GETs these. */
const WATCH: readonly Verb[] = ["list", "watch"];
/** Watched, server-side applied (patch, and create when absent), deleted: never GET, PUT or delete-collection. */
const MANAGE: readonly Verb[] = [...WATCH, "create", "patch", "delete"];

const plurals = allKinds.map((k) => k.plural);

/**
 * Stamping workloads and publishing routing tables: the same in the
 * operator's own cluster (`home`) and in member clusters.
 */
const workloadRules = (home: boolean): PermissionRule[] => [
  {
    apiGroups: ["apps"],
    resources: ["deployments"],
    verbs: MANAGE,
    why: "stamp each CellApp's Deployment per cell and zone (server-side apply), scale standbys, delete what a CellApp no longer wants",
    scope: "cluster",
  },
  {
    apiGroups: [""],
    resources: ["services"],
    verbs: MANAGE,
    why: "stamp each CellApp's Service per cell and zone, delete what a CellApp no longer wants",
    scope: "cluster",
  },
  {
    apiGroups: [""],
    resources: ["configmaps"],
    verbs: MANAGE,
    why:
      "publish each ShardingRule's routing table (a ConfigMap the sidecars mount) in every namespace running its apps, delete it when the rule is deleted" +
      (home ? "; read the automatic-failover settings ConfigMap in the operator's namespace" : ""),
    scope: "cluster",
  },
  {
    apiGroups: [""],
    resources: ["nodes"],
    verbs: WATCH,
    why: "zone health: Ready nodes carrying the zone's node selector",
    scope: "cluster",
  },
  {
    apiGroups: [""],
    resources: ["pods"],
    verbs: ["list", "watch"],
    why: "the Failover barrier's expected set: the Running pods, with a sidecar, of the stamped workloads in every zone",
    scope: "cluster",
  },
  {
    apiGroups: [""],
    resources: ["events"],
    verbs: ["create", "patch"],
    why: "record Events (core/v1), bumping the count of a repeated one",
    scope: "cluster",
  },
  {
    apiGroups: ["events.k8s.io"],
    resources: ["events"],
    verbs: ["create", "patch"],
    why: "record Events (events.k8s.io/v1), bumping the series of a repeated one",
    scope: "cluster",
  },
];

/** Everything the operator's ServiceAccount is granted in its own cluster. */
export const OPERATOR_RULES: readonly PermissionRule[] = [
  {
    apiGroups: ["ldc.io"],
    resources: plurals,
    verbs: READ,
    why: "watch every ldc.io kind (informer caches)",
    scope: "cluster",
  },
  {
    apiGroups: ["ldc.io"],
    resources: plurals.map((p) => `${p}/status`),
    verbs: ["patch"],
    why: "write each kind's status (server-side apply of the status subresource)",
    scope: "cluster",
  },
  {
    apiGroups: ["ldc.io"],
    resources: ["shardingrules/status", "failovers/status"],
    verbs: ["update"],
    why: "bump a ShardingRule's epoch and advance a Failover's state machine with updates checked against resourceVersion, so two leaders can never both take the same step",
    scope: "cluster",
  },
  {
    apiGroups: ["ldc.io"],
    resources: ["cellapps"],
    verbs: ["patch", "update"],
    why: "add and remove the ldc.io/cleanup finalizer on CellApps",
    scope: "cluster",
  },
  {
    apiGroups: ["ldc.io"],
    resources: ["cellapps/finalizers"],
    verbs: ["update"],
    why: "owner references with blockOwnerDeletion to a CellApp on its Deployments and Services (required where the OwnerReferencesPermissionEnforcement admission plugin is on)",
    scope: "cluster",
  },
  {
    apiGroups: ["ldc.io"],
    resources: ["failovers"],
    verbs: ["create", "delete", "patch"],
    why: "automatic failover and drill schedules create a Failover, so every failover is visible and auditable; a drill schedule deletes its finished drills beyond spec.historyLimit; a running Failover carries a finalizer, so deleting it aborts it before it goes",
    scope: "cluster",
  },
  ...workloadRules(true),
  {
    apiGroups: [""],
    resources: ["namespaces"],
    verbs: ["get"],
    why: "check that a CellApp's namespace exists before publishing a routing table into it",
    scope: "cluster",
  },
  {
    apiGroups: ["coordination.k8s.io"],
    resources: ["leases"],
    verbs: ["get", "create", "update", "patch"],
    why: "leader election on a Lease in the operator's namespace; renew the relays' routing Lease (ldc-routing, server-side apply) there, which is also the home cluster's relay namespace",
    scope: "namespace",
  },
  {
    apiGroups: [""],
    resources: ["secrets"],
    verbs: READ,
    why: "member-cluster kubeconfigs (Zone spec.cluster.kubeconfigSecretRef), kept in the operator's namespace only",
    scope: "namespace",
  },
];

/** What a zone's kubeconfig must be allowed in a member cluster (deploy/member-cluster-rbac.yaml). */
export const MEMBER_CLUSTER_RULES: readonly PermissionRule[] = [
  ...workloadRules(false),
  {
    apiGroups: [""],
    resources: ["namespaces"],
    verbs: ["get", "create"],
    why: "create a CellApp's namespace in a member cluster before its first workload lands there",
    scope: "cluster",
  },
];

/**
 * What a zone's kubeconfig needs in the relay namespace of a member cluster
 * (the release namespace there): a Role, not a ClusterRole.
 */
export const MEMBER_RELAY_NAMESPACE_RULES: readonly PermissionRule[] = [
  {
    apiGroups: ["coordination.k8s.io"],
    resources: ["leases"],
    verbs: ["create", "patch"],
    why: "renew the Lease ldc-routing (server-side apply) that the zone's relay grants routing leases from (docs/fencing.md)",
    scope: "namespace",
  },
];

/**
 * What the per-zone relay (ldc-relay) may do, in its own namespace only:
 * read the routing tables and the Lease the operator writes there, and
 * write its own ack ConfigMap (ldc-acks-<relay pod>).
 */
export const RELAY_RULES: readonly PermissionRule[] = [
  {
    apiGroups: [""],
    resources: ["configmaps"],
    verbs: [...READ, "create", "update"],
    why: "the routing tables the operator publishes into the relay's namespace (ConfigMaps labelled ldc.io/routing-table); the acks the relay holds, in its ConfigMap ldc-acks-<relay pod> (labelled ldc.io/acks) the operator watches",
    scope: "namespace",
  },
  {
    apiGroups: ["coordination.k8s.io"],
    resources: ["leases"],
    verbs: ["get"],
    why: "the Lease ldc-routing the operator renews: the relay grants routing leases only while it sees renewals",
    scope: "namespace",
  },
];

/** What the relay may do cluster-wide (a ClusterRole): review the sidecars' tokens. */
export const RELAY_CLUSTER_RULES: readonly PermissionRule[] = [
  {
    apiGroups: ["authentication.k8s.io"],
    resources: ["tokenreviews"],
    verbs: ["create"],
    why: "authenticate each sidecar's ack: a TokenReview (audience ldc-relay) of the pod-bound token it sends names its pod",
    scope: "cluster",
  },
];

/** A rule as it appears in a ClusterRole or Role. */
export interface K8sPolicyRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

export function toPolicyRule(r: PermissionRule): K8sPolicyRule {
  return { apiGroups: [...r.apiGroups], resources: [...r.resources], verbs: [...r.verbs] };
}
