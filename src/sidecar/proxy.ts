// The sidecar's request handling: route each request with the held table and
// serve it locally (the app container), forward it to the owning cell, or
// answer it here (reject, frozen, invalid key, no table). node:http only, no
// framework on the hot path.
//
// Internal headers: every incoming `x-ldc-*` header is untrusted (a client can
// reach this port as well as a peer sidecar can) and is never passed on. What
// the app and a peer receive is this sidecar's own: `x-ldc-key` (the key the
// decision was made on), `x-ldc-epoch`, and on forwards `x-ldc-hops` and
// `x-ldc-forwarded-by`.
//
// Loop protection: an incoming `x-ldc-hops` or `x-ldc-forwarded-by` is read
// only as a restriction: such a request is never forwarded again. The
// receiving sidecar serves it if its own table says this cell owns it (and
// this zone is the cell's active zone); otherwise it answers 421 Misdirected
// Request naming the owner it believes in. A client that forges the marker
// gains nothing: the owner check, the key checks and the freeze apply to every
// request alike; it only turns a forward into a 421. Forwards always carry
// the marker, so a request is forwarded at most once.

import http from "node:http";
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from "node:http";
import type { SidecarLogger as Logger } from "./log.ts";
import type { KeyReport, RouteDecision, RoutingTable } from "../routing/index.ts";
import { describeKeySource, encodeKeyHeader, isWriteRequest, newKeyReport } from "../routing/index.ts";
import type { Lease } from "./lease.ts";
import type { Outcome, SidecarMetrics } from "./metrics.ts";
import type { PeerResolver, Target } from "./peers.ts";
import type { TableHolder } from "./tables.ts";

export const HOPS_HEADER = "x-ldc-hops";
export const FORWARDED_BY_HEADER = "x-ldc-forwarded-by";
export const EPOCH_HEADER = "x-ldc-epoch";
/** The routing key the sidecar decided on, percent-encoded (encodeKeyHeader): the one header apps should read the key from. */
export const KEY_HEADER = "x-ldc-key";
/** Prefix of the headers only sidecars set: stripped from every incoming request. */
export const INTERNAL_HEADER_PREFIX = "x-ldc-";
export const ADMIN_PREFIX = "/__ldc/";

/** Hop-by-hop headers (RFC 9110 section 7.6.1): never passed on. */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

export interface ProxyOptions {
  readonly holder: TableHolder;
  /** Writes are refused while it is not valid (fencing, lease.ts). */
  readonly lease: Lease;
  readonly app: Target;
  readonly peers: PeerResolver;
  readonly metrics: SidecarMetrics;
  readonly log: Logger;
  /** cell@zone of this sidecar, for x-ldc-forwarded-by. */
  readonly self: string;
  readonly upstreamTimeoutMs: number;
  /** Most requests passed on at once (local and forwarded); beyond, 503 + Retry-After: nothing queues without bound. */
  readonly maxConcurrent: number;
}

/** The headers to pass on; `request`: also drops every client-sent x-ldc-* header. */
function copyHeaders(src: IncomingHttpHeaders, request: boolean): OutgoingHttpHeaders {
  const conn = src.connection;
  const listed = typeof conn === "string" && conn !== "close" && conn !== "keep-alive" ? conn.toLowerCase() : undefined;
  const out: OutgoingHttpHeaders = {};
  for (const name in src) {
    if (HOP_BY_HOP.has(name)) continue;
    if (request && name.startsWith(INTERNAL_HEADER_PREFIX)) continue;
    if (listed !== undefined && listed.split(",").some((t) => t.trim() === name)) continue;
    out[name] = src[name];
  }
  return out;
}

/** Writes a JSON answer produced by the sidecar itself. */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: Record<string, unknown>,
  headers?: OutgoingHttpHeaders,
): void {
  const data = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(data),
    "cache-control": "no-store",
  });
  res.end(data);
}

/** Whether a request target is under /__ldc/ (origin or absolute form): served on the admin port only. */
export function isAdminPath(url: string): boolean {
  let path = url;
  if (!url.startsWith("/")) {
    try {
      path = new URL(url).pathname;
    } catch {
      return false;
    }
  }
  return path === "/__ldc" || path.startsWith(ADMIN_PREFIX);
}

export interface Proxy {
  handle(req: IncomingMessage, res: ServerResponse): void;
  /** Requests in progress. */
  readonly inFlight: number;
  /** Set while shutting down: answers carry Connection: close. */
  draining: boolean;
  close(): void;
}

export function createProxy(opts: ProxyOptions): Proxy {
  const { holder, metrics, log } = opts;
  // As many sockets per upstream as requests may be passed on: the agent never queues (its queue has no bound).
  const agent = new http.Agent({
    keepAlive: true,
    maxSockets: opts.maxConcurrent,
    maxFreeSockets: 64,
    scheduling: "lifo",
  });
  let inFlight = 0;
  /** Requests being passed on to the app or a peer (at most maxConcurrent). */
  let upstream = 0;

  const proxy: Proxy = {
    draining: false,
    get inFlight() {
      return inFlight;
    },
    close() {
      agent.destroy();
    },
    handle(req, res) {
      if (isAdminPath(req.url ?? "/")) {
        // Health, metrics and the table are on the admin port only; refused, not passed to the app.
        sendJson(res, 404, {
          error: `${ADMIN_PREFIX}* is not served on the sidecar's traffic port`,
          fix: "use the sidecar's admin port (LDC_ADMIN_LISTEN, the pod's ldc-admin port) from inside the cluster",
        });
        return;
      }
      const start = performance.now();
      inFlight++;
      const st: RequestState = { outcome: "error" };
      res.once("close", () => {
        inFlight--;
        metrics.request(st.outcome, (performance.now() - start) / 1000);
      });
      if (proxy.draining) res.shouldKeepAlive = false;
      try {
        st.outcome = dispatch(req, res, st);
      } catch (e) {
        // Never expected (route() does not throw); never crash the sidecar for it.
        log.error({ err: e }, "request handling failed");
        st.outcome = "error";
        if (!res.headersSent) sendJson(res, 500, { error: "internal error in the ldc sidecar" });
        else res.destroy();
      }
    },
  };

  /** Routes one request; returns its outcome (a failed local or forwarded request turns it into "error" later). */
  function dispatch(req: IncomingMessage, res: ServerResponse, st: RequestState): Outcome {
    const cur = holder.current;
    if (cur === undefined) {
      sendJson(
        res,
        503,
        {
          error: "no routing table yet",
          fix: "the sidecar is waiting for its table file or the operator's routing API",
        },
        { "retry-after": "1" },
      );
      return "error";
    }
    const epoch = cur.table.epoch;
    // A method override naming a write is a write (isWriteRequest), here as for the freeze.
    if (isWriteRequest(cur.table, req) && !opts.lease.valid()) {
      // Fencing: the operator may already have given this table's shards to another zone.
      const silent = Math.round(opts.lease.silentMs());
      sendJson(
        res,
        503,
        {
          error: `routing lease expired: this sidecar has not heard from the routing API for ${silent} ms; writes are refused until it does, so a zone cut off from the operator never writes data another zone may now own`,
          fix: `restore this zone's connection to the routing API (${opts.lease.source ?? "LDC_ROUTING_API"}); writes resume with its next answer, reads are served meanwhile`,
          epoch,
        },
        { "retry-after": "1" },
      );
      return "lease_expired";
    }
    const report = newKeyReport();
    const d: RouteDecision = cur.route(req, report);
    switch (d.kind) {
      case "Local":
        return pass(req, res, st, opts.app, undefined, epoch, report);
      case "Forward": {
        if (req.headers[HOPS_HEADER] !== undefined || req.headers[FORWARDED_BY_HEADER] !== undefined) {
          // The marker is not trusted (not echoed): it only stops a second forward.
          sendJson(res, 421, {
            error: `misdirected request: already forwarded (it carries ${HOPS_HEADER} or ${FORWARDED_BY_HEADER}), but at epoch ${epoch} cell ${d.cell} in zone ${d.zone} owns it, not ${opts.self}; it is not forwarded twice`,
            ownerCell: d.cell,
            zone: d.zone,
            epoch,
            fix: "retry: the sidecars are converging on a new routing table",
          });
          return "rejected";
        }
        const target = opts.peers(d.cell, d.zone);
        if (target === undefined) {
          sendJson(res, 502, {
            error: `no address for cell ${d.cell} in zone ${d.zone}`,
            fix: "set LDC_APP and LDC_NAMESPACE (peer Service names) or map the cell in LDC_PEERS",
          });
          return "error";
        }
        metrics.forwarded(d.cell);
        return pass(req, res, st, target, d.cell, epoch, report);
      }
      case "Reject":
        sendJson(
          res,
          d.status,
          { error: d.reason, ownerCell: d.ownerCell, zone: d.zone, via: d.via, epoch },
          { "x-ldc-owner-cell": d.ownerCell, "x-ldc-owner-zone": d.zone },
        );
        return "rejected";
      case "Frozen":
        sendJson(
          res,
          503,
          {
            error: "writes to this key's shard are frozen while its cell moves; retry after Retry-After seconds",
            epoch,
            retryAfterSeconds: d.retryAfterSeconds,
          },
          { "retry-after": String(d.retryAfterSeconds) },
        );
        return "frozen";
      case "InvalidKey":
        sendJson(res, 400, { ...invalidKeyAnswer(cur.table, d.reason, report), epoch });
        return "invalid_key";
      case "Unroutable":
        sendJson(res, 503, { error: d.reason, epoch });
        return "error";
    }
  }

  /** Streams the request to `target` and its answer back. `forwardTo` set: a forward to another cell. */
  function pass(
    req: IncomingMessage,
    res: ServerResponse,
    st: RequestState,
    target: Target,
    forwardTo: string | undefined,
    epoch: number,
    report: KeyReport,
  ): Outcome {
    if (upstream >= opts.maxConcurrent) {
      // Slow clients or a slow upstream hold every slot: refuse now rather than queue without bound.
      sendJson(
        res,
        503,
        {
          error: `the sidecar is passing on ${opts.maxConcurrent} requests already (LDC_MAX_CONCURRENT_REQUESTS)`,
          fix: "retry after Retry-After seconds",
          epoch,
        },
        { "retry-after": "1" },
      );
      return "overloaded";
    }
    upstream++;
    res.once("close", () => upstream--);
    const headers = copyHeaders(req.headers, true);
    if (forwardTo !== undefined) {
      headers[HOPS_HEADER] = "1";
      headers[FORWARDED_BY_HEADER] = opts.self;
    }
    headers[EPOCH_HEADER] = String(epoch);
    if (typeof report.key === "string") headers[KEY_HEADER] = encodeKeyHeader(report.key);
    const remote = req.socket.remoteAddress;
    if (remote !== undefined) {
      const xff = req.headers["x-forwarded-for"];
      headers["x-forwarded-for"] = typeof xff === "string" ? `${xff}, ${remote}` : remote;
    }
    const path = target.basePath + (req.url ?? "/");
    const up = http.request({
      host: target.host,
      port: target.port,
      method: req.method,
      path,
      headers,
      agent,
      timeout: opts.upstreamTimeoutMs,
    });
    let failed = false;
    const fail = (status: number, why: string): void => {
      if (failed) return;
      failed = true;
      st.outcome = "error";
      up.destroy();
      if (!res.headersSent) {
        sendJson(res, status, {
          error: `${forwardTo === undefined ? "the local app" : `cell ${forwardTo}`} at ${target.url}: ${why}`,
        });
      } else res.destroy();
    };
    up.on("timeout", () => fail(504, `no answer within ${opts.upstreamTimeoutMs / 1000}s`));
    up.on("error", (e: NodeJS.ErrnoException) => fail(502, `unreachable (${e.code ?? e.message})`));
    up.on("response", (ur) => {
      const h = copyHeaders(ur.headers, false);
      res.writeHead(ur.statusCode ?? 502, ur.statusMessage, h);
      ur.pipe(res);
      ur.on("error", () => res.destroy());
    });
    res.once("close", () => {
      if (!res.writableFinished) up.destroy();
    });
    // Headers go now, not with the first body chunk: the upstream sees a slow upload as it starts.
    up.flushHeaders();
    req.pipe(up);
    req.on("error", () => up.destroy());
    return failed ? "error" : forwardTo === undefined ? "local" : "forwarded";
  }

  return proxy;
}

/** What a key that cannot be routed needs: 1-256 digits for Digits and Modulo, 1-256 UTF-8 bytes for Hash; the pattern. */
function keyRequirement(table: RoutingTable): string {
  const what = table.function.type === "Hash" ? "1 to 256 UTF-8 bytes" : "1 to 256 decimal digits (0-9)";
  return table.keyPattern === undefined ? what : `${what} matching /${table.keyPattern}/`;
}

/**
 * The 400 answer for a key that cannot be routed: which source(s), why, and
 * the fix. Never echoes the request's values (they may be huge or hostile).
 */
export function invalidKeyAnswer(
  table: RoutingTable,
  reason: "missing" | "malformed" | "conflict",
  report: KeyReport,
): { error: string; fix: string; source?: string; otherSource?: string } {
  const sources = table.key;
  const where = sources.map(describeKeySource).join(", ");
  const at =
    report.source >= 0 && report.source < sources.length ? describeKeySource(sources[report.source]!) : undefined;
  if (reason === "conflict") {
    const other =
      report.other >= 0 && report.other < sources.length ? describeKeySource(sources[report.other]!) : undefined;
    const both =
      at === undefined ? "" : other === undefined || other === at ? `${at} (more than once)` : `${at} and ${other}`;
    return {
      error: `the routing key is given twice and differs${both ? `: ${both}` : ""}`,
      fix: "send the key once, or the same value in every place",
      ...(at === undefined ? {} : { source: at }),
      ...(other === undefined ? {} : { otherSource: other }),
    };
  }
  if (reason === "malformed") {
    const why = report.reason !== "" ? report.reason : `is not ${keyRequirement(table)}`;
    return {
      error: `the routing key${at === undefined ? "" : ` in ${at}`} is malformed: it ${why}`,
      fix: `send one key of ${keyRequirement(table)} in ${where}, written the same way wherever it appears`,
      ...(at === undefined ? {} : { source: at }),
    };
  }
  return { error: "the routing key is missing", fix: `send the routing key (${keyRequirement(table)}) in ${where}` };
}

/** Per request: its outcome, read when the response closes. */
interface RequestState {
  outcome: Outcome;
}
