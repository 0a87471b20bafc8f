// Sidecar overhead: latency added by the ldc sidecar in front of an app,
// versus calling the app directly, at a fixed rate on loopback.
//
//   node bench/sidecar-overhead.ts [--rate 2000] [--seconds 5] [--rounds 3] [--connections 16]
//
// The backend (a tiny node:http app) and the sidecar each run in their own
// child process; the load comes from this process. Two loaders:
//
// - our own open-loop loader: node:http keep-alive agent, requests started at
//   a fixed rate (the deficit against rate x elapsed is sent every tick, so the
//   rate holds whatever the timer granularity), latency per request from
//   process.hrtime.bigint() at send to the end of the response, in µs.
//   Direct and via-sidecar rounds are interleaved so drift hits both.
// - autocannon (`autocannon({url, connections, duration, overallRate,
//   headers})`), when installed. Its latency percentiles are whole
//   milliseconds (its histogram records integer ms), too coarse for a
//   sub-millisecond proxy hop on loopback: reported for reference, with
//   `integerMs` saying whether that was the case.
//
// Prints one JSON line. Figures only: nothing is asserted.

import { fork, type ChildProcess } from "node:child_process";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { buildTable } from "../src/routing/index.ts";
import { sidecarConfig, startSidecar } from "../src/sidecar/index.ts";

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 ? (process.argv[i + 1] ?? def) : def;
}

const HEADERS = { "x-user-id": "2088001234" };

/** Child: the app. */
async function runBackend(): Promise<void> {
  const body = Buffer.from('{"ok":true}');
  const server = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    req.resume();
    req.on("end", () => {
      res.writeHead(200, { "content-type": "application/json", "content-length": body.length });
      res.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  process.send!({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
}

/** Child: the sidecar in front of `app`, one cell owning every shard. */
async function runSidecar(app: string): Promise<void> {
  const table = buildTable({
    ruleName: "users",
    shards: 100,
    function: { type: "Digits", from: -3, to: -1 },
    key: [{ type: "Header", name: "x-user-id" }],
    assignments: [{ cell: "rz01", shards: "0-99" }],
    cells: [{ name: "rz01", type: "Regional", zone: "hz-a", region: "hangzhou" }],
    epoch: 1,
  });
  const dir = mkdtempSync(path.join(os.tmpdir(), "ldc-bench-"));
  const file = path.join(dir, "table.json");
  writeFileSync(file, table.serialize());
  const s = await startSidecar(
    sidecarConfig({ appUrl: app, rule: "users", cell: "rz01", zone: "hz-a", region: "hangzhou", tableFile: file }),
  );
  process.send!({ url: s.url });
}

function child(role: string, extra: string[] = []): Promise<{ proc: ChildProcess; url: string }> {
  const proc = fork(import.meta.filename, ["--role", role, ...extra], {
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  return new Promise((resolve, reject) => {
    proc.once("message", (m) => resolve({ proc, url: (m as { url: string }).url }));
    proc.once("exit", (code) => reject(new Error(`${role} exited with ${code}`)));
  });
}

interface Stats {
  n: number;
  errors: number;
  achievedRate: number;
  p50Us: number;
  p90Us: number;
  p99Us: number;
  p999Us: number;
  maxUs: number;
}

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Open-loop load at `rate` req/s for `seconds`; latencies in µs. */
async function load(
  url: string,
  rate: number,
  seconds: number,
  connections: number,
): Promise<number[] & { errors?: number; rate?: number }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  const u = new URL(url);
  const lat: number[] & { errors?: number; rate?: number } = [];
  let errors = 0;
  let sent = 0;
  let pending = 0;
  const total = Math.round(rate * seconds);
  const t0 = performance.now();
  await new Promise<void>((done) => {
    const fire = (): void => {
      const start = process.hrtime.bigint();
      pending++;
      const req = http.request(
        { host: u.hostname, port: u.port, path: "/pay", method: "GET", headers: HEADERS, agent },
        (res) => {
          res.resume();
          res.on("end", () => {
            if (res.statusCode === 200) lat.push(Number(process.hrtime.bigint() - start) / 1000);
            else errors++;
            if (--pending === 0 && sent >= total) done();
          });
        },
      );
      req.on("error", () => {
        errors++;
        if (--pending === 0 && sent >= total) done();
      });
      req.end();
    };
    const tick = (): void => {
      const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * rate));
      while (sent < due) {
        sent++;
        fire();
      }
      if (sent < total) setTimeout(tick, 1);
      else if (pending === 0) done();
    };
    tick();
  });
  const elapsed = (performance.now() - t0) / 1000;
  agent.destroy();
  lat.errors = errors;
  lat.rate = sent / elapsed;
  return lat;
}

function stats(samples: number[], errors: number, rate: number): Stats {
  const s = samples.slice().sort((a, b) => a - b);
  const r = (x: number): number => Math.round(x * 10) / 10;
  return {
    n: s.length,
    errors,
    achievedRate: Math.round(rate),
    p50Us: r(pct(s, 50)),
    p90Us: r(pct(s, 90)),
    p99Us: r(pct(s, 99)),
    p999Us: r(pct(s, 99.9)),
    maxUs: r(s[s.length - 1] ?? NaN),
  };
}

interface AutocannonResult {
  latency: { p50: number; p99: number; average: number };
  requests: { average: number };
  errors: number;
  non2xx: number;
}
type Autocannon = (opts: {
  url: string;
  connections: number;
  duration: number;
  overallRate: number;
  headers: Record<string, string>;
}) => Promise<AutocannonResult>;

async function withAutocannon(direct: string, sidecar: string, rate: number, seconds: number, connections: number) {
  let autocannon: Autocannon;
  try {
    const name = "autocannon";
    const mod = (await import(name)) as { default: Autocannon };
    autocannon = mod.default;
  } catch {
    return { error: "autocannon is not installed (npm i -D autocannon); the custom loader's figures stand alone" };
  }
  const run = async (url: string) => {
    const r = await autocannon({
      url: `${url}/pay`,
      connections,
      duration: seconds,
      overallRate: rate,
      headers: HEADERS,
    });
    return {
      p50Ms: r.latency.p50,
      p99Ms: r.latency.p99,
      averageMs: r.latency.average,
      rps: r.requests.average,
      errors: r.errors + r.non2xx,
    };
  };
  const d = await run(direct);
  const s = await run(sidecar);
  return {
    direct: d,
    sidecar: s,
    addedP50Ms: Number((s.p50Ms - d.p50Ms).toFixed(3)),
    addedP99Ms: Number((s.p99Ms - d.p99Ms).toFixed(3)),
    integerMs: [d.p50Ms, d.p99Ms, s.p50Ms, s.p99Ms].every(Number.isInteger),
  };
}

async function main(): Promise<void> {
  const role = arg("--role", "");
  if (role === "backend") return runBackend();
  if (role === "sidecar") return runSidecar(arg("--app", ""));

  const rate = Number(arg("--rate", "2000"));
  const seconds = Number(arg("--seconds", "5"));
  const rounds = Number(arg("--rounds", "3"));
  const connections = Number(arg("--connections", "16"));
  const backend = await child("backend");
  const sidecar = await child("sidecar", ["--app", backend.url]);
  try {
    // Warm-up both paths (JIT, connections).
    await load(backend.url, rate, 1, connections);
    await load(sidecar.url, rate, 1, connections);
    const direct: number[] = [];
    const via: number[] = [];
    let dErr = 0;
    let sErr = 0;
    let dRate = 0;
    let sRate = 0;
    for (let i = 0; i < rounds; i++) {
      const d = await load(backend.url, rate, seconds, connections);
      const s = await load(sidecar.url, rate, seconds, connections);
      direct.push(...d);
      via.push(...s);
      dErr += d.errors ?? 0;
      sErr += s.errors ?? 0;
      dRate += (d.rate ?? 0) / rounds;
      sRate += (s.rate ?? 0) / rounds;
    }
    const d = stats(direct, dErr, dRate);
    const s = stats(via, sErr, sRate);
    const ac = await withAutocannon(backend.url, sidecar.url, rate, seconds, connections);
    const added = (a: number, b: number): number => Math.round((a - b) * 10) / 10;
    const report = {
      bench: "sidecar-overhead",
      node: process.version,
      cpu: os.cpus()[0]?.model ?? "unknown",
      cpus: os.cpus().length,
      loadavg: os.loadavg().map((l) => Number(l.toFixed(2))),
      rate,
      secondsPerRound: seconds,
      rounds,
      connections,
      custom: { direct: d, sidecar: s },
      autocannon: ac,
      summary: {
        addedP50Us: added(s.p50Us, d.p50Us),
        addedP99Us: added(s.p99Us, d.p99Us),
        directP50Us: d.p50Us,
        directP99Us: d.p99Us,
        sidecarP50Us: s.p50Us,
        sidecarP99Us: s.p99Us,
        achievedRate: s.achievedRate,
        errors: d.errors + s.errors,
      },
    };
    process.stdout.write(`${JSON.stringify(report)}\n`);
  } finally {
    backend.proc.kill();
    sidecar.proc.kill();
  }
}

await main();
