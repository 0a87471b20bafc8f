// Failover RTO for one zone of 10 cells (issue 6, figure 1: target p50 < 1 s).
//
//   node_modules/.bin/node bench/failover-rto.ts [--runs 7] [--cold-runs 3] [--sidecars-per-zone 2]
//
// Three private datacenters (.ldc/bench-failover-rto-<pid>, removed at the
// end): dc1 = zone hz-a (the operator's own cluster), dc2 = hz-b and
// dc3 = sh-a, member clusters connected by kubeconfig Secrets. 10 Regional
// cells active in hz-a with standby zone hz-b, a rule of 100 shards (10 per
// cell), one CellApp (replicas 1) and, to start with, a WARM standby
// (standbyReplicas 1 = replicas: ScaleUpStandby has nothing to wait for).
// Sidecars run in this process (2 per zone by default), long-poll the
// operator's routing API and ack with a token it accepts, so WaitAcknowledge
// waits for real acks.
//
// `runs` Emergency Failovers alternate hz-a -> hz-b and hz-b -> hz-a
// (target zone, writeFreeze 0s, annotation ldc.io/decided-at = Date.now()
// just before the create). Reported: status.rtoMilliseconds (decision ->
// every sidecar acked the switch epoch) p50/p90/max, the median duration of
// each step from status.steps, and the operator's API write requests per
// failover (rest_client_requests_total delta, creation -> terminal phase,
// and until the operator has been quiet for 1.5 s). Then the cells' standby
// is made COLD (Cell spec.standbyReplicas 0) and `cold-runs` more failovers
// are measured the same way: ScaleUpStandby now waits for a Deployment to
// scale up and its (kwok) pod to become Ready. One JSON line on stdout.
import os from "node:os";
import type { ClusterState } from "../hack/lib/controlplane.ts";
import type { Cell, Failover } from "../src/api/index.ts";
import type { Sidecar } from "../src/sidecar/index.ts";
import { clientFor, ensureNamespace, log, numArg, runBench, RULE } from "./lib/common.ts";
import {
  ZONE_OF_DC,
  applyAll,
  benchApp,
  benchRule,
  createFailover,
  dcOf,
  deployments,
  diffCounts,
  dist,
  loadavg,
  medianSteps,
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
  type StepTimes,
} from "./lib/failover.ts";

const NAME = "failover-rto";
const APP_NS = "bench";
const CELLS = 10;
const SHARDS = 100;
const A = "hz-a";
const B = "hz-b";
const cellName = (i: number) => `rz${String(i).padStart(2, "0")}`;

interface Run {
  name: string;
  from: string;
  to: string;
  phase: string;
  rtoMs: number;
  freezeMs: number | undefined;
  wallMs: number;
  times: StepTimes;
  writesToDone: number;
  writesToQuiet: number;
  byMethodToQuiet: Record<string, number>;
}

async function setup(state: ClusterState) {
  const admin = await prepareHome(state);
  try {
    await ensureNamespace(admin, APP_NS);
    const zones = [
      zoneObject(A, { region: "hangzhou" }),
      zoneObject(B, { region: "hangzhou", member: true }),
      zoneObject(ZONE_OF_DC.dc3, { region: "shanghai", member: true }),
    ];
    const cells = Array.from({ length: CELLS }, (_, i) => ({
      apiVersion: "ldc.io/v1alpha1",
      kind: "Cell",
      metadata: { name: cellName(i) },
      spec: { type: "Regional", zone: A, standbyZones: [B] },
    }));
    const rule = benchRule(
      RULE,
      SHARDS,
      cells.map((c) => c.metadata.name),
    );
    const app = benchApp(APP_NS, RULE);
    await applyAll(admin, zones);
    await applyAll(admin, cells);
    await applyAll(admin, [rule, app]);
    log(`created 3 Zones, ${CELLS} Cells, 1 ShardingRule (${SHARDS} shards), 1 CellApp`);
  } finally {
    admin.close();
  }
}

/** Zones Ready, the app Ready in both zones at `standby` standby replicas, sidecars on the current epoch, operator quiet. */
async function settle(state: ClusterState, b: BenchOperator, sidecars: Sidecar[], standby: number): Promise<void> {
  const { op } = b;
  await waitFor(
    "every Zone Ready",
    () => ["hz-a", "hz-b", "sh-a"].every((z) => op.context.ldc.zones.store.get(z)?.status?.phase === "Ready"),
    120_000,
  );
  const active = () => {
    const zones = new Set(op.context.ldc.cells.store.list().map((c: Cell) => c.status?.activeZone ?? c.spec.zone));
    return zones.size === 1 ? [...zones][0]! : undefined;
  };
  await waitFor(
    "the app's Deployments (active 1, standby at the standby size) Ready in hz-a and hz-b",
    async () => {
      const act = active();
      if (!act) return false;
      for (const dc of ["dc1", "dc2"] as const) {
        const zone = ZONE_OF_DC[dc];
        const want = zone === act ? 1 : standby;
        const deps = await deployments(dcOf(state, dc), APP_NS);
        if (deps.length < CELLS) return false;
        if (!deps.every((d) => d.spec?.replicas === want && (d.status?.readyReplicas ?? 0) >= want)) return false;
      }
      return true;
    },
    180_000,
  );
  await waitFor(
    "every sidecar on the current epoch, and acked",
    () => {
      const t = op.tables.get(RULE);
      if (!t) return false;
      const acks = op.tables.acks(RULE);
      return (
        sidecars.every((s) => s.currentEpoch() === t.epoch) &&
        acks.length === sidecars.length &&
        acks.every((a) => a.epoch === t.epoch)
      );
    },
    60_000,
  );
  await waitQuiet(op, 1500, 30_000);
}

async function failoverOnce(state: ClusterState, b: BenchOperator, name: string, from: string): Promise<Run> {
  const { op } = b;
  const before = await requestsByMethod(op);
  const t0 = Date.now();
  await createFailover(dcOf(state, "dc1"), name, {
    type: "Emergency",
    target: { zone: from },
    writeFreeze: "0s",
  });
  const fo: Failover = await waitFailoverDone(op, name, 180_000);
  const wallMs = Date.now() - t0;
  const atDone = await requestsByMethod(op);
  await waitQuiet(op, 1500, 30_000);
  const atQuiet = await requestsByMethod(op);
  const st = fo.status ?? {};
  const run: Run = {
    name,
    from,
    to: st.cells?.[0]?.to ?? "?",
    phase: st.phase ?? "?",
    rtoMs: st.rtoMilliseconds ?? NaN,
    freezeMs: st.freezeMilliseconds,
    wallMs,
    times: stepTimes(fo),
    writesToDone: writesOf(diffCounts(atDone, before)),
    writesToQuiet: writesOf(diffCounts(atQuiet, before)),
    byMethodToQuiet: diffCounts(atQuiet, before),
  };
  log(
    `${name}: ${from} -> ${run.to} ${run.phase}, RTO ${run.rtoMs} ms; steps ${JSON.stringify(run.times.steps)}; writes ${run.writesToDone} (${run.writesToQuiet} until quiet)`,
  );
  if (run.phase !== "Succeeded") log(`${name}: ${st.message ?? ""}`);
  return run;
}

function summarize(runs: Run[]) {
  const ok = runs.filter((r) => r.phase === "Succeeded");
  const med = medianSteps(ok.map((r) => r.times));
  return {
    runs: runs.length,
    succeeded: ok.length,
    rtoMs: dist(ok.map((r) => r.rtoMs)),
    freezeMs: dist(ok.map((r) => r.freezeMs ?? NaN)),
    wallMsCreateToTerminal: dist(ok.map((r) => r.wallMs)),
    medianObserveMs: med.observeMs,
    medianStepMs: med.steps,
    writesPerFailover: {
      toTerminal: dist(ok.map((r) => r.writesToDone)),
      toQuiet: dist(ok.map((r) => r.writesToQuiet)),
    },
    perRun: runs.map((r) => ({
      name: r.name,
      from: r.from,
      to: r.to,
      phase: r.phase,
      rtoMs: r.rtoMs,
      observeMs: r.times.observeMs,
      steps: r.times.steps,
      writesToTerminal: r.writesToDone,
      writesToQuiet: r.byMethodToQuiet,
    })),
  };
}

async function main(): Promise<unknown> {
  const runs = numArg("--runs", 7);
  const coldRuns = numArg("--cold-runs", 3);
  const perZone = numArg("--sidecars-per-zone", 2);
  const loadBefore = loadavg();
  const report = await withDatacenters(NAME, 3, async (state) => {
    await setup(state);
    const b = await startBenchOperator(state, NAME);
    const sidecars = await startSidecars(
      b.url,
      ["hz-a", "hz-b", "sh-a"].flatMap((zone) =>
        Array.from({ length: perZone }, (_, i) => ({ rule: RULE, cell: cellName(i), zone })),
      ),
    );
    try {
      log("waiting for the warm topology to settle");
      await settle(state, b, sidecars, 1);
      const warm: Run[] = [];
      let at = A;
      for (let i = 0; i < runs; i++) {
        const r = await failoverOnce(state, b, `rto-warm-${i}`, at);
        warm.push(r);
        if (r.phase === "Succeeded") at = r.to;
        await settle(state, b, sidecars, 1);
      }
      const loadWarm = loadavg();

      // Cold standby: every cell's standby scaled to 0.
      const cold: Run[] = [];
      if (coldRuns > 0) {
        const admin = await clientFor(dcOf(state, "dc1").kubeconfigPath, { qps: 0 });
        try {
          for (let i = 0; i < CELLS; i++) {
            const c = b.op.context.ldc.cells.store.get(cellName(i))!;
            await admin.apply({
              apiVersion: "ldc.io/v1alpha1",
              kind: "Cell",
              metadata: { name: c.metadata.name },
              spec: { ...c.spec, standbyReplicas: 0 },
            });
          }
        } finally {
          admin.close();
        }
        log("standby made cold (Cell spec.standbyReplicas 0); waiting to settle");
        await settle(state, b, sidecars, 0);
        for (let i = 0; i < coldRuns; i++) {
          const r = await failoverOnce(state, b, `rto-cold-${i}`, at);
          cold.push(r);
          if (r.phase === "Succeeded") at = r.to;
          await settle(state, b, sidecars, 0);
        }
      }
      const warmSummary = summarize(warm);
      const coldSummary = coldRuns > 0 ? summarize(cold) : undefined;
      return {
        bench: NAME,
        node: process.version,
        cpus: os.cpus().length,
        loadavg: { before: loadBefore, afterWarm: loadWarm, after: loadavg() },
        topology: {
          datacenters: 3,
          zones: ["hz-a (dc1, home)", "hz-b (dc2, member)", "sh-a (dc3, member)"],
          cells: CELLS,
          shards: SHARDS,
          cellApps: 1,
          replicas: 1,
          sidecars: sidecars.length,
          sidecarsInProcess: true,
          failover: "Emergency, target.zone, writeFreeze 0s, alternating hz-a <-> hz-b",
        },
        targetMs: 1000,
        summary: {
          warmRtoP50Ms: warmSummary.rtoMs.p50,
          warmRtoP90Ms: warmSummary.rtoMs.p90,
          warmRtoMaxMs: warmSummary.rtoMs.max,
          coldRtoP50Ms: coldSummary?.rtoMs.p50,
          writesPerFailoverP50: warmSummary.writesPerFailover.toTerminal.p50,
          meetsTarget: warmSummary.rtoMs.p50 < 1000,
        },
        warm: { standby: "warm: standbyReplicas 1 = replicas 1 (already scaled and Ready)", ...warmSummary },
        ...(coldSummary ? { cold: { standby: "cold: Cell spec.standbyReplicas 0", ...coldSummary } } : {}),
      };
    } finally {
      await Promise.all(sidecars.map((s) => s.close()));
      await b.op.stop();
    }
  });
  return report;
}

runBench(main);
