// The operator's routing API: sidecars and gateways read routing tables here
// (long-poll for fast push) and report the epoch they hold. An express Router
// the operator mounts on its RuntimeServer; it reads a TableStore and has no
// Kubernetes dependency.
//
//   GET  /v1/rules                                   list: name, epoch, hash, etag
//   GET  /v1/rules/:rule/table                       the serialised table (ETag, If-None-Match -> 304)
//   GET  /v1/rules/:rule/table?waitForEpochAfter=E&timeoutSeconds=30
//                                                    long-poll: at once if epoch > E, else when a newer
//                                                    table is published, or 304 at the timeout
//   GET  /v1/rules/:rule/lookup?key=K                debug: key -> shard, cell, zone, frozen
//   GET  /v1/rules/:rule/convergence                 sidecars seen recently and the epochs they hold
//   POST /v1/rules/:rule/acks                        a sidecar reports its epoch (authenticated)
//
// Every /v1 request, read or write, needs an identity from opts.authenticate
// (401 otherwise): tables, leases and the long-poll slots are for sidecars,
// not for anyone who can reach the port. The server's /healthz and /readyz
// (src/runtime/server.ts) stay public. Long-polls are bounded per client
// (429 + Retry-After beyond its share) and in all (503 + Retry-After).
// Errors are JSON `{error, field?, fix?}`.
//
// Leases (docs/fencing.md): a table answer (200 or 304) to a caller that names
// its zone (`?zone=<zone>&sidecar=<id>`) carries `x-ldc-lease-ms: <L>`; the
// sidecar may accept writes until L ms after it sent that request, and the
// store records the grant per zone for fencedAt. A caller that names no zone
// gets no lease: a grant nobody can attribute to a zone could not be fenced.
//
// A replica that is not the leader holds no routing state: every /v1 endpoint
// answers 503 + Retry-After: 1 (opts.isLeader).

import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";
import express from "express";
import type { NextFunction, Request, Response, Router } from "express";
import type { RoutingTable } from "../routing/index.ts";
import { MAX_KEY_BYTES } from "../routing/index.ts";
import { LEASE_HEADER } from "./fencing.ts";
import type { TableStore } from "./store.ts";

/**
 * The principal that sent a request (a name for audit), a falsy value for
 * "not authenticated", or a refusal saying why and how to fix it (401).
 */
export type AuthResult = string | undefined | null | false | AuthRefusal;

/**
 * Why a write's credentials were refused, answered as `{error, field:
 * "Authorization", fix}` with 401, or with 503 + Retry-After: 1 when they
 * could not be checked now (`unavailable`).
 */
export interface AuthRefusal {
  readonly refused: string;
  readonly fix: string;
  readonly unavailable?: boolean;
}

export interface RoutingApiOptions {
  /**
   * Checks the credentials of a request, read or write (the bearer token in
   * `Authorization`). Returns the caller's name, or a falsy value to refuse.
   * Without it every /v1 request is refused.
   */
  authenticate?: (req: IncomingMessage) => AuthResult | Promise<AuthResult>;
  /** Long-poll timeouts above this are lowered to it. Default 60 s. */
  maxTimeoutSeconds?: number;
  /** Long-poll timeout when the caller gives none. Default 30 s. */
  defaultTimeoutSeconds?: number;
  /** Most concurrent long-polls per rule; more are answered 503 + Retry-After. Default 10,000. */
  maxWaitersPerRule?: number;
  /** Most concurrent long-polls in all (every rule); more are answered 503 + Retry-After. Default 20,000. */
  maxWaiters?: number;
  /**
   * Most concurrent long-polls of one client; more are answered 429 +
   * Retry-After. A sidecar holds one. Default 4. The client is the principal
   * when it names one caller (ackIdentity "principal": a relay's pod
   * identity); with a shared bearer token, the principal and the `sidecar`
   * the caller names (else its address).
   */
  maxWaitersPerClient?: number;
  /** Largest request body (acks). Default "16kb". */
  bodyLimit?: string | number;
  /** Called with unexpected errors (they are answered 500). */
  onError?: (err: unknown, req: Request) => void;
  /**
   * Lease granted with table answers (x-ldc-lease-ms). Default: the store's
   * (TableStore.leaseGrants().leaseMs); never longer than it, or fencing would
   * end before the leases do.
   */
  leaseMs?: number;
  /** Whether this replica leads (holds the routing state). Default: always. */
  isLeader?: () => boolean;
  /** Most distinct zones leases are granted to; beyond it new zones get no lease. Default 10,000. */
  maxLeaseZones?: number;
  /** Server clock for recorded grants (ms). Default Date.now. */
  now?: () => number;
  /**
   * The lease this server may grant right now (ms), or undefined for none: a
   * relay grants only what is left of its own lease (src/relay). Capped by
   * leaseMs. Default: leaseMs, always.
   */
  grantableLeaseMs?: () => number | undefined;
  /**
   * Whose ack it is: "body" (default) keys an ack by the sender-chosen
   * `sidecar` field; "principal" by the authenticated principal (a relay's
   * per-pod identity, "<namespace>/<pod>"), the field then being ignored.
   */
  ackIdentity?: "body" | "principal";
}

export interface ApiError {
  error: string;
  field?: string;
  fix?: string;
}

/** Answers `{error, field?, fix?}` with `status`. */
function fail(res: Response, status: number, body: ApiError): void {
  res.status(status).set("Cache-Control", "no-store").json(body);
}

const EPOCH = /^(0|[1-9][0-9]{0,15})$/;
const ZONE = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const SECONDS = /^[0-9]{1,9}(\.[0-9]{1,6})?$/;
const MAX_ID = 253;

/**
 * A bearer-token authenticator for `authenticate`: accepts any of `tokens`
 * (a list, or a function returning the current list, e.g. re-read from a
 * Secret), compared in constant time. The principal is `name` (default "sidecar").
 */
export function bearerTokenAuthenticator(
  tokens: Iterable<string> | (() => Iterable<string>),
  name = "sidecar",
): (req: IncomingMessage) => AuthResult {
  const digest = (s: string): Buffer => createHash("sha256").update(s).digest();
  return (req) => {
    const token = bearerToken(req);
    if (token === undefined) return undefined;
    const got = digest(token);
    let ok = false;
    for (const t of typeof tokens === "function" ? tokens() : tokens) {
      if (t.length > 0 && timingSafeEqual(got, digest(t))) ok = true;
    }
    return ok ? name : undefined;
  };
}

/** The token of an `Authorization: Bearer <token>` header, if any. */
export function bearerToken(req: IncomingMessage): string | undefined {
  const h = req.headers.authorization;
  if (typeof h !== "string") return undefined;
  const m = /^Bearer[ \t]+([A-Za-z0-9\-._~+/]+=*)[ \t]*$/i.exec(h);
  return m?.[1];
}

/** One query parameter: undefined when absent; an ApiError when repeated. */
function queryParam(req: Request, name: string): string | undefined | ApiError {
  const v: unknown = (req.query as Record<string, unknown>)[name];
  if (v === undefined) return undefined;
  if (typeof v !== "string") {
    return { error: `query parameter ${name} is given more than once`, field: name, fix: `pass ${name} once` };
  }
  return v;
}

const isApiError = (v: unknown): v is ApiError => typeof v === "object" && v !== null && "error" in v;

/** Whether `If-None-Match` matches `etag` (strong or weak form, a list, or "*"). */
function noneMatch(req: Request, etag: string): boolean {
  const h = req.headers["if-none-match"];
  if (typeof h !== "string" || h.length > 4096) return false;
  for (const part of h.split(",")) {
    const t = part.trim();
    if (t === "*" || t === etag || t === `W/${etag}`) return true;
  }
  return false;
}

function sendTable(res: Response, table: RoutingTable, lease: Record<string, string>): void {
  res
    .status(200)
    .set({
      "Content-Type": "application/json; charset=utf-8",
      ETag: table.etag,
      "Cache-Control": "no-cache",
      "X-Ldc-Epoch": String(table.epoch),
      ...lease,
    })
    .end(table.serialize());
}

function notModified(res: Response, table: RoutingTable, lease: Record<string, string>): void {
  res
    .status(304)
    .set({ ETag: table.etag, "Cache-Control": "no-cache", "X-Ldc-Epoch": String(table.epoch), ...lease })
    .end();
}

/** 503 for a replica that does not lead. */
function notLeader(res: Response): void {
  // Connection: close, so the retry opens a new connection the Service may send to the leader
  // (a kept-alive one stays with this replica).
  res.set({ "Retry-After": "1", Connection: "close" });
  fail(res, 503, {
    error: "this replica is not the leader",
    fix: "retry: the Service sends the next request to another replica",
  });
}

/** Why `key` is malformed for `table` (the lookup endpoint's 400). */
function keyProblem(table: RoutingTable, key: string): ApiError {
  const fn = table.function.type;
  const base = { field: "key" };
  if (Buffer.byteLength(key, "utf8") > MAX_KEY_BYTES) {
    return { ...base, error: `key is longer than ${MAX_KEY_BYTES} UTF-8 bytes`, fix: "pass the routing key itself" };
  }
  if (!table.matchesKeyPattern(key)) {
    return {
      ...base,
      error: `key ${JSON.stringify(key)} does not match the rule's key pattern /${table.keyPattern}/`,
      fix: "pass a key matching spec.key.pattern",
    };
  }
  if (fn === "Digits" || fn === "Modulo") {
    return {
      ...base,
      error: `key ${JSON.stringify(key)} is not a decimal id: the ${fn} shard function takes 1 to 256 ASCII digits 0-9`,
      fix: "pass a decimal user id, e.g. key=2088001234",
    };
  }
  return { ...base, error: `key ${JSON.stringify(key)} is malformed for the ${fn} shard function` };
}

/** The routing API as an express Router; mount it at the server's root. */
export function createRoutingApi(store: TableStore, opts: RoutingApiOptions = {}): Router {
  const maxTimeout = opts.maxTimeoutSeconds ?? 60;
  const defaultTimeout = Math.min(opts.defaultTimeoutSeconds ?? 30, maxTimeout);
  const maxWaitersPerRule = opts.maxWaitersPerRule ?? 10_000;
  const maxWaiters = opts.maxWaiters ?? 20_000;
  const maxWaitersPerClient = opts.maxWaitersPerClient ?? 4;
  /** Long-polls waiting, in all and per client (the key of waiterClient). */
  let waiting = 0;
  const waitingByClient = new Map<string, number>();
  const storeLeaseMs = store.leaseGrants().leaseMs;
  const leaseMs = opts.leaseMs ?? storeLeaseMs;
  if (!Number.isSafeInteger(leaseMs) || leaseMs < 1 || leaseMs > storeLeaseMs) {
    throw new Error(
      `leaseMs: ${leaseMs} must be a whole number of milliseconds from 1 to the store's lease (${storeLeaseMs}): fencing computes with the store's`,
    );
  }
  const isLeader = opts.isLeader ?? (() => true);
  const maxLeaseZones = opts.maxLeaseZones ?? 10_000;
  const now = opts.now ?? Date.now;
  const router = express.Router();

  // Before everything else under /v1: a non-leader answers nothing from its (empty) state.
  router.use("/v1", (_req, res, next) => {
    if (!isLeader()) return notLeader(res);
    next();
  });
  const json = express.json({ limit: opts.bodyLimit ?? "16kb", type: ["application/json", "application/*+json"] });

  /** The rule's table, or a 404 naming the known rules. */
  const tableOr404 = (req: Request, res: Response): RoutingTable | undefined => {
    const rule = String(req.params.rule);
    const table = store.get(rule);
    if (table === undefined) {
      const known = store.rules().map((r) => r.name);
      fail(res, 404, {
        error: `no routing table for rule ${JSON.stringify(rule.slice(0, 256))}`,
        field: "rule",
        fix:
          known.length === 0
            ? "no rule has a table yet: create a valid ShardingRule and wait for its first epoch"
            : `known rules: ${known.slice(0, 20).join(", ")}${known.length > 20 ? ", …" : ""} (GET /v1/rules lists them)`,
      });
    }
    return table;
  };

  const requireAuth = async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    if (bearerToken(req) === undefined) {
      res.set("WWW-Authenticate", 'Bearer realm="ldc-routing-api"');
      fail(res, 401, {
        error: "authentication required: the routing API's reads and writes need a bearer token",
        field: "Authorization",
        fix: "send Authorization: Bearer <token> (the sidecar reads it from LDC_ROUTING_TOKEN or LDC_ROUTING_TOKEN_FILE)",
      });
      return;
    }
    const who = opts.authenticate === undefined ? undefined : await opts.authenticate(req);
    if (typeof who === "object" && who !== null) {
      if (who.unavailable) res.set("Retry-After", "1");
      else res.set("WWW-Authenticate", 'Bearer realm="ldc-routing-api", error="invalid_token"');
      fail(res, who.unavailable ? 503 : 401, { error: who.refused, field: "Authorization", fix: who.fix });
      return;
    }
    if (!who) {
      res.set("WWW-Authenticate", 'Bearer realm="ldc-routing-api", error="invalid_token"');
      fail(res, 401, {
        error:
          opts.authenticate === undefined
            ? "this routing API accepts no requests: it has no authenticator configured (no tokens)"
            : "invalid bearer token",
        field: "Authorization",
        fix: "use the token the operator issued for sidecars",
      });
      return;
    }
    res.locals.principal = who;
    next();
  };
  // Every /v1 endpoint: reads as well as acks (a 404 for an unknown path too, so nothing is told to strangers).
  router.use("/v1", requireAuth);

  /** Who a long-poll's slots are counted against (maxWaitersPerClient). */
  const waiterClient = (req: Request, res: Response, sidecar: string | undefined): string => {
    const principal = String(res.locals.principal);
    if (opts.ackIdentity === "principal") return principal;
    // A shared token names no one caller: tell them apart by the id they give, else their address.
    return `${principal}\u0000${sidecar ?? req.socket.remoteAddress ?? ""}`;
  };

  router.get("/v1/rules", (_req, res) => {
    res.set("Cache-Control", "no-cache").json({ rules: store.rules() });
  });

  router.get("/v1/rules/:rule/table", async (req, res) => {
    const table = tableOr404(req, res);
    if (table === undefined) return;
    const after = queryParam(req, "waitForEpochAfter");
    const timeoutParam = queryParam(req, "timeoutSeconds");
    const zone = queryParam(req, "zone");
    const sidecar = queryParam(req, "sidecar");
    if (isApiError(after)) return fail(res, 400, after);
    if (isApiError(timeoutParam)) return fail(res, 400, timeoutParam);
    if (isApiError(zone)) return fail(res, 400, zone);
    if (isApiError(sidecar)) return fail(res, 400, sidecar);
    if (zone !== undefined && !ZONE.test(zone)) {
      return fail(res, 400, {
        error: `zone must be a zone name (lower-case letters, digits, - and .), got ${JSON.stringify(zone.slice(0, 64))}`,
        field: "zone",
        fix: "pass the sidecar's zone (LDC_ZONE)",
      });
    }
    if (sidecar !== undefined && (sidecar.length === 0 || sidecar.length > MAX_ID || !/^[\x21-\x7e]+$/.test(sidecar))) {
      return fail(res, 400, {
        error: `sidecar must be a non-empty string of at most ${MAX_ID} visible ASCII characters`,
        field: "sidecar",
        fix: "pass the sidecar's id (LDC_SIDECAR_ID or the pod name)",
      });
    }
    /**
     * The lease header for an answer sent now, recording the grant; none when
     * the caller named no zone or the zone table is full. A replica that lost
     * the lead while the request waited grants nothing (the caller gets 503).
     */
    const lease = (): Record<string, string> | undefined => {
      if (!isLeader()) return undefined;
      if (zone === undefined) return {};
      const grantable = opts.grantableLeaseMs === undefined ? leaseMs : opts.grantableLeaseMs();
      // Whole ms, never more than it may: a fraction rounded up would outlive the relay's own lease.
      const ms = grantable === undefined ? 0 : Math.min(leaseMs, Math.floor(grantable));
      if (!(ms >= 1)) return {};
      const grants = store.leaseGrants().lastGrantByZone;
      if (!grants.has(zone) && grants.size >= maxLeaseZones) return {};
      store.recordLeaseGrant(zone, now());
      return { [LEASE_HEADER]: String(ms) };
    };
    const answer = (t: RoutingTable, modified: boolean): void => {
      const l = lease();
      if (l === undefined) return notLeader(res);
      if (modified) sendTable(res, t, l);
      else notModified(res, t, l);
    };
    if (after === undefined) {
      if (timeoutParam !== undefined) {
        return fail(res, 400, {
          error: "timeoutSeconds is only meaningful with waitForEpochAfter",
          field: "timeoutSeconds",
          fix: "add waitForEpochAfter=<the epoch you hold>",
        });
      }
      return answer(table, !noneMatch(req, table.etag));
    }
    if (!EPOCH.test(after)) {
      return fail(res, 400, {
        error: `waitForEpochAfter must be a non-negative integer, got ${JSON.stringify(after.slice(0, 64))}`,
        field: "waitForEpochAfter",
        fix: "pass the epoch you hold, e.g. waitForEpochAfter=7 (omit it to get the table at once)",
      });
    }
    let timeout = defaultTimeout;
    if (timeoutParam !== undefined) {
      if (!SECONDS.test(timeoutParam)) {
        return fail(res, 400, {
          error: `timeoutSeconds must be a non-negative number of seconds, got ${JSON.stringify(timeoutParam.slice(0, 64))}`,
          field: "timeoutSeconds",
          fix: `pass e.g. timeoutSeconds=30 (at most ${maxTimeout}; larger values are lowered)`,
        });
      }
      timeout = Math.min(Number(timeoutParam), maxTimeout);
    }
    const epoch = Number(after);
    if (table.epoch > epoch) return answer(table, true);
    const rule = table.ruleName;
    const client = waiterClient(req, res, sidecar);
    const mine = waitingByClient.get(client) ?? 0;
    if (mine >= maxWaitersPerClient) {
      res.set("Retry-After", "5");
      return fail(res, 429, {
        error: `this client already has ${mine} long-polls waiting (at most ${maxWaitersPerClient} per client)`,
        fix: "wait for one long-poll's answer before sending the next",
      });
    }
    if (store.waiters(rule) >= maxWaitersPerRule || waiting >= maxWaiters) {
      res.set("Retry-After", "5");
      return fail(res, 503, {
        error:
          waiting >= maxWaiters
            ? `too many long-polls waiting (${maxWaiters})`
            : `too many long-polls waiting on rule ${rule} (${maxWaitersPerRule})`,
        fix: "retry after the Retry-After delay",
      });
    }
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), timeout * 1000);
    const onClose = (): void => ac.abort();
    res.on("close", onClose);
    waiting++;
    waitingByClient.set(client, mine + 1);
    let newer: RoutingTable | undefined;
    try {
      newer = await store.waitForNewer(rule, epoch, ac.signal);
    } finally {
      clearTimeout(timer);
      res.off("close", onClose);
      waiting--;
      const left = (waitingByClient.get(client) ?? 1) - 1;
      if (left > 0) waitingByClient.set(client, left);
      else waitingByClient.delete(client);
    }
    if (res.destroyed || res.writableEnded || req.socket.destroyed) return; // the caller went away
    if (newer !== undefined) return answer(newer, true);
    const current = store.get(rule);
    if (current === undefined) {
      return fail(res, 404, {
        error: `rule ${rule} was deleted: its routing table is no longer published`,
        field: "rule",
        fix: "recreate the ShardingRule, or point the app at another rule (spec.shardingRule of its CellApp)",
      });
    }
    return answer(current, current.epoch > epoch);
  });

  router.get("/v1/rules/:rule/lookup", (req, res) => {
    const table = tableOr404(req, res);
    if (table === undefined) return;
    const key = queryParam(req, "key");
    if (isApiError(key)) return fail(res, 400, key);
    if (key === undefined || key === "") {
      return fail(res, 400, { error: "query parameter key is required", field: "key", fix: "pass ?key=<routing key>" });
    }
    const shard = key.length > 4 * MAX_KEY_BYTES ? -1 : table.shardOf(key);
    if (shard < 0) return fail(res, 400, keyProblem(table, key));
    const owner = table.ownerOf(shard);
    res.set("Cache-Control", "no-cache").json({
      rule: table.ruleName,
      epoch: table.epoch,
      key,
      shard,
      cell: owner.name,
      zone: owner.zone,
      region: owner.region,
      frozen: table.isFrozen(shard),
    });
  });

  router.get("/v1/rules/:rule/convergence", (req, res) => {
    const table = tableOr404(req, res);
    if (table === undefined) return;
    res.set("Cache-Control", "no-cache").json({ rule: table.ruleName, ...store.convergence(table.ruleName) });
  });

  router.post("/v1/rules/:rule/acks", json, (req, res) => {
    const table = tableOr404(req, res);
    if (table === undefined) return;
    const body: unknown = req.body;
    if (typeof body !== "object" || body === null || Array.isArray(body)) {
      return fail(res, 400, {
        error: "expected a JSON object {sidecar, cell, zone, epoch, hash}",
        field: "body",
        fix: "send Content-Type: application/json with the sidecar's id, cell, zone and epoch",
      });
    }
    const b = body as Record<string, unknown>;
    for (const f of ["sidecar", "cell", "zone"] as const) {
      const v = b[f];
      if (typeof v !== "string" || v.length === 0 || v.length > MAX_ID || !/^[\x21-\x7e]+$/.test(v)) {
        return fail(res, 400, {
          error: `${f} must be a non-empty string of at most ${MAX_ID} visible ASCII characters`,
          field: f,
          fix:
            f === "sidecar" ? "send the pod name (or host:port)" : `send the sidecar's ${f} (LDC_${f.toUpperCase()})`,
        });
      }
    }
    const epoch = b.epoch;
    if (typeof epoch !== "number" || !Number.isSafeInteger(epoch) || epoch < 0) {
      return fail(res, 400, {
        error: "epoch must be a non-negative integer",
        field: "epoch",
        fix: "send the epoch of the table the sidecar holds",
      });
    }
    const hash = b.hash;
    if (typeof hash !== "string" || !/^[0-9a-f]{64}$/.test(hash)) {
      return fail(res, 400, {
        error: "hash must be the held table's content hash (64 lower-case hex digits)",
        field: "hash",
        fix: "send the contentHash of the table the sidecar holds",
      });
    }
    // An ack counts towards a failover's barrier: it may never claim a table
    // the operator did not publish (a newer epoch, or other content at this one).
    if (epoch > table.epoch) {
      return fail(res, 409, {
        error: `epoch ${epoch} of rule ${table.ruleName} was never published (the current epoch is ${table.epoch})`,
        field: "epoch",
        fix: "acknowledge only an epoch taken from the routing API or the mounted table",
      });
    }
    if (epoch === table.epoch && hash !== table.contentHash) {
      return fail(res, 409, {
        error: `the table acknowledged at epoch ${epoch} is not the one published for rule ${table.ruleName}`,
        field: "hash",
        fix: "acknowledge only a table taken from the routing API or the mounted table",
      });
    }
    const principal = String(res.locals.principal);
    store.recordAck({
      rule: table.ruleName,
      sidecar: opts.ackIdentity === "principal" ? principal : (b.sidecar as string),
      cell: b.cell as string,
      zone: b.zone as string,
      epoch,
      hash,
      principal,
    });
    res
      .set("Cache-Control", "no-store")
      .json({ rule: table.ruleName, epoch: table.epoch, current: epoch >= table.epoch });
  });

  router.use("/v1", (req, res) => {
    fail(res, 404, {
      error: `no such endpoint: ${req.method} ${req.baseUrl}${req.path}`.slice(0, 300),
      fix: "endpoints: GET /v1/rules, GET /v1/rules/<rule>/table, GET /v1/rules/<rule>/lookup?key=K, GET /v1/rules/<rule>/convergence, POST /v1/rules/<rule>/acks",
    });
  });

  // Errors from body parsing and anything unexpected: JSON, never a stack.
  router.use((err: unknown, req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) return next(err);
    const e = err as { type?: string; status?: number; limit?: number; message?: string };
    if (e.type === "entity.too.large") {
      return fail(res, 413, {
        error: `request body too large (limit ${e.limit ?? opts.bodyLimit ?? "16kb"} bytes)`,
        field: "body",
        fix: "an ack is a small JSON object {sidecar, cell, zone, epoch, hash}",
      });
    }
    if (e.type === "entity.parse.failed") {
      return fail(res, 400, { error: `body is not valid JSON: ${e.message ?? ""}`.slice(0, 300), field: "body" });
    }
    if (typeof e.status === "number" && e.status >= 400 && e.status < 500) {
      return fail(res, e.status, { error: String(e.message ?? "bad request").slice(0, 300) });
    }
    opts.onError?.(err, req);
    return fail(res, 500, { error: "internal error in the routing API" });
  });

  return router;
}
