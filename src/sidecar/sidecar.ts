// The sidecar as a library: startSidecar(config) listens, loads the table
// (file first, then the routing API's long-poll), reports its epoch and
// routes. main.ts is the process around it; tests and benchmarks start it
// in-process.

import http from "node:http";
import type { AddressInfo } from "node:net";
import { pino } from "pino";
import type { Logger } from "pino";
import type { RouteContext, RoutingTable } from "../routing/index.ts";
import type { SidecarConfig } from "./config.ts";
import { Lease } from "./lease.ts";
import type { SidecarMetrics } from "./metrics.ts";
import { createSidecarMetrics } from "./metrics.ts";
import type { PeerResolver } from "./peers.ts";
import { createPeerResolver, targetOf } from "./peers.ts";
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
  /** http://host:port the sidecar listens on. */
  readonly url: string;
  readonly port: number;
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
  const log = opts.logger ?? pino({ level: "silent" });
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
      error: `no such sidecar endpoint ${path.slice(0, 100)}`,
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
    admin,
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
          baseUrl: config.routingApi,
          timeoutSeconds: config.longPollTimeoutSeconds,
          backoffMinMs: opts.backoffMinMs,
          backoffMaxMs: opts.backoffMaxMs,
          lease,
          zone: config.zone,
          sidecar: config.sidecarId,
        });
  api?.start();

  const server = http.createServer({ keepAliveTimeout: 30_000 }, (req, res) => proxy.handle(req, res));
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(config.listenPort, config.listenHost, () => {
        server.off("error", reject);
        resolve();
      });
    });
  } catch (e) {
    file?.stop();
    await api?.stop();
    throw e;
  }
  const port = (server.address() as AddressInfo).port;
  const host = config.listenHost === "0.0.0.0" || config.listenHost === "::" ? "127.0.0.1" : config.listenHost;
  const url = `http://${host.includes(":") ? `[${host}]` : host}:${port}`;

  if (config.routingApi !== undefined) {
    acks = new AckReporter(holder, log, {
      baseUrl: config.routingApi,
      rule: config.rule,
      sidecar: config.sidecarId,
      cell: config.cell,
      zone: config.zone,
      intervalSeconds: config.ackIntervalSeconds,
      token: config.routingToken,
      tokenFile: config.routingTokenFile,
    });
    acks.start();
  }
  log.info(
    { url, rule: config.rule, cell: config.cell, zone: config.zone, epoch: holder.epoch },
    "ldc sidecar listening",
  );

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      stopping = true;
      proxy.draining = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const deadline = Date.now() + config.shutdownGraceSeconds * 1000;
      while (proxy.inFlight > 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
        server.closeIdleConnections();
      }
      server.closeAllConnections();
      await closed;
      file?.stop();
      await Promise.all([api?.stop(), acks?.stop()]);
      proxy.close();
      log.info("ldc sidecar stopped");
    })();
    return closing;
  };

  return {
    url,
    port,
    metrics,
    currentEpoch: () => holder.epoch,
    table: () => holder.current?.table,
    waitForEpoch: (epoch, signal) => holder.waitForEpoch(epoch, signal),
    lease,
    close,
  };
}
