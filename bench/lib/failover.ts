// Shared plumbing of the failover benchmarks (bench/failover-*.ts): private
// datacenters, the operator in-process with a routing token, member clusters
// connected through kubeconfig Secrets, in-process sidecars that really ack,
// Failovers created and followed without adding requests to the operator's
// counters.
//
// Requests: the operator's rest_client_requests_total lives in this
// process's registry, so every KubeClient here would be counted with it.
// Setup (before anything is measured) uses a KubeClient; everything while a
// failover is measured goes through apiRequest (plain https, not counted) or
// reads the operator's own caches (no request at all).
import { mkdirSync, readFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import pino from "pino";
import { apiRequest, down, up, type ClusterState, type DatacenterState } from "../../hack/lib/controlplane.ts";
import type { Failover, FailoverStep } from "../../src/api/index.ts";
import { startOperator, type RunningOperator } from "../../src/operator.ts";
import type { KubeClient } from "../../src/runtime/client.ts";
import type { AnyObject } from "../../src/runtime/types.ts";
import { sidecarConfig, startSidecar, type Sidecar } from "../../src/sidecar/index.ts";
import {
  REPO_DIR,
  clientFor,
  ensureNamespace,
  freePort,
  installCrds,
  log,
  percentile,
  pool,
  retry,
  round,
  sleep,
} from "./common.ts";

export const OPERATOR_NAMESPACE = "ldc-system";
export const ROUTING_TOKEN = "bench";
export const WRITE_METHODS = ["POST", "PUT", "PATCH", "DELETE"] as const;
export const TERMINAL = new Set(["Succeeded", "Failed", "RolledBack", "Aborted"]);
export const DECIDED_AT = "ldc.io/decided-at";

/** The zone and region of the private datacenters (hack/lib/controlplane.ts's topology). */
export const ZONE_OF_DC = { dc1: "hz-a", dc2: "hz-b", dc3: "sh-a" } as const;
export const REGION_OF_ZONE: Record<string, string> = { "hz-a": "hangzhou", "hz-b": "hangzhou", "sh-a": "shanghai" };

/**
 * Runs `fn` against `datacenters` private control planes in
 * .ldc/bench-<name>-<pid>, removed afterwards, also on error or a signal.
 */
export async function withDatacenters<T>(
  name: string,
  datacenters: number,
  fn: (state: ClusterState) => Promise<T>,
): Promise<T> {
  const stateDir = path.join(REPO_DIR, ".ldc", `bench-${name}-${process.pid}`);
  let stopping = false;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    log(`${sig}: stopping the private control planes`);
    void down(stateDir, log).finally(() => process.exit(130));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    const state = await up({ stateDir, datacenters, log });
    return await fn(state);
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    if (!stopping) await down(stateDir, log);
  }
}

export function dcOf(state: ClusterState, name: string): DatacenterState {
  const dc = state.datacenters.find((d) => d.name === name);
  if (!dc) throw new Error(`no datacenter ${name} in ${state.stateDir}`);
  return dc;
}

/**
 * The CRDs and the operator's namespace in dc1, and a kubeconfig Secret
 * (zone-<zone>) for every other datacenter, as hack/lib/examples.ts does.
 * Returns an admin client of dc1 (counted in the metrics: setup only).
 */
export async function prepareHome(state: ClusterState): Promise<KubeClient> {
  const admin = await clientFor(dcOf(state, "dc1").kubeconfigPath, { qps: 0 });
  await installCrds(admin);
  await ensureNamespace(admin, OPERATOR_NAMESPACE);
  for (const dc of state.datacenters.filter((d) => d.name !== "dc1")) {
    await admin.apply({
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: `zone-${dc.zone}`, namespace: OPERATOR_NAMESPACE },
      type: "Opaque",
      data: { kubeconfig: readFileSync(dc.kubeconfigPath).toString("base64") },
    });
  }
  return admin;
}

/** A Zone: local (nodes of dc1 picked by `nodeZone`) or a member cluster through its Secret. */
export function zoneObject(
  name: string,
  o: { region: string; member?: boolean; nodeZone?: string; failureThreshold?: string },
): AnyObject {
  return {
    apiVersion: "ldc.io/v1alpha1",
    kind: "Zone",
    metadata: { name },
    spec: {
      region: o.region,
      ...(o.member
        ? { cluster: { kubeconfigSecretRef: { namespace: OPERATOR_NAMESPACE, name: `zone-${name}` } } }
        : { nodeSelector: { "topology.kubernetes.io/zone": o.nodeZone ?? name } }),
      health: { failureThreshold: o.failureThreshold ?? "10s" },
    },
  };
}

/** The benchmarks' user rule: Digits -3..-1 over `shards`, split evenly over `cells` in order. */
export function benchRule(name: string, shards: number, cells: readonly string[]): AnyObject {
  const per = shards / cells.length;
  return {
    apiVersion: "ldc.io/v1alpha1",
    kind: "ShardingRule",
    metadata: { name },
    spec: {
      key: { sources: [{ type: "Header", name: "x-user-id" }], pattern: "^[0-9]{4,20}$", onInvalidKey: "Reject" },
      shards,
      function: { type: "Digits", from: -3, to: -1 },
      assignments: cells.map((cell, i) => ({ cell, shards: `${i * per}-${i * per + per - 1}` })),
    },
  };
}

/**
 * One small Regional app of `rule` in every cell (replicas 1, warm standby 1),
 * without an injected sidecar: these benches measure the operator with the
 * free-standing sidecars of startSidecars (the barrier waits for those); the
 * deployed pods' own sidecars are what bench/relay-push.ts measures.
 */
export function benchApp(namespace: string, rule: string): AnyObject {
  return {
    apiVersion: "ldc.io/v1alpha1",
    kind: "CellApp",
    metadata: { name: "account", namespace },
    spec: {
      shardingRule: rule,
      scope: "Regional",
      replicas: 1,
      standbyReplicas: 1,
      sidecar: { enabled: false },
      template: {
        spec: {
          containers: [
            {
              name: "account",
              image: "registry.example.com/bench/account:1.0.0",
              ports: [{ containerPort: 8080 }],
              resources: { requests: { cpu: "10m", memory: "16Mi" } },
            },
          ],
        },
      },
    },
  };
}

export async function applyAll(client: KubeClient, objects: readonly AnyObject[], concurrency = 16): Promise<void> {
  await pool(objects, concurrency, async (o) => void (await retry(() => client.apply(o))));
}

export interface BenchOperator {
  op: RunningOperator;
  url: string;
  logFile: string;
}

/** startOperator in this process against dc1, accepting sidecar acks with ROUTING_TOKEN. */
export async function startBenchOperator(
  state: ClusterState,
  name: string,
  opts: { qps?: number; burst?: number; probeIntervalMs?: number } = {},
): Promise<BenchOperator> {
  const logFile = path.join(REPO_DIR, ".ldc", "bench-logs", `${name}.log`);
  mkdirSync(path.dirname(logFile), { recursive: true });
  const logger = pino(
    { level: process.env.LDC_LOG_LEVEL ?? "warn", base: { component: "ldc-operator" } },
    pino.destination({ dest: logFile, append: false, mkdir: true, sync: false }),
  );
  // The port is fixed first: every zone's sidecars are told the routing API's URL, so they hold routing leases.
  const port = await freePort();
  const op = await startOperator({
    kubeconfigPath: dcOf(state, "dc1").kubeconfigPath,
    namespace: OPERATOR_NAMESPACE,
    httpHost: "127.0.0.1",
    httpPort: port,
    routingApiUrl: `http://127.0.0.1:${port}`,
    memberRoutingApiUrl: `http://127.0.0.1:${port}`,
    leaderElection: false,
    logger,
    sidecarImage: "registry.example.com/ldc/ldc-sidecar:bench",
    routingTokens: [ROUTING_TOKEN],
    ...(opts.qps !== undefined ? { qps: opts.qps } : {}),
    ...(opts.burst !== undefined ? { burst: opts.burst } : {}),
    ...(opts.probeIntervalMs !== undefined ? { probeIntervalMs: opts.probeIntervalMs } : {}),
  });
  log(`operator started on :${op.port} (log: ${logFile})`);
  return { op, url: `http://127.0.0.1:${op.port}`, logFile };
}

export interface SidecarSpec {
  rule: string;
  cell: string;
  zone: string;
  appUrl?: string;
  peers?: Record<string, string>;
}

/** In-process sidecars long-polling the operator's routing API and acking with the bench token. */
export async function startSidecars(apiUrl: string, specs: readonly SidecarSpec[]): Promise<Sidecar[]> {
  // LDC_SIDECAR_LOG_LEVEL=info logs every table taken, for timelines.
  const logFile = path.join(REPO_DIR, ".ldc", "bench-logs", "sidecars.log");
  const logger = pino(
    { level: process.env.LDC_SIDECAR_LOG_LEVEL ?? "warn", base: { component: "ldc-sidecar" } },
    pino.destination({ dest: logFile, append: false, mkdir: true, sync: false }),
  );
  return Promise.all(
    specs.map((s, i) =>
      startSidecar(
        sidecarConfig({
          appUrl: s.appUrl ?? "http://127.0.0.1:9",
          rule: s.rule,
          cell: s.cell,
          zone: s.zone,
          region: REGION_OF_ZONE[s.zone] ?? "bench",
          routingApi: apiUrl,
          routingToken: ROUTING_TOKEN,
          sidecarId: `bench-${i}-${s.rule}-${s.cell}@${s.zone}`,
          peers: s.peers ?? {},
          shutdownGraceSeconds: 1,
        }),
        { backoffMinMs: 50, backoffMaxMs: 1000, logger: logger.child({ sidecar: `bench-${i}` }) },
      ),
    ),
  );
}

// ------------------------------------------------------------ measuring

/** The operator's requests so far by method (rest_client_requests_total, every host). */
export async function requestsByMethod(op: RunningOperator): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const line of (await op.metrics()).split("\n")) {
    const m = /^rest_client_requests_total\{([^}]*)\} (\S+)$/.exec(line);
    if (!m) continue;
    const method = /method="([^"]*)"/.exec(m[1]!)?.[1] ?? "?";
    out[method] = (out[method] ?? 0) + Number(m[2]);
  }
  return out;
}

export function writesOf(byMethod: Record<string, number>): number {
  return WRITE_METHODS.reduce((s, m) => s + (byMethod[m] ?? 0), 0);
}

export function diffCounts(after: Record<string, number>, before: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) if (v - (before[k] ?? 0) > 0) out[k] = v - (before[k] ?? 0);
  return out;
}

/** Waits until the operator's write count has not moved for `quietMs` (at most `maxMs`); returns whether it did. */
export async function waitQuiet(op: RunningOperator, quietMs = 1500, maxMs = 30_000): Promise<boolean> {
  const end = Date.now() + maxMs;
  let last = writesOf(await requestsByMethod(op));
  let since = Date.now();
  while (Date.now() < end) {
    await sleep(100);
    const now = writesOf(await requestsByMethod(op));
    if (now !== last) {
      last = now;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) return true;
  }
  return false;
}

export async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}`);
    await sleep(50);
  }
}

/** POSTs a Failover to dc1 with apiRequest (not counted), decided-at = now; returns that time. */
export async function createFailover(
  dc1: DatacenterState,
  name: string,
  spec: Record<string, unknown>,
): Promise<number> {
  const decidedAt = Date.now();
  const body = {
    apiVersion: "ldc.io/v1alpha1",
    kind: "Failover",
    metadata: { name, annotations: { [DECIDED_AT]: String(decidedAt) } },
    spec: { reason: "benchmark", ...spec },
  };
  const res = await apiRequest(dc1, "POST", "/apis/ldc.io/v1alpha1/failovers", body, 10_000);
  if (res.status !== 201) throw new Error(`creating Failover ${name}: ${res.status} ${res.body.slice(0, 500)}`);
  return decidedAt;
}

/** Waits, in the operator's cache, for the Failover to reach a terminal phase. */
export async function waitFailoverDone(op: RunningOperator, name: string, timeoutMs = 120_000): Promise<Failover> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const fo = op.context.ldc.failovers.store.get(name);
    if (fo && TERMINAL.has(fo.status?.phase ?? "")) return fo;
    if (Date.now() > end)
      throw new Error(
        `Failover ${name} not finished after ${timeoutMs / 1000}s: ${fo?.status?.phase ?? "unseen"} ${fo?.status?.step ?? ""} ${fo?.status?.message ?? ""}`,
      );
    await sleep(10);
  }
}

export interface StepTimes {
  /** decided-at to the operator's first status write (Preflight start). */
  observeMs: number;
  /** Duration of each step of the first leg (a drill's failback steps are prefixed "back:"). */
  steps: Record<string, number>;
}

export function stepTimes(fo: Failover): StepTimes {
  const st = fo.status ?? {};
  const steps: Record<string, number> = {};
  let back = false;
  for (const s of st.steps ?? []) {
    if (s.name === "Failback") back = true;
    if (!s.startTime || !s.endTime) continue;
    const k = `${back && s.name !== "Failback" ? "back:" : ""}${s.name as FailoverStep}`;
    steps[k] = (steps[k] ?? 0) + (Date.parse(s.endTime) - Date.parse(s.startTime));
  }
  const first = st.steps?.[0]?.startTime;
  return {
    observeMs: first && st.startTime ? Date.parse(first) - Date.parse(st.startTime) : NaN,
    steps,
  };
}

export interface Dist {
  n: number;
  p50: number;
  p90: number;
  max: number;
  min: number;
}

export function dist(values: readonly number[]): Dist {
  const s = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  return { n: s.length, p50: percentile(s, 50), p90: percentile(s, 90), max: s.at(-1) ?? NaN, min: s[0] ?? NaN };
}

export function median(values: readonly number[]): number {
  return percentile(
    values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b),
    50,
  );
}

/** Median per step over runs (steps absent in a run are not counted). */
export function medianSteps(runs: readonly StepTimes[]): { observeMs: number; steps: Record<string, number> } {
  const names = [...new Set(runs.flatMap((r) => Object.keys(r.steps)))];
  return {
    observeMs: median(runs.map((r) => r.observeMs)),
    steps: Object.fromEntries(
      names.map((n) => [n, median(runs.map((r) => r.steps[n]).filter((v): v is number => v !== undefined))]),
    ),
  };
}

export function loadavg(): number[] {
  return readFileSync("/proc/loadavg", "utf8")
    .trim()
    .split(/\s+/)
    .slice(0, 3)
    .map((x) => round(Number(x), 2));
}

/** GET a list through apiRequest (not counted in the operator's metrics). */
export async function listItems<T>(dc: DatacenterState, urlPath: string): Promise<T[]> {
  const res = await apiRequest(dc, "GET", urlPath, undefined, 10_000);
  if (res.status !== 200) throw new Error(`GET ${urlPath} on ${dc.name}: ${res.status} ${res.body.slice(0, 300)}`);
  return (JSON.parse(res.body) as { items: T[] }).items;
}

type DeploymentLite = { metadata: { name: string }; spec?: { replicas?: number }; status?: { readyReplicas?: number } };

/** Deployments of `namespace` in `dc`, with spec.replicas and readyReplicas. */
export async function deployments(dc: DatacenterState, namespace: string): Promise<DeploymentLite[]> {
  return listItems<DeploymentLite>(dc, `/apis/apps/v1/namespaces/${namespace}/deployments`);
}

// ------------------------------------------------------------ backends

export interface RecordingBackend {
  url: string;
  /** Requests received. */
  count: number;
  close(): Promise<void>;
}

/** A tiny app: answers 200 to everything and counts what it got. */
export async function startBackend(): Promise<RecordingBackend> {
  const b = { url: "", count: 0 } as RecordingBackend;
  const server = http.createServer({ keepAliveTimeout: 30_000 }, (req, res) => {
    b.count++;
    req.resume();
    req.on("end", () => {
      res.writeHead(200, { "content-type": "text/plain" });
      res.end("ok");
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  b.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  b.close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return b;
}

// ------------------------------------------------------------ profiling

/** Every sample of the operator's Prometheus text: "name{labels}" -> value. */
export async function metricSnapshot(op: Pick<RunningOperator, "metrics">): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const line of (await op.metrics()).split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const i = line.lastIndexOf(" ");
    const v = Number(line.slice(i + 1));
    if (Number.isFinite(v)) out.set(line.slice(0, i), v);
  }
  return out;
}

/**
 * The change of metric `name` between two snapshots, summed by the value of
 * label `by` ("" sums everything).
 */
export function metricDelta(
  after: Map<string, number>,
  before: Map<string, number>,
  name: string,
  by: string,
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of after) {
    if (!(k === name || k.startsWith(`${name}{`))) continue;
    const d = v - (before.get(k) ?? 0);
    if (d === 0) continue;
    const label = by ? (new RegExp(`${by}="([^"]*)"`).exec(k)?.[1] ?? "?") : "all";
    out[label] = round((out[label] ?? 0) + d, 3);
  }
  return out;
}
