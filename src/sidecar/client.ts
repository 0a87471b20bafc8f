// The sidecar's client of the routing API (the zone's relay or the operator):
// table long-polls and acks, over http:// or https:// (LDC_ROUTING_CA_FILE:
// the CA bundle the server's certificate is checked against), each request
// with the sidecar's bearer token (reads need it as acks do). node:http(s)
// rather than fetch: fetch takes no CA without undici's own Agent.

import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import http from "node:http";
import type { IncomingHttpHeaders } from "node:http";

/** node:https only for an https:// routing API: loading TLS costs every sidecar ~6 MB otherwise (ADR 0015). */
const https = () => process.getBuiltinModule("node:https");

/** Largest answer read (a table of MAX_SHARDS shards and many cells is well under 1 MiB). */
export const MAX_ANSWER_BYTES = 8 * 1024 * 1024;

export interface RoutingClientOptions {
  /** Base URL, http:// or https://, without a trailing slash. */
  readonly baseUrl: string;
  readonly token?: string | undefined;
  /** Read before every request (projected tokens rotate). */
  readonly tokenFile?: string | undefined;
  /** PEM bundle for an https:// baseUrl; read once, at construction. */
  readonly caFile?: string | undefined;
}

export interface ClientAnswer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

export class RoutingClient {
  readonly baseUrl: string;
  readonly #opts: RoutingClientOptions;
  readonly #url: URL;
  readonly #agent: http.Agent;

  constructor(opts: RoutingClientOptions) {
    this.#opts = opts;
    this.baseUrl = opts.baseUrl;
    this.#url = new URL(opts.baseUrl);
    this.#agent =
      this.#url.protocol === "https:"
        ? new (https().Agent)({
            keepAlive: true,
            maxSockets: 4,
            ...(opts.caFile === undefined ? {} : { ca: readFileSync(opts.caFile, "utf8") }),
          })
        : new http.Agent({ keepAlive: true, maxSockets: 4 });
  }

  /** The bearer token, or undefined when none is configured (the request then goes without). */
  async token(): Promise<string | undefined> {
    if (this.#opts.tokenFile !== undefined) return (await readFile(this.#opts.tokenFile, "utf8")).trim() || undefined;
    return this.#opts.token || undefined;
  }

  /** One request to `path` (under the base URL); rejects on network errors, a timeout or an oversized answer. */
  async request(
    path: string,
    o: { method?: string; body?: string; signal: AbortSignal; timeoutMs: number },
  ): Promise<ClientAnswer> {
    const token = await this.token();
    const headers: Record<string, string> = { accept: "application/json" };
    if (token !== undefined) headers.authorization = `Bearer ${token}`;
    if (o.body !== undefined) {
      headers["content-type"] = "application/json";
      headers["content-length"] = String(Buffer.byteLength(o.body));
    }
    const u = this.#url;
    const mod = u.protocol === "https:" ? https() : http;
    const signal = AbortSignal.any([o.signal, AbortSignal.timeout(o.timeoutMs)]);
    return new Promise<ClientAnswer>((resolve, reject) => {
      const req = mod.request(
        {
          protocol: u.protocol,
          hostname: u.hostname.startsWith("[") ? u.hostname.slice(1, -1) : u.hostname,
          port: u.port === "" ? undefined : Number(u.port),
          path: u.pathname.replace(/\/+$/, "") + path,
          method: o.method ?? "GET",
          headers,
          agent: this.#agent,
          signal,
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on("data", (c: Buffer) => {
            size += c.length;
            if (size > MAX_ANSWER_BYTES) {
              res.destroy(new Error(`the answer is larger than ${MAX_ANSWER_BYTES} bytes`));
              return;
            }
            chunks.push(c);
          });
          res.on("error", reject);
          res.on("end", () =>
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              body: Buffer.concat(chunks).toString("utf8"),
            }),
          );
        },
      );
      req.on("error", (e) => reject(signal.aborted && !o.signal.aborted ? new Error("timed out") : e));
      req.end(o.body);
    });
  }

  close(): void {
    this.#agent.destroy();
  }
}
