// The drill verifier's load generator: reads (GET) and writes (POST) for
// user ids spread over all 100 shards, sent at a modest rate to random
// sidecars (any entry point: a sidecar forwards to the owner). Every request
// and its answer is recorded; a write answered 200 is "acknowledged".
import http from "node:http";
import { shardOfUid, tick } from "./fleet.ts";

export interface SentRecord {
  requestId: string;
  method: "GET" | "POST";
  uid: number;
  shard: number;
  /** The sidecar the request entered through ("cell@zone#n"). */
  entry: string;
  sentAt: number;
  sentSeq: number;
  doneAt?: number;
  /** HTTP status; 0: no answer (connection refused or reset, timeout). */
  status?: number;
  retryAfter?: string;
  body?: { id?: string; cell?: string; zone?: string; requestId?: string; epoch?: number; error?: string };
}

export interface LoadTarget {
  name: string;
  url: string;
}

export interface LoadOptions {
  /** The entry points to choose from, asked before every request (stopped sidecars drop out). */
  targets: () => LoadTarget[];
  /** Requests per second in total. */
  rate: number;
  /** Fraction of writes. */
  writeRatio: number;
}

/** A user id whose shard is `shard`: 4+ digits, ...<shard><d>. */
export function uidForShard(shard: number, rnd = Math.random): number {
  return (1 + Math.floor(rnd() * 9999)) * 1000 + shard * 10 + Math.floor(rnd() * 10);
}

export class LoadGenerator {
  readonly sent: SentRecord[] = [];
  readonly #opts: LoadOptions;
  readonly #agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
  #timer: NodeJS.Timeout | undefined;
  #inflight = 0;
  #n = 0;

  constructor(opts: LoadOptions) {
    this.#opts = opts;
  }

  start(): void {
    const periodMs = 20;
    let credit = 0;
    let last = performance.now();
    this.#timer = setInterval(() => {
      const now = performance.now();
      credit += ((now - last) / 1000) * this.#opts.rate;
      last = now;
      // Never bursts after an event-loop stall: at most 4 periods' worth at once.
      credit = Math.min(credit, (this.#opts.rate * 4 * periodMs) / 1000);
      while (credit >= 1) {
        credit--;
        this.#sendOne();
      }
    }, periodMs);
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    const deadline = Date.now() + 10_000;
    while (this.#inflight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    this.#agent.destroy();
  }

  #sendOne(): void {
    const targets = this.#opts.targets();
    if (targets.length === 0) return;
    const target = targets[Math.floor(Math.random() * targets.length)]!;
    const shard = Math.floor(Math.random() * 100);
    const uid = uidForShard(shard);
    const method = Math.random() < this.#opts.writeRatio ? "POST" : "GET";
    const requestId = `req-${++this.#n}`;
    const rec: SentRecord = {
      requestId,
      method,
      uid,
      shard: shardOfUid(uid),
      entry: target.name,
      sentAt: Date.now(),
      sentSeq: tick(),
    };
    this.sent.push(rec);
    this.#inflight++;
    const payload = method === "POST" ? JSON.stringify({ requestId, value: this.#n }) : undefined;
    const req = http.request(`${target.url}/accounts?uid=${uid}`, {
      method,
      agent: this.#agent,
      timeout: 10_000,
      headers: {
        "x-request-id": requestId,
        ...(payload ? { "content-type": "application/json", "content-length": Buffer.byteLength(payload) } : {}),
      },
    });
    let finished = false;
    const finish = (status: number, body?: string, retryAfter?: string) => {
      if (finished) return;
      finished = true;
      this.#inflight--;
      rec.doneAt = Date.now();
      rec.status = status;
      if (retryAfter !== undefined) rec.retryAfter = retryAfter;
      if (body) {
        try {
          rec.body = JSON.parse(body) as SentRecord["body"];
        } catch {
          rec.body = { error: body.slice(0, 200) };
        }
      }
    };
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        finish(
          res.statusCode ?? 0,
          Buffer.concat(chunks).toString("utf8"),
          res.headers["retry-after"] as string | undefined,
        ),
      );
      res.on("error", () => finish(0));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", () => finish(0));
    req.end(payload);
  }
}
