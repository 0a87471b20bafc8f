// The operator's (and the relay's) HTTP server, HTTPS when given a certificate: /healthz, /readyz (fails while a watch is dead
// or a cache has not synced, naming which), /metrics (prom-client). Callers
// mount their own routes on `app` (the routing API).
import { readFileSync, statSync } from "node:fs";
import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import https from "node:https";
import express, { type Express } from "express";
import { collectDefaultMetrics, type Registry } from "prom-client";
import { metricsRegistry } from "./metrics.ts";

export interface CheckResult {
  name: string;
  ok: boolean;
  message?: string;
}

/** A readiness or liveness check; sync or async. */
export type Check = () => CheckResult[] | Promise<CheckResult[]>;

export interface RuntimeServerOptions {
  /** Default 8080; 0 picks a free port. */
  port?: number;
  /** Default "0.0.0.0". */
  host?: string;
  /** Also export process/Node.js metrics. Default true. */
  processMetrics?: boolean;
  /** Serve HTTPS with this certificate and key (PEM files), re-read when they change (rotation). Default: HTTP. */
  tls?: TlsFiles;
}

/** A certificate (chain) and its key, as PEM files. */
export interface TlsFiles {
  certFile: string;
  keyFile: string;
}

/** How often the certificate files are checked for a rotation (ms). */
const TLS_RELOAD_MS = 30_000;

/** The PEM contents of `tls`, and a signature of the files that changes when either does. */
function readTls(tls: TlsFiles): { cert: string; key: string; sig: string } {
  const sig = [tls.certFile, tls.keyFile].map((f) => {
    const s = statSync(f);
    return `${s.ino}:${s.size}:${s.mtimeMs}`;
  });
  return { cert: readFileSync(tls.certFile, "utf8"), key: readFileSync(tls.keyFile, "utf8"), sig: sig.join("/") };
}

let defaultMetricsOn = false;

export class RuntimeServer {
  readonly app: Express;
  readonly #readiness: Check[] = [];
  readonly #liveness: Check[] = [];
  readonly #registries: Registry[] = [metricsRegistry];
  readonly #opts: RuntimeServerOptions;
  #server: Server | undefined;
  #closing = false;
  #reload: NodeJS.Timeout | undefined;

  constructor(opts: RuntimeServerOptions = {}) {
    this.#opts = opts;
    if ((opts.processMetrics ?? true) && !defaultMetricsOn) {
      collectDefaultMetrics({ register: metricsRegistry });
      defaultMetricsOn = true;
    }
    this.app = express();
    this.app.disable("x-powered-by");
    // While closing, every answer ends its keep-alive connection (see close()).
    this.app.use((_req, res, next) => {
      if (this.#closing) res.setHeader("connection", "close");
      next();
    });
    this.app.get("/healthz", async (_req, res) => {
      const { ok, body } = await run(this.#liveness);
      res
        .status(ok ? 200 : 500)
        .type("text/plain")
        .send(body);
    });
    this.app.get("/readyz", async (_req, res) => {
      const { ok, body } = await run(this.#readiness);
      res
        .status(ok ? 200 : 503)
        .type("text/plain")
        .send(body);
    });
    this.app.get("/metrics", async (_req, res) => {
      res.type(metricsRegistry.contentType).send(await this.metrics());
    });
  }

  /** Also serve `registry` on /metrics (its metric names must not clash with the others'). */
  addMetrics(registry: Registry): this {
    this.#registries.push(registry);
    return this;
  }

  /** What /metrics serves: every registry, in the text format. */
  async metrics(): Promise<string> {
    const texts = await Promise.all(this.#registries.map((r) => r.metrics()));
    return texts.map((t) => (t.endsWith("\n") || t === "" ? t : `${t}\n`)).join("");
  }

  addReadinessCheck(check: Check): this {
    this.#readiness.push(check);
    return this;
  }

  addLivenessCheck(check: Check): this {
    this.#liveness.push(check);
    return this;
  }

  /** The bound port once listening (0 before). */
  get port(): number {
    const addr = this.#server?.address();
    return addr && typeof addr === "object" ? addr.port : 0;
  }

  /** Whether it serves HTTPS. */
  get tls(): boolean {
    return this.#opts.tls !== undefined;
  }

  /** Listen; resolves with the bound port. Throws when the TLS files cannot be read. */
  listen(): Promise<number> {
    const tls = this.#opts.tls;
    if (tls === undefined) {
      return new Promise((resolve, reject) => {
        const server = this.app.listen(this.#opts.port ?? 8080, this.#opts.host ?? "0.0.0.0", (err?: Error) => {
          if (err) reject(err);
          else resolve((server.address() as AddressInfo).port);
        });
        this.#server = server;
      });
    }
    let current = readTls(tls);
    const server = https.createServer({ cert: current.cert, key: current.key }, this.app);
    this.#server = server;
    // cert-manager and the kubelet replace the files in place: take the new pair without a restart.
    this.#reload = setInterval(() => {
      try {
        const next = readTls(tls);
        if (next.sig === current.sig) return;
        server.setSecureContext({ cert: next.cert, key: next.key });
        current = next;
      } catch {
        // Caught mid-replacement (or a mismatched pair): the current context stays; retried next period.
      }
    }, TLS_RELOAD_MS);
    this.#reload.unref();
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.#opts.port ?? 8080, this.#opts.host ?? "0.0.0.0", () => {
        server.off("error", reject);
        resolve((server.address() as AddressInfo).port);
      });
    });
  }

  /**
   * Stop listening, let requests in progress finish for up to `graceMs`, then
   * cut the connections left (long-polls: their clients retry). Without the
   * cut, keep-alive clients that keep sending (sidecars acking and
   * long-polling the routing API) would hold the server open forever.
   */
  async close(graceMs = 2000): Promise<void> {
    const s = this.#server;
    this.#server = undefined;
    if (this.#reload) clearInterval(this.#reload);
    if (!s) return;
    this.#closing = true;
    const closed = new Promise<void>((resolve) => s.close(() => resolve()));
    s.closeIdleConnections();
    const idle = setInterval(() => s.closeIdleConnections(), 100);
    const cut = setTimeout(() => s.closeAllConnections(), graceMs);
    await closed;
    clearInterval(idle);
    clearTimeout(cut);
  }
}

async function run(checks: Check[]): Promise<{ ok: boolean; body: string }> {
  const results: CheckResult[] = [];
  for (const c of checks) {
    try {
      results.push(...(await c()));
    } catch (err) {
      results.push({ name: "check", ok: false, message: err instanceof Error ? err.message : String(err) });
    }
  }
  const ok = results.every((r) => r.ok);
  const lines = results.map((r) => `[${r.ok ? "+" : "-"}]${r.name} ${r.ok ? "ok" : `failed: ${r.message ?? ""}`}`);
  lines.push(ok ? "ok" : "not ready");
  return { ok, body: `${lines.join("\n")}\n` };
}
