// Wires the operator: clients and caches per cluster, the controllers, the
// HTTP server (health, metrics), leader election. `startOperator` is what the
// ldc-operator command, the demo, the tests and the benchmarks run.
import pino, { type Logger } from "pino";
import { Kinds } from "./api/index.ts";
import { cellController } from "./controllers/cell.ts";
import { cellAppController } from "./controllers/cellapp.ts";
import { LOCAL_CLUSTER, LdcResources, type LdcInformers, type OperatorContext } from "./controllers/context.ts";
import { drillScheduleController } from "./controllers/drillschedule.ts";
import { autoFailoverController } from "./controllers/autofailover.ts";
import { failoverController } from "./controllers/failover.ts";
import { createDomainMetrics, domainMetricsSource } from "./controllers/metrics.ts";
import { RelayLeaseRenewer, zoneClusters } from "./controllers/relaylease.ts";
import { relayAckController } from "./controllers/relayacks.ts";
import { shardingRuleController } from "./controllers/shardingrule.ts";
import { relayUrl } from "./reconcilers/sidecar.ts";
import { DEFAULT_POD_SECURITY, type PodSecuritySettings } from "./reconcilers/cellapp.ts";
import { RELAY_PORT } from "./relay/index.ts";
import { zoneController } from "./controllers/zone.ts";
import { MemoryTableStore, bearerTokenAuthenticator, createRoutingApi, type TableStore } from "./routing-api/index.ts";
import {
  ClusterRegistry,
  connectionFromFile,
  defaultConnection,
  defaultIdentity,
  EventRecorder,
  KubeClient,
  Manager,
  Resources,
  RuntimeServer,
  type Controller,
  type KubeObject,
  type TlsFiles,
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
  /** What CellApps may ask for (docs/adr/0011-cellapps-cannot-escalate.md). Default: no exceptions, member namespaces baseline. */
  podSecurity?: PodSecuritySettings;
  /** URL sidecars in the operator's own cluster use to reach its routing API (omitted: they follow the mounted table only). */
  routingApiUrl?: string;
  /** URL sidecars in member clusters use (omitted: the mounted table only, no routing lease: ADR 0007). */
  memberRoutingApiUrl?: string;
  /**
   * Bearer tokens that may use the routing API (sidecars' reads and acks).
   * Without any, it answers no /v1 request (401): with relays, sidecars read
   * their zone's relay instead.
   */
  routingTokens?: string[];
  /** Serve the HTTP port (routing API, health, metrics) as HTTPS with this certificate and key. Default: HTTP. */
  tls?: TlsFiles;
  /** Routing lease granted to sidecars (x-ldc-lease-ms, docs/fencing.md). Default 10,000 ms. */
  routingLeaseMs?: number;
  /**
   * Per-zone relays (src/relay, docs/fencing.md): publish every table into
   * relayNamespace of every zone's cluster, renew the routing Lease there, and
   * give every zone's sidecars their zone's relay as routing API. Default off.
   */
  relay?: boolean;
  /** The relays' namespace in every zone's cluster. Default: `namespace`. */
  relayNamespace?: string;
  /** The relays' Service port. Default 8080. */
  relayPort?: number;
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
  /** The relays' Lease renewals (relays on): per-zone last renewal sent, fencedAt. */
  relayLeases: RelayLeaseRenewer | undefined;
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
  const relayNamespace = opts.relay ? (opts.relayNamespace ?? opts.namespace) : undefined;
  if (!relayNamespace && (opts.routingApiUrl || opts.memberRoutingApiUrl) && !opts.routingTokens?.length) {
    // Fail closed, loudly: such sidecars get 401, hence no table from the API and no lease, so writes are refused.
    log.error(
      "sidecars are given this operator's routing API but it has no tokens: its reads need one, so they hold no routing lease and refuse writes; set --routing-token-file (chart routingApi.writeTokensSecret) and the ldc-routing-token Secret in the apps' namespaces, or turn relays on (--relay)",
    );
  }
  const ctx: OperatorContext = {
    log,
    namespace: opts.namespace,
    home,
    critical,
    registry,
    ldc,
    own,
    events,
    sidecar: {
      image: opts.sidecarImage,
      ...(opts.routingApiUrl ? { routingApiUrl: opts.routingApiUrl } : {}),
      ...(opts.memberRoutingApiUrl ? { memberRoutingApiUrl: opts.memberRoutingApiUrl } : {}),
      ...(relayNamespace ? { relayUrl: relayUrl(relayNamespace, opts.relayPort ?? RELAY_PORT) } : {}),
    },
    podSecurity: opts.podSecurity ?? DEFAULT_POD_SECURITY,
    ...(relayNamespace ? { relayNamespace } : {}),
    probeIntervalMs,
  };

  const zones = zoneController(ctx);
  const cells = cellController(ctx);
  const apps = cellAppController(ctx);
  const tables = new MemoryTableStore(opts.routingLeaseMs !== undefined ? { leaseMs: opts.routingLeaseMs } : {});
  const rules = shardingRuleController(ctx, tables);
  const failovers = failoverController(ctx, tables);
  const drills = drillScheduleController(ctx);
  const autoFailover = autoFailoverController(ctx);
  const controllers = [zones, cells, apps, rules, failovers, drills, autoFailover];
  // The sidecars' acks as each zone's relays hold them (ConfigMaps in its relay namespace).
  if (relayNamespace) controllers.push(relayAckController(ctx, tables, relayNamespace));

  // Declared before the Manager exists: the renewer asks it before each round.
  let manager: Manager | undefined = undefined;
  const relayLeases = relayNamespace
    ? new RelayLeaseRenewer({
        clusters: () => zoneClusters(ctx),
        logger: log,
        namespace: relayNamespace,
        identity: defaultIdentity(),
        isLeader: () => manager?.isLeader() ?? false,
        ...(opts.routingLeaseMs !== undefined ? { leaseMs: opts.routingLeaseMs } : {}),
      })
    : undefined;
  ctx.relayLeases = relayLeases;
  // Controllers start with the Manager: the Failover controller finds them in ctx then.
  ctx.metrics = createDomainMetrics(domainMetricsSource(ctx, tables, () => manager?.isLeader() ?? false));

  const server = new RuntimeServer({
    port: opts.httpPort,
    ...(opts.httpHost ? { host: opts.httpHost } : {}),
    ...(opts.tls ? { tls: opts.tls } : {}),
  });
  server.addMetrics(ctx.metrics.registry);
  // The routing API asks the Manager (declared above) on every request.
  server.app.use(
    createRoutingApi(tables, {
      authenticate: bearerTokenAuthenticator(opts.routingTokens ?? []),
      // Only the leader's controllers publish tables: another replica answers 503, never its empty state.
      isLeader: () => manager?.isLeader() ?? false,
    }),
  );
  manager = new Manager({
    logger: log,
    server,
    // Grants of a previous leader are unknown here; they ended before this replica could lead.
    onStartedLeading: () => {
      tables.beginLeaseTerm();
      relayLeases?.beginTerm();
    },
    ...(opts.leaderElection
      ? { leaderElection: { client, namespace: opts.namespace, name: opts.leaseName ?? "ldc-operator" } }
      : {}),
    ...(opts.onLostLeadership ? { onLostLeadership: opts.onLostLeadership } : {}),
  });
  // Each controller declares its watches; the Manager waits for the caches they read.
  for (const c of controllers) manager.addController(c);
  manager.addReadinessCheck(() => registry.readiness());
  await manager.start();
  relayLeases?.start();
  log.info(
    { namespace: opts.namespace, port: server.port, kinds: Object.keys(Kinds), leaderElection: opts.leaderElection },
    "ldc-operator started",
  );

  return {
    port: server.port,
    context: ctx,
    controllers,
    tables,
    relayLeases,
    metrics: () => server.metrics(),
    async stop() {
      relayLeases?.stop();
      await manager.stop();
      await registry.stop();
    },
  };
}
