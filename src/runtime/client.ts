// A thin REST client for the Kubernetes API. client-node's KubeConfig is used
// only for configuration and authentication; requests go through node:http(s)
// with a keep-alive agent, watches are streamed line by line, every request
// is rate limited (token bucket) and counted in rest_client_* metrics.
import http from "node:http";
import https from "node:https";
import { hostname } from "node:os";
import type { KubeConfig } from "@kubernetes/client-node";
import type { Connection } from "./kubeconfig.ts";
import { ApiError, type ApiStatus } from "./errors.ts";
import { restClientRateLimiterDuration, restClientRequestDuration, restClientRequests } from "./metrics.ts";
import { TokenBucket } from "./ratelimit.ts";
import { collectionPath, objectPath, resourceFor, type Resource } from "./resources.ts";
import type { AnyObject, KubeObject, ObjectList, WatchEvent } from "./types.ts";

/** The operator's field manager for server-side apply. */
export const FIELD_MANAGER = "ldc-operator";
/** A per-controller field manager: "ldc-operator" or "ldc-operator-<suffix>". */
export function fieldManager(suffix?: string): string {
  return suffix ? `${FIELD_MANAGER}-${suffix}` : FIELD_MANAGER;
}

export interface ClientOptions {
  /** Requests per second (token bucket). Default 50; <= 0 disables. */
  qps?: number;
  /** Token bucket size. Default 100. */
  burst?: number;
  /** Default field manager for apply/create/update/patch. Default "ldc-operator". */
  fieldManager?: string;
  /** Timeout of non-watch requests. Default 30 s. */
  timeoutMs?: number;
  userAgent?: string;
}

export interface ListOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  resourceVersion?: string;
  resourceVersionMatch?: "NotOlderThan" | "Exact";
  limit?: number;
  continue?: string;
}

export interface WatchOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  resourceVersion?: string;
  /** Server-side watch timeout; the server ends the watch cleanly after it. */
  timeoutSeconds?: number;
  /** Default true. */
  allowWatchBookmarks?: boolean;
  /** Called once the server accepted the watch (200, before any event). */
  onOpen?: () => void;
}

export interface WriteOptions {
  fieldManager?: string;
  dryRun?: boolean;
  /**
   * This request's timeout (ms), on the client and passed to the API server
   * (`?timeout=`), which then abandons it at that deadline too. Default: the
   * client's timeout, on the client only.
   */
  timeoutMs?: number;
  /** Called with Date.now() right before the request goes out (after the rate limiter): when it was sent. */
  onSend?: (atMs: number) => void;
}

export interface ApplyOptions extends WriteOptions {
  /** Take ownership of conflicting fields. Default true (controllers own what they apply). */
  force?: boolean;
  /** "status" to apply the status subresource. */
  subresource?: string;
  /** The resource; default: resolved from the object's apiVersion and kind. */
  resource?: Resource;
}

export interface DeleteOptions {
  propagationPolicy?: "Foreground" | "Background" | "Orphan";
  gracePeriodSeconds?: number;
  preconditions?: { uid?: string; resourceVersion?: string };
}

interface RequestSpec {
  method: string;
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
  /** Label for the duration metric; defaults to the method. */
  verb?: string;
  timeoutMs?: number;
  signal?: AbortSignal;
  onSend?: (atMs: number) => void;
}

export interface RawResponse {
  status: number;
  body: string;
}

interface Auth {
  headers: Record<string, string>;
  /** Re-read per request (exec/auth-provider credentials refresh). */
  dynamic: boolean;
}

export class KubeClient {
  /** host:port of the API server, the `host` metric label. */
  readonly host: string;
  readonly server: string;
  readonly fieldManager: string;
  readonly limiter: TokenBucket;
  /** The server's certificate is not verified (insecure-skip-tls-verify). */
  readonly insecureTLS: boolean;
  readonly #conn: Connection;
  readonly #url: URL;
  readonly #agent: http.Agent;
  readonly #tls: https.AgentOptions;
  readonly #timeoutMs: number;
  readonly #userAgent: string;
  #auth: Auth;

  private constructor(conn: Connection, tls: https.AgentOptions, auth: Auth, opts: ClientOptions) {
    this.#conn = conn;
    this.server = conn.server;
    this.#url = new URL(conn.server);
    this.host = this.#url.host;
    this.#tls = tls;
    this.insecureTLS = tls.rejectUnauthorized === false;
    this.#auth = auth;
    this.fieldManager = opts.fieldManager ?? FIELD_MANAGER;
    this.#timeoutMs = opts.timeoutMs ?? 30_000;
    this.#userAgent = opts.userAgent ?? `ldc-operator/${hostname()}`;
    this.limiter = new TokenBucket({ qps: opts.qps ?? 50, burst: opts.burst ?? 100 });
    const agentOpts: https.AgentOptions = { keepAlive: true, maxSockets: 64, ...tls };
    this.#agent = this.#url.protocol === "http:" ? new http.Agent(agentOpts) : new https.Agent(agentOpts);
  }

  /** Build a client from a Connection (src/runtime/kubeconfig.ts: a kubeconfig, in-cluster, ...). */
  static async fromConnection(conn: Connection, opts: ClientOptions = {}): Promise<KubeClient> {
    return new KubeClient(conn, conn.tls, { headers: await conn.headers(), dynamic: conn.dynamic }, opts);
  }

  /**
   * Build a client from a client-node KubeConfig (its current context), for
   * callers that already hold one (tests, tools). The operator itself loads
   * kubeconfigs with src/runtime/kubeconfig.ts.
   */
  static async fromKubeConfig(kc: KubeConfig, opts: ClientOptions = {}): Promise<KubeClient> {
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error("kubeconfig has no current cluster");
    const o: https.RequestOptions = {};
    await kc.applyToHTTPSOptions(o);
    const tls: https.AgentOptions = {};
    for (const k of ["ca", "cert", "key", "pfx", "passphrase", "rejectUnauthorized", "servername"] as const) {
      if (o[k] !== undefined) (tls as Record<string, unknown>)[k] = o[k];
    }
    const user = kc.getCurrentUser();
    const dynamic = Boolean(user?.exec || user?.authProvider);
    const conn: Connection = {
      server: cluster.server,
      source: "client-node KubeConfig",
      tls,
      dynamic,
      headers: async () => {
        const r: https.RequestOptions = {};
        await kc.applyToHTTPSOptions(r);
        return headersOf(r);
      },
    };
    return new KubeClient(conn, tls, { headers: headersOf(o), dynamic }, opts);
  }

  /** The same connection and credentials with another default field manager. */
  withFieldManager(manager: string): KubeClient {
    const c = new KubeClient(this.#conn, this.#tls, this.#auth, {
      fieldManager: manager,
      timeoutMs: this.#timeoutMs,
      userAgent: this.#userAgent,
    });
    // share the rate limiter: it limits the process's load on this server
    (c as { limiter: TokenBucket }).limiter = this.limiter;
    return c;
  }

  /** Release pooled connections. */
  close(): void {
    this.#agent.destroy();
  }

  // ---- reads -------------------------------------------------------------

  async get<T extends KubeObject>(res: Resource, name: string, namespace?: string): Promise<T> {
    return this.#json<T>({ method: "GET", path: objectPath(res, name, namespace) });
  }

  /** get, or undefined when the object does not exist. */
  async tryGet<T extends KubeObject>(res: Resource, name: string, namespace?: string): Promise<T | undefined> {
    try {
      return await this.get<T>(res, name, namespace);
    } catch (e) {
      if (e instanceof ApiError && e.code === 404) return undefined;
      throw e;
    }
  }

  /** One page of a list (use `limit`/`continue` to page, or listAll). */
  async list<T extends KubeObject>(res: Resource, opts: ListOptions = {}): Promise<ObjectList<T>> {
    const list = await this.#json<ObjectList<T>>({
      method: "GET",
      path: collectionPath(res, opts.namespace),
      query: {
        labelSelector: opts.labelSelector,
        fieldSelector: opts.fieldSelector,
        resourceVersion: opts.resourceVersion,
        resourceVersionMatch: opts.resourceVersionMatch,
        limit: opts.limit,
        continue: opts.continue,
      },
    });
    // list items carry no apiVersion/kind: restore them
    list.items = (list.items ?? []).map((i) => ({ apiVersion: apiVersion(res), kind: res.kind, ...i }));
    list.metadata ??= {};
    return list;
  }

  /**
   * All pages of a list, `pageSize` items per request (default 500). `map`
   * is applied to each page's items as it arrives, so a transform that
   * shrinks them (an informer's) lets each page's full objects be collected
   * before the next page is read.
   */
  async listAll<T extends KubeObject>(
    res: Resource,
    opts: Omit<ListOptions, "limit" | "continue"> & { pageSize?: number; map?: (item: T) => T } = {},
  ): Promise<ObjectList<T>> {
    const { pageSize = 500, map, ...rest } = opts;
    const items: T[] = [];
    let cont: string | undefined;
    let first: ObjectList<T> | undefined;
    do {
      const page = await this.list<T>(res, {
        ...rest,
        limit: pageSize,
        ...(cont ? { continue: cont, resourceVersion: undefined, resourceVersionMatch: undefined } : {}),
      });
      first ??= page;
      for (const item of page.items) items.push(map ? map(item) : item);
      page.items = [];
      cont = page.metadata.continue || undefined;
    } while (cont);
    return { ...first, metadata: { resourceVersion: first.metadata.resourceVersion }, items };
  }

  /**
   * Watch a collection. Yields events until the server ends the watch
   * (returns) or it fails (throws; an ERROR event becomes an ApiError, 410
   * included). Aborting `signal` ends it with the signal's reason.
   */
  async *watch<T extends KubeObject>(
    res: Resource,
    opts: WatchOptions = {},
    signal?: AbortSignal,
  ): AsyncGenerator<WatchEvent<T>, void, undefined> {
    const resp = await this.#send({
      method: "GET",
      verb: "WATCH",
      path: collectionPath(res, opts.namespace),
      query: {
        watch: "true",
        allowWatchBookmarks: opts.allowWatchBookmarks ?? true,
        labelSelector: opts.labelSelector,
        fieldSelector: opts.fieldSelector,
        resourceVersion: opts.resourceVersion,
        timeoutSeconds: opts.timeoutSeconds,
      },
      signal,
      timeoutMs: 0,
    });
    if (resp.statusCode !== 200) {
      throw errorFromBody(resp.statusCode ?? 0, await readBody(resp), "GET", collectionPath(res, opts.namespace));
    }
    opts.onOpen?.();
    resp.setEncoding("utf8");
    let buf = "";
    try {
      for await (const chunk of resp as AsyncIterable<string>) {
        buf += chunk;
        let nl: number;
        while ((nl = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (!line) continue;
          const ev = JSON.parse(line) as WatchEvent<T>;
          if (ev.type === "ERROR") {
            const st = ev.object as ApiStatus;
            throw new ApiError(st.code ?? 500, `watch ${res.plural}: ${st.message ?? "error"}`, st);
          }
          if (ev.type !== "BOOKMARK") {
            ev.object = { apiVersion: apiVersion(res), kind: res.kind, ...ev.object };
          }
          yield ev;
        }
      }
    } finally {
      resp.destroy();
    }
    if (signal?.aborted) throw signal.reason;
  }

  // ---- writes ------------------------------------------------------------

  async create<T extends KubeObject>(res: Resource, obj: T, opts: WriteOptions = {}): Promise<T> {
    return this.#json<T>({
      method: "POST",
      path: collectionPath(res, obj.metadata?.namespace),
      query: this.#writeQuery(opts),
      body: { apiVersion: apiVersion(res), kind: res.kind, ...obj },
    });
  }

  /** PUT: replace the object; metadata.resourceVersion makes it conditional (409 on conflict). */
  async update<T extends KubeObject>(
    res: Resource,
    obj: T,
    opts: WriteOptions & { subresource?: string } = {},
  ): Promise<T> {
    const md = obj.metadata ?? {};
    return this.#json<T>({
      method: "PUT",
      path: objectPath(res, md.name ?? "", md.namespace, opts.subresource),
      query: this.#writeQuery(opts),
      body: { apiVersion: apiVersion(res), kind: res.kind, ...obj },
    });
  }

  /**
   * Delete; resolves false when the object was already gone.
   * Preconditions (uid, resourceVersion) fail with 409.
   */
  async delete(res: Resource, name: string, namespace?: string, opts: DeleteOptions = {}): Promise<boolean> {
    try {
      await this.#json({
        method: "DELETE",
        path: objectPath(res, name, namespace),
        body: { apiVersion: "v1", kind: "DeleteOptions", ...opts },
      });
      return true;
    } catch (e) {
      if (e instanceof ApiError && e.code === 404) return false;
      throw e;
    }
  }

  /**
   * Server-side apply of a (partial) object: the fields set are those this
   * field manager owns; fields it stops setting are removed. Applying the
   * same object twice changes nothing (no resourceVersion bump).
   */
  async apply<T extends KubeObject>(obj: AnyObject, opts: ApplyOptions = {}): Promise<T> {
    const res = opts.resource ?? resourceFor(obj.apiVersion, obj.kind);
    const md = obj.metadata ?? {};
    if (!md.name) throw new Error(`apply ${res.kind}: metadata.name is required`);
    return this.#json<T>({
      method: "PATCH",
      path: objectPath(res, md.name, md.namespace, opts.subresource),
      contentType: "application/apply-patch+yaml",
      query: { ...this.#writeQuery(opts), force: opts.force ?? true },
      body: { apiVersion: apiVersion(res), kind: res.kind, ...obj },
      ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
      ...(opts.onSend ? { onSend: opts.onSend } : {}),
    });
  }

  /** Server-side apply of the status subresource (obj carries metadata.name/namespace and status). */
  async applyStatus<T extends KubeObject>(obj: AnyObject, opts: Omit<ApplyOptions, "subresource"> = {}): Promise<T> {
    return this.apply<T>(obj, { ...opts, subresource: "status" });
  }

  /** JSON merge patch (RFC 7386). */
  async mergePatch<T extends KubeObject>(
    res: Resource,
    name: string,
    namespace: string | undefined,
    patch: unknown,
    opts: WriteOptions & { subresource?: string } = {},
  ): Promise<T> {
    return this.#json<T>({
      method: "PATCH",
      path: objectPath(res, name, namespace, opts.subresource),
      contentType: "application/merge-patch+json",
      query: this.#writeQuery(opts),
      body: patch,
    });
  }

  /** A raw request (e.g. GET /readyz, /version), rate limited and counted. */
  async raw(
    method: string,
    path: string,
    opts: { timeoutMs?: number; signal?: AbortSignal } = {},
  ): Promise<RawResponse> {
    const resp = await this.#send({ method, path, ...opts });
    return { status: resp.statusCode ?? 0, body: await readBody(resp) };
  }

  // ---- plumbing ----------------------------------------------------------

  #writeQuery(opts: WriteOptions): Record<string, string | undefined> {
    return {
      fieldManager: opts.fieldManager ?? this.fieldManager,
      dryRun: opts.dryRun ? "All" : undefined,
      timeout: opts.timeoutMs !== undefined ? `${Math.max(1, Math.floor(opts.timeoutMs))}ms` : undefined,
    };
  }

  async #json<T>(spec: RequestSpec): Promise<T> {
    const resp = await this.#send(spec);
    const body = await readBody(resp);
    const code = resp.statusCode ?? 0;
    if (code < 200 || code >= 300) throw errorFromBody(code, body, spec.method, spec.path);
    return (body ? JSON.parse(body) : {}) as T;
  }

  async #headers(): Promise<Record<string, string>> {
    if (!this.#auth.dynamic) return this.#auth.headers;
    this.#auth = { headers: await this.#conn.headers(), dynamic: true };
    return this.#auth.headers;
  }

  async #send(spec: RequestSpec): Promise<http.IncomingMessage> {
    const verb = spec.verb ?? spec.method;
    const waitStart = performance.now();
    await this.limiter.take(spec.signal);
    const waited = (performance.now() - waitStart) / 1000;
    if (waited > 0.001) restClientRateLimiterDuration.observe({ verb, host: this.host }, waited);

    const url = new URL(this.#url.href.replace(/\/$/, "") + spec.path);
    for (const [k, v] of Object.entries(spec.query ?? {})) {
      if (v !== undefined && v !== "") url.searchParams.set(k, String(v));
    }
    const headers: Record<string, string> = {
      Accept: "application/json",
      "User-Agent": this.#userAgent,
      ...(await this.#headers()),
    };
    let payload: string | undefined;
    if (spec.body !== undefined) {
      payload = JSON.stringify(spec.body);
      headers["Content-Type"] = spec.contentType ?? "application/json";
      headers["Content-Length"] = String(Buffer.byteLength(payload));
    }
    const mod = url.protocol === "http:" ? http : https;
    const start = performance.now();
    const timeoutMs = spec.timeoutMs ?? this.#timeoutMs;
    return new Promise<http.IncomingMessage>((resolve, reject) => {
      spec.onSend?.(Date.now());
      const req = mod.request(url, {
        method: spec.method,
        headers,
        agent: this.#agent,
        ...this.#tls,
        ...(spec.signal ? { signal: spec.signal } : {}),
      });
      let timer: NodeJS.Timeout | undefined;
      if (timeoutMs > 0) {
        timer = setTimeout(() => {
          req.destroy(new ApiError(0, `${spec.method} ${spec.path}: timed out after ${timeoutMs} ms`));
        }, timeoutMs);
      }
      req.on("response", (resp) => {
        restClientRequests.inc({ code: String(resp.statusCode ?? 0), method: spec.method, host: this.host });
        restClientRequestDuration.observe({ verb, host: this.host }, (performance.now() - start) / 1000);
        if (timer) {
          // keep the timeout running until the body is read
          const t = timer;
          resp.on("end", () => clearTimeout(t));
          resp.on("close", () => clearTimeout(t));
        }
        resolve(resp);
      });
      req.on("error", (err) => {
        if (timer) clearTimeout(timer);
        if (!spec.signal?.aborted) restClientRequests.inc({ code: "<error>", method: spec.method, host: this.host });
        reject(spec.signal?.aborted ? (spec.signal.reason as Error) : err);
      });
      req.end(payload);
    });
  }
}

function apiVersion(r: Resource): string {
  return r.group ? `${r.group}/${r.version}` : r.version;
}

function headersOf(o: https.RequestOptions): Record<string, string> {
  const h: Record<string, string> = {};
  for (const [k, v] of Object.entries(o.headers ?? {})) if (v !== undefined) h[k] = String(v);
  if (o.auth) h.Authorization = `Basic ${Buffer.from(o.auth).toString("base64")}`;
  return h;
}

async function readBody(resp: http.IncomingMessage): Promise<string> {
  resp.setEncoding("utf8");
  let s = "";
  for await (const chunk of resp as AsyncIterable<string>) s += chunk;
  return s;
}

/** The ApiError of a failed response (a metav1.Status body, or any text). */
export function errorFromBody(code: number, body: string, method: string, path: string): ApiError {
  let st: ApiStatus | undefined;
  try {
    st = JSON.parse(body) as ApiStatus;
  } catch {
    st = undefined;
  }
  const msg = st?.message ?? (body.slice(0, 300) || `HTTP ${code}`);
  return new ApiError(code, `${method} ${path}: ${code} ${msg}`, st);
}
