// Failover RTO at scale: 1,000 cells, 16,384 shards (issue 6, figure 2: target < 3 s).
//
//   node_modules/.bin/node bench/failover-scale.ts [--runs 2] [--cells 1000] [--rules 8]
//       [--shards-per-rule 2048] [--sidecars-per-rule 2] [--source-zones 1] [--qps 50] [--burst 100]
//       [--cpu-profile DIR]
//
// One private datacenter (.ldc/bench-failover-scale-<pid>, removed at the
// end). The API's limits shape the topology, and the output says so:
//   - a ShardingRule has at most 128 assignments (one per cell), so 1,000
//     cells need 8 rules: 8 x 125 cells x 2,048 shards = 16,384 shards;
//   - the cells live in --source-zones zones (default 1: a1, standby b1; all
//     zones in the one cluster, nodes picked by nodeSelector) and a run is one
//     Emergency Failover per source zone (target.zone), created at the same
//     instant: by default one Failover moving all 1,000 cells, the SRE's
//     "move this datacenter" (a Failover's status.cells holds at most 4,096).
// No CellApp moves (scale-up is not the bottleneck): one tiny app (replicas
// 1, warm standby 1) scoped to 2 cells of rule r0, so one rule's table is
// also published as a ConfigMap. Sidecars run in this process (2 per rule),
// long-poll the routing API and ack with the bench token.
//
// Each run: 4 Emergency Failovers (writeFreeze 0s, decided-at = now),
// alternating a* -> b* and back. RTO of the 1,000 cells = last
// (decided-at + status.rtoMilliseconds) - first decided-at. Reported with
// each Failover's step breakdown and a profile: operator writes by method,
// client rate-limiter wait, reconciles and reconcile time per controller,
// CPU time and event-loop utilisation of this process (operator + sidecars),
// and an offline table build / serialise time and size for 2,048 and 16,384
// shards. One JSON line on stdout.
import os from "node:os";
import { performance } from "node:perf_hooks";
import type { ClusterState } from "../hack/lib/controlplane.ts";
import type { Failover } from "../src/api/index.ts";
import { buildTable, type CellInfo } from "../src/routing/index.ts";
import type { Sidecar } from "../src/sidecar/index.ts";
import { arg, ensureNamespace, log, numArg, round, runBench } from "./lib/common.ts";
import {
  applyAll,
  createFailover,
  dcOf,
  diffCounts,
  loadavg,
  metricDelta,
  metricSnapshot,
  prepareHome,
  requestsByMethod,
  startBenchOperator,
  startSidecars,
  stepTimes,
  waitFailoverDone,
  waitFor,
  waitQuiet,
  withDatacenters,
  writesOf,
  zoneObject,
  type BenchOperator,
} from "./lib/failover.ts";

const NAME = "failover-scale";
const APP_NS = "bench";
const FAILOVER_STATUS_MAX_CELLS = 4096;

interface Settings {
  runs: number;
  cells: number;
  rules: number;
  shardsPerRule: number;
  sidecarsPerRule: number;
  sourceZones: number;
  quietMaxSeconds: number;
  qps: number;
  burst: number;
}

const cellName = (i: number) => `c${String(i).padStart(4, "0")}`;
const ruleName = (r: number) => `r${r}`;

function layout(s: Settings) {
  const sourceZones = s.sourceZones;
  const perZone = Math.ceil(s.cells / sourceZones);
  const perRule = Math.ceil(s.cells / s.rules);
  const zoneOf = (i: number) => Math.floor(i / perZone) + 1;
  return { sourceZones, perZone, perRule, zoneOf };
}

function ranges(shards: number, cells: number): string[] {
  return Array.from({ length: cells }, (_, j) => {
    const lo = Math.floor((j * shards) / cells);
    const hi = Math.floor(((j + 1) * shards) / cells) - 1;
    return lo === hi ? `${lo}` : `${lo}-${hi}`;
  });
}

function ruleObject(s: Settings, r: number, cells: string[]) {
  const digits = String(s.shardsPerRule - 1).length;
  const rs = ranges(s.shardsPerRule, cells.length);
  return {
    apiVersion: "ldc.io/v1alpha1",
    kind: "ShardingRule",
    metadata: { name: ruleName(r) },
    spec: {
      key: { sources: [{ type: "Header", name: "x-user-id" }], pattern: "^[0-9]{4,20}$", onInvalidKey: "Reject" },
      shards: s.shardsPerRule,
      function: { type: "Digits", from: -(digits + 1), to: -1 },
      assignments: cells.map((c, j) => ({ cell: c, shards: rs[j]! })),
    },
  };
}

async function setup(state: ClusterState, s: Settings): Promise<void> {
  const { sourceZones, perRule, zoneOf } = layout(s);
  const admin = await prepareHome(state);
  try {
    await ensureNamespace(admin, APP_NS);
    const zones = Array.from({ length: sourceZones }, (_, z) => [
      zoneObject(`a${z + 1}`, { region: "hangzhou", nodeZone: "hz-a" }),
      zoneObject(`b${z + 1}`, { region: "hangzhou", nodeZone: "hz-a" }),
    ]).flat();
    const cells = Array.from({ length: s.cells }, (_, i) => ({
      apiVersion: "ldc.io/v1alpha1",
      kind: "Cell",
      metadata: { name: cellName(i) },
      spec: { type: "Regional", zone: `a${zoneOf(i)}`, standbyZones: [`b${zoneOf(i)}`] },
    }));
    const rules = Array.from({ length: s.rules }, (_, r) =>
      ruleObject(
        s,
        r,
        cells.slice(r * perRule, (r + 1) * perRule).map((c) => c.metadata.name),
      ),
    );
    const app = {
      apiVersion: "ldc.io/v1alpha1",
      kind: "CellApp",
      metadata: { name: "tiny", namespace: APP_NS },
      spec: {
        shardingRule: ruleName(0),
        scope: "Regional",
        cells: [cellName(0), cellName(1)],
        replicas: 1,
        standbyReplicas: 1,
        // The free-standing sidecars below are the fleet the barrier waits for (bench/lib/failover.ts benchApp).
        sidecar: { enabled: false },
        template: {
          spec: {
            containers: [
              {
                name: "tiny",
                image: "registry.example.com/bench/tiny:1.0.0",
                resources: { requests: { cpu: "10m", memory: "16Mi" } },
              },
            ],
          },
        },
      },
    };
    await applyAll(admin, zones);
    await applyAll(admin, cells, 32);
    await applyAll(admin, [...rules, app]);
    log(
      `created ${zones.length} Zones, ${s.cells} Cells, ${s.rules} ShardingRules (${s.shardsPerRule} shards each), 1 CellApp (2 cells)`,
    );
  } finally {
    admin.close();
  }
}

/**
 * Ready to measure: the next run's destination zones Ready, sidecars on their
 * rules' epochs and acked, then the operator quiet for 2 s, waiting at most
 * `quietMaxMs` for that (1,000 cells' status writes at the client's qps may
 * take longer; the run then starts anyway and records the backlog).
 */
async function settle(
  b: BenchOperator,
  s: Settings,
  sidecars: Sidecar[],
  sidecarRules: string[],
  destinations: string[],
  quietMaxMs: number,
): Promise<{ quiet: boolean; cellQueueDepth: number | undefined }> {
  const { op } = b;
  await waitFor(
    `destination zones ${destinations.join(", ")} Ready`,
    () => destinations.every((z) => op.context.ldc.zones.store.get(z)?.status?.phase === "Ready"),
    180_000,
  );
  await waitFor("every Cell observed", () => op.context.ldc.cells.store.size >= s.cells, 60_000);
  await waitFor(
    "every sidecar on its rule's current epoch, and acked",
    () =>
      sidecars.every((sc, i) => {
        const t = op.tables.get(sidecarRules[i]!);
        return t !== undefined && sc.currentEpoch() === t.epoch;
      }) &&
      Array.from({ length: s.rules }, (_, r) => ruleName(r)).every((r) => {
        const t = op.tables.get(r);
        const acks = op.tables.acks(r);
        return t !== undefined && acks.length === s.sidecarsPerRule && acks.every((a) => a.epoch === t.epoch);
      }),
    240_000,
  );
  const quiet = await waitQuiet(op, 2000, quietMaxMs);
  const depth = (await metricSnapshot(op)).get('workqueue_depth{name="cell"}');
  if (!quiet) log(`settle: not quiet after ${quietMaxMs / 1000} s (cell work queue ${depth}); measuring anyway`);
  return { quiet, cellQueueDepth: depth };
}

/** Offline: build and serialise one rule's table (no cluster), for the profile. */
function tableCost(shards: number, cells: number) {
  const infos: CellInfo[] = Array.from({ length: cells }, (_, i) => ({
    name: cellName(i),
    type: "Regional" as const,
    zone: "a1",
    region: "hangzhou",
  }));
  const rs = ranges(shards, cells);
  const digits = String(shards - 1).length;
  const input = (epoch: number) => ({
    ruleName: "r",
    shards,
    function: { type: "Digits" as const, from: -(digits + 1), to: -1 },
    key: [{ type: "Header" as const, name: "x-user-id" }],
    assignments: infos.map((c, j) => ({ cell: c.name, shards: rs[j]! })),
    cells: infos,
    frozenShards: `0-${shards - 1}`,
    epoch,
  });
  buildTable(input(1)).serialize(); // warm-up
  const reps = 20;
  let build = 0;
  let ser = 0;
  let bytes = 0;
  for (let e = 2; e < 2 + reps; e++) {
    const t0 = performance.now();
    const t = buildTable(input(e));
    const t1 = performance.now();
    bytes = t.serialize().length;
    ser += performance.now() - t1;
    build += t1 - t0;
  }
  return {
    shards,
    cells,
    buildMs: round(build / reps, 2),
    serializeMs: round(ser / reps, 2),
    serializedBytes: bytes,
  };
}

/**
 * With --cpu-profile DIR: a V8 CPU profile of this process (operator and
 * sidecars) during each run only, written as DIR/<name>.cpuprofile (open it
 * in Chrome DevTools or speedscope).
 */
async function startProfiler(): Promise<{ stop(name: string): Promise<void> } | undefined> {
  const dir = arg("--cpu-profile");
  if (dir === undefined) return undefined;
  const { Session } = await import("node:inspector/promises");
  const { mkdirSync, writeFileSync } = await import("node:fs");
  const session = new Session();
  session.connect();
  await session.post("Profiler.enable");
  await session.post("Profiler.start");
  return {
    async stop(name) {
      const { profile } = await session.post("Profiler.stop");
      mkdirSync(dir, { recursive: true });
      const file = `${dir}/${name}.cpuprofile`;
      writeFileSync(file, JSON.stringify(profile));
      session.disconnect();
      log(`CPU profile: ${file}`);
    },
  };
}

async function runOnce(state: ClusterState, b: BenchOperator, s: Settings, run: number) {
  const { op } = b;
  const { sourceZones } = layout(s);
  const out = run % 2 === 0;
  const targets = Array.from({ length: sourceZones }, (_, z) => `${out ? "a" : "b"}${z + 1}`);
  const names = targets.map((z) => `scale-${run}-${z}`);
  const m0 = await metricSnapshot(op);
  const req0 = await requestsByMethod(op);
  const cpu0 = process.cpuUsage();
  const elu0 = performance.eventLoopUtilization();
  const decided = await Promise.all(
    targets.map((z, i) =>
      createFailover(dcOf(state, "dc1"), names[i]!, {
        type: "Emergency",
        target: { zone: z },
        writeFreeze: "0s",
      }),
    ),
  );
  const fos: Failover[] = [];
  for (const n of names) fos.push(await waitFailoverDone(op, n, 300_000));
  const cpu = process.cpuUsage(cpu0);
  const elu = performance.eventLoopUtilization(elu0);
  const m1 = await metricSnapshot(op);
  const req1 = await requestsByMethod(op);
  const t0 = Math.min(...decided);
  const allAcked = Math.max(...fos.map((f, i) => decided[i]! + (f.status?.rtoMilliseconds ?? NaN))) - t0;
  const allTerminal = Math.max(...fos.map((f) => Date.parse(f.status?.completionTime ?? ""))) - t0;
  const result = {
    run,
    direction: out ? "a* -> b*" : "b* -> a*",
    phases: fos.map((f) => f.status?.phase),
    cellsMoved: fos.reduce((n, f) => n + (f.status?.cells?.length ?? 0), 0),
    rtoAllCellsMs: allAcked,
    terminalAllMs: allTerminal,
    failovers: fos.map((f, i) => ({
      name: f.metadata.name,
      cells: f.status?.cells?.length ?? 0,
      createdSkewMs: decided[i]! - t0,
      rtoMs: f.status?.rtoMilliseconds,
      ...stepTimes(f),
      ...(f.status?.phase !== "Succeeded" ? { message: f.status?.message } : {}),
    })),
    profile: {
      writes: writesOf(diffCounts(req1, req0)),
      requestsByMethod: diffCounts(req1, req0),
      rateLimiterWaitSeconds: metricDelta(m1, m0, "rest_client_rate_limiter_duration_seconds_sum", "verb"),
      reconciles: metricDelta(m1, m0, "controller_runtime_reconcile_total", "controller"),
      reconcileSeconds: metricDelta(m1, m0, "controller_runtime_reconcile_time_seconds_sum", "controller"),
      queueWaitSeconds: metricDelta(m1, m0, "workqueue_queue_duration_seconds_sum", "name"),
      processCpuMs: { user: round(cpu.user / 1000), system: round(cpu.system / 1000) },
      eventLoopUtilization: round(elu.utilization, 3),
    },
  };
  log(
    `run ${run} (${result.direction}): ${result.phases.join(",")}; ${result.cellsMoved} cells; RTO(all) ${allAcked} ms; writes ${result.profile.writes}; cpu ${JSON.stringify(result.profile.processCpuMs)}`,
  );
  for (const f of result.failovers)
    log(`  ${f.name}: RTO ${f.rtoMs} ms, observe ${f.observeMs} ms, ${JSON.stringify(f.steps)}`);
  return result;
}

async function main(): Promise<unknown> {
  const s: Settings = {
    runs: numArg("--runs", 2),
    cells: numArg("--cells", 1000),
    rules: numArg("--rules", 8),
    shardsPerRule: numArg("--shards-per-rule", 2048),
    sidecarsPerRule: numArg("--sidecars-per-rule", 2),
    sourceZones: numArg("--source-zones", 1),
    quietMaxSeconds: numArg("--quiet-max", 90),
    qps: numArg("--qps", 50),
    burst: numArg("--burst", 100),
  };
  const { perRule, perZone, sourceZones, zoneOf } = layout(s);
  if (perZone > FAILOVER_STATUS_MAX_CELLS)
    throw new Error(
      `--source-zones ${s.sourceZones}: ${perZone} cells per zone; a Failover moves at most ${FAILOVER_STATUS_MAX_CELLS}`,
    );
  if (perRule > 128) throw new Error(`--rules ${s.rules}: ${perRule} cells per rule; a rule takes at most 128`);
  const loadBefore = loadavg();
  const offline = [tableCost(2048, 125), tableCost(16384, 125)];
  log(`offline table cost: ${JSON.stringify(offline)}`);
  const report = await withDatacenters(NAME, 1, async (state) => {
    const t0 = Date.now();
    await setup(state, s);
    const b = await startBenchOperator(state, NAME, { qps: s.qps, burst: s.burst });
    const sidecarRules: string[] = [];
    const specs = Array.from({ length: s.rules }, (_, r) =>
      Array.from({ length: s.sidecarsPerRule }, (_, k) => {
        const i = r * perRule + k;
        sidecarRules.push(ruleName(r));
        return { rule: ruleName(r), cell: cellName(i), zone: `${k % 2 === 0 ? "a" : "b"}${zoneOf(i)}` };
      }),
    ).flat();
    const sidecars = await startSidecars(b.url, specs);
    try {
      const dest = (run: number) =>
        Array.from({ length: sourceZones }, (_, z) => `${run % 2 === 0 ? "b" : "a"}${z + 1}`);
      log(`waiting for ${s.cells} cells to settle`);
      let before = await settle(b, s, sidecars, sidecarRules, dest(0), s.quietMaxSeconds * 1000);
      const setupSeconds = round((Date.now() - t0) / 1000);
      log(`settled after ${setupSeconds} s`);
      const runs = [];
      for (let i = 0; i < s.runs; i++) {
        const profiler = await startProfiler();
        runs.push({ ...(await runOnce(state, b, s, i)), operatorBefore: before });
        await profiler?.stop(`failover-scale-run${i}`);
        if (i < s.runs - 1) before = await settle(b, s, sidecars, sidecarRules, dest(i + 1), s.quietMaxSeconds * 1000);
      }
      const cm = await (async () => {
        const { apiRequest } = await import("../hack/lib/controlplane.ts");
        const res = await apiRequest(
          dcOf(state, "dc1"),
          "GET",
          `/api/v1/namespaces/${APP_NS}/configmaps/ldc-routing-${ruleName(0)}`,
          undefined,
          10_000,
        );
        return res.status === 200 ? res.body.length : undefined;
      })();
      const rto = runs.map((r) => r.rtoAllCellsMs);
      return {
        bench: NAME,
        node: process.version,
        cpus: os.cpus().length,
        loadavg: { before: loadBefore, after: loadavg() },
        settings: s,
        topology: {
          cells: s.cells,
          shards: s.rules * s.shardsPerRule,
          rules: `${s.rules} rules x ${perRule} cells x ${s.shardsPerRule} shards (a rule takes at most 128 assignments)`,
          zones: `${sourceZones} source zones of ${perZone} cells (a Failover's status.cells holds at most ${FAILOVER_STATUS_MAX_CELLS}) + ${sourceZones} standby zones, one cluster`,
          failovers: `${sourceZones} Emergency Failovers per run (target.zone), created together, writeFreeze 0s`,
          cellApps: "1 tiny app (replicas 1, warm standby) on 2 cells of r0: scale-up is not the bottleneck",
          sidecars: sidecars.length,
          sidecarsInProcess: true,
          setupSeconds,
        },
        targetMs: 3000,
        summary: {
          rtoAllCellsMsMedian: [...rto].sort((a, b) => a - b)[Math.floor((rto.length - 1) / 2)],
          rtoAllCellsMsMax: Math.max(...rto),
          meetsTarget: rto.every((x) => x < 3000),
        },
        runs,
        offlineTableCost: offline,
        routingConfigMapBytes: cm,
      };
    } finally {
      await Promise.all(sidecars.map((sc) => sc.close()));
      await b.op.stop();
    }
  });
  return report;
}

runBench(main);
