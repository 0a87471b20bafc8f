// Operator memory while watching 10,000 Deployments (issue 4: RSS under 200 MB).
//
//   node_modules/.bin/node bench/operator-memory.ts [--deployments 10000] [--concurrency 32]
//
// In a private one-datacenter control plane (.ldc/bench-operator-memory,
// removed at the end): applies N Deployments as the operator stamps them
// (planCellApp over 100 Regional cells x N/100 CellApps, replicas 0 so no pods,
// server-side apply by field manager ldc-operator, label
// app.kubernetes.io/managed-by=ldc-operator), writes the status the deployment
// controller would (its kube-controller-manager is stopped: at ~10 Deployments/s
// on 2 cores it would take a quarter of an hour), then measures child processes
// (bench/lib/memory-child.ts, Node 24 with --expose-gc), one after the other:
//   - baseline:       imports the runtime and connects (an idle operator process)
//   - informer:       + the operator's Deployment informer, objects as received
//   - informer-strip: + the same informer with transform: stripManagedFields,
//                     which Cluster.informer() applies by default
//   - baseline and informer-strip again under node --optimize-for-size
// Each reports RSS after sync, a settle period and a full GC. One JSON line on
// stdout; progress on stderr.
import { execFile } from "node:child_process";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import type { DatacenterState } from "../hack/lib/controlplane.ts";
import { Resources } from "../src/runtime/index.ts";
import {
  clientFor,
  ensureNamespace,
  log,
  nodeBinary,
  numArg,
  parseTopology,
  plannedObjects,
  pool,
  REPO_DIR,
  retry,
  round,
  topology,
  withPrivateCluster,
} from "./lib/common.ts";

const TARGET_RSS_MB = 200;
const NAMESPACE = "bench-memory";
const execFileAsync = promisify(execFile);

interface ChildResult {
  mode: string;
  objects: number;
  syncMs: number;
  rssMB: number;
  heapUsedMB: number;
  heapTotalMB: number;
  externalMB: number;
  peakRssMB: number;
}

async function child(mode: string, kubeconfig: string, nodeFlags: string[] = []): Promise<ChildResult> {
  const script = path.join(REPO_DIR, "bench", "lib", "memory-child.ts");
  const { stdout } = await execFileAsync(
    nodeBinary(),
    ["--expose-gc", ...nodeFlags, script, "--mode", mode, "--kubeconfig", kubeconfig],
    { encoding: "utf8", timeout: 360_000, maxBuffer: 1 << 20 },
  );
  const r = JSON.parse(stdout.trim().split("\n").pop()!) as ChildResult;
  log(
    `${mode}${nodeFlags.length ? ` ${nodeFlags.join(" ")}` : ""}: RSS ${r.rssMB} MB (peak ${r.peakRssMB} MB), heap ${r.heapUsedMB} MB, ${r.objects} objects, sync ${r.syncMs} ms`,
  );
  return r;
}

/**
 * Stops this private datacenter's kube-controller-manager (a process this
 * benchmark started): its deployment controller would create a ReplicaSet and
 * write the status of each of the 10,000 Deployments at ~10/s on 2 cores.
 */
function stopControllerManager(dc: DatacenterState): void {
  const pid = dc.pids["kube-controller-manager"];
  if (!pid) return;
  try {
    process.kill(-pid, "SIGTERM");
  } catch {
    /* already gone */
  }
  log(`stopped the private kube-controller-manager (pid ${pid}); Deployment status is written by the benchmark`);
}

/** The status the deployment controller writes on a Deployment with 0 replicas. */
function controllerStatus(name: string, now: string): Record<string, unknown> {
  return {
    observedGeneration: 1,
    conditions: [
      {
        type: "Available",
        status: "True",
        lastUpdateTime: now,
        lastTransitionTime: now,
        reason: "MinimumReplicasAvailable",
        message: "Deployment has minimum availability.",
      },
      {
        type: "Progressing",
        status: "True",
        lastUpdateTime: now,
        lastTransitionTime: now,
        reason: "NewReplicaSetAvailable",
        message: `ReplicaSet "${name}-7d9f8b6c5d" has successfully progressed.`,
      },
    ],
  };
}

async function main(): Promise<void> {
  const count = numArg("--deployments", 10_000);
  const concurrency = numArg("--concurrency", 32);
  const cells = 100;
  const apps = Math.ceil(count / cells);

  const report = await withPrivateCluster("operator-memory", async (dc) => {
    const client = await clientFor(dc.kubeconfigPath, { qps: 0, timeoutMs: 60_000 });
    try {
      await ensureNamespace(client, NAMESPACE);
      const topo = parseTopology(
        topology({ cells, apps, zone: dc.zone, region: dc.region, namespace: NAMESPACE, replicas: 0 }),
      );
      const deployments = plannedObjects(topo).deployments.slice(0, count);
      const bytes = deployments.reduce((s, d) => s + JSON.stringify(d).length, 0);
      log(
        `applying ${deployments.length} Deployments (~${Math.round(bytes / deployments.length)} B each as applied), concurrency ${concurrency}`,
      );
      stopControllerManager(dc);
      const t0 = performance.now();
      let done = 0;
      await pool(deployments, concurrency, async (d) => {
        await retry(() => client.apply(d));
        if (++done % 1000 === 0) log(`  applied ${done}/${deployments.length}`);
      });
      const createSeconds = (performance.now() - t0) / 1000;
      log(`applied in ${createSeconds.toFixed(1)} s (${Math.round(deployments.length / createSeconds)}/s)`);
      // As kube-controller-manager would (an Update of the status subresource, its own managedFields entry).
      const now = new Date().toISOString().replace(/\.\d+Z$/, "Z");
      done = 0;
      await pool(deployments, concurrency, async (d) => {
        const { name, namespace } = d.metadata!;
        await retry(() =>
          client.mergePatch(
            Resources.Deployment,
            name!,
            namespace,
            { status: controllerStatus(name!, now) },
            {
              subresource: "status",
              fieldManager: "kube-controller-manager",
            },
          ),
        );
        if (++done % 2000 === 0) log(`  status ${done}/${deployments.length}`);
      });

      const kubeconfig = dc.kubeconfigPath;
      const baseline = await child("baseline", kubeconfig);
      const informer = await child("informer", kubeconfig);
      const stripped = await child("informer-strip", kubeconfig);
      const small = ["--optimize-for-size"];
      const baselineSmall = await child("baseline", kubeconfig, small);
      const strippedSmall = await child("informer-strip", kubeconfig, small);
      const rss = stripped.rssMB;
      return {
        bench: "operator-memory",
        node: process.version,
        cpus: os.cpus().length,
        loadavg: os.loadavg().map((l) => round(l, 2)),
        deployments: deployments.length,
        appliedBytesPerDeployment: Math.round(bytes / deployments.length),
        createSeconds: round(createSeconds),
        createPerSecond: Math.round(deployments.length / createSeconds),
        targetRssMB: TARGET_RSS_MB,
        // The figure: the operator's configuration (Cluster.informer strips managedFields).
        rssMB: rss,
        meetsTarget: rss < TARGET_RSS_MB,
        cacheRssMB: round(rss - baseline.rssMB),
        ratioVsBaseline: round(rss / baseline.rssMB, 2),
        withoutStrip: {
          rssMB: informer.rssMB,
          cacheRssMB: round(informer.rssMB - baseline.rssMB),
          ratioVsBaseline: round(informer.rssMB / baseline.rssMB, 2),
        },
        // The same with node --optimize-for-size (V8 keeps a small young generation and shrinks the heap).
        optimizeForSize: {
          rssMB: strippedSmall.rssMB,
          meetsTarget: strippedSmall.rssMB < TARGET_RSS_MB,
          cacheRssMB: round(strippedSmall.rssMB - baselineSmall.rssMB),
          ratioVsBaseline: round(strippedSmall.rssMB / baselineSmall.rssMB, 2),
          baseline: baselineSmall,
          informerStrip: strippedSmall,
        },
        baseline,
        informer,
        informerStrip: stripped,
      };
    } finally {
      client.close();
    }
  });
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

if (process.argv.includes("--help")) {
  process.stderr.write("usage: node bench/operator-memory.ts [--deployments 10000] [--concurrency 32]\n");
} else {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      log(`failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      process.exit(1);
    },
  );
}
