// Writes refused during a failover drill with a 2 s write freeze (issue 6, figure 4).
//
//   node_modules/.bin/node bench/failover-freeze.ts [--rate 200] [--cell rz03]
//
// Two private datacenters (.ldc/bench-failover-freeze-<pid>, removed at the
// end): dc1 = zone hz-a (the operator's cluster), dc2 = hz-b (member cluster
// through a kubeconfig Secret). 10 Regional cells active in hz-a with a warm
// standby in hz-b, a rule of 100 shards (10 per cell), one CellApp (replicas
// 1, standbyReplicas 1). Every cell@zone has a tiny recording backend
// (node:http, answers 200); 4 sidecars (2 per zone) run in this process,
// route by x-user-id and forward to the owning cell's backend (LDC_PEERS),
// and ack to the operator's routing API.
//
// A load generator sends POSTs (writes) at a steady `rate` per second,
// uniformly over the 100 shards, round-robin over the sidecars, from before
// the drill to after it. The Drill (target.cells [cell], writeFreeze 2s,
// drill.duration 3s) moves the cell to hz-b and back: two freezes. Counted
// for the requests SENT during the drill window (Failover created ->
// Succeeded): writes to the moved shards, those refused with 503 +
// Retry-After (frozen), other non-2xx; and the same for the other shards
// (expected: none refused). Reported as counts and the refused fraction of
// the moved shards' writes, with the freeze windows from status.steps. One
// JSON line on stdout.
import http from "node:http";
import os from "node:os";
import type { ClusterState } from "../hack/lib/controlplane.ts";
import type { Cell } from "../src/api/index.ts";
import { ensureNamespace, log, numArg, arg, round, sleep, runBench, RULE } from "./lib/common.ts";
import {
  applyAll,
  benchApp,
  benchRule,
  createFailover,
  dcOf,
  deployments,
  loadavg,
  prepareHome,
  startBackend,
  startBenchOperator,
  startSidecars,
  stepTimes,
  waitFailoverDone,
  waitFor,
  waitQuiet,
  withDatacenters,
  zoneObject,
  type RecordingBackend,
} from "./lib/failover.ts";

const NAME = "failover-freeze";
const APP_NS = "bench";
const CELLS = 10;
const SHARDS = 100;
const ZONES = ["hz-a", "hz-b"] as const;
const cellName = (i: number) => `rz${String(i).padStart(2, "0")}`;

interface Sent {
  at: number;
  shard: number;
  status: number;
  retryAfter: boolean;
}

async function setup(state: ClusterState): Promise<void> {
  const admin = await prepareHome(state);
  try {
    await ensureNamespace(admin, APP_NS);
    const cells = Array.from({ length: CELLS }, (_, i) => ({
      apiVersion: "ldc.io/v1alpha1",
      kind: "Cell",
      metadata: { name: cellName(i) },
      spec: { type: "Regional", zone: "hz-a", standbyZones: ["hz-b"] },
    }));
    await applyAll(admin, [
      zoneObject("hz-a", { region: "hangzhou" }),
      zoneObject("hz-b", { region: "hangzhou", member: true }),
    ]);
    await applyAll(admin, cells);
    await applyAll(admin, [
      benchRule(
        RULE,
        SHARDS,
        cells.map((c) => c.metadata.name),
      ),
      benchApp(APP_NS, RULE),
    ]);
    log(`created 2 Zones, ${CELLS} Cells, 1 ShardingRule (${SHARDS} shards), 1 CellApp`);
  } finally {
    admin.close();
  }
}

/** A user id whose shard (3rd- and 2nd-to-last digits) is `shard`. */
const userId = (shard: number): string => String(100000 + shard * 10 + Math.floor(Math.random() * 10));

function post(agent: http.Agent, url: string, shard: number): Promise<Sent> {
  const at = Date.now();
  return new Promise((resolve) => {
    const req = http.request(
      `${url}/orders`,
      { method: "POST", agent, headers: { "x-user-id": userId(shard), "content-type": "application/json" } },
      (res) => {
        res.resume();
        res.on("end", () =>
          resolve({ at, shard, status: res.statusCode ?? 0, retryAfter: res.headers["retry-after"] !== undefined }),
        );
      },
    );
    req.on("error", () => resolve({ at, shard, status: 0, retryAfter: false }));
    req.setTimeout(10_000, () => req.destroy());
    req.end("{}");
  });
}

/** Sends `rate` writes per second until stopped; shard i of every tick cycles through all shards. */
function loadGenerator(urls: string[], rate: number) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const sent: Promise<Sent>[] = [];
  let n = 0;
  const tickMs = 10;
  const perTick = rate / (1000 / tickMs);
  let credit = 0;
  const start = performance.now();
  let ticks = 0;
  const timer = setInterval(() => {
    // Catch up on late ticks so the rate stays steady.
    const due = Math.floor((performance.now() - start) / tickMs) - ticks;
    for (let t = 0; t < due; t++) {
      ticks++;
      credit += perTick;
      while (credit >= 1) {
        credit -= 1;
        const shard = Math.floor(Math.random() * SHARDS);
        sent.push(post(agent, urls[n++ % urls.length]!, shard));
      }
    }
  }, tickMs);
  return {
    async stop(): Promise<Sent[]> {
      clearInterval(timer);
      const all = await Promise.all(sent);
      agent.destroy();
      return all;
    },
  };
}

async function main(): Promise<unknown> {
  const rate = numArg("--rate", 200);
  const target = arg("--cell") ?? "rz03";
  const loadBefore = loadavg();
  const report = await withDatacenters(NAME, 2, async (state) => {
    await setup(state);
    const b = await startBenchOperator(state, NAME);
    const { op } = b;
    const backends = new Map<string, RecordingBackend>();
    for (let i = 0; i < CELLS; i++) for (const z of ZONES) backends.set(`${cellName(i)}@${z}`, await startBackend());
    const peers = Object.fromEntries([...backends].map(([k, v]) => [k, v.url]));
    // Sidecars of cells that do not move (rz00, rz01) in both zones.
    const sidecars = await startSidecars(
      b.url,
      ZONES.flatMap((zone) =>
        [0, 1].map((i) => ({
          rule: RULE,
          cell: cellName(i),
          zone,
          appUrl: backends.get(`${cellName(i)}@${zone}`)!.url,
          peers,
        })),
      ),
    );
    try {
      await waitFor(
        "both Zones Ready",
        () => ZONES.every((z) => op.context.ldc.zones.store.get(z)?.status?.phase === "Ready"),
        120_000,
      );
      await waitFor(
        "the app Ready in hz-a and its warm standby in hz-b",
        async () => {
          for (const dc of ["dc1", "dc2"]) {
            const deps = await deployments(dcOf(state, dc), APP_NS);
            if (deps.length < CELLS || !deps.every((d) => (d.status?.readyReplicas ?? 0) >= 1)) return false;
          }
          return true;
        },
        180_000,
      );
      await waitFor(
        "every sidecar on the current epoch, and acked",
        () => {
          const t = op.tables.get(RULE);
          const acks = op.tables.acks(RULE);
          return (
            t !== undefined &&
            sidecars.every((s) => s.currentEpoch() === t.epoch) &&
            acks.length === sidecars.length &&
            acks.every((a) => a.epoch === t.epoch)
          );
        },
        60_000,
      );
      await waitQuiet(op, 1500, 30_000);
      const cell = op.context.ldc.cells.store.get(target) as Cell | undefined;
      if (!cell) throw new Error(`--cell ${target}: no such cell`);
      const idx = Number(target.slice(2));
      const per = SHARDS / CELLS;
      const moved = new Set(Array.from({ length: per }, (_, k) => idx * per + k));

      log(`load: ${rate} writes/s over ${SHARDS} shards through ${sidecars.length} sidecars`);
      const load = loadGenerator(
        sidecars.map((s) => s.url),
        rate,
      );
      await sleep(2000);
      const name = "freeze-drill";
      const t0 = await createFailover(dcOf(state, "dc1"), name, {
        type: "Drill",
        target: { cells: [target] },
        writeFreeze: "2s",
        drill: { duration: "3s" },
      });
      const fo = await waitFailoverDone(op, name, 180_000);
      const t1 = Date.now();
      await sleep(2000);
      const sent = await load.stop();
      const inWindow = sent.filter((s) => s.at >= t0 && s.at <= t1);
      const count = (xs: Sent[]) => ({
        writes: xs.length,
        ok: xs.filter((s) => s.status >= 200 && s.status < 300).length,
        refusedFrozen: xs.filter((s) => s.status === 503 && s.retryAfter).length,
        otherErrors: xs.filter((s) => !(s.status >= 200 && s.status < 300) && !(s.status === 503 && s.retryAfter))
          .length,
      });
      const movedCounts = count(inWindow.filter((s) => moved.has(s.shard)));
      const otherCounts = count(inWindow.filter((s) => !moved.has(s.shard)));
      const outside = count(sent.filter((s) => s.at < t0 || s.at > t1));
      // Freeze windows: Freeze start -> Switch end of each leg.
      const steps = fo.status?.steps ?? [];
      const windows: { fromMs: number; toMs: number; ms: number }[] = [];
      let freezeStart: number | undefined;
      for (const s of steps) {
        if (s.name === "Freeze" && s.startTime) freezeStart = Date.parse(s.startTime);
        if (s.name === "Switch" && s.endTime && freezeStart !== undefined) {
          const end = Date.parse(s.endTime);
          windows.push({ fromMs: freezeStart - t0, toMs: end - t0, ms: end - freezeStart });
          freezeStart = undefined;
        }
      }
      // Refusals as seen by the clients: first and last refused write of each leg.
      const refused = inWindow.filter((s) => s.status === 503 && s.retryAfter).map((s) => s.at - t0);
      const windowMs = t1 - t0;
      log(
        `drill ${fo.status?.phase} in ${windowMs} ms: moved shards ${JSON.stringify(movedCounts)}, others ${JSON.stringify(otherCounts)}`,
      );
      return {
        bench: NAME,
        node: process.version,
        cpus: os.cpus().length,
        loadavg: { before: loadBefore, after: loadavg() },
        settings: {
          rate,
          cell: target,
          movedShards: `${idx * per}-${idx * per + per - 1}`,
          sidecars: sidecars.length,
          sidecarsInProcess: true,
          drill:
            "Drill, target.cells [cell], writeFreeze 2s, drill.duration 3s (freeze on the way out and on the failback)",
        },
        summary: {
          refusedFractionOfMovedWrites: round(movedCounts.refusedFrozen / Math.max(1, movedCounts.writes), 3),
          movedWrites: movedCounts.writes,
          movedRefused: movedCounts.refusedFrozen,
          otherRefused: otherCounts.refusedFrozen,
          drillWindowMs: windowMs,
          frozenShareOfWindow: round(windows.reduce((n, w) => n + w.ms, 0) / Math.max(1, windowMs), 3),
        },
        phase: fo.status?.phase,
        drillWindowMs: windowMs,
        movedShards: movedCounts,
        otherShards: otherCounts,
        outsideWindow: outside,
        freezeWindows: windows,
        freezeMilliseconds: fo.status?.freezeMilliseconds,
        rtoMilliseconds: fo.status?.rtoMilliseconds,
        steps: stepTimes(fo).steps,
        refusedSpanMs: refused.length ? { first: Math.min(...refused), last: Math.max(...refused) } : undefined,
        backendsReceived: Object.fromEntries(
          [...backends].filter(([, v]) => v.count > 0).map(([k, v]) => [k, v.count]),
        ),
      };
    } finally {
      await Promise.all(sidecars.map((s) => s.close()));
      await Promise.all([...backends.values()].map((x) => x.close()));
      await b.op.stop();
    }
  });
  return report;
}

runBench(main);
