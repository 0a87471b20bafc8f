// Sidecar footprint: memory (RSS) and CPU of the sidecar as the image runs it
// (compiled JS, the Dockerfile's sidecar ENTRYPOINT flags), idle and under
// load, with a 16,384-shard table; and a burst, against the injected limit.
//
//   node bench/sidecar-footprint.ts [--seconds 10] [--rates 1000,2000] [--connections 16]
//       [--burst-connections 256] [--burst-seconds 5] [--node-flags "..."] [--no-build]
//       [--sidecar-main FILE]
//
// `npm run build` first (dist/, as in the image; --no-build uses the dist/
// that is there). Three processes besides this one: a tiny node:http app, the
// sidecar (`node <ENTRYPOINT flags> dist/src/sidecar/main.js`, configured by
// the environment the operator injects, one cell owning every shard so every
// request is routed and passed to the app) and fortio on 127.0.0.1:
//   - idle: after start and 3 s;
//   - each rate: fortio -qps <rate> -c <connections> -uniform for <seconds>;
//     RSS at the end, CPU over the run (/proc/<pid>/stat utime+stime);
//   - burst: fortio at full speed (-qps 0) with 256 connections, a 64 KiB
//     request body each: RSS peak (VmHWM) against the injected memory limit,
//     and whether the sidecar survived.
// Memory is in MiB (/proc kB / 1024). RSS is split into anonymous memory (heap, buffers: what an OOM kill
// counts against) and file-backed pages (the node binary's code, shared and
// reclaimable). --node-flags replaces the ENTRYPOINT's flags and
// --sidecar-main the compiled entry point (another build, to compare).
//
// One JSON line on stdout; progress on stderr. Figures only.
import { execFile, fork, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { requireFortio } from "../hack/lib/tools.ts";
import { sidecarEnv, DEFAULT_SIDECAR_RESOURCES } from "../src/reconcilers/sidecar.ts";
import { buildTable } from "../src/routing/index.ts";
import { arg, freePort, log, nodeBinary, numArg, REPO_DIR, round, sleep } from "./lib/common.ts";

const SHARDS = 16_384;
const CELLS = 8;

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
  process.send!({ port: (server.address() as AddressInfo).port });
}

/** The node flags of the Dockerfile's sidecar ENTRYPOINT: the bench runs what the image runs. */
export function entrypointFlags(dockerfile: string): string[] {
  const m = /FROM runtime AS sidecar[\s\S]*?ENTRYPOINT\s+(\[.*\])/.exec(dockerfile);
  if (!m) throw new Error("Dockerfile: no ENTRYPOINT in the sidecar target");
  const argv = JSON.parse(m[1]!) as string[];
  return argv.slice(1, argv.indexOf("dist/src/sidecar/main.js"));
}

interface Mem {
  rssMb: number;
  anonMb: number;
  fileMb: number;
  peakMb: number;
}

function memOf(pid: number): Mem {
  const s = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)?.[1] ?? NaN);
  const mb = (k: string) => round(kb(k) / 1024, 1);
  return { rssMb: mb("VmRSS"), anonMb: mb("RssAnon"), fileMb: mb("RssFile"), peakMb: mb("VmHWM") };
}

/** CPU seconds (user + system) of a process. */
function cpuOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / 100; // utime, stime (fields 14, 15) in USER_HZ ticks
}

interface FortioRun {
  qps: number;
  requests: number;
  errors: number;
  p50Ms: number;
  p99Ms: number;
}

function fortio(bin: string, url: string, args: string[]): Promise<FortioRun> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "ldc-fortio-"));
  const json = path.join(dir, "result.json");
  const all = [
    "load",
    "-loglevel",
    "Error",
    "-allow-initial-errors",
    ...args,
    "-H",
    "x-user-id: 2088001234",
    "-json",
    json,
    url,
  ];
  return new Promise((resolve, reject) => {
    execFile(bin, all, { maxBuffer: 16 << 20 }, (err, _stdout, stderr) => {
      try {
        if (err) throw new Error(`fortio failed: ${err.message}\n${stderr}`);
        const r = JSON.parse(readFileSync(json, "utf8")) as {
          ActualQPS: number;
          DurationHistogram: { Count: number; Percentiles?: { Percentile: number; Value: number }[] };
          RetCodes: Record<string, number>;
        };
        const pct = (p: number) =>
          round((r.DurationHistogram.Percentiles?.find((x) => x.Percentile === p)?.Value ?? NaN) * 1000, 2);
        resolve({
          qps: round(r.ActualQPS),
          requests: r.DurationHistogram.Count,
          errors: r.DurationHistogram.Count - (r.RetCodes["200"] ?? 0),
          p50Ms: pct(50),
          p99Ms: pct(99),
        });
      } catch (e) {
        reject(e as Error);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}

function memLimitMb(): number | undefined {
  const v = DEFAULT_SIDECAR_RESOURCES.limits?.memory;
  const m = v ? /^(\d+)Mi$/.exec(v) : null;
  return m ? Number(m[1]) : undefined;
}

async function main(): Promise<void> {
  const seconds = numArg("--seconds", 10);
  const rates = (arg("--rates") ?? "1000,2000").split(",").map(Number);
  const connections = numArg("--connections", 16);
  const burstConnections = numArg("--burst-connections", 256);
  const burstSeconds = numArg("--burst-seconds", 5);
  const fortioBin = requireFortio();
  if (!process.argv.includes("--no-build")) {
    log("npm run build (the compiled sidecar, as in the image)");
    await new Promise<void>((resolve, reject) =>
      execFile("npm", ["run", "build"], { cwd: REPO_DIR }, (err, _o, e) =>
        err ? reject(new Error(`npm run build failed: ${e}`)) : resolve(),
      ),
    );
  }
  const flagArg = arg("--node-flags");
  const flags =
    flagArg !== undefined
      ? flagArg.split(" ").filter(Boolean)
      : entrypointFlags(readFileSync(path.join(REPO_DIR, "Dockerfile"), "utf8"));

  const dir = mkdtempSync(path.join(os.tmpdir(), "ldc-footprint-"));
  const procs: ChildProcess[] = [];
  try {
    const cells = Array.from({ length: CELLS }, (_, i) => ({
      name: `rz0${i}`,
      type: "Regional" as const,
      zone: "hz-a",
      region: "hangzhou",
    }));
    const per = SHARDS / CELLS;
    const table = buildTable({
      ruleName: "users",
      shards: SHARDS,
      function: { type: "Digits", from: -6, to: -1 },
      key: [{ type: "Header", name: "x-user-id" }],
      assignments: cells.map((c, i) => ({ cell: c.name, shards: `${i * per}-${(i + 1) * per - 1}` })),
      cells,
      epoch: 1,
    });
    const tableFile = path.join(dir, "table.json");
    writeFileSync(tableFile, table.serialize());

    const backend = fork(import.meta.filename, ["--role", "backend"], {
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    procs.push(backend);
    const appPort = await new Promise<number>((resolve, reject) => {
      backend.once("message", (m) => resolve((m as { port: number }).port));
      backend.once("exit", (c) => reject(new Error(`backend exited with ${c}`)));
    });
    const [port, adminPort] = [await freePort(), await freePort()];
    // The environment the operator injects (sidecarEnv), pointed at this machine.
    const env: Record<string, string> = {};
    for (const e of sidecarEnv(
      {
        app: "bench",
        namespace: "bench",
        rule: "users",
        cell: "rz00",
        cellType: "Regional",
        zone: "hz-a",
        region: "hangzhou",
        port,
        adminPort,
        appPort,
        servicePort: 80,
        memberCluster: false,
      },
      { image: "unused" },
    ))
      if (e.value !== undefined) env[e.name] = e.value;
    Object.assign(env, {
      LDC_LISTEN: `127.0.0.1:${port}`,
      LDC_ADMIN_LISTEN: `127.0.0.1:${adminPort}`,
      LDC_TABLE_FILE: tableFile,
      LDC_SIDECAR_ID: "bench-0",
      LDC_LOG_LEVEL: "warn",
    });
    const entry = arg("--sidecar-main") ?? path.join(REPO_DIR, "dist", "src", "sidecar", "main.js");
    const sidecar = spawn(nodeBinary(), [...flags, entry], {
      env: { PATH: process.env.PATH ?? "", ...env },
      stdio: ["ignore", "inherit", "inherit"],
    });
    procs.push(sidecar);
    const pid = sidecar.pid!;
    const url = `http://127.0.0.1:${port}/pay`;
    for (let i = 0; ; i++) {
      try {
        if ((await fetch(`http://127.0.0.1:${adminPort}/__ldc/healthz`)).ok) break;
      } catch {
        /* not yet */
      }
      if (i > 100) throw new Error("the sidecar did not become healthy");
      await sleep(100);
    }
    log(`sidecar pid ${pid}, node ${flags.join(" ") || "(no flags)"}`);
    const idleCpu0 = cpuOf(pid);
    await sleep(3000);
    const idle = { ...memOf(pid), vcpu: round((cpuOf(pid) - idleCpu0) / 3, 3) };
    log(`idle: ${JSON.stringify(idle)}`);

    const loads: Record<string, unknown>[] = [];
    // Warm-up (JIT), not measured.
    await fortio(fortioBin, url, ["-qps", "1000", "-c", String(connections), "-uniform", "-t", "3s"]);
    for (const rate of rates) {
      const c0 = cpuOf(pid);
      const t0 = performance.now();
      const r = await fortio(fortioBin, url, [
        "-qps",
        String(rate),
        "-c",
        String(connections),
        "-uniform",
        "-t",
        `${seconds}s`,
      ]);
      const cpu = cpuOf(pid) - c0;
      const wall = (performance.now() - t0) / 1000;
      const mem = memOf(pid);
      const row = {
        rate,
        ...r,
        ...mem,
        vcpu: round(cpu / wall, 3),
        cpuUsPerRequest: round((cpu * 1e6) / Math.max(1, r.requests), 0),
      };
      log(`${rate} req/s: ${JSON.stringify(row)}`);
      loads.push(row);
    }

    // Burst: as fast as it goes, many connections, 64 KiB bodies: the most memory it takes.
    const body = path.join(dir, "body.bin");
    writeFileSync(body, Buffer.alloc(64 * 1024, 120));
    const b = await fortio(fortioBin, url, [
      "-qps",
      "0",
      "-c",
      String(burstConnections),
      "-t",
      `${burstSeconds}s`,
      "-payload-file",
      body,
      "-content-type",
      "application/octet-stream",
    ]);
    const alive = sidecar.exitCode === null && sidecar.signalCode === null;
    const afterBurst = alive ? memOf(pid) : undefined;
    const limit = memLimitMb();
    const burst = {
      connections: burstConnections,
      bodyKiB: 64,
      ...b,
      alive,
      ...afterBurst,
      // The peak against the injected limit (a cgroup counts the anonymous memory and the file pages it faulted in).
      ...(limit !== undefined && afterBurst ? { headroomMb: round(limit - afterBurst.peakMb, 1) } : {}),
    };
    log(`burst: ${JSON.stringify(burst)}`);

    process.stdout.write(
      `${JSON.stringify({
        bench: "sidecar-footprint",
        node: process.version,
        nodeFlags: flags,
        sidecarMain: path.relative(REPO_DIR, entry),
        cpus: os.cpus().length,
        loadavg: os.loadavg().map((l) => round(l, 2)),
        shards: SHARDS,
        injected: DEFAULT_SIDECAR_RESOURCES,
        memoryLimitMb: memLimitMb(),
        idle,
        loads,
        burst,
      })}\n`,
    );
  } finally {
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill("SIGTERM");
    rmSync(dir, { recursive: true, force: true });
  }
}

if (arg("--role") === "backend") void runBackend();
else
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      log(`failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      process.exit(1);
    },
  );
