// Wires the operator: clients and caches per cluster, the controllers, the
// HTTP server (health, metrics), leader election. `startOperator` is what the
// ldc-operator command, the demo, the tests and the benchmarks run.
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
import { drillScheduleController } from "./controllers/drillschedule.ts";
import { AUTOMATION_CONFIGMAP, autoFailoverController } from "./controllers/autofailover.ts";
import { failoverController } from "./controllers/failover.ts";
import { routingTableInformer, shardingRuleController } from "./controllers/shardingrule.ts";
import { nodeInformer, zoneController } from "./controllers/zone.ts";
import { Labels } from "./reconcilers/naming.ts";
import { MemoryTableStore, bearerTokenAuthenticator, createRoutingApi, type TableStore } from "./routing-api/index.ts";
import {
  ClusterRegistry,
  connectionFromFile,
  defaultConnection,
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
  /**
   * Bearer tokens that may write to the routing API (sidecar acks). Without
   * any, the API is read-only: reads are anonymous, every write is refused.
   */
  routingTokens?: string[];
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
  /** The routing tables served by the routing API. */
  tables: TableStore;
  metrics(): Promise<string>;
  stop(): Promise<void>;
}

export async function startOperator(opts: OperatorOptions): Promise<RunningOperator> {
  const log = opts.logger ?? pino({ level: opts.logLevel ?? "info", base: { component: "ldc-operator" } });
  const connection = opts.kubeconfigPath ? connectionFromFile(opts.kubeconfigPath) : defaultConnection();
  const qps = opts.qps ?? 50;
  const burst = opts.burst ?? 100;
  const client = await KubeClient.fromConnection(connection, { qps, burst });
  // The failover critical path gets its own rate limit (see OperatorContext.critical).
  const critical = await KubeClient.fromConnection(connection, { qps, burst, userAgent: "ldc-operator/critical" });
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
    drillSchedules: home.informer(LdcResources.DrillSchedule),
  };
  const events = new EventRecorder({ client, reportingController: "ldc-operator", logger: log });
  const own = {
    secrets: home.informer<KubeObject & { data?: Record<string, string> }>(Resources.Secret, {
      namespace: opts.namespace,
    }),
    configMaps: home.informer<KubeObject & { data?: Record<string, string> }>(Resources.ConfigMap, {
      namespace: opts.namespace,
    }),
  };
  const ctx: OperatorContext = {
    log,
    namespace: opts.namespace,
    home,
    critical,
    registry,
    ldc,
    own,
    events,
    sidecar: { image: opts.sidecarImage, ...(opts.routingApiUrl ? { routingApiUrl: opts.routingApiUrl } : {}) },
    probeIntervalMs,
  };

  const zones = zoneController(ctx);
  const cells = cellController(ctx);
  const apps = cellAppController(ctx);
  const tables = new MemoryTableStore();
  const rules = shardingRuleController(ctx, tables);
  const failovers = failoverController(ctx, tables);
  const drills = drillScheduleController(ctx);
  const autoFailover = autoFailoverController(ctx);
  const controllers = [zones, cells, apps, rules, failovers, drills, autoFailover];

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
    for (const inf of [deployments, services]) {
      const toApp = (obj: KubeObject) => {
        const key = appKeyOfWorkload(obj);
        if (key) apps.queue.add(key);
      };
      inf.on({ add: toApp, update: (_, n) => toApp(n), delete: toApp });
    }
    const nodes = nodeInformer(cluster);
    const toZones = () => zonesOfCluster(cluster).forEach((z) => zones.queue.add(z));
    nodes.on({ add: toZones, update: toZones, delete: toZones });
    // A routing-table ConfigMap changed or deleted by hand is published again.
    const tablesCache = routingTableInformer(cluster);
    const toRule = (obj: KubeObject) => {
      const rule = obj.metadata?.labels?.[Labels.rule];
      if (rule) rules.queue.add(rule);
    };
    tablesCache.on({ add: toRule, update: (_, n) => toRule(n), delete: toRule });
    return [deployments, services, nodes, tablesCache] as Informer<KubeObject>[];
  };
  const homeInformers = wire(home);
  registry.onChange((change) => {
    if (change.type === "removed") return;
    if (change.type === "added" || change.type === "replaced") wire(change.cluster);
    for (const z of zonesOfCluster(change.cluster)) zones.queue.add(z);
    for (const k of allAppKeys()) apps.queue.add(k);
    for (const k of ldc.rules.store.keys()) rules.queue.add(k);
  });

  // Member-cluster kubeconfigs live in Secrets in the operator's namespace.
  const secrets = ctx.own.secrets;
  const zonesUsingSecret = (s: KubeObject) =>
    ldc.zones.store
      .list()
      .filter((z: Zone) => z.spec.cluster?.kubeconfigSecretRef.name === s.metadata?.name)
      .forEach((z: Zone) => zones.queue.add(z.metadata.name));
  secrets.on({ add: zonesUsingSecret, update: (_, n) => zonesUsingSecret(n), delete: zonesUsingSecret });
  // Pausing or resuming automatic failover re-evaluates every zone.
  const automation = (cm: KubeObject) => {
    if (cm.metadata?.name === AUTOMATION_CONFIGMAP) ldc.zones.store.keys().forEach((z) => autoFailover.queue.add(z));
  };
  own.configMaps.on({ add: automation, update: (_, n) => automation(n), delete: automation });

  const server = new RuntimeServer({ port: opts.httpPort, ...(opts.httpHost ? { host: opts.httpHost } : {}) });
  server.app.use(createRoutingApi(tables, { authenticate: bearerTokenAuthenticator(opts.routingTokens ?? []) }));
  const manager = new Manager({
    logger: log,
    server,
    ...(opts.leaderElection
      ? { leaderElection: { client, namespace: opts.namespace, name: opts.leaseName ?? "ldc-operator" } }
      : {}),
    ...(opts.onLostLeadership ? { onLostLeadership: opts.onLostLeadership } : {}),
  });
  for (const inf of [...homeInformers, own.secrets, own.configMaps]) manager.addInformer(inf);
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
    tables,
    metrics: () => metricsRegistry.metrics(),
    async stop() {
      await manager.stop();
      await registry.stop();
    },
  };
}
