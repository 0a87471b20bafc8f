// Wires the operator: clients and caches per cluster, the controllers, the
// HTTP server (health, metrics), leader election. `startOperator` is what the
// ldc-operator command, the demo, the tests and the benchmarks run.
import { KubeConfig } from "@kubernetes/client-node";
import pino, { type Logger } from "pino";
import { Kinds, type CellApp, type Zone } from "./api/index.ts";
import { cellController } from "./controllers/cell.ts";
import { appKeyOfWorkload, cellAppController, workloadInformers } from "./controllers/cellapp.ts";
import {
  LOCAL_CLUSTER,
  LdcResources,
  zoneOfMemberCluster,
  type LdcInformers,
  type OperatorContext,
} from "./controllers/context.ts";
import { nodeInformer, zoneController } from "./controllers/zone.ts";
import {
  ClusterRegistry,
  EventRecorder,
  KubeClient,
  Manager,
  Resources,
  RuntimeServer,
  metricsRegistry,
  type Cluster,
  type Controller,
  type Informer,
  type KubeObject,
} from "./runtime/index.ts";

export interface OperatorOptions {
  /** Kubeconfig of the operator's own cluster; default: in-cluster, then $KUBECONFIG / ~/.kube/config. */
  kubeconfigPath?: string;
  /** The operator's own namespace (leases, member-cluster kubeconfig Secrets). */
  namespace: string;
  httpPort: number;
  httpHost?: string;
  leaderElection: boolean;
  leaseName?: string;
  qps?: number;
  burst?: number;
  logLevel?: string;
  logger?: Logger;
  sidecarImage: string;
  /** URL sidecars use to reach the operator's routing API (omitted: they follow the mounted table only). */
  routingApiUrl?: string;
  /** Member-cluster probe period and timeout (ms). Default 1000 each. */
  probeIntervalMs?: number;
  /** Called when leadership is lost (default: exit the process). */
  onLostLeadership?: () => void;
}

export interface RunningOperator {
  /** The HTTP server's port (health, metrics, routing API). */
  port: number;
  context: OperatorContext;
  controllers: Controller[];
  metrics(): Promise<string>;
  stop(): Promise<void>;
}

export async function startOperator(opts: OperatorOptions): Promise<RunningOperator> {
  const log = opts.logger ?? pino({ level: opts.logLevel ?? "info", base: { component: "ldc-operator" } });
  const kc = new KubeConfig();
  if (opts.kubeconfigPath) kc.loadFromFile(opts.kubeconfigPath);
  else kc.loadFromDefault();
  const qps = opts.qps ?? 50;
  const burst = opts.burst ?? 100;
  const client = await KubeClient.fromKubeConfig(kc, { qps, burst });
  const probeIntervalMs = opts.probeIntervalMs ?? 1000;
  const registry = new ClusterRegistry({
    logger: log,
    probeIntervalMs,
    probeTimeoutMs: probeIntervalMs,
    clientOptions: { qps, burst },
  });
  const home = await registry.setLocal(LOCAL_CLUSTER, client);
  const ldc: LdcInformers = {
    zones: home.informer(LdcResources.Zone),
    cells: home.informer(LdcResources.Cell),
    rules: home.informer(LdcResources.ShardingRule),
    apps: home.informer(LdcResources.CellApp),
    failovers: home.informer(LdcResources.Failover),
  };
  const events = new EventRecorder({ client, reportingController: "ldc-operator", logger: log });
  const ctx: OperatorContext = {
    log,
    namespace: opts.namespace,
    home,
    registry,
    ldc,
    events,
    sidecar: { image: opts.sidecarImage, ...(opts.routingApiUrl ? { routingApiUrl: opts.routingApiUrl } : {}) },
    probeIntervalMs,
  };

  const zones = zoneController(ctx);
  const cells = cellController(ctx);
  const apps = cellAppController(ctx);
  const controllers = [zones, cells, apps];

  const zonesOfCluster = (cluster: Cluster): string[] => {
    if (!cluster.local) {
      const z = zoneOfMemberCluster(cluster.name);
      return z ? [z] : [];
    }
    return ldc.zones.store
      .list()
      .filter((z: Zone) => !z.spec.cluster)
      .map((z: Zone) => z.metadata.name);
  };
  const allAppKeys = () => ldc.apps.store.list().map((a: CellApp) => `${a.metadata.namespace}/${a.metadata.name}`);

  // Workloads and nodes of a cluster feed the CellApp and Zone controllers.
  const wire = (cluster: Cluster): Informer<KubeObject>[] => {
    const { deployments, services } = workloadInformers(cluster);
    const toApp = (obj: KubeObject) => {
      const key = appKeyOfWorkload(obj);
      if (key) apps.queue.add(key);
    };
    for (const inf of [deployments, services]) inf.on({ add: toApp, update: (_, n) => toApp(n), delete: toApp });
    const nodes = nodeInformer(cluster);
    const toZones = () => zonesOfCluster(cluster).forEach((z) => zones.queue.add(z));
    nodes.on({ add: toZones, update: toZones, delete: toZones });
    return [deployments, services, nodes] as Informer<KubeObject>[];
  };
  const homeInformers = wire(home);
  registry.onChange((change) => {
    if (change.type === "removed") return;
    if (change.type === "added" || change.type === "replaced") wire(change.cluster);
    for (const z of zonesOfCluster(change.cluster)) zones.queue.add(z);
    for (const k of allAppKeys()) apps.queue.add(k);
  });

  // Member-cluster kubeconfigs live in Secrets in the operator's namespace.
  const secrets = home.informer<KubeObject>(Resources.Secret, { namespace: opts.namespace });
  const zonesUsingSecret = (s: KubeObject) =>
    ldc.zones.store
      .list()
      .filter((z: Zone) => z.spec.cluster?.kubeconfigSecretRef.name === s.metadata?.name)
      .forEach((z: Zone) => zones.queue.add(z.metadata.name));
  secrets.on({ add: zonesUsingSecret, update: (_, n) => zonesUsingSecret(n), delete: zonesUsingSecret });

  const server = new RuntimeServer({ port: opts.httpPort, ...(opts.httpHost ? { host: opts.httpHost } : {}) });
  const manager = new Manager({
    logger: log,
    server,
    ...(opts.leaderElection
      ? { leaderElection: { client, namespace: opts.namespace, name: opts.leaseName ?? "ldc-operator" } }
      : {}),
    ...(opts.onLostLeadership ? { onLostLeadership: opts.onLostLeadership } : {}),
  });
  for (const inf of [...homeInformers, secrets]) manager.addInformer(inf);
  for (const c of controllers) manager.addController(c);
  manager.addReadinessCheck(() => registry.readiness());
  await manager.start();
  log.info(
    { namespace: opts.namespace, port: server.port, kinds: Object.keys(Kinds), leaderElection: opts.leaderElection },
    "ldc-operator started",
  );

  return {
    port: server.port,
    context: ctx,
    controllers,
    metrics: () => metricsRegistry.metrics(),
    async stop() {
      await manager.stop();
      await registry.stop();
    },
  };
}
