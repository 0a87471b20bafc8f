// The sidecar as a library: startSidecar(config) listens, loads the table
// (file first, then the routing API's long-poll), reports its epoch and
// routes. main.ts is the process around it; tests and benchmarks start it
// in-process.

import http from "node:http";
import type { AddressInfo } from "node:net";
import type { RouteContext, RoutingTable } from "../routing/index.ts";
import type { SidecarConfig } from "./config.ts";
import { Lease } from "./lease.ts";
import { silentLogger, type SidecarLogger as Logger } from "./log.ts";
import type { SidecarMetrics } from "./metrics.ts";
import { createSidecarMetrics } from "./metrics.ts";
import type { PeerResolver } from "./peers.ts";
import { createPeerResolver, targetOf } from "./peers.ts";
import { RoutingClient } from "./client.ts";
import { ADMIN_PREFIX, createProxy, sendJson } from "./proxy.ts";
import type { Current } from "./tables.ts";
import { AckReporter, ApiSource, FileSource, TableHolder } from "./tables.ts";

export interface StartOptions {
  /** Default: silent. */
  logger?: Logger;
  /** Called after every table swap. */
  onTableSwap?: (table: RoutingTable, source: "file" | "api") => void;
  /** Overrides the peer resolver built from the config. */
  peers?: PeerResolver;
  /** Backoff bounds of the routing API long-poll (ms). */
  backoffMinMs?: number;
  backoffMaxMs?: number;
  /** Monotonic clock (ms) that times the routing lease. Default performance.now; tests inject one. */
  now?: () => number;
}

export interface Sidecar {
  /** http://host:port the sidecar listens on for app traffic. */
  readonly url: string;
  readonly port: number;
  /** http://host:port of its admin endpoints (/__ldc/healthz, /__ldc/metrics, /__ldc/table). */
  readonly adminUrl: string;
  readonly adminPort: number;
  readonly metrics: SidecarMetrics;
  /** The epoch held, or undefined before the first table. */
  currentEpoch(): number | undefined;
  table(): RoutingTable | undefined;
  /** Resolves once the sidecar holds `epoch` or later. */
  waitForEpoch(epoch: number, signal?: AbortSignal): Promise<void>;
  /** The routing lease: writes are refused while it is not valid. */
  readonly lease: Lease;
  /**
   * Graceful stop: stop accepting connections, let in-flight requests finish
   * (up to shutdownGraceSeconds), then close what is left.
   */
  close(): Promise<void>;
}

export async function startSidecar(config: SidecarConfig, opts: StartOptions = {}): Promise<Sidecar> {
  const log = opts.logger ?? silentLogger;
  const metrics = createSidecarMetrics();
  const ctx: RouteContext = {
    localCell: config.cell,
    localRegion: config.region,
    localZone: config.zone,
    scope: config.cellType,
  };
  let acks: AckReporter | undefined;
  const holder = new TableHolder(config.rule, ctx, (c: Current) => {
    metrics.tableSwap();
    metrics.tableEpoch(c.table.epoch);
    log.info({ epoch: c.table.epoch, source: c.source, hash: c.table.contentHash }, "routing table taken");
    acks?.kick();
    opts.onTableSwap?.(c.table, c.source);
  });
  let stopping = false;
  // With a routing API, writes need its lease: a table from the mounted file alone grants none.
  const lease = new Lease(config.routingApi, opts.now);
  metrics.leaseRemaining(() => (lease.required ? lease.remainingMs() / 1000 : -1));

  const admin = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const url = req.url ?? "/";
    const q = url.indexOf("?");
    const path = q < 0 ? url : url.slice(0, q);
    const query = new URLSearchParams(q < 0 ? "" : url.slice(q + 1));
    const cur = holder.current;
    if (path === `${ADMIN_PREFIX}healthz`) {
      if (query.get("live") === "1") return sendJson(res, 200, { status: "alive" });
      if (stopping) return sendJson(res, 503, { status: "shutting down" });
      if (cur === undefined) return sendJson(res, 503, { status: "no routing table yet" });
      // 200 even when the lease ran out: a partition must not take the pod out of its Service (reads still work).
      return sendJson(res, 200, {
        status: "ok",
        rule: config.rule,
        epoch: cur.table.epoch,
        source: cur.source,
        writes: lease.valid() ? "accepted" : "refused: routing lease expired",
      });
    }
    if (path === `${ADMIN_PREFIX}metrics`) {
      metrics.registry.metrics().then(
        (text) => {
          res.writeHead(200, { "content-type": metrics.registry.contentType });
          res.end(text);
        },
        () => sendJson(res, 500, { error: "metrics unavailable" }),
      );
      return;
    }
    if (path === `${ADMIN_PREFIX}table`) {
      if (cur === undefined) return sendJson(res, 503, { error: "no routing table yet" });
      res.writeHead(200, { "content-type": "application/json; charset=utf-8", etag: cur.table.etag });
      res.end(cur.table.serialize());
      return;
    }
    sendJson(res, 404, {
      error: `no such sidecar endpoint ${JSON.stringify(path.slice(0, 100))}`,
      fix: `${ADMIN_PREFIX}healthz, ${ADMIN_PREFIX}metrics, ${ADMIN_PREFIX}table`,
    });
  };

  const proxy = createProxy({
    holder,
    lease,
    app: targetOf(config.appUrl),
    peers: opts.peers ?? createPeerResolver(config),
    metrics,
    log,
    self: `${config.cell}@${config.zone}`,
    upstreamTimeoutMs: config.upstreamTimeoutSeconds * 1000,
    maxConcurrent: config.maxConcurrentRequests,
  });
  const client =
    config.routingApi === undefined
      ? undefined
      : new RoutingClient({
          baseUrl: config.routingApi,
          token: config.routingToken,
          tokenFile: config.routingTokenFile,
          caFile: config.routingCaFile,
        });

  // The table file first: a sidecar whose operator is down still starts routing.
  const file =
    config.tableFile === undefined
      ? undefined
      : new FileSource(config.tableFile, holder, log, config.filePollSeconds * 1000);
  await file?.start();
  const api =
    config.routingApi === undefined
      ? undefined
      : new ApiSource(holder, log, {
          client: client!,
          timeoutSeconds: config.longPollTimeoutSeconds,
          backoffMinMs: opts.backoffMinMs,
          backoffMaxMs: opts.backoffMaxMs,
          lease,
          zone: config.zone,
          sidecar: config.sidecarId,
        });
  api?.start();

  // A client gets headersTimeout for its headers and requestTimeout for the whole request (408 after, checked
  // every second): a slow upload cannot hold a connection for node's default 300 s.
  const requestTimeout = config.requestTimeoutSeconds * 1000;
  const serverOptions: http.ServerOptions = {
    keepAliveTimeout: 30_000,
    headersTimeout: config.headersTimeoutSeconds * 1000,
    requestTimeout,
    connectionsCheckingInterval: Math.max(50, Math.min(1000, requestTimeout / 4 || 1000)),
  };
  const server = http.createServer(serverOptions, (req, res) => proxy.handle(req, res));
  // Health, metrics and the table on their own port: app traffic (the Service targets the traffic port) never sees them.
  const adminServer = http.createServer(serverOptions, admin);
  let port: number;
  let adminPort: number;
  try {
    port = await listen(server, config.listenPort, config.listenHost);
    adminPort = await listen(adminServer, config.adminPort, config.adminHost);
  } catch (e) {
    server.close();
    file?.stop();
    await api?.stop();
    client?.close();
    throw e;
  }
  const url = urlOf(config.listenHost, port);
  const adminUrl = urlOf(config.adminHost, adminPort);

  if (config.routingApi !== undefined) {
    acks = new AckReporter(holder, log, {
      client: client!,
      rule: config.rule,
      sidecar: config.sidecarId,
      cell: config.cell,
      zone: config.zone,
      intervalSeconds: config.ackIntervalSeconds,
    });
    acks.start();
  }
  log.info(
    { url, adminUrl, rule: config.rule, cell: config.cell, zone: config.zone, epoch: holder.epoch },
    "ldc sidecar listening",
  );

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      stopping = true;
      proxy.draining = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      const adminClosed = new Promise<void>((resolve) => adminServer.close(() => resolve()));
      adminServer.closeAllConnections();
      server.closeIdleConnections();
      const deadline = Date.now() + config.shutdownGraceSeconds * 1000;
      while (proxy.inFlight > 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
        server.closeIdleConnections();
      }
      server.closeAllConnections();
      await Promise.all([closed, adminClosed]);
      file?.stop();
      await Promise.all([api?.stop(), acks?.stop()]);
      proxy.close();
      client?.close();
      log.info("ldc sidecar stopped");
    })();
    return closing;
  };

  return {
    url,
    port,
    adminUrl,
    adminPort,
    metrics,
    currentEpoch: () => holder.epoch,
    table: () => holder.current?.table,
    waitForEpoch: (epoch, signal) => holder.waitForEpoch(epoch, signal),
    lease,
    close,
  };
}

function listen(server: http.Server, port: number, host: string): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/** A URL to reach a listener: loopback for a wildcard address. */
function urlOf(listenHost: string, port: number): string {
  const host = listenHost === "0.0.0.0" || listenHost === "::" ? "127.0.0.1" : listenHost;
  return `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
}
