// Reconcile latency under churn (issue 4): change to applied, p50/p99, at a
// steady 50 changes/s.
//
//   node_modules/.bin/node bench/reconcile-latency.ts [--cells 10] [--apps 10]
//       [--rate 50] [--seconds 30] [--qps 200] [--burst 400] [--cpu-prof-dir DIR]
//
// --cpu-prof-dir: the operator process writes a V8 CPU profile of the whole
// run into DIR (bench/profile-reconcile.ts runs this and prints the top
// self-time functions).
//
// In a private one-datacenter control plane (.ldc/bench-reconcile-latency,
// removed at the end), 10 Regional cells x 10 CellApps (100 Deployments), every
// app with a replicas override for every cell. Changes go round robin over
// the (app, cell) pairs, consecutive changes to different apps, each toggling
// one pair's replicas between 0 and 1 (so every pair changes every 2 s).
// Latency of a change: from sending it until a watch of the Deployments
// (an Informer in this process) delivers the MODIFIED event with the new
// spec.replicas. A change not seen before the next change to its pair counts
// as missed (superseded). Also reported: the p50 of each change's own write
// (writeP50Ms) and of the time from its answer to the Deployment seen
// (afterWrite*: for the operator, what it adds after the CellApp write is
// committed; a CRD write with validation is slower than a Deployment patch). At the end (15 s after the last send at most):
// unseenAtEnd, the last changes without their event (one superseded and
// undone before it landed has none), and unappliedAtEnd, the Deployments
// without their last value (the target: 0).
//
//   1. baseline: the same churn patching the Deployments' spec.replicas
//      directly (merge patch): the API server's write-to-watch floor;
//   2. operator (when src/operator.ts exports startOperator): the churn patches
//      each CellApp's spec.overrides (one request in flight per app, so no
//      change is lost to a concurrent patch), the operator applies it.
//
// One JSON line on stdout; progress on stderr.
import os from "node:os";
import { workloadName } from "../src/reconcilers/naming.ts";
import {
  Informer,
  Resources,
  stripManagedFields,
  type AnyObject,
  type KubeClient,
  type KubeObject,
} from "../src/runtime/index.ts";
import {
  appName,
  arg,
  cellName,
  clientFor,
  createTopology,
  deleteNamespace,
  ensureNamespace,
  installCrds,
  LdcResources,
  loadStartOperator,
  log,
  MANAGED_SELECTOR,
  numArg,
  parseTopology,
  percentile,
  plannedObjects,
  pool,
  retry,
  round,
  runOperatorBench,
  sleep,
  topology,
  withPrivateCluster,
  runBench,
} from "./lib/common.ts";
import { metricDelta, metricSnapshot } from "./lib/failover.ts";
import { ConvergenceWatch } from "./lib/watch.ts";

const BASELINE_NS = "latency-baseline";
const OPERATOR_NS = "latency";
const OPERATOR_SYSTEM_NS = "ldc-system";

interface Settings {
  cells: number;
  apps: number;
  rate: number;
  seconds: number;
  qps: number;
  burst: number;
  cpuProfDir?: string;
}

type Deployment = KubeObject & { spec?: { replicas?: number } };

/** Times each expected replicas value until the watch delivers it. */
class LatencyTracker {
  readonly #inf: Informer<Deployment>;
  readonly #pending = new Map<string, { value: number; t: number; written?: number }>();
  readonly latencies: number[] = [];
  /** Round trip of each change's own write (the CellApp or Deployment patch). */
  readonly writes: number[] = [];
  /** From the change's write answered to the Deployment seen (0 when seen first): what follows the write. */
  readonly afterWrite: number[] = [];
  missed = 0;

  constructor(client: KubeClient, namespace: string) {
    this.#inf = new Informer<Deployment>(client, Resources.Deployment, {
      namespace,
      labelSelector: MANAGED_SELECTOR,
      transform: stripManagedFields,
    });
    this.#inf.on({ update: (_, d) => this.#seen(d) });
  }

  async start(): Promise<void> {
    this.#inf.start();
    if (!(await this.#inf.waitForSync(60_000))) throw new Error("latency watch did not sync");
  }

  expect(name: string, value: number, t: number): void {
    if (this.#pending.has(name)) this.missed++;
    this.#pending.set(name, { value, t });
  }

  /** The change's write was answered at `t`. */
  written(name: string, value: number, start: number, t: number): void {
    this.writes.push(t - start);
    const p = this.#pending.get(name);
    if (p && p.value === value && p.t === start) p.written = t;
  }

  get pending(): number {
    return this.#pending.size;
  }

  /**
   * Pending changes whose Deployment does not have the value: a pending
   * change whose value the Deployment already has was superseded and undone
   * before it landed (0 -> 1 -> 0 with the 1 never applied): no event
   * comes, but nothing is left to apply.
   */
  get unapplied(): number {
    let n = 0;
    for (const [name, p] of this.#pending) {
      const d = this.#inf.store.list().find((x) => x.metadata?.name === name);
      if (d?.spec?.replicas !== p.value) n++;
    }
    return n;
  }

  async stop(): Promise<void> {
    await this.#inf.stop();
  }

  #seen(d: Deployment): void {
    const name = d.metadata?.name ?? "";
    const p = this.#pending.get(name);
    if (p && d.spec?.replicas === p.value) {
      const now = performance.now();
      this.latencies.push(now - p.t);
      this.afterWrite.push(p.written === undefined ? 0 : now - p.written);
      this.#pending.delete(name);
    }
  }
}

interface Pair {
  app: number;
  cell: number;
  deployment: string;
}

/**
 * Sends `rate` changes per second for `seconds`: change k toggles pair
 * (app k mod apps, cell (k div apps) mod cells). `send` gets the pair and
 * the new value; calls with the same app are serialised.
 */
async function churn(
  s: Settings,
  zone: string,
  tracker: LatencyTracker,
  send: (pair: Pair, value: number, values: number[][]) => Promise<void>,
): Promise<{ changes: number; lateSends: number; errors: number }> {
  const values = Array.from({ length: s.apps }, () => Array.from({ length: s.cells }, () => 0));
  const chains = Array.from({ length: s.apps }, () => Promise.resolve());
  const total = Math.round(s.rate * s.seconds);
  let lateSends = 0;
  let errors = 0;
  const t0 = performance.now();
  for (let k = 0; k < total; k++) {
    const due = t0 + (k * 1000) / s.rate;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    const app = k % s.apps;
    const cell = Math.floor(k / s.apps) % s.cells;
    const pair: Pair = { app, cell, deployment: workloadName(appName(app), cellName(cell), zone) };
    const row = values[app]!;
    row[cell] = row[cell] === 0 ? 1 : 0;
    const value = row[cell];
    chains[app] = chains[app]!.then(async () => {
      const t = performance.now();
      if (t - due > 1000 / s.rate) lateSends++;
      tracker.expect(pair.deployment, value, t);
      try {
        await retry(() => send(pair, value, values));
        tracker.written(pair.deployment, value, t, performance.now());
      } catch (err) {
        errors++;
        log(`change ${k} failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    });
    if (k > 0 && k % (s.rate * 5) === 0) log(`  ${k}/${total} changes sent, ${tracker.latencies.length} seen`);
  }
  await Promise.all(chains);
  const end = performance.now() + 15_000;
  while (tracker.unapplied > 0 && performance.now() < end) await sleep(100);
  return { changes: total, lateSends, errors };
}

/** Mean of a Prometheus histogram over the interval (label value `of` in any label, "" for all). */
function mean(after: Map<string, number>, before: Map<string, number>, name: string, of: string): number {
  const pick = (suffix: string) =>
    Object.entries(metricDelta(after, before, `${name}_${suffix}`, of ? "(?:name|controller)" : ""))
      .filter(([k]) => !of || k === of)
      .reduce((a, [, v]) => a + v, 0);
  const n = pick("count");
  return n ? round(pick("sum") / n, 3) : 0;
}

function summary(tracker: LatencyTracker, sent: { changes: number; lateSends: number; errors: number }) {
  const xs = tracker.latencies.slice().sort((a, b) => a - b);
  return {
    ...sent,
    seen: xs.length,
    missed: tracker.missed,
    unseenAtEnd: tracker.pending,
    unappliedAtEnd: tracker.unapplied,
    p50Ms: round(percentile(xs, 50)),
    p90Ms: round(percentile(xs, 90)),
    p99Ms: round(percentile(xs, 99)),
    maxMs: round(xs[xs.length - 1] ?? NaN),
    meanMs: round(xs.reduce((a, b) => a + b, 0) / (xs.length || 1)),
    // The change's own write (CellApp patch / Deployment patch), and what follows it until the Deployment is seen.
    writeP50Ms: round(
      percentile(
        tracker.writes.slice().sort((a, b) => a - b),
        50,
      ),
    ),
    afterWriteP50Ms: round(
      percentile(
        tracker.afterWrite.slice().sort((a, b) => a - b),
        50,
      ),
    ),
    afterWriteP99Ms: round(
      percentile(
        tracker.afterWrite.slice().sort((a, b) => a - b),
        99,
      ),
    ),
  };
}

async function baseline(kubeconfig: string, zone: string, region: string, s: Settings) {
  const admin = await clientFor(kubeconfig, { qps: 0 });
  const bare = await clientFor(kubeconfig, { qps: s.qps, burst: s.burst });
  try {
    await ensureNamespace(admin, BASELINE_NS);
    const { deployments } = plannedObjects(
      parseTopology(topology({ ...s, zone, region, namespace: BASELINE_NS, replicas: 0 })),
    );
    await pool(deployments, 16, async (d) => void (await retry(() => admin.apply(d as AnyObject))));
    const tracker = new LatencyTracker(admin, BASELINE_NS);
    await tracker.start();
    log(`baseline: ${deployments.length} Deployments; ${s.rate} direct replicas patches/s for ${s.seconds} s`);
    const sent = await churn(s, zone, tracker, async (pair, value) => {
      await bare.mergePatch(Resources.Deployment, pair.deployment, BASELINE_NS, { spec: { replicas: value } });
    });
    await tracker.stop();
    const r = summary(tracker, sent);
    log(`baseline: p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms (${r.seen}/${r.changes} seen)`);
    await deleteNamespace(admin, BASELINE_NS);
    return r;
  } finally {
    admin.close();
    bare.close();
  }
}

async function operator(kubeconfig: string, zone: string, region: string, s: Settings) {
  if (!(await loadStartOperator())) return { skipped: "operator not available" };
  const admin = await clientFor(kubeconfig, { qps: 0 });
  const user = await clientFor(kubeconfig, { qps: 0 });
  try {
    await installCrds(admin);
    await ensureNamespace(admin, OPERATOR_SYSTEM_NS);
    await ensureNamespace(admin, OPERATOR_NS);
    const t = topology({ ...s, zone, region, namespace: OPERATOR_NS, replicas: 0, overrides: true });
    await createTopology(admin, t);
    const watch = new ConvergenceWatch(admin, OPERATOR_NS, plannedObjects(parseTopology(t)));
    await watch.start();
    const handle = await runOperatorBench(kubeconfig, {
      namespace: OPERATOR_SYSTEM_NS,
      qps: s.qps,
      burst: s.burst,
      ...(s.cpuProfDir ? { nodeArgs: ["--cpu-prof", `--cpu-prof-dir=${s.cpuProfDir}`] } : {}),
    });
    if (!handle) return { skipped: "operator not available" };
    try {
      const doneAt = await watch.wait(120_000, (n, total) => log(`operator: converging ${n}/${total}`));
      await watch.stop();
      if (doneAt === undefined) throw new Error(`the operator did not converge: ${watch.converged}/${watch.total}`);
      const tracker = new LatencyTracker(admin, OPERATOR_NS);
      await tracker.start();
      await sleep(2000); // let the first status updates pass
      log(`operator: ${s.rate} CellApp override patches/s for ${s.seconds} s`);
      const before = await metricSnapshot(handle);
      const sent = await churn(s, zone, tracker, async (pair, _value, values) => {
        const overrides = values[pair.app]!.map((replicas, c) => ({ cell: cellName(c), replicas }));
        await user.mergePatch(LdcResources.CellApp, appName(pair.app), OPERATOR_NS, { spec: { overrides } });
      });
      await tracker.stop();
      const after = await metricSnapshot(handle);
      const r = {
        ...summary(tracker, sent),
        // What the churn cost the operator: its CPU, reconciles per controller, API requests per method.
        work: {
          cpuSeconds: metricDelta(after, before, "process_cpu_seconds_total", "").all,
          reconciles: metricDelta(after, before, "controller_runtime_reconcile_total", "controller"),
          requests: metricDelta(after, before, "rest_client_requests_total", "method"),
          // Where a reconcile's time went: mean seconds waiting in the queue, reconciling, per API request.
          meanSeconds: {
            queued: mean(after, before, "workqueue_queue_duration_seconds", "cellapp"),
            reconcile: mean(after, before, "controller_runtime_reconcile_time_seconds", "cellapp"),
            request: mean(after, before, "rest_client_request_duration_seconds", ""),
            rateLimiter: mean(after, before, "rest_client_rate_limiter_duration_seconds", ""),
          },
        },
      };
      log(`operator: p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms (${r.seen}/${r.changes} seen)`);
      return r;
    } finally {
      await handle.stop();
    }
  } finally {
    admin.close();
    user.close();
  }
}

async function main(): Promise<unknown> {
  const s: Settings = {
    cells: numArg("--cells", 10),
    apps: numArg("--apps", 10),
    rate: numArg("--rate", 50),
    seconds: numArg("--seconds", 30),
    qps: numArg("--qps", 200),
    burst: numArg("--burst", 400),
    ...(arg("--cpu-prof-dir") ? { cpuProfDir: arg("--cpu-prof-dir") } : {}),
  };
  const report = await withPrivateCluster("reconcile-latency", async (dc) => {
    const base = await baseline(dc.kubeconfigPath, dc.zone, dc.region, s);
    const op = await operator(dc.kubeconfigPath, dc.zone, dc.region, s);
    const ratios =
      "p50Ms" in op ? { p50: round(op.p50Ms / base.p50Ms, 2), p99: round(op.p99Ms / base.p99Ms, 2) } : undefined;
    return {
      bench: "reconcile-latency",
      node: process.version,
      cpus: os.cpus().length,
      loadavg: os.loadavg().map((l) => round(l, 2)),
      settings: s,
      baseline: base,
      operator: op,
      ...(ratios ? { ratioVsBaseline: ratios } : {}),
    };
  });
  return report;
}

runBench(main);
