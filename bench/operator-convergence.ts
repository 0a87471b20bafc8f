// Convergence from cold (issue 4: at most 1.3x a bare client at the same rate limit).
//
//   node_modules/.bin/node bench/operator-convergence.ts [--cells 100] [--apps 20]
//       [--qps 100] [--burst 200] [--concurrency 32] [--replicas 0]
//
// In a private one-datacenter control plane (.ldc/bench-operator-convergence,
// removed at the end), for 100 Regional cells x 20 CellApps in one zone
// (2,000 Deployments + 2,000 Services, built with planCellApp):
//
//   1. baseline: a bare KubeClient (token bucket qps/burst) server-side
//      applies the 4,000 objects with `concurrency` requests in flight, in
//      namespace bench-baseline; then the namespace is deleted;
//   2. operator (when src/operator.ts exports startOperator): CRDs installed,
//      1 Zone, 100 Cells, 1 ShardingRule (one shard per cell), 20 CellApps
//      created beforehand; the clock starts at startOperator({qps, burst, ...}).
//
// Both clocks stop when a watch of the namespace has seen every Deployment and
// Service with its desired spec (replicas, selector, container names and
// images; Service selector and ports). With one zone and no standbyZones there
// are no standby Deployments. replicas 0 by default, so the figure is the
// operator's and not the scheduler's (no pods). One JSON line on stdout.
import os from "node:os";
import type { AnyObject } from "../src/runtime/index.ts";
import {
  clientFor,
  createTopology,
  deleteNamespace,
  ensureNamespace,
  installCrds,
  loadStartOperator,
  log,
  numArg,
  parseTopology,
  plannedObjects,
  pool,
  retry,
  round,
  runOperatorBench,
  topology,
  withPrivateCluster,
  runBench,
} from "./lib/common.ts";
import { ConvergenceWatch } from "./lib/watch.ts";

const TARGET_RATIO = 1.3;
const BASELINE_NS = "bench-baseline";
const OPERATOR_NS = "bench";
const OPERATOR_SYSTEM_NS = "ldc-system";

interface Settings {
  cells: number;
  apps: number;
  qps: number;
  burst: number;
  concurrency: number;
  replicas: number;
}

/** Sums rest_client_requests_total by method from Prometheus text. */
function requestsByMethod(metrics: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of metrics.split("\n")) {
    const m = /^rest_client_requests_total\{([^}]*)\} ([0-9.e+]+)$/.exec(line);
    if (!m) continue;
    const method = /method="([^"]*)"/.exec(m[1]!)?.[1] ?? "?";
    out[method] = (out[method] ?? 0) + Number(m[2]);
  }
  return out;
}

async function baseline(kubeconfig: string, zone: string, region: string, s: Settings) {
  const admin = await clientFor(kubeconfig, { qps: 0 });
  const bare = await clientFor(kubeconfig, { qps: s.qps, burst: s.burst });
  try {
    await ensureNamespace(admin, BASELINE_NS);
    const topo = parseTopology(topology({ ...s, zone, region, namespace: BASELINE_NS }));
    const desired = plannedObjects(topo);
    // The operator applies each cell's Deployment, then its Service.
    const objects: AnyObject[] = desired.deployments.flatMap((d, i) => [d, desired.services[i]!]);
    const watch = new ConvergenceWatch(admin, BASELINE_NS, desired);
    await watch.start();
    log(`baseline: applying ${objects.length} objects, qps ${s.qps}, burst ${s.burst}, concurrency ${s.concurrency}`);
    const t0 = performance.now();
    let applied = 0;
    await pool(objects, s.concurrency, async (o) => {
      await retry(() => bare.apply(o));
      if (++applied % 1000 === 0) log(`baseline: ${applied}/${objects.length} applied`);
    });
    const appliedSeconds = (performance.now() - t0) / 1000;
    const doneAt = await watch.wait(300_000, (n, total) => log(`baseline: ${n}/${total}`));
    await watch.stop();
    if (doneAt === undefined) throw new Error(`baseline did not converge: ${watch.converged}/${watch.total}`);
    const seconds = (doneAt - t0) / 1000;
    log(`baseline: converged in ${seconds.toFixed(2)} s (last apply returned at ${appliedSeconds.toFixed(2)} s)`);
    log(`baseline: deleting namespace ${BASELINE_NS}`);
    await deleteNamespace(admin, BASELINE_NS);
    return {
      seconds: round(seconds, 2),
      appliedSeconds: round(appliedSeconds, 2),
      objects: objects.length,
      requests: objects.length,
    };
  } finally {
    admin.close();
    bare.close();
  }
}

async function operator(kubeconfig: string, zone: string, region: string, s: Settings, baselineSeconds: number) {
  if (!(await loadStartOperator())) return { skipped: "operator not available" };
  const admin = await clientFor(kubeconfig, { qps: 0 });
  try {
    await installCrds(admin);
    await ensureNamespace(admin, OPERATOR_SYSTEM_NS);
    await ensureNamespace(admin, OPERATOR_NS);
    const t = topology({ ...s, zone, region, namespace: OPERATOR_NS });
    await createTopology(admin, t);
    const desired = plannedObjects(parseTopology(t));
    const watch = new ConvergenceWatch(admin, OPERATOR_NS, desired);
    await watch.start();
    const timeoutMs = Math.min(600_000, Math.max(120_000, baselineSeconds * 5_000));
    log(
      `operator: starting (qps ${s.qps}, burst ${s.burst}); waiting for ${watch.total} objects (timeout ${timeoutMs / 1000}s)`,
    );
    const t0 = performance.now();
    const handle = await runOperatorBench(kubeconfig, { namespace: OPERATOR_SYSTEM_NS, qps: s.qps, burst: s.burst });
    if (!handle) return { skipped: "operator not available" };
    const startSeconds = (performance.now() - t0) / 1000;
    let doneAt: number | undefined;
    let metrics = "";
    try {
      doneAt = await watch.wait(timeoutMs, (n, total) => log(`operator: ${n}/${total}`));
      metrics = await handle.metrics();
    } finally {
      await watch.stop();
      await handle.stop();
    }
    if (doneAt === undefined) {
      return { converged: false, objects: watch.converged, of: watch.total, timeoutSeconds: timeoutMs / 1000 };
    }
    const seconds = (doneAt - t0) / 1000;
    log(`operator: converged in ${seconds.toFixed(2)} s`);
    return {
      converged: true,
      seconds: round(seconds, 2),
      startSeconds: round(startSeconds, 2),
      objects: watch.total,
      requestsByMethod: requestsByMethod(metrics),
    };
  } finally {
    admin.close();
  }
}

async function main(): Promise<unknown> {
  const s: Settings = {
    cells: numArg("--cells", 100),
    apps: numArg("--apps", 20),
    qps: numArg("--qps", 100),
    burst: numArg("--burst", 200),
    concurrency: numArg("--concurrency", 32),
    replicas: numArg("--replicas", 0),
  };
  const report = await withPrivateCluster("operator-convergence", async (dc) => {
    const base = await baseline(dc.kubeconfigPath, dc.zone, dc.region, s);
    const op = await operator(dc.kubeconfigPath, dc.zone, dc.region, s, base.seconds);
    const ratio = "seconds" in op && op.seconds !== undefined ? round(op.seconds / base.seconds, 2) : undefined;
    return {
      bench: "operator-convergence",
      node: process.version,
      cpus: os.cpus().length,
      loadavg: os.loadavg().map((l) => round(l, 2)),
      settings: s,
      deployments: s.cells * s.apps,
      services: s.cells * s.apps,
      targetRatio: TARGET_RATIO,
      baseline: base,
      operator: op,
      ...(ratio !== undefined ? { ratio, meetsTarget: ratio <= TARGET_RATIO } : {}),
    };
  });
  return report;
}

runBench(main);
