// The routing decision of a cell router (sidecar): serve locally, forward to
// the owning cell, reject (unit protection), refuse a write to a frozen
// shard, or refuse an invalid key. Allocation-light: decisions are shared,
// immutable objects cached per table and cell; a request allocates at most
// its extracted key.

import type { KeyReader, KeyReport, KeyResult, KeySource, RequestLike } from "./key.ts";
import { KEY_CONFLICT, KEY_MISSING, extractKey, keyReader } from "./key.ts";
import type { RoutingTable } from "./table.ts";

/** The scope of the app the request is for (a CellApp's scope). */
export type AppScope = "Regional" | "Global" | "City";
/** Why a cell was chosen: it owns the key's shard, it is the global cell, or it is the caller region's City cell. */
export type RouteVia = "Owner" | "Global" | "City";

export interface RouteContext {
  /** The cell this router runs in. */
  readonly localCell: string;
  /** The region (city) this router runs in: City-scope reads stay in it. */
  readonly localRegion: string;
  /**
   * The zone this router runs in. When given, the local cell counts as local
   * only in its ACTIVE zone: a router next to a standby copy forwards (or
   * rejects) instead of serving, so a failed-over cell is never written in
   * two zones.
   */
  readonly localZone?: string | undefined;
  /** The target app's scope. Default Regional. */
  readonly scope?: AppScope | undefined;
}

/** Serve here. */
export interface LocalDecision {
  readonly kind: "Local";
  readonly cell: string;
  readonly zone: string;
  readonly via: RouteVia;
}
/** Pass the request on to `cell` in `zone`. */
export interface ForwardDecision {
  readonly kind: "Forward";
  readonly cell: string;
  readonly zone: string;
  readonly via: RouteVia;
}
/**
 * Unit protection (unitProtection Reject): the request belongs to another
 * cell. 421 Misdirected Request for reads (retry at ownerCell); 403 Forbidden
 * for writes (a cell never takes another cell's writes).
 */
export interface RejectDecision {
  readonly kind: "Reject";
  readonly status: 421 | 403;
  readonly ownerCell: string;
  readonly zone: string;
  readonly via: RouteVia;
  readonly reason: string;
}
/** A write to a write-frozen shard: 503 with Retry-After; never passed on. */
export interface FrozenDecision {
  readonly kind: "Frozen";
  readonly status: 503;
  readonly retryAfterSeconds: number;
}
/**
 * The routing key is missing (onInvalidKey Reject), malformed (present but
 * unusable: always refused), or given twice with different values (always
 * refused).
 */
export interface InvalidKeyDecision {
  readonly kind: "InvalidKey";
  readonly status: 400;
  readonly reason: "missing" | "malformed" | "conflict";
}
/** No cell can take the request (e.g. Global scope but the rule has no global cell). */
export interface UnroutableDecision {
  readonly kind: "Unroutable";
  readonly status: 503;
  readonly reason: string;
}

export type RouteDecision =
  LocalDecision | ForwardDecision | RejectDecision | FrozenDecision | InvalidKeyDecision | UnroutableDecision;

const VIAS: readonly RouteVia[] = ["Owner", "Global", "City"];
const VIA_OWNER = 0;
const VIA_GLOBAL = 1;
const VIA_CITY = 2;

const INVALID_MISSING: InvalidKeyDecision = Object.freeze({ kind: "InvalidKey", status: 400, reason: "missing" });
const INVALID_MALFORMED: InvalidKeyDecision = Object.freeze({ kind: "InvalidKey", status: 400, reason: "malformed" });
const INVALID_CONFLICT: InvalidKeyDecision = Object.freeze({ kind: "InvalidKey", status: 400, reason: "conflict" });
const NO_GLOBAL: UnroutableDecision = Object.freeze({
  kind: "Unroutable",
  status: 503,
  reason: "the request needs the global cell, but the sharding rule has no spec.globalCell",
});

/** Shared decision objects of one table, made on first use. */
class Decisions {
  readonly table: RoutingTable;
  readonly frozen: FrozenDecision;
  lastCtx: RouteContext | undefined;
  lastResolved: Resolved | undefined;
  readonly #local: (LocalDecision | undefined)[] = [];
  readonly #forward: (ForwardDecision | undefined)[] = [];
  readonly #reject: (RejectDecision | undefined)[] = [];

  constructor(table: RoutingTable) {
    this.table = table;
    this.frozen = Object.freeze({ kind: "Frozen", status: 503, retryAfterSeconds: table.frozenRetryAfterSeconds });
  }

  local(cell: number, via: number): LocalDecision {
    const i = cell * 3 + via;
    let d = this.#local[i];
    if (d === undefined) {
      const c = this.table.cells[cell]!;
      d = Object.freeze({ kind: "Local", cell: c.name, zone: c.zone, via: VIAS[via]! });
      this.#local[i] = d;
    }
    return d;
  }

  forward(cell: number, via: number): ForwardDecision {
    const i = cell * 3 + via;
    let d = this.#forward[i];
    if (d === undefined) {
      const c = this.table.cells[cell]!;
      d = Object.freeze({ kind: "Forward", cell: c.name, zone: c.zone, via: VIAS[via]! });
      this.#forward[i] = d;
    }
    return d;
  }

  reject(cell: number, via: number, write: boolean): RejectDecision {
    const i = (cell * 3 + via) * 2 + (write ? 1 : 0);
    let d = this.#reject[i];
    if (d === undefined) {
      const c = this.table.cells[cell]!;
      const whose =
        via === VIA_OWNER
          ? `the key's shard is owned by cell ${c.name}`
          : via === VIA_GLOBAL
            ? `the request belongs to the global cell ${c.name}`
            : `the request belongs to the City cell ${c.name}`;
      d = Object.freeze({
        kind: "Reject",
        status: write ? 403 : 421,
        ownerCell: c.name,
        zone: c.zone,
        via: VIAS[via]!,
        reason: `${whose} in zone ${c.zone}; unit protection ${write ? "refuses writes for" : "rejects requests for"} other cells`,
      });
      this.#reject[i] = d;
    }
    return d;
  }
}

const cache = new WeakMap<RoutingTable, Decisions>();
function decisionsFor(table: RoutingTable): Decisions {
  let d = cache.get(table);
  if (d === undefined) {
    d = new Decisions(table);
    cache.set(table, d);
  }
  return d;
}

/** The router's context, resolved against one table. */
interface Resolved {
  readonly d: Decisions;
  readonly table: RoutingTable;
  readonly localIndex: number;
  readonly localActive: boolean;
  readonly forward: boolean;
  readonly scope: AppScope;
  readonly cityIndex: number;
  readonly readKey: KeyReader;
}

function resolve(table: RoutingTable, ctx: RouteContext): Resolved {
  const localIndex = table.cellIndex(ctx.localCell);
  const local = localIndex >= 0 ? table.cells[localIndex] : undefined;
  return {
    d: decisionsFor(table),
    table,
    localIndex,
    localActive: local !== undefined && (ctx.localZone === undefined || ctx.localZone === local.zone),
    forward: table.unitProtection === "Forward",
    scope: ctx.scope ?? "Regional",
    cityIndex: table.cityCellIndex(ctx.localRegion),
    readKey: keyReader(table.key),
  };
}

/** The last context resolved for a table: a router passes the same ctx object on every call. */
function resolveCached(table: RoutingTable, ctx: RouteContext): Resolved {
  const d = decisionsFor(table);
  if (d.lastCtx === ctx && d.lastResolved !== undefined) return d.lastResolved;
  const r = resolve(table, ctx);
  d.lastCtx = ctx;
  d.lastResolved = r;
  return r;
}

function toCell(r: Resolved, cell: number, via: number, write: boolean): RouteDecision {
  if (cell === r.localIndex && r.localActive) return r.d.local(cell, via);
  return r.forward ? r.d.forward(cell, via) : r.d.reject(cell, via, write);
}

function toGlobal(r: Resolved, write: boolean): RouteDecision {
  const g = r.table.globalCellIndex;
  return g < 0 ? NO_GLOBAL : toCell(r, g, VIA_GLOBAL, write);
}

/** Global- and City-scope requests: the key does not matter. */
function decideScoped(r: Resolved, write: boolean): RouteDecision {
  if (r.scope === "Global" || write || r.cityIndex < 0) return toGlobal(r, write);
  return toCell(r, r.cityIndex, VIA_CITY, write);
}

/**
 * Regional-scope requests: the key's shard decides. Only a missing key may go
 * to the global cell (onInvalidKey Global): a present key that is unusable or
 * ambiguous is refused, so no app behind the global cell (or any cell) reads a
 * user the router did not route by.
 */
function decideKey(r: Resolved, key: KeyResult, write: boolean): RouteDecision {
  const table = r.table;
  if (typeof key !== "string") {
    if (key === KEY_MISSING) return table.onInvalidKey === "Reject" ? INVALID_MISSING : toGlobal(r, write);
    return key === KEY_CONFLICT ? INVALID_CONFLICT : INVALID_MALFORMED;
  }
  const shard = table.shardOf(key);
  if (shard < 0) return INVALID_MALFORMED;
  if (write && table.isFrozen(shard)) return r.d.frozen;
  return toCell(r, table.ownerIndex(shard), VIA_OWNER, write);
}

function decideRequest(r: Resolved, req: RequestLike, report: KeyReport | undefined): RouteDecision {
  const write = isWriteRequest(r.table, req);
  if (r.scope !== "Regional") {
    if (report !== undefined) r.readKey(req, report); // for the app's x-ldc-key only
    return decideScoped(r, write);
  }
  return decideKey(r, r.readKey(req, report), write);
}

/** Methods that never write, whatever an override names. */
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS", "TRACE"]);
/** An override value that names anything but a safe method (or several values) counts as a write. */
function overridesToWrite(v: unknown): boolean {
  if (v === undefined) return false;
  if (typeof v !== "string") return true;
  return !SAFE_METHODS.has(v.trim().toUpperCase());
}

const METHOD_PARAM: readonly KeySource[] = [{ type: "Query", name: "_method" }];
const NO_HEADERS: RequestLike["headers"] = Object.freeze({});

/**
 * Whether `req` writes: its method is one of the rule's writeMethods, or it
 * carries a method override (X-HTTP-Method-Override, X-HTTP-Method,
 * X-Method-Override, `_method` in the query) naming anything but GET, HEAD,
 * OPTIONS or TRACE: apps that honour overrides would write, so the freeze
 * must see a write.
 */
export function isWriteRequest(table: RoutingTable, req: RequestLike): boolean {
  if (table.isWriteMethod(req.method)) return true;
  const h = req.headers;
  // The headers frameworks read to replace the method (Rails, Express method-override, ASP.NET, Spring, Symfony);
  // written out: this runs for every read.
  if (h !== null && typeof h === "object") {
    if (
      overridesToWrite(h["x-http-method-override"]) ||
      overridesToWrite(h["x-http-method"]) ||
      overridesToWrite(h["x-method-override"])
    ) {
      return true;
    }
  }
  const url = req.url;
  if (typeof url !== "string" || url.indexOf("?") < 0) return false;
  const m = extractKey(METHOD_PARAM, { url, headers: NO_HEADERS });
  return typeof m === "string" ? !SAFE_METHODS.has(m.trim().toUpperCase()) : m !== KEY_MISSING;
}

/**
 * Routes one request with `table`. Never throws for any request shape; the
 * decision objects are shared and frozen (do not mutate them). The context is
 * resolved once per (table, ctx object): reuse one ctx object per router.
 */
export function route(table: RoutingTable, req: RequestLike, ctx: RouteContext, report?: KeyReport): RouteDecision {
  return decideRequest(resolveCached(table, ctx), req, report);
}

/** Routes an already extracted key (e.g. from gRPC metadata or a message header). */
export function routeKey(
  table: RoutingTable,
  key: KeyResult,
  method: string | undefined,
  ctx: RouteContext,
): RouteDecision {
  const r = resolveCached(table, ctx);
  const write = table.isWriteMethod(method);
  return r.scope === "Regional" ? decideKey(r, key, write) : decideScoped(r, write);
}

/** A router bound to one table and context: `router(req, report?)` is `route(table, req, ctx, report)`. */
export function createRouter(
  table: RoutingTable,
  ctx: RouteContext,
): (req: RequestLike, report?: KeyReport) => RouteDecision {
  const r = resolve(table, ctx);
  return (req, report) => decideRequest(r, req, report);
}
