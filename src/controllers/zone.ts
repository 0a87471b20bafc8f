// Zone controller: connects member clusters (kubeconfig Secrets in the
// operator's namespace), and publishes each zone's health: reachability, its
// zone-labelled nodes, the readiness of the cells active in it.
import { getCondition, setCondition, type Condition, type Zone } from "../api/index.ts";
import { activeZoneOf } from "../reconcilers/cellapp.ts";
import { zoneHealth, type ZoneObservation } from "../reconcilers/zone.ts";
import {
  Controller,
  KubeconfigError,
  KubeconfigRefused,
  Resources,
  StatusWriter,
  requeueAfterStatus,
  type Cluster,
  type KubeObject,
  type ReconcileContext,
  type ReconcileResult,
} from "../runtime/index.ts";
import {
  clusterOfZone,
  currentCells,
  memberClusterName,
  watchEveryCluster,
  zoneOfMemberCluster,
  type OperatorContext,
} from "./context.ts";

type NodeObj = KubeObject & { status?: { conditions?: { type: string; status: string }[] } };

export function nodeInformer(cluster: Cluster) {
  return cluster.informer<NodeObj>(Resources.Node);
}

export function zoneController(ctx: OperatorContext): Controller {
  const status = new StatusWriter(ctx.home.client, { method: "apply", informer: ctx.ldc.zones });
  const controller = new Controller({
    name: "zone",
    kind: "Zone",
    workers: 2,
    logger: ctx.log,
    reconcile: (key, r) => reconcileZone(ctx, status, key, r),
  });
  controller.watch(ctx.ldc.zones);
  // Cells moving in or out, and their readiness, change a zone's health.
  controller.watch(ctx.ldc.cells, (cell) => cell.status?.activeZone ?? cell.spec.zone);
  // A member cluster's kubeconfig lives in a Secret in the operator's namespace.
  controller.watch(ctx.own.secrets, (secret) =>
    ctx.ldc.zones.store
      .list()
      .filter((z) => z.spec.cluster?.kubeconfigSecretRef.name === secret.metadata?.name)
      .map((z) => z.metadata.name),
  );
  // The zone-labelled nodes of each cluster.
  watchEveryCluster(ctx.registry, controller, nodeInformer, (cluster) => () => zonesOfCluster(ctx, cluster));
  // Connected, replaced or reachability changed.
  ctx.registry.onChange((change) => {
    if (change.type !== "removed") for (const z of zonesOfCluster(ctx, change.cluster)) controller.enqueue(z);
  });
  return controller;
}

/** The zones whose workloads live in `cluster`: its zone if a member, else every zone without a member cluster. */
function zonesOfCluster(ctx: OperatorContext, cluster: Cluster): string[] {
  if (!cluster.local) {
    const zone = zoneOfMemberCluster(cluster.name);
    return zone ? [zone] : [];
  }
  return ctx.ldc.zones.store
    .list()
    .filter((z) => !z.spec.cluster)
    .map((z) => z.metadata.name);
}

async function reconcileZone(
  ctx: OperatorContext,
  statusWriter: StatusWriter,
  key: string,
  r: ReconcileContext,
): Promise<ReconcileResult | void> {
  const zone = ctx.ldc.zones.store.get(key) as (Zone & KubeObject) | undefined;
  if (!zone) {
    // A deleted zone's member cluster is disconnected; nothing in it is touched.
    await ctx.registry.remove(memberClusterName(key));
    return;
  }
  const now = new Date();
  let conditions: Condition[] | undefined = zone.status?.conditions;
  const gen = zone.metadata.generation;

  if (zone.spec.cluster) {
    const failed = await connectMember(ctx, zone);
    if (failed) {
      const { reason, problem } = failed;
      // A refused kubeconfig disconnects the member: what it used is no longer in use.
      if (getCondition(conditions, "InsecureTLS")) {
        const member = ctx.registry.get(memberClusterName(zone.metadata.name));
        conditions = setCondition(conditions, insecureTLSCondition(member?.client.insecureTLS ?? false, gen), now);
      }
      conditions = setCondition(
        conditions,
        { type: "ClusterConnected", status: "False", reason, message: problem, observedGeneration: gen },
        now,
      );
      conditions = setCondition(
        conditions,
        { type: "Ready", status: "False", reason, message: problem, observedGeneration: gen },
        now,
      );
      const written = await statusWriter.write(zone, {
        ...(zone.status ?? {}),
        observedGeneration: gen,
        phase: "Pending",
        reachable: false,
        conditions,
      });
      await ctx.events.warning(zone, reason, problem);
      return requeueAfterStatus(written) ?? { requeueAfter: 30_000 };
    }
  }
  const cluster = clusterOfZone(ctx, zone);
  if (!cluster) return { requeueAfter: 1000 };

  const state = cluster.state;
  const reachable = cluster.local ? true : state.reachable === true;
  const nodes = nodeInformer(cluster);
  const selector =
    zone.spec.nodeSelector && Object.keys(zone.spec.nodeSelector).length
      ? zone.spec.nodeSelector
      : { "topology.kubernetes.io/zone": zone.metadata.name };
  const zoneNodes = nodes.store.listByLabels(selector);
  const readyNodes = zoneNodes.filter((n) =>
    n.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"),
  ).length;
  const active = currentCells(ctx).filter((c) => activeZoneOf(c) === zone.metadata.name);
  const readyCells = active.filter((c) => c.status?.phase === "Ready").length;
  const obs: ZoneObservation = {
    now,
    reachable,
    // Unreachable counts from the last successful probe, one period before the first failed one.
    ...(!reachable && state.reachable === false
      ? { unreachableSince: new Date(state.since.getTime() - ctx.probeIntervalMs) }
      : {}),
    ...(state.lastError ? { probeError: state.lastError } : {}),
    totalNodes: zoneNodes.length,
    readyNodes,
    activeCells: active.length,
    readyCells,
    observed: nodes.synced || !reachable,
  };
  const health = zoneHealth(zone, obs);
  let insecureNow = false;
  if (zone.spec.cluster) {
    // The opt-in to unverified TLS stays visible while it is in use.
    insecureNow = cluster.client.insecureTLS;
    conditions = setCondition(conditions, insecureTLSCondition(insecureNow, gen), now);
    conditions = setCondition(
      conditions,
      {
        type: "ClusterConnected",
        status: reachable ? "True" : "False",
        reason: reachable ? "Reachable" : "Unreachable",
        message: reachable ? `member cluster ${cluster.client.server} answers` : health.message,
        observedGeneration: gen,
      },
      now,
    );
  }
  conditions = setCondition(
    conditions,
    {
      type: "Ready",
      status: health.phase === "Ready" ? "True" : "False",
      reason: health.reason,
      message: health.message,
      observedGeneration: gen,
    },
    now,
  );
  const status = {
    observedGeneration: gen,
    phase: health.phase,
    reachable,
    readyNodes,
    totalNodes: zoneNodes.length,
    cells: active.length,
    conditions,
  };
  const before = zone.status?.phase;
  const insecureBefore = getCondition(zone.status?.conditions, "InsecureTLS")?.status === "True";
  const written = await statusWriter.write(zone, status);
  if (insecureNow && !insecureBefore) await ctx.events.warning(zone, "InsecureSkipTLSVerify", INSECURE_TLS_MESSAGE);
  if (before !== health.phase && before !== undefined) {
    const warn = health.phase === "Unreachable" || health.phase === "Degraded";
    await ctx.events[warn ? "warning" : "normal"](
      zone,
      `Zone${health.phase}`,
      `zone ${zone.metadata.name} is ${health.phase}: ${health.message}`,
    );
    r.log.info({ from: before, to: health.phase, reason: health.reason }, "zone phase changed");
  }
  if (health.requeueAfterMs !== undefined) return { requeueAfter: health.requeueAfterMs };
  return requeueAfterStatus(written);
}

const INSECURE_TLS_MESSAGE =
  "TLS verification of the member API server is off (spec.cluster.insecureSkipTLSVerify and the kubeconfig's insecure-skip-tls-verify): anyone on the network path can impersonate it and read the operator's credentials; put its CA in the kubeconfig's certificate-authority-data and remove both";

/** Whether the member API server's certificate goes unverified (the opt-in in use). */
function insecureTLSCondition(insecure: boolean, gen: number | undefined) {
  return insecure
    ? {
        type: "InsecureTLS",
        status: "True" as const,
        reason: "InsecureSkipTLSVerify",
        message: INSECURE_TLS_MESSAGE,
        observedGeneration: gen,
      }
    : {
        type: "InsecureTLS",
        status: "False" as const,
        reason: "Verified",
        message: "the member API server's certificate is verified",
        observedGeneration: gen,
      };
}

/**
 * Reads the zone's kubeconfig Secret and (re)connects its member cluster;
 * returns the problem, or undefined. Messages name the Secret, its key and
 * the kubeconfig's fields, never the Secret's content.
 */
async function connectMember(
  ctx: OperatorContext,
  zone: Zone,
): Promise<{ reason: "KubeconfigUnavailable" | "KubeconfigRefused"; problem: string } | undefined> {
  const unavailable = (problem: string) => ({ reason: "KubeconfigUnavailable" as const, problem });
  const ref = zone.spec.cluster!.kubeconfigSecretRef;
  if (ref.namespace !== ctx.namespace) {
    return unavailable(
      `spec.cluster.kubeconfigSecretRef.namespace is ${ref.namespace}, but the operator reads Secrets only in its own namespace ${ctx.namespace}: move the Secret there`,
    );
  }
  const secret = ctx.own.secrets.store.getByName(ref.name, ref.namespace);
  if (!secret)
    return unavailable(
      `Secret ${ref.namespace}/${ref.name} (spec.cluster.kubeconfigSecretRef) does not exist: create it with the member cluster's kubeconfig under key "${ref.key}"`,
    );
  const data = secret.data?.[ref.key];
  if (!data)
    return unavailable(
      `Secret ${ref.namespace}/${ref.name} has no key "${ref.key}" (spec.cluster.kubeconfigSecretRef.key): put the kubeconfig there`,
    );
  try {
    await ctx.registry.setMember(memberClusterName(zone.metadata.name), Buffer.from(data, "base64").toString("utf8"), {
      source: `the kubeconfig in Secret ${ref.namespace}/${ref.name} key "${ref.key}"`,
      allowInsecureTLS: zone.spec.cluster!.insecureSkipTLSVerify,
      insecureOptIn: "spec.cluster.insecureSkipTLSVerify: true on the Zone (dangerous)",
    });
  } catch (err) {
    // Only KubeconfigError messages are known not to quote the Secret.
    if (err instanceof KubeconfigRefused) return { reason: "KubeconfigRefused", problem: err.message };
    if (err instanceof KubeconfigError) return unavailable(err.message);
    return unavailable(
      `the kubeconfig in Secret ${ref.namespace}/${ref.name} key "${ref.key}" cannot be used (${(err as Error).name}): check its certificates and keys`,
    );
  }
  return undefined;
}
