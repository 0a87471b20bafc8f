// Sidecar overhead: latency added by the ldc sidecar in front of an app,
// versus calling the app directly, at a fixed rate on loopback.
//
//   node bench/sidecar-overhead.ts [--rate 2000] [--seconds 6] [--rounds 5] [--connections 16]
//                                  [--warmup 3] [--reference]
//
// Three processes besides this one: the backend (a tiny node:http app), the
// sidecar in front of it (one cell owning every shard, so every request is
// routed and passed to the local app), and the load: fortio (built by
// hack/build-tools.sh), one run per round:
//
//   fortio load -qps <rate> -c <connections> -uniform -t <seconds>s -r 0.00001
//               -H 'x-user-id: 2088001234' -json <file> <url>/pay
//
// - -qps with -c: each connection sends rate/c requests/s on its own
//   schedule; -uniform spreads the connections' schedules evenly over the
//   interval (without it all connections fire together, in bursts of c).
// - catch-up stays on (the default): a request sent late (the previous
//   answer on that connection was slow) is sent at once, so the rate holds;
//   its latency is measured from when it was sent, not when it was due, as
//   in any closed-connection loader. How late the schedule ran is reported
//   (`lateMaxMs`: fortio's most negative sleep; `behindPct` when fortio
//   warns that more than 5% of its sleeps were behind).
// - -r 0.00001: histogram resolution 10 µs (buckets 10 µs wide below
//   120 µs, 50 µs to 500 µs, 100 µs to 1 ms, 0.2-0.5 ms to 5 ms);
//   percentiles are interpolated within a bucket, as fortio does.
//
// Warm-up on every path first (JIT, connections), then `rounds` rounds, each
// one direct run and one via-sidecar run, in alternating order (ABBA) so
// drift hits both. The added latency is sidecar minus direct, per round (and
// the median over rounds: a burst of other work on a shared machine spoils
// one round, not the figure) and pooled (every round's histogram merged).
// Also reported per run: achieved qps, errors (non-200 answers and socket
// errors), and CPU: the backend's, the proxy's (also per request), fortio's,
// and everything else's on the machine (`othersPct`, % of one core: other
// workloads, which spoil the tail on a small machine).
//
// --reference adds a third path: the smallest node:http reverse proxy (no
// routing, no header rewriting, no metrics), i.e. what one node:http hop
// costs on this machine, so the sidecar's own share can be told apart.
//
// Prints one JSON line. Figures only: nothing is asserted.

import { execFile, fork, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { requireFortio } from "../hack/lib/tools.ts";
import { buildTable } from "../src/routing/index.ts";
import { sidecarConfig, startSidecar } from "../src/sidecar/index.ts";

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 ? (process.argv[i + 1] ?? def) : def;
}

const USER_HEADER = "x-user-id: 2088001234";
/** fortio -r: the histogram's finest buckets, in seconds. */
const RESOLUTION = 0.00001;

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

/**
 * Child (--reference only): the smallest node:http reverse proxy, for
 * comparison: what one node:http hop costs here, without the sidecar's
 * routing, header handling, metrics and timeouts.
 */
async function runReference(app: string): Promise<void> {
  const target = new URL(app);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 512, maxFreeSockets: 64, scheduling: "lifo" });
  const server = http.createServer({ keepAliveTimeout: 30_000 }, (req, res) => {
    const up = http.request({
      host: target.hostname,
      port: target.port,
      method: req.method,
      path: req.url,
      headers: req.headers,
      agent,
    });
    up.on("response", (ur) => {
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      ur.pipe(res);
    });
    up.on("error", () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  process.send!({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
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

// ------------------------------------------------------------------ fortio

/** fortio's exported histogram (seconds). */
interface Histogram {
  Count: number;
  Min: number;
  Max: number;
  Data: { Start: number; End: number; Percent: number; Count: number }[] | null;
}

interface FortioResult {
  Version: string;
  ActualQPS: number;
  ActualDuration: number;
  DurationHistogram: Histogram;
  RetCodes: Record<string, number>;
}

interface Run {
  version: string;
  hist: Histogram;
  qps: number;
  errors: number;
  /** Most negative sleep of fortio's schedule (ms): how late a request was sent. */
  lateMaxMs: number;
  /** Set when fortio warned that more than 5% of its sleeps were behind. */
  behindPct?: number;
}

function fortio(bin: string, url: string, rate: number, seconds: number, connections: number): Promise<Run> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "ldc-fortio-"));
  const json = path.join(dir, "result.json");
  // -loglevel Warning: quiet, but fortio still prints its "Sleep times" line.
  const args = ["load", "-loglevel", "Warning", "-qps", String(rate), "-c", String(connections), "-uniform"];
  args.push("-t", `${seconds}s`, "-r", String(RESOLUTION), "-H", USER_HEADER, "-json", json, `${url}/pay`);
  return new Promise((resolve, reject) => {
    execFile(bin, args, { maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      try {
        if (err) throw new Error(`fortio failed: ${err.message}\n${stderr}`);
        const r = JSON.parse(readFileSync(json, "utf8")) as FortioResult;
        const text = `${stdout}\n${stderr}`;
        const sleep = /Sleep times : count \d+ avg \S+ \+\/- \S+ min (\S+) max/.exec(text);
        const behind = /WARNING ([\d.]+)% of sleep were falling behind/.exec(text);
        const ok = r.RetCodes["200"] ?? 0;
        resolve({
          version: r.Version,
          hist: r.DurationHistogram,
          qps: r.ActualQPS,
          errors: r.DurationHistogram.Count - ok,
          lateMaxMs: sleep ? Math.max(0, -Number(sleep[1]) * 1000) : NaN,
          behindPct: behind ? Number(behind[1]) : undefined,
        });
      } catch (e) {
        reject(e as Error);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}

/** fortio's CalcPercentile: linear interpolation within the bucket. */
function percentile(h: Histogram, p: number): number {
  const data = h.Data ?? [];
  if (data.length === 0) return NaN;
  if (p >= 100) return h.Max;
  let pp = 100 / h.Count;
  if (p <= pp) return h.Min;
  for (const b of data) {
    if (p <= b.Percent) return b.Start + ((p - pp) / (b.Percent - pp)) * (b.End - b.Start);
    pp = b.Percent;
  }
  return h.Max;
}

/** fortio's bucket bounds (stats.histogramBucketValues), times -r: bucket i is (B[i-1], B[i]]. */
const BOUNDS = [
  0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 16, 18, 20, 25, 30, 35, 40, 45, 50, 60, 70, 80, 90, 100, 120, 140, 160,
  180, 200, 250, 300, 350, 400, 450, 500, 600, 700, 800, 900, 1000, 2000, 3000, 4000, 5000, 7500, 10000, 20000, 30000,
  40000, 50000, 75000, 100000,
].map((v) => v * RESOLUTION);

/** Merges histograms taken with RESOLUTION into one, as fortio would have exported it. */
function merge(hs: Histogram[]): Histogram {
  // Bucket index -> count. An exported entry's first Start and last End are
  // the run's min and max, so the bucket is found from the entry's middle.
  const counts = new Map<number, number>();
  for (const h of hs) {
    for (const b of h.Data ?? []) {
      const mid = (b.Start + b.End) / 2;
      let i = BOUNDS.findIndex((x) => mid <= x);
      if (i < 0) i = BOUNDS.length;
      counts.set(i, (counts.get(i) ?? 0) + b.Count);
    }
  }
  const count = hs.reduce((a, h) => a + h.Count, 0);
  const min = Math.min(...hs.map((h) => h.Min));
  const max = Math.max(...hs.map((h) => h.Max));
  let cum = 0;
  const idx = [...counts.keys()].sort((a, b) => a - b);
  const data = idx.map((i, k) => {
    cum += counts.get(i)!;
    return {
      Start: k === 0 ? min : BOUNDS[Math.max(0, i - 1)]!,
      End: k === idx.length - 1 ? max : BOUNDS[i]!,
      Percent: (100 * cum) / count,
      Count: counts.get(i)!,
    };
  });
  return { Count: count, Min: min, Max: max, Data: data };
}

interface Stats {
  n: number;
  errors: number;
  qps: number;
  p50Us: number;
  p90Us: number;
  p99Us: number;
  p999Us: number;
  maxUs: number;
}

const us = (s: number): number => Math.round(s * 1e7) / 10;

function stats(h: Histogram, errors: number, qps: number): Stats {
  return {
    n: h.Count,
    errors,
    qps: Math.round(qps),
    p50Us: us(percentile(h, 50)),
    p90Us: us(percentile(h, 90)),
    p99Us: us(percentile(h, 99)),
    p999Us: us(percentile(h, 99.9)),
    maxUs: us(h.Max),
  };
}

// ------------------------------------------------------------- CPU gauges

const TICK = 100; // USER_HZ on Linux

/** [own, waited-for children] CPU seconds of a process so far (utime + stime, cutime + cstime). */
function procCpu(pid: number | "self"): [number, number] {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return [(Number(f[11]) + Number(f[12])) / TICK, (Number(f[13]) + Number(f[14])) / TICK];
}

/** Busy CPU seconds of the whole machine, all cores. */
function machineCpu(): number {
  const f = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already in user)
  return (f[0]! + f[1]! + f[2]! + f[5]! + f[6]! + f[7]!) / TICK;
}

interface Cpu {
  /** CPU used during the run, in % of one core. */
  backendPct: number;
  /** The proxy on the path (sidecar or reference); absent on the direct path. */
  proxyPct?: number;
  /** Its CPU per request, µs. */
  proxyUsPerRequest?: number;
  fortioPct: number;
  /** Everything else on the machine (other workloads), % of one core. */
  othersPct: number;
}

async function measure(run: () => Promise<Run>, backend: ChildProcess, proxy: ChildProcess | undefined) {
  const t0 = performance.now();
  const b0 = procCpu(backend.pid!)[0];
  const p0 = proxy ? procCpu(proxy.pid!)[0] : 0;
  const [self0, kids0] = procCpu("self");
  const m0 = machineCpu();
  const r = await run();
  const m1 = machineCpu();
  const secs = (performance.now() - t0) / 1000;
  const b = procCpu(backend.pid!)[0] - b0;
  const p = proxy ? procCpu(proxy.pid!)[0] - p0 : 0;
  const [self1, kids1] = procCpu("self");
  // fortio is the only child waited for during the run.
  const fortioCpu = kids1 - kids0;
  const pct = (x: number): number => Math.round((100 * x) / secs);
  const cpu: Cpu = {
    backendPct: pct(b),
    ...(proxy ? { proxyPct: pct(p), proxyUsPerRequest: Math.round((p * 1e6) / Math.max(1, r.hist.Count)) } : {}),
    fortioPct: pct(fortioCpu),
    othersPct: Math.max(0, pct(m1 - m0 - b - p - fortioCpu - (self1 - self0))),
  };
  return { ...r, cpu };
}

function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const r1 = (x: number): number => Math.round(x * 10) / 10;

async function main(): Promise<void> {
  const role = arg("--role", "");
  if (role === "backend") return runBackend();
  if (role === "sidecar") return runSidecar(arg("--app", ""));
  if (role === "reference") return runReference(arg("--app", ""));

  const rate = Number(arg("--rate", "2000"));
  const seconds = Number(arg("--seconds", "6"));
  const rounds = Number(arg("--rounds", "5"));
  const connections = Number(arg("--connections", "16"));
  const warmup = Number(arg("--warmup", "3"));
  const withReference = process.argv.includes("--reference");
  const bin = requireFortio();
  const loadavgBefore = os.loadavg().map((l) => Number(l.toFixed(2)));
  const backend = await child("backend");
  const sidecar = await child("sidecar", ["--app", backend.url]);
  const reference = withReference ? await child("reference", ["--app", backend.url]) : undefined;
  const paths = {
    direct: { url: backend.url, proxy: undefined },
    sidecar: { url: sidecar.url, proxy: sidecar.proc },
    ...(reference ? { reference: { url: reference.url, proxy: reference.proc } } : {}),
  };
  type Path = keyof typeof paths;
  const names = Object.keys(paths) as Path[];
  const go = (p: Path, secs: number) => {
    const { url, proxy } = paths[p]!;
    return measure(() => fortio(bin, url, rate, secs, connections), backend.proc, proxy);
  };
  type Measured = Awaited<ReturnType<typeof go>>;
  try {
    for (const p of names) await go(p, warmup);
    const perRound: Partial<Record<Path, Measured>>[] = [];
    for (let i = 0; i < rounds; i++) {
      // Each round in another order (direct first, then last, ...) so drift hits every path alike.
      const order = i % 2 === 0 ? names : names.slice().reverse();
      const got: Partial<Record<Path, Measured>> = {};
      for (const p of order) got[p] = await go(p, seconds);
      perRound.push(got);
    }
    const describe = (m: Measured) => ({
      ...stats(m.hist, m.errors, m.qps),
      lateMaxMs: r1(m.lateMaxMs),
      ...(m.behindPct !== undefined ? { behindPct: m.behindPct } : {}),
      cpu: m.cpu,
    });
    const roundsOut = perRound.map((r) => {
      const out: Record<string, unknown> = {};
      for (const p of names) out[p] = describe(r[p]!);
      const d = stats(r.direct!.hist, 0, 0);
      for (const p of names.filter((n) => n !== "direct")) {
        const s = stats(r[p]!.hist, 0, 0);
        out[p === "sidecar" ? "added" : `${p}Added`] = { p50Us: r1(s.p50Us - d.p50Us), p99Us: r1(s.p99Us - d.p99Us) };
      }
      return out as { added: { p50Us: number; p99Us: number } } & Record<string, unknown>;
    });
    const pooled = (p: Path): Stats => {
      const ms = perRound.map((r) => r[p]!);
      return stats(
        merge(ms.map((m) => m.hist)),
        ms.reduce((a, m) => a + m.errors, 0),
        ms.reduce((a, m) => a + m.qps, 0) / ms.length,
      );
    };
    const pooledOut = Object.fromEntries(names.map((p) => [p, pooled(p)])) as Record<Path, Stats>;
    const d = pooledOut.direct;
    const s = pooledOut.sidecar;
    const ref = pooledOut.reference;
    const report = {
      bench: "sidecar-overhead",
      node: process.version,
      fortio: perRound[0]?.direct?.version,
      cpu: os.cpus()[0]?.model ?? "unknown",
      cpus: os.cpus().length,
      loadavgBefore,
      loadavgAfter: os.loadavg().map((l) => Number(l.toFixed(2))),
      rate,
      connections,
      secondsPerRound: seconds,
      rounds,
      perRound: roundsOut,
      pooled: pooledOut,
      summary: {
        addedP50Us: r1(median(roundsOut.map((r) => r.added.p50Us))),
        addedP99Us: r1(median(roundsOut.map((r) => r.added.p99Us))),
        pooledAddedP50Us: r1(s.p50Us - d.p50Us),
        pooledAddedP99Us: r1(s.p99Us - d.p99Us),
        directP50Us: d.p50Us,
        directP99Us: d.p99Us,
        sidecarP50Us: s.p50Us,
        sidecarP99Us: s.p99Us,
        directQps: d.qps,
        sidecarQps: s.qps,
        errors: names.reduce((a, p) => a + pooledOut[p].errors, 0),
        sidecarCpuUsPerRequest: median(perRound.map((r) => r.sidecar!.cpu.proxyUsPerRequest!)),
        ...(ref
          ? {
              referenceAddedP50Us: r1(ref.p50Us - d.p50Us),
              referenceAddedP99Us: r1(ref.p99Us - d.p99Us),
              referenceCpuUsPerRequest: median(perRound.map((r) => r.reference!.cpu.proxyUsPerRequest!)),
            }
          : {}),
        othersCpuPctMax: Math.max(...perRound.flatMap((r) => names.map((p) => r[p]!.cpu.othersPct))),
      },
    };
    process.stdout.write(`${JSON.stringify(report)}\n`);
  } finally {
    backend.proc.kill();
    sidecar.proc.kill();
    reference?.proc.kill();
  }
}

await main();
