// Where the sidecar's routing table comes from, and the one reference that
// holds it. Two sources feed the holder: the mounted ConfigMap file (read at
// start, then re-read whenever its mtime, size or inode changes, polled: no
// fs.watch, which misses ConfigMap symlink swaps on some filesystems) and the
// operator's routing API (long-poll). The holder takes a table only if it is
// for the sidecar's rule and strictly newer, and swaps it in one assignment:
// a request sees the old table or the new one, never a mix. When the sources
// fail, the last table stays (for reads; writes need a lease, lease.ts).

import { readFile, stat } from "node:fs/promises";
import type { SidecarLogger as Logger } from "./log.ts";
import type { KeyReport, RequestLike, RouteContext, RouteDecision, RoutingTable } from "../routing/index.ts";
import { createRouter, parseTable } from "../routing/index.ts";
import { LEASE_HEADER } from "../routing-api/fencing.ts";
import type { RoutingClient } from "./client.ts";
import type { Lease } from "./lease.ts";
import { parseLeaseMs } from "./lease.ts";

export type TableSourceName = "file" | "api";

/** The table and a router bound to it and the sidecar's context: swapped together. */
export interface Current {
  readonly table: RoutingTable;
  /** Routes a request; with `report`, also says what key it read (for x-ldc-key and error messages). */
  readonly route: (req: RequestLike, report?: KeyReport) => RouteDecision;
  readonly source: TableSourceName;
}

export type OfferResult = "accepted" | "stale" | "wrong-rule";

export class TableHolder {
  readonly rule: string;
  readonly #ctx: RouteContext;
  readonly #onSwap: (c: Current) => void;
  #current: Current | undefined;
  readonly #waiters = new Set<{ epoch: number; resolve: () => void }>();

  constructor(rule: string, ctx: RouteContext, onSwap: (c: Current) => void = () => {}) {
    this.rule = rule;
    this.#ctx = ctx;
    this.#onSwap = onSwap;
  }

  get current(): Current | undefined {
    return this.#current;
  }

  get epoch(): number | undefined {
    return this.#current?.table.epoch;
  }

  /** Takes `table` if it is for this rule and newer than the one held. */
  offer(table: RoutingTable, source: TableSourceName): OfferResult {
    if (table.ruleName !== this.rule) return "wrong-rule";
    const cur = this.#current;
    if (cur !== undefined && table.epoch <= cur.table.epoch) return "stale";
    const next: Current = { table, route: createRouter(table, this.#ctx), source };
    this.#current = next;
    for (const w of [...this.#waiters]) {
      if (table.epoch >= w.epoch) {
        this.#waiters.delete(w);
        w.resolve();
      }
    }
    this.#onSwap(next);
    return "accepted";
  }

  /** Resolves once the held epoch is `epoch` or later. */
  waitForEpoch(epoch: number, signal?: AbortSignal): Promise<void> {
    if ((this.epoch ?? -1) >= epoch) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const w = { epoch, resolve };
      this.#waiters.add(w);
      signal?.addEventListener(
        "abort",
        () => {
          if (this.#waiters.delete(w)) reject(signal.reason);
        },
        { once: true },
      );
    });
  }
}

function describe(e: unknown): string {
  const err = e as { code?: string; message?: string; cause?: { code?: string; message?: string } };
  return err.cause?.code ?? err.code ?? err.cause?.message ?? err.message ?? String(e);
}

/** Polls the table file's metadata; reads and offers it when it changes. */
export class FileSource {
  readonly #path: string;
  readonly #holder: TableHolder;
  readonly #log: Logger;
  readonly #periodMs: number;
  #seen = "";
  #lastProblem = "";
  #timer: NodeJS.Timeout | undefined;
  #busy = false;

  constructor(path: string, holder: TableHolder, log: Logger, periodMs = 1000) {
    this.#path = path;
    this.#holder = holder;
    this.#log = log;
    this.#periodMs = periodMs;
  }

  /** Reads the file once (if present), then checks it every period. */
  async start(): Promise<void> {
    await this.check();
    this.#timer = setInterval(() => void this.check(), this.#periodMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** One check: stat, and read + offer if the file changed since the last good read. */
  async check(): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    try {
      let sig: string;
      try {
        const s = await stat(this.#path);
        sig = `${s.ino}:${s.size}:${s.mtimeMs}`;
      } catch (e) {
        this.#problem(`table file ${this.#path} not readable (${describe(e)}); waiting for it`, "info");
        this.#seen = "";
        return;
      }
      if (sig === this.#seen) return;
      let table: RoutingTable;
      try {
        table = parseTable(await readFile(this.#path, "utf8"));
      } catch (e) {
        // Not recorded as seen: a file caught mid-write is read again next time.
        this.#problem(`table file ${this.#path} is not a valid routing table: ${describe(e)}; keeping the last table`);
        return;
      }
      this.#seen = sig;
      this.#lastProblem = "";
      const r = this.#holder.offer(table, "file");
      if (r === "wrong-rule") {
        this.#problem(`table file ${this.#path} holds rule ${table.ruleName}, not ${this.#holder.rule}; ignored`);
      } else {
        this.#log.debug({ epoch: table.epoch, result: r }, "table file read");
      }
    } finally {
      this.#busy = false;
    }
  }

  #problem(msg: string, level: "info" | "warn" = "warn"): void {
    if (msg === this.#lastProblem) return;
    this.#lastProblem = msg;
    this.#log[level](msg);
  }
}

export interface ApiSourceOptions {
  /** The routing API (base URL, TLS, the bearer token every read carries). */
  readonly client: RoutingClient;
  readonly timeoutSeconds: number;
  /** Backoff after errors: from minMs doubling to maxMs, with jitter. Defaults 200 ms and 10 s. */
  readonly backoffMinMs?: number;
  readonly backoffMaxMs?: number;
  /** Renewed by every answer carrying x-ldc-lease-ms; its clock times the requests. */
  readonly lease: Lease;
  /** Named in every table request: the API records lease grants per zone. */
  readonly zone: string;
  readonly sidecar: string;
}

/**
 * Long-polls the routing API for newer tables:
 * `GET /v1/rules/<rule>/table?zone=<zone>&sidecar=<id>&waitForEpochAfter=<held>&timeoutSeconds=<t>`,
 * again at once after a 200 or 304, after a backoff on errors. Each answer's
 * lease is measured from when its request was sent; t is at most a quarter of
 * the lease, so a healthy sidecar renews several times per lease.
 */
export class ApiSource {
  readonly #holder: TableHolder;
  readonly #log: Logger;
  readonly #opts: ApiSourceOptions;
  readonly #ac = new AbortController();
  #loop: Promise<void> | undefined;
  #failures = 0;
  #lastProblem = "";
  #noLeaseLogged = false;

  constructor(holder: TableHolder, log: Logger, opts: ApiSourceOptions) {
    this.#holder = holder;
    this.#log = log;
    this.#opts = opts;
  }

  start(): void {
    this.#loop ??= this.#run();
  }

  async stop(): Promise<void> {
    this.#ac.abort();
    await this.#loop;
  }

  async #run(): Promise<void> {
    const signal = this.#ac.signal;
    while (!signal.aborted) {
      try {
        await this.#pollOnce(signal);
        this.#failures = 0;
        this.#lastProblem = "";
      } catch (e) {
        if (signal.aborted) return;
        this.#failures++;
        const msg = `routing API ${this.#opts.client.baseUrl} unavailable (${describe(e)}); keeping the last table, retrying`;
        if (msg !== this.#lastProblem) {
          this.#lastProblem = msg;
          this.#log.warn({ failures: this.#failures }, msg);
        }
        await sleep(this.#backoff(), signal);
      }
    }
  }

  #backoff(): number {
    const min = this.#opts.backoffMinMs ?? 200;
    // Retry at least twice per lease: after a partition heals, writes resume within half a lease.
    // Retries come often enough that a new leader renews the lease before it runs out.
    const max = Math.min(this.#opts.backoffMaxMs ?? 10_000, this.#opts.lease.leaseMs / 8);
    const ceiling = Math.min(max, min * 2 ** Math.min(this.#failures - 1, 20));
    return ceiling / 2 + Math.random() * (ceiling / 2);
  }

  async #pollOnce(signal: AbortSignal): Promise<void> {
    const held = this.#holder.epoch;
    const lease = this.#opts.lease;
    const rule = encodeURIComponent(this.#holder.rule);
    const q = new URLSearchParams({ zone: this.#opts.zone, sidecar: this.#opts.sidecar });
    const timeoutSeconds = lease.pollTimeoutSeconds(this.#opts.timeoutSeconds);
    if (held !== undefined) {
      q.set("waitForEpochAfter", String(held));
      q.set("timeoutSeconds", String(timeoutSeconds));
    }
    // Taken before the request leaves: the lease can only end earlier than the server's view of it.
    const sentAt = lease.now();
    const res = await this.#opts.client.request(`/v1/rules/${rule}/table?${q}`, {
      signal,
      timeoutMs: timeoutSeconds * 1000 + 5000,
    });
    const lh = res.headers[LEASE_HEADER];
    const leaseMs = parseLeaseMs(typeof lh === "string" ? lh : null);
    if (res.status === 304) {
      this.#renew(sentAt, leaseMs);
      return;
    }
    const body = res.body;
    if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${body.slice(0, 200)}`);
    const table = parseTable(body);
    const r = this.#holder.offer(table, "api");
    if (r === "wrong-rule") throw new Error(`the API answered a table of rule ${table.ruleName}`);
    // After the offer: a write is never accepted under a lease with a table older than the answer's.
    this.#renew(sentAt, leaseMs);
    if (r === "stale" && held !== undefined) {
      // The API holds an older epoch than we do (e.g. it restarted): do not spin.
      await sleep(timeoutSeconds * 1000, signal);
    }
  }

  #renew(sentAt: number, leaseMs: number | undefined): void {
    if (leaseMs !== undefined) {
      this.#opts.lease.grant(sentAt, leaseMs);
      this.#noLeaseLogged = false;
      return;
    }
    if (!this.#noLeaseLogged) {
      this.#noLeaseLogged = true;
      this.#log.warn(
        `routing API ${this.#opts.client.baseUrl} answered without a valid ${LEASE_HEADER} header: no lease, writes stay refused; upgrade the operator to one that grants leases`,
      );
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}

export interface AckReporterOptions {
  readonly client: RoutingClient;
  readonly rule: string;
  readonly sidecar: string;
  readonly cell: string;
  readonly zone: string;
  readonly intervalSeconds: number;
}

/** Reports the held epoch to the routing API: after each swap and every interval. */
export class AckReporter {
  readonly #opts: AckReporterOptions;
  readonly #holder: TableHolder;
  readonly #log: Logger;
  readonly #ac = new AbortController();
  #timer: NodeJS.Timeout | undefined;
  #inFlight: Promise<void> | undefined;
  #again = false;
  #lastProblem = "";
  /** Epoch of the last ack the API accepted. */
  lastAcked: number | undefined;

  constructor(holder: TableHolder, log: Logger, opts: AckReporterOptions) {
    this.#holder = holder;
    this.#log = log;
    this.#opts = opts;
  }

  start(): void {
    this.#timer = setInterval(() => this.kick(), this.#opts.intervalSeconds * 1000);
    this.#timer.unref();
    this.kick();
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#ac.abort();
    await this.#inFlight;
  }

  /** Sends an ack now (or right after the one in flight). */
  kick(): void {
    if (this.#ac.signal.aborted) return;
    if (this.#inFlight) {
      this.#again = true;
      return;
    }
    this.#inFlight = this.#send().finally(() => {
      this.#inFlight = undefined;
      if (this.#again) {
        this.#again = false;
        this.kick();
      }
    });
  }

  async #send(): Promise<void> {
    const held = this.#holder.current?.table;
    if (held === undefined) return;
    const epoch = held.epoch;
    try {
      const client = this.#opts.client;
      if ((await client.token()) === undefined) {
        throw new Error("no token: set LDC_ROUTING_TOKEN or LDC_ROUTING_TOKEN_FILE");
      }
      const res = await client.request(`/v1/rules/${encodeURIComponent(this.#opts.rule)}/acks`, {
        method: "POST",
        body: JSON.stringify({
          sidecar: this.#opts.sidecar,
          cell: this.#opts.cell,
          zone: this.#opts.zone,
          epoch,
          hash: held.contentHash,
        }),
        signal: this.#ac.signal,
        timeoutMs: 5000,
      });
      if (res.status < 200 || res.status > 299) throw new Error(`HTTP ${res.status}: ${res.body.slice(0, 200)}`);
      this.lastAcked = epoch;
      this.#lastProblem = "";
    } catch (e) {
      if (this.#ac.signal.aborted) return;
      const msg = `ack of epoch ${epoch} to ${this.#opts.client.baseUrl} failed: ${describe(e)}`;
      if (msg !== this.#lastProblem) {
        this.#lastProblem = msg;
        this.#log.warn(msg);
      }
    }
  }
}
