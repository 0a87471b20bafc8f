// ldc-relay: runs in each zone's cluster and serves that zone's sidecars the
// routing API's table endpoints (GET /v1/rules, GET /v1/rules/<rule>/table
// with ETag and long-poll) from the routing ConfigMaps the operator writes
// into the relay's namespace, so sidecars never need the operator's Service.
// It reads only its own cluster's API server: the ConfigMaps (a watch, so a
// new epoch reaches the sidecars' long-polls within milliseconds of the
// operator's write) and the Lease `ldc-routing` (a GET every second), which
// the operator renews every 2 s; the relay grants sidecars what is left of
// the lease it derives from those renewals (lease.ts), and none without one.
// Every /v1 request, read or ack, is authenticated per pod with a TokenReview
// (auth.ts), reads so that tables, leases and long-poll slots go only to the
// zone's sidecars (long-polls are bounded per pod). Acks: each is checked
// against the served table as the operator's API checks it, and written back
// into the ConfigMap ldc-acks-<relay pod> in its namespace (acks.ts), which
// the operator watches.
import type { Logger } from "pino";
import { hostname } from "node:os";
import { createRoutingApi, DEFAULT_LEASE_MS, MemoryTableStore, type AuthResult } from "../routing-api/index.ts";
import {
  Informer,
  Resources,
  RuntimeServer,
  silentLogger,
  type KubeClient,
  type KubeObject,
  type TlsFiles,
} from "../runtime/index.ts";
import type { IncomingMessage } from "node:http";
import { AckConfigMapWriter, AckMap, type AckMapOptions } from "./acks.ts";
import { podTokenAuthenticator, tokenReviewer } from "./auth.ts";
import { RelayLease, renewalOf } from "./lease.ts";
import { RelayTables, ROUTING_TABLE_SELECTOR, type TableConfigMap } from "./tables.ts";

/** The Lease the operator renews in every zone's relay namespace. */
export const RELAY_LEASE_NAME = "ldc-routing";
/** The relay's Service name and default port (the sidecars' LDC_ROUTING_API). */
export const RELAY_SERVICE = "ldc-relay";
export const RELAY_PORT = 8080;

export interface RelayOptions {
  /** A client of the relay's own cluster (in-cluster or --kubeconfig). */
  client: KubeClient;
  /** The client of the Lease GETs, with a short timeout (a hung GET holds up the next). Default: client. */
  leaseClient?: KubeClient;
  /** The namespace whose routing ConfigMaps and Lease it reads. */
  namespace: string;
  port?: number;
  host?: string;
  leaseName?: string;
  /** Period of the Lease GETs (ms). Default 1000. */
  pollIntervalMs?: number;
  /** Longest lease taken from one renewal and granted to a sidecar (ms). Default 10,000. */
  maxLeaseMs?: number;
  /** Monotonic clock (ms). Default performance.now. */
  now?: () => number;
  logger?: Logger;
  /** This relay's pod name: its acks go to the ConfigMap ldc-acks-<pod>. Default: the host name. */
  pod?: string;
  /** This relay's pod UID (downward API): the ack ConfigMap is owned by the pod and goes with it. */
  podUid?: string;
  /** Authenticates acks. Default: a TokenReview (audience ldc-relay) against `client`, cached 60 s. */
  authenticate?: (req: IncomingMessage) => AuthResult | Promise<AuthResult>;
  /** Bounds of the acks held. Defaults: 30 s, 10,000 pods per rule. */
  acks?: AckMapOptions;
  /** Least time between two writes of the ack ConfigMap (ms). Default 200. */
  ackCoalesceMs?: number;
  /** Serve HTTPS with this certificate and key. Default: HTTP. */
  tls?: TlsFiles;
}

export interface RunningRelay {
  port: number;
  store: MemoryTableStore;
  lease: RelayLease;
  acks: AckConfigMapWriter;
  stop(): Promise<void>;
}

export async function startRelay(opts: RelayOptions): Promise<RunningRelay> {
  const log = opts.logger ?? silentLogger;
  const now = opts.now ?? (() => performance.now());
  const maxLeaseMs = opts.maxLeaseMs ?? DEFAULT_LEASE_MS;
  const pollMs = opts.pollIntervalMs ?? 1000;
  const leaseName = opts.leaseName ?? RELAY_LEASE_NAME;
  const store = new MemoryTableStore({ leaseMs: maxLeaseMs });
  const tables = new RelayTables(store);
  const lease = new RelayLease({ maxLeaseMs });

  const informer = new Informer<KubeObject & TableConfigMap>(opts.client, Resources.ConfigMap, {
    namespace: opts.namespace,
    labelSelector: ROUTING_TABLE_SELECTOR,
    logger: log,
  });
  const ingest = (cm: TableConfigMap): void => {
    const r = tables.ingest(cm);
    if (r.outcome === "published") log.info({ rule: r.rule, epoch: r.epoch }, "routing table published");
    else if (r.outcome === "refused") log.warn({ rule: r.rule, reason: r.reason }, "routing table refused");
  };
  informer.on({
    add: ingest,
    update: (_old, cm) => ingest(cm),
    delete: (cm) => {
      const rule = tables.remove(cm);
      if (rule) log.info({ rule }, "routing ConfigMap deleted: table unpublished");
    },
  });

  const server = new RuntimeServer({
    port: opts.port ?? RELAY_PORT,
    ...(opts.host ? { host: opts.host } : {}),
    ...(opts.tls ? { tls: opts.tls } : {}),
  });
  server.addReadinessCheck(() => [
    {
      name: "routing-tables",
      ok: informer.synced && !informer.status().dead,
      message: "routing ConfigMaps not synced",
    },
  ]);
  const ackMap = new AckMap({ ...opts.acks, now });
  const acks = new AckConfigMapWriter({
    client: opts.client,
    namespace: opts.namespace,
    pod: opts.pod ?? hostname(),
    podUid: opts.podUid,
    acks: ackMap,
    coalesceMs: opts.ackCoalesceMs ?? 200,
    now,
    logger: log,
  });
  // Only a change of what is held is written: a sidecar's periodic re-ack of the same table writes nothing.
  store.subscribeAcks((ack) => {
    if (ackMap.record(ack)) acks.changed();
  });
  server.app.use(
    createRoutingApi(store, {
      grantableLeaseMs: () => lease.grantable(now()),
      onError: (err) => log.error({ err }, "routing API error"),
      authenticate:
        opts.authenticate ??
        podTokenAuthenticator(tokenReviewer(opts.client), {
          onError: (err) => log.warn({ err }, "TokenReview failed"),
        }),
      // Reads are authenticated as acks are: the principal is the sidecar's pod, which long-polls are counted against.
      ackIdentity: "principal",
    }),
  );

  // The Lease poll: a fresh GET each period (a watch could deliver an old event late and tell nothing about when it was read).
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<void> | undefined;
  const poll = async (): Promise<void> => {
    const sentAt = now();
    try {
      const obj = await (opts.leaseClient ?? opts.client).tryGet(Resources.Lease, leaseName, opts.namespace);
      const had = lease.remaining(now()) > 0;
      if (lease.observe(sentAt, obj === undefined ? undefined : renewalOf(obj)) && !had) {
        log.info({ remainingMs: Math.round(lease.remaining(now())) }, "routing lease held");
      }
    } catch (err) {
      log.debug({ err }, "routing Lease GET failed");
    }
  };
  const schedule = (): void => {
    if (stopped) return;
    timer = setTimeout(() => {
      inFlight = poll().finally(schedule);
    }, pollMs);
  };

  informer.start();
  acks.start();
  await server.listen();
  inFlight = poll().finally(schedule);
  log.info({ namespace: opts.namespace, port: server.port, lease: leaseName }, "ldc-relay started");

  return {
    port: server.port,
    store,
    lease,
    acks,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await inFlight;
      await acks.stop();
      await server.close(500);
      await informer.stop();
    },
  };
}
