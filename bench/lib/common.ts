// Shared plumbing of the operator benchmarks (bench/operator-*.ts,
// bench/reconcile-latency.ts): a private control plane per benchmark, clients,
// the generated LDC topology and the optional in-process operator.
//
// This directory holds helpers only: bench/run.ts runs bench/*.ts, not bench/lib/.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { parse as parseYaml } from "yaml";
import { down, up, type DatacenterState } from "../../hack/lib/controlplane.ts";
import { spawnOperator } from "../../hack/lib/operator-process.ts";
import { freePort } from "../../hack/lib/ports.ts";
import { REPO_DIR } from "../../hack/lib/tools.ts";
import {
  parseResource,
  type Cell,
  type CellApp,
  type ResourceInputOf,
  type ShardingRule,
  type Zone,
} from "../../src/api/index.ts";
import { planCellApp } from "../../src/reconcilers/cellapp.ts";
import { resolveRule } from "../../src/reconcilers/routing.ts";
import { MANAGED_BY, Labels } from "../../src/reconcilers/naming.ts";
import { KubeClient, type ClientOptions } from "../../src/runtime/client.ts";
import { ApiError } from "../../src/runtime/errors.ts";
import { Resources } from "../../src/runtime/resources.ts";
import type { AnyObject, KubeObject } from "../../src/runtime/types.ts";

export { REPO_DIR };

const t0 = Date.now();
/** Progress on stderr (stdout carries the one JSON result line). */
export function log(msg: string): void {
  process.stderr.write(`[bench ${((Date.now() - t0) / 1000).toFixed(1).padStart(6)}s] ${msg}\n`);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Runs a bench's main: the report it returns as one JSON line on stdout, then exit 0; a failure logged, exit 1. */
export function runBench(main: () => Promise<unknown>): void {
  main().then(
    (report) => {
      if (report !== undefined) process.stdout.write(`${JSON.stringify(report)}\n`);
      process.exit(0);
    },
    (err: unknown) => {
      log(`failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      process.exit(1);
    },
  );
}

/** The pinned Node 24 (the project's node devDependency), for child processes. */
export function nodeBinary(): string {
  const pinned = path.join(REPO_DIR, "node_modules", ".bin", "node");
  return existsSync(pinned) ? pinned : process.execPath;
}

export function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

export function numArg(name: string, def: number): number {
  const v = arg(name);
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`${name}: not a number: ${v}`);
  return n;
}

/**
 * Runs `fn` against a private one-datacenter control plane in
 * .ldc/bench-<name> (never the shared .ldc/cluster), removed afterwards, also
 * on error or Ctrl-C. LDC_KEEP_CLUSTER=1 keeps it.
 */
export async function withPrivateCluster<T>(name: string, fn: (dc: DatacenterState) => Promise<T>): Promise<T> {
  const stateDir = path.join(REPO_DIR, ".ldc", `bench-${name}`);
  const keep = process.env.LDC_KEEP_CLUSTER === "1";
  let stopping = false;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    log(`${sig}: stopping the private control plane`);
    void down(stateDir, log).finally(() => process.exit(130));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    const state = await up({ stateDir, datacenters: 1, log });
    return await fn(state.datacenters[0]!);
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    if (!stopping) {
      if (keep) log(`LDC_KEEP_CLUSTER=1: keeping ${stateDir}`);
      else await down(stateDir, log);
    }
  }
}

export async function clientFor(kubeconfigPath: string, opts: ClientOptions = {}): Promise<KubeClient> {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  return KubeClient.fromKubeConfig(kc, opts);
}

/** Runs `fn` over `items` with at most `concurrency` calls in flight. */
export async function pool<T>(items: readonly T[], concurrency: number, fn: (item: T, i: number) => Promise<void>) {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}

/** Retries `fn` on throttling, conflicts and transient errors (a benchmark must not die of one 429). */
export async function retry<T>(fn: () => Promise<T>, attempts = 8): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      const code = err instanceof ApiError ? err.code : 0;
      const transient = code === 0 || code === 409 || code === 429 || code >= 500;
      if (!transient || i >= attempts) throw err;
      await sleep(100 * 2 ** Math.min(i, 5));
    }
  }
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export const round = (x: number, digits = 1): number => Number(x.toFixed(digits));

export { freePort };

export async function ensureNamespace(client: KubeClient, name: string): Promise<void> {
  await client.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name } });
}

/** Deletes a namespace and waits until it is gone (its objects with it). */
export async function deleteNamespace(client: KubeClient, name: string, timeoutMs = 180_000): Promise<void> {
  await client.delete(Resources.Namespace, name);
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (!(await client.tryGet(Resources.Namespace, name))) return;
    await sleep(500);
  }
  throw new Error(`namespace ${name} still exists after ${timeoutMs / 1000}s`);
}

// ------------------------------------------------------------------ the API

export { LdcResources } from "../../src/ldc-resources.ts";

/** Applies crds/*.yaml (server-side apply) and waits until every CRD is Established. */
export async function installCrds(client: KubeClient): Promise<void> {
  const dir = path.join(REPO_DIR, "crds");
  const crds = readdirSync(dir)
    .filter((f) => f.endsWith(".yaml"))
    .map((f) => parseYaml(readFileSync(path.join(dir, f), "utf8")) as AnyObject);
  await Promise.all(crds.map((crd) => client.apply(crd)));
  const end = Date.now() + 60_000;
  for (const crd of crds) {
    const name = crd.metadata!.name!;
    for (;;) {
      const got = await client.get<KubeObject & { status?: { conditions?: { type: string; status: string }[] } }>(
        Resources.CustomResourceDefinition,
        name,
      );
      if (got.status?.conditions?.some((c) => c.type === "Established" && c.status === "True")) break;
      if (Date.now() > end) throw new Error(`CRD ${name} not Established after 60s`);
      await sleep(200);
    }
  }
  log(`installed ${crds.length} CRDs`);
}

export interface TopologyOptions {
  cells: number;
  apps: number;
  /** The datacenter's zone and region. */
  zone: string;
  region: string;
  /** Namespace of the CellApps (and so of their Deployments and Services). */
  namespace: string;
  replicas: number;
  /** Per-cell replicas overrides (every cell listed), for churn benchmarks. */
  overrides?: boolean;
}

/** What the user writes: one Zone, N Regional cells, a ShardingRule with one shard per cell, M CellApps. */
export interface Topology {
  zone: ResourceInputOf<"Zone">;
  cells: ResourceInputOf<"Cell">[];
  rule: ResourceInputOf<"ShardingRule">;
  apps: ResourceInputOf<"CellApp">[];
}

export const RULE = "users";
export const cellName = (i: number): string => `rz${String(i).padStart(3, "0")}`;
export const appName = (i: number): string => `app${String(i).padStart(2, "0")}`;

export function topology(o: TopologyOptions): Topology {
  const zone: ResourceInputOf<"Zone"> = {
    apiVersion: "ldc.io/v1alpha1",
    kind: "Zone",
    metadata: { name: o.zone },
    spec: { region: o.region },
  };
  const cells: ResourceInputOf<"Cell">[] = Array.from({ length: o.cells }, (_, i) => ({
    apiVersion: "ldc.io/v1alpha1",
    kind: "Cell",
    metadata: { name: cellName(i) },
    spec: { type: "Regional", zone: o.zone },
  }));
  // Shards 0..cells-1, shard i owned by cell i.
  const rule: ResourceInputOf<"ShardingRule"> = {
    apiVersion: "ldc.io/v1alpha1",
    kind: "ShardingRule",
    metadata: { name: RULE },
    spec: {
      key: { sources: [{ type: "Header", name: "x-user-id" }], pattern: "^[0-9]{4,20}$", onInvalidKey: "Reject" },
      shards: o.cells,
      function: { type: "Digits", from: -3, to: -1 },
      assignments: cells.map((c, i) => ({ cell: c.metadata.name, shards: String(i) })),
    },
  };
  const apps: ResourceInputOf<"CellApp">[] = Array.from({ length: o.apps }, (_, i) => ({
    apiVersion: "ldc.io/v1alpha1",
    kind: "CellApp",
    metadata: { name: appName(i), namespace: o.namespace },
    spec: {
      shardingRule: RULE,
      scope: "Regional",
      replicas: o.replicas,
      standbyReplicas: 0,
      template: {
        spec: {
          containers: [
            {
              name: appName(i),
              image: `registry.example.com/bench/${appName(i)}:1.0.0`,
              ports: [{ containerPort: 8080 }],
              resources: { requests: { cpu: "10m", memory: "16Mi" } },
            },
          ],
        },
      },
      ...(o.overrides ? { overrides: cells.map((c) => ({ cell: c.metadata.name, replicas: o.replicas })) } : {}),
    },
  }));
  return { zone, cells, rule, apps };
}

export interface ParsedTopology {
  zone: Zone;
  cells: Cell[];
  rule: ShardingRule;
  apps: CellApp[];
}

/** Validates the topology as the API server and the operator would (defaults applied); throws on any problem. */
export function parseTopology(t: Topology): ParsedTopology {
  const must = <T>(what: string, r: { ok: true; value: T } | { ok: false; errors: string[] }): T => {
    if (!r.ok) throw new Error(`bench topology: ${what}: ${r.errors.join("; ")}`);
    return r.value;
  };
  const parsed: ParsedTopology = {
    zone: must("Zone", parseResource("Zone", t.zone)) as Zone,
    cells: t.cells.map((c) => must(`Cell ${c.metadata.name}`, parseResource("Cell", c)) as Cell),
    rule: must("ShardingRule", parseResource("ShardingRule", t.rule)) as ShardingRule,
    apps: t.apps.map((a) => must(`CellApp ${a.metadata.name}`, parseResource("CellApp", a)) as CellApp),
  };
  // The operator's own check: every shard owned by exactly one Regional cell, cells and zones exist.
  const { problems } = resolveRule(parsed.rule, parsed.cells, [parsed.zone]);
  if (problems.length) throw new Error(`bench topology: ${problems.map((p) => `${p.field}: ${p.message}`).join("; ")}`);
  return parsed;
}

export const SIDECAR_IMAGE = "registry.example.com/ldc/ldc-sidecar:bench";

/** The Deployments and Services the operator would create for the topology (planCellApp over every app). */
export function plannedObjects(
  t: ParsedTopology,
  sidecarImage = SIDECAR_IMAGE,
): { deployments: AnyObject[]; services: AnyObject[] } {
  const deployments: AnyObject[] = [];
  const services: AnyObject[] = [];
  for (const app of t.apps) {
    const plan = planCellApp({ app, cells: t.cells, zones: [t.zone], sidecar: { image: sidecarImage } });
    if (plan.problems.length)
      throw new Error(`plan of ${app.metadata.name}: ${plan.problems.map((p) => p.message).join("; ")}`);
    for (const c of plan.cells) {
      for (const w of c.workloads) {
        deployments.push(w.deployment as AnyObject);
        services.push(w.service as AnyObject);
      }
    }
  }
  return { deployments, services };
}

/** Creates the Zone, Cells, ShardingRule and CellApps (CRDs installed, namespace created). */
export async function createTopology(client: KubeClient, t: Topology): Promise<void> {
  parseTopology(t);
  await client.apply(t.zone as AnyObject);
  await pool(t.cells, 16, async (c) => void (await retry(() => client.apply(c as AnyObject))));
  await client.apply(t.rule as AnyObject);
  await pool(t.apps, 16, async (a) => void (await retry(() => client.apply(a as AnyObject))));
  log(`created 1 Zone, ${t.cells.length} Cells, 1 ShardingRule, ${t.apps.length} CellApps`);
}

/** The label selector of everything the operator stamps. */
export const MANAGED_SELECTOR = `${Labels.managedBy}=${MANAGED_BY}`;

// ------------------------------------------------------------- the operator

export interface OperatorHandle {
  stop(): Promise<void> | void;
  metrics(): Promise<string>;
}

export interface OperatorBenchOptions {
  namespace: string;
  qps: number;
  burst: number;
  sidecarImage?: string;
  httpPort?: number;
  /** Node flags for the operator process (bench/profile-reconcile.ts: --cpu-prof). */
  nodeArgs?: readonly string[];
}

type StartOperator = (o: {
  logger: Logger;
  kubeconfigPath: string;
  namespace: string;
  httpPort: number;
  leaderElection: boolean;
  qps: number;
  burst: number;
  logLevel: string;
  sidecarImage: string;
}) => Promise<OperatorHandle> | OperatorHandle;

/** src/operator.ts's startOperator, or undefined while the operator does not exist yet. */
export async function loadStartOperator(): Promise<StartOperator | undefined> {
  const file = path.join(REPO_DIR, "src", "operator.ts");
  if (!existsSync(file)) return undefined;
  // A computed specifier: the module may not exist when this is type-checked.
  const specifier = new URL(`file://${file}`).href;
  const mod = (await import(specifier)) as { startOperator?: unknown };
  return typeof mod.startOperator === "function" ? (mod.startOperator as StartOperator) : undefined;
}

/**
 * Starts the operator as its own process (`node src/main.ts`, as it runs in
 * production) against `kubeconfigPath`: no leader election, warn logs to
 * stderr. In this process it would share the event loop with the benchmark's
 * load generator, and each would slow the other down.
 */
export async function runOperatorBench(
  kubeconfigPath: string,
  opts: OperatorBenchOptions,
): Promise<OperatorHandle | undefined> {
  if (!(await loadStartOperator())) return undefined;
  const proc = await spawnOperator({
    kubeconfigPath,
    namespace: opts.namespace,
    port: opts.httpPort ?? (await freePort()),
    logLevel: "warn",
    qps: opts.qps,
    burst: opts.burst,
    sidecarImage: opts.sidecarImage ?? SIDECAR_IMAGE,
    ...(opts.nodeArgs ? { nodeArgs: opts.nodeArgs } : {}),
  });
  return { metrics: () => proc.metrics(), stop: () => proc.stop() };
}
