// The sidecars the operator deployed: the Running pods, with an ldc-sidecar
// container, of the Deployments it stamped, in every zone's cluster. They are
// the Failover barrier's expected set (issue 12 item 2): a sidecar that should
// hold a table but never acknowledged it blocks the step unless its zone is
// provably fenced, whoever else reported.
//
// A pod counts while its sidecar may serve: Running (also while terminating:
// the object goes only once its containers are gone), or Pending with the
// sidecar container reported running. Once the pod object is gone, so is its
// sidecar: an ack it left behind no longer holds the barrier up.
//
// Trust: a pod counts only when the kubelet says it runs (status is not
// writable by tenants), it carries the operator's labels, and its owner is a
// ReplicaSet of the Deployment those labels name. A forged pod can only add
// to the set (a stall of the barrier, never a pass), and only in a namespace
// whose pods its author may create.
import { Labels, MANAGED_BY, workloadName } from "../reconcilers/naming.ts";
import { SIDECAR_CONTAINER } from "../reconcilers/sidecar.ts";
import { Resources, type Cluster, type Informer, type KubeObject } from "../runtime/index.ts";
import { zoneOfMemberCluster } from "./context.ts";

/** The pods of what the operator stamps for a sharding rule. */
export const SIDECAR_POD_SELECTOR = `${Labels.managedBy}=${MANAGED_BY},${Labels.rule}`;

/** A pod as the cache keeps it: only what deciding "a deployed sidecar" needs. */
export interface SlimPod extends KubeObject {
  spec?: { containers?: { name: string }[]; initContainers?: { name: string }[] };
  status?: {
    phase?: string;
    containerStatuses?: ContainerStatus[];
    initContainerStatuses?: ContainerStatus[];
  };
}

type ContainerStatus = { name: string; state?: { running?: unknown } };

/** One sidecar that should hold a rule's table. */
export interface DeployedSidecar {
  /** "<namespace>/<pod>": the id its acknowledgements carry (relay: from its token; direct: LDC_NAMESPACE/LDC_SIDECAR_ID). */
  sidecar: string;
  zone: string;
  rule: string;
}

function sidecarStatuses(cs: ContainerStatus[] | undefined): ContainerStatus[] | undefined {
  const mine = cs?.filter((c) => c.name === SIDECAR_CONTAINER);
  return mine?.length ? mine.map((c) => ({ name: c.name, state: c.state?.running ? { running: {} } : {} })) : undefined;
}

/**
 * Its sidecar may be serving: the pod Runs, or is still Pending (another
 * container not started yet) while the kubelet reports the sidecar running.
 */
function sidecarMayRun(pod: SlimPod): boolean {
  const phase = pod.status?.phase;
  if (phase === "Running") return true;
  if (phase !== "Pending") return false;
  return [...(pod.status?.containerStatuses ?? []), ...(pod.status?.initContainerStatuses ?? [])].some(
    (c) => c.name === SIDECAR_CONTAINER && c.state?.running !== undefined,
  );
}

function slim(o: KubeObject): SlimPod {
  const p = o as SlimPod;
  const md = p.metadata ?? {};
  const names = (cs: { name: string }[] | undefined) => cs?.map((c) => ({ name: c.name }));
  return {
    apiVersion: p.apiVersion,
    kind: p.kind,
    metadata: {
      name: md.name,
      namespace: md.namespace,
      uid: md.uid,
      resourceVersion: md.resourceVersion,
      labels: md.labels,
      ownerReferences: md.ownerReferences,
      ...(md.deletionTimestamp ? { deletionTimestamp: md.deletionTimestamp } : {}),
    },
    spec: { containers: names(p.spec?.containers), initContainers: names(p.spec?.initContainers) },
    status: {
      phase: p.status?.phase,
      // Only the sidecar's own state (is it running?), not every container's.
      containerStatuses: sidecarStatuses(p.status?.containerStatuses),
      initContainerStatuses: sidecarStatuses(p.status?.initContainerStatuses),
    },
  } as SlimPod;
}

/** The operator's pods in `cluster` (all namespaces, label-selected, slimmed: 10,000 pods stay small). */
export function sidecarPodInformer(cluster: Cluster): Informer<SlimPod> {
  return cluster.informer<SlimPod>(Resources.Pod, { labelSelector: SIDECAR_POD_SELECTOR, transform: slim });
}

/**
 * The sidecar `pod` of `cluster` runs, or undefined. `localZones`: the zones
 * whose workloads live in the operator's own cluster. A pod's zone label must
 * be one its cluster serves.
 */
export function deployedSidecar(
  pod: SlimPod,
  cluster: { name: string; local: boolean },
  localZones: ReadonlySet<string>,
): DeployedSidecar | undefined {
  const md = pod.metadata ?? {};
  const l = md.labels ?? {};
  if (!sidecarMayRun(pod) || !md.name || !md.namespace) return undefined;
  if (l[Labels.managedBy] !== MANAGED_BY) return undefined;
  const [rule, zone, app, cell] = [l[Labels.rule], l[Labels.zone], l[Labels.app], l[Labels.cell]];
  if (!rule || !zone || !app || !cell) return undefined;
  if (cluster.local ? !localZones.has(zone) : zoneOfMemberCluster(cluster.name) !== zone) return undefined;
  const hasSidecar = [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])].some(
    (c) => c.name === SIDECAR_CONTAINER,
  );
  if (!hasSidecar) return undefined;
  const deployment = workloadName(app, cell, zone);
  const owned = (md.ownerReferences ?? []).some(
    (o) => o.kind === "ReplicaSet" && o.controller === true && o.name.startsWith(`${deployment}-`),
  );
  if (!owned) return undefined;
  return { sidecar: `${md.namespace}/${md.name}`, zone, rule };
}

/** What the barrier needs from the zones' pods: the deployed sidecars per rule, and the zones not listed yet. */
export interface DeployedSidecars {
  byRule: ReadonlyMap<string, readonly DeployedSidecar[]>;
  /** Zones whose pods are not (yet) listed: reachable ones must be waited for. */
  unlisted: ReadonlySet<string>;
}

/**
 * The deployed sidecars of every zone. `clusterOf` gives the cluster a zone's
 * workloads live in (undefined: not connected).
 */
export function deployedSidecars<Z extends { metadata: { name?: string }; spec: { cluster?: unknown } }>(
  zones: readonly Z[],
  clusterOf: (zone: Z) => Cluster | undefined,
): DeployedSidecars {
  const localZones = new Set(zones.filter((z) => !z.spec.cluster).map((z) => z.metadata.name ?? ""));
  const byRule = new Map<string, DeployedSidecar[]>();
  const unlisted = new Set<string>();
  const seen = new Set<Cluster>();
  for (const z of zones) {
    const name = z.metadata.name ?? "";
    const cluster = clusterOf(z);
    const informer = cluster ? sidecarPodInformer(cluster) : undefined;
    if (!cluster || !informer?.synced) {
      unlisted.add(name);
      continue;
    }
    if (seen.has(cluster)) continue;
    seen.add(cluster);
    for (const pod of informer.store.list()) {
      const s = deployedSidecar(pod, cluster, localZones);
      if (!s) continue;
      let list = byRule.get(s.rule);
      if (!list) byRule.set(s.rule, (list = []));
      list.push(s);
    }
  }
  return { byRule, unlisted };
}
