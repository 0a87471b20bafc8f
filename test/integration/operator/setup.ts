// Shared setup of the operator's integration tests. ldc.io kinds are
// cluster-scoped and the tests stop datacenters, so the operator's tests
// (operator.test.ts, one file, in order) share one environment of their OWN
// three datacenters (dc1 = hz-a, the operator's cluster; dc2 = hz-b and
// dc3 = sh-a, member clusters), with the CRDs, the member Secrets and the
// examples (hack/lib/examples.ts, as `npm run demo` does), and the operator
// in-process. Reads go straight to the API servers with the admin
// certificates (apiRequest), never through the operator's runtime client, so
// the operator's rest_client_requests_total counts the operator's requests only.
import { execFile } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import pino from "pino";
import { inject } from "vitest";
import {
  apiRequest,
  down,
  readState,
  start,
  stop,
  up,
  type ClusterState,
  type DatacenterState,
} from "../../../hack/lib/controlplane.ts";
import { EXAMPLES_DIR, OPERATOR_NAMESPACE, installExamples } from "../../../hack/lib/examples.ts";
import { REPO_DIR, toolPaths } from "../../../hack/lib/tools.ts";
import { PodSidecars } from "../../../hack/lib/pod-sidecars.ts";
import { startOperator, type RunningOperator } from "../../../src/operator.ts";
import { KubeClient, connectionFromFile } from "../../../src/runtime/index.ts";

const execFileAsync = promisify(execFile);

/**
 * The examples the tests apply: zones, cells, the sharding rule, the apps.
 * Not the Failover drill nor the DrillSchedule: once a Failover controller
 * exists they would move cells in the middle of these tests.
 */
export const EXAMPLE_FILES = [
  "00-namespace.yaml",
  "10-zones.yaml",
  "20-cells.yaml",
  "30-sharding-rules.yaml",
  "40-cellapps.yaml",
];
export const APP_NAMESPACE = "payments";
/** The bearer token the operator's routing API accepts (its reads need one; the kwok pods' sidecars send it). */
export const ROUTING_TOKEN = "integration-token";

export type DcName = "dc1" | "dc2" | "dc3";
export const DC_OF_ZONE: Record<string, DcName> = { "hz-a": "dc1", "hz-b": "dc2", "sh-a": "dc3" };

/** False when the tests run against LDC_KUBECONFIGS clusters: no private datacenters can be started then. */
export function privateDatacentersAvailable(): boolean {
  return !inject("ldcDatacenters").some((d) => d.external);
}

export interface KubeList<T> {
  metadata: { resourceVersion: string };
  items: T[];
}

export interface Meta {
  name: string;
  namespace?: string;
  uid: string;
  resourceVersion: string;
  generation?: number;
  labels?: Record<string, string>;
  finalizers?: string[];
  deletionTimestamp?: string;
}

export interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
}

export class OperatorEnv {
  readonly name: string;
  readonly stateDir: string;
  readonly logFile: string;
  state!: ClusterState;
  operator: RunningOperator | undefined;
  podSidecars: PodSidecars | undefined;

  constructor(name: string) {
    this.name = name;
    this.stateDir = path.join(REPO_DIR, ".ldc", `test-op-${name}-${process.pid}`);
    // Outside the state dir (removed by down): kept for a look after a failure, overwritten next run.
    this.logFile = path.join(REPO_DIR, ".ldc", "test-op-logs", `${name}.log`);
  }

  /** Three private datacenters, the CRDs, Secrets and examples, then the operator. */
  async start(): Promise<void> {
    mkdirSync(path.dirname(this.logFile), { recursive: true });
    writeFileSync(this.logFile, "");
    this.state = await up({ stateDir: this.stateDir, datacenters: 3, log: () => {} });
    installExamples(this.state, { files: EXAMPLE_FILES });
    await this.startOperator();
  }

  async startOperator(): Promise<RunningOperator> {
    const logger = pino(
      { level: process.env.LDC_LOG_LEVEL ?? "info", base: { component: "ldc-operator" } },
      pino.destination({ dest: this.logFile, append: true, mkdir: true, sync: true }),
    );
    this.operator = await startOperator({
      kubeconfigPath: this.dc("dc1").kubeconfigPath,
      namespace: OPERATOR_NAMESPACE,
      httpHost: "127.0.0.1",
      httpPort: 0,
      leaderElection: false,
      logger,
      sidecarImage: "ldc-operator/sidecar:test",
      routingTokens: [ROUTING_TOKEN],
    });
    return this.operator;
  }

  /**
   * Runs the sidecar of every kwok pod that has one (hack/lib/pod-sidecars.ts),
   * reaching the in-process operator's routing API: a Failover's barrier waits
   * for every sidecar the operator deployed.
   */
  async startPodSidecars(): Promise<PodSidecars> {
    // One set per environment: it follows the pods as they come and go.
    if (this.podSidecars) return this.podSidecars;
    const clusters = await Promise.all(
      (["dc1", "dc2", "dc3"] as const).map(async (name) => ({
        name,
        client: await KubeClient.fromConnection(connectionFromFile(this.dc(name).kubeconfigPath)),
      })),
    );
    this.podSidecars = await PodSidecars.start({
      clusters,
      routingApiFor: () => `http://127.0.0.1:${this.operator!.port}`,
      token: ROUTING_TOKEN,
      env: { LDC_ACK_INTERVAL_SECONDS: "1" },
    });
    return this.podSidecars;
  }

  /** Stops the operator and removes the datacenters. Safe to call after a failed start. */
  async stop(): Promise<void> {
    try {
      await this.podSidecars?.stop();
      await this.operator?.stop();
    } finally {
      this.operator = undefined;
      await down(this.stateDir, () => {});
    }
  }

  dc(name: DcName): DatacenterState {
    const state = readState(this.stateDir) ?? this.state;
    const dc = state.datacenters.find((d) => d.name === name);
    if (!dc) throw new Error(`no datacenter ${name} in ${this.stateDir}`);
    return dc;
  }

  /** An outage of one datacenter (every process stopped, data kept) and its recovery. */
  async stopDatacenter(name: DcName): Promise<void> {
    await stop(this.stateDir, name, () => {});
  }

  async startDatacenter(name: DcName): Promise<void> {
    await start(this.stateDir, name, () => {});
  }

  /** GET an API path of a datacenter as admin; undefined on 404. */
  async get<T>(dc: DcName, urlPath: string): Promise<T | undefined> {
    const res = await apiRequest(this.dc(dc), "GET", urlPath, undefined, 10_000);
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw new Error(`GET ${urlPath} on ${dc}: ${res.status} ${res.body.slice(0, 300)}`);
    return JSON.parse(res.body) as T;
  }

  async list<T>(dc: DcName, urlPath: string): Promise<T[]> {
    return (await this.get<KubeList<T>>(dc, urlPath))?.items ?? [];
  }

  /** kubectl against a datacenter (the pinned binary); returns stdout. */
  async kubectl(dc: DcName, args: string[], input?: string): Promise<string> {
    const promise = execFileAsync(toolPaths().kubectl, ["--kubeconfig", this.dc(dc).kubeconfigPath, ...args], {
      cwd: REPO_DIR,
      maxBuffer: 64 * 1024 * 1024,
      timeout: 60_000,
    });
    if (input !== undefined) promise.child.stdin?.end(input);
    return (await promise).stdout;
  }

  /** kubectl apply of the example files to dc1. */
  async applyExamples(files = EXAMPLE_FILES): Promise<string> {
    return this.kubectl("dc1", ["apply", ...files.flatMap((f) => ["-f", path.join(EXAMPLES_DIR, f)])]);
  }

  /** The operator's requests so far, summed over `methods` (rest_client_requests_total). */
  async requests(methods: readonly string[] = WRITE_METHODS): Promise<number> {
    const text = await this.operator!.metrics();
    let sum = 0;
    for (const line of text.split("\n")) {
      const m = /^rest_client_requests_total\{([^}]*)\} (\S+)$/.exec(line);
      if (!m) continue;
      const method = /method="([^"]*)"/.exec(m[1]!)?.[1];
      if (method && methods.includes(method)) sum += Number(m[2]);
    }
    return sum;
  }

  /** The operator's write requests by method and host, for failure messages. */
  async writeSeries(): Promise<string[]> {
    const text = await this.operator!.metrics();
    return text
      .split("\n")
      .filter((l) => l.startsWith("rest_client_requests_total{") && WRITE_METHODS.some((m) => l.includes(`"${m}"`)));
  }
}

export const WRITE_METHODS = ["POST", "PUT", "PATCH", "DELETE"] as const;

// ------------------------------------------------------------ API paths

export const ldcPath = (plural: string, name?: string, namespace?: string): string =>
  `/apis/ldc.io/v1alpha1${namespace ? `/namespaces/${namespace}` : ""}/${plural}${name ? `/${name}` : ""}`;
export const deploymentsPath = (namespace = APP_NAMESPACE, name?: string): string =>
  `/apis/apps/v1/namespaces/${namespace}/deployments${name ? `/${name}` : ""}`;
export const podsPath = (namespace = APP_NAMESPACE, labelSelector?: string): string =>
  `/api/v1/namespaces/${namespace}/pods${labelSelector ? `?labelSelector=${encodeURIComponent(labelSelector)}` : ""}`;

export interface Deployment {
  metadata: Meta;
  spec: {
    replicas: number;
    template: {
      metadata: { labels?: Record<string, string> };
      spec: {
        nodeSelector?: Record<string, string>;
        containers: { name: string; image: string; env?: { name: string; value?: string }[] }[];
      };
    };
  };
  status?: { replicas?: number; readyReplicas?: number; updatedReplicas?: number; observedGeneration?: number };
}

export interface CellAppObj {
  metadata: Meta;
  spec: Record<string, unknown>;
  status?: {
    observedGeneration?: number;
    readyCells?: number;
    totalCells?: number;
    cells?: {
      cell: string;
      zone: string;
      desiredReplicas: number;
      readyReplicas: number;
      standbyZone?: string;
      standbyReadyReplicas?: number;
    }[];
    conditions?: Condition[];
  };
}

export interface ZoneObj {
  metadata: Meta;
  spec: { health: { failureThreshold: string } };
  status?: {
    phase?: string;
    reachable?: boolean;
    readyNodes?: number;
    totalNodes?: number;
    cells?: number;
    conditions?: Condition[];
  };
}

export interface CellObj {
  metadata: Meta;
  spec: { zone: string; type: string };
  status?: {
    activeZone?: string;
    phase?: string;
    shards?: string;
    shardCount?: number;
    conditions?: Condition[];
  };
}

export function condition(obj: { status?: { conditions?: Condition[] } } | undefined, type: string) {
  return obj?.status?.conditions?.find((c) => c.type === type);
}

/** A Deployment with every replica Ready (0 replicas: nothing to wait for). */
export function deploymentReady(d: Deployment | undefined, replicas?: number): boolean {
  if (!d) return false;
  if (replicas !== undefined && d.spec.replicas !== replicas) return false;
  const s = d.status ?? {};
  return (
    (s.observedGeneration ?? 0) >= (d.metadata.generation ?? 0) &&
    (s.readyReplicas ?? 0) === d.spec.replicas &&
    (s.updatedReplicas ?? 0) === d.spec.replicas &&
    (s.replicas ?? 0) === d.spec.replicas
  );
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ------------------------------------------------------------ what the examples should become

export interface ExpectedWorkload {
  app: string;
  cell: string;
  zone: string;
  role: "active" | "standby";
  replicas: number;
  image: string;
}

const ACCOUNT = "registry.example.com/payments/account:1.14.2";
const CONFIG = "registry.example.com/platform/config-center:3.2.0";
const PROFILE = "registry.example.com/payments/profile-query:2.0.4";

/**
 * Written out by hand from examples/ (not computed with the reconciler):
 * active in the cell's zone with the app's (or the override's) replicas,
 * standby in the first standby zone with the cell's, else the app's
 * standbyReplicas (defaults: replicas 2, standbyReplicas 1).
 */
export const EXPECTED: readonly ExpectedWorkload[] = [
  { app: "account", cell: "rz00", zone: "hz-a", role: "active", replicas: 5, image: ACCOUNT },
  { app: "account", cell: "rz00", zone: "hz-b", role: "standby", replicas: 1, image: ACCOUNT },
  { app: "account", cell: "rz01", zone: "hz-b", role: "active", replicas: 3, image: ACCOUNT },
  { app: "account", cell: "rz01", zone: "hz-a", role: "standby", replicas: 1, image: ACCOUNT },
  { app: "account", cell: "rz02", zone: "sh-a", role: "active", replicas: 3, image: ACCOUNT },
  { app: "account", cell: "rz02", zone: "hz-a", role: "standby", replicas: 1, image: ACCOUNT },
  {
    app: "account",
    cell: "rz03",
    zone: "sh-a",
    role: "active",
    replicas: 3,
    image: ACCOUNT.replace("1.14.2", "1.15.0-rc.1"),
  },
  {
    app: "account",
    cell: "rz03",
    zone: "hz-b",
    role: "standby",
    replicas: 2,
    image: ACCOUNT.replace("1.14.2", "1.15.0-rc.1"),
  },
  { app: "config-center", cell: "gz00", zone: "hz-a", role: "active", replicas: 2, image: CONFIG },
  { app: "config-center", cell: "gz00", zone: "hz-b", role: "standby", replicas: 1, image: CONFIG },
  { app: "profile-query", cell: "cz-hangzhou", zone: "hz-a", role: "active", replicas: 2, image: PROFILE },
  { app: "profile-query", cell: "cz-shanghai", zone: "sh-a", role: "active", replicas: 2, image: PROFILE },
];

export const APPS = ["account", "config-center", "profile-query"] as const;
export const ZONES = ["hz-a", "hz-b", "sh-a"] as const;
export const CELLS = ["rz00", "rz01", "rz02", "rz03", "gz00", "cz-hangzhou", "cz-shanghai"] as const;

export const workloadName = (w: { app: string; cell: string; zone: string }): string => `${w.app}-${w.cell}-${w.zone}`;

/** Every stamped Deployment of the examples, by datacenter. */
export async function stampedDeployments(env: OperatorEnv): Promise<Map<DcName, Deployment[]>> {
  const out = new Map<DcName, Deployment[]>();
  for (const dc of ["dc1", "dc2", "dc3"] as const) {
    out.set(
      dc,
      await env.list<Deployment>(dc, `${deploymentsPath()}?labelSelector=${encodeURIComponent("ldc.io/app")}`),
    );
  }
  return out;
}

/**
 * Converged: every expected Deployment exists with its replicas and is Ready,
 * every CellApp reports all cells ready for its current generation, every
 * Zone and Cell is Ready. Returns a description of what is missing, or "".
 */
export async function notConverged(env: OperatorEnv): Promise<string> {
  const missing: string[] = [];
  for (const w of EXPECTED) {
    const d = await env.get<Deployment>(DC_OF_ZONE[w.zone]!, deploymentsPath(APP_NAMESPACE, workloadName(w)));
    if (!deploymentReady(d, w.replicas)) missing.push(`Deployment ${workloadName(w)} not ready`);
  }
  for (const app of await env.list<CellAppObj>("dc1", ldcPath("cellapps", undefined, APP_NAMESPACE))) {
    const s = app.status;
    if (
      !s ||
      s.observedGeneration !== app.metadata.generation ||
      !s.totalCells ||
      s.readyCells !== s.totalCells ||
      condition(app, "Ready")?.status !== "True"
    )
      missing.push(`CellApp ${app.metadata.name}: ${s?.readyCells}/${s?.totalCells}`);
  }
  for (const z of await env.list<ZoneObj>("dc1", ldcPath("zones")))
    if (z.status?.phase !== "Ready") missing.push(`Zone ${z.metadata.name} ${z.status?.phase}`);
  for (const c of await env.list<CellObj>("dc1", ldcPath("cells")))
    if (c.status?.phase !== "Ready") missing.push(`Cell ${c.metadata.name} ${c.status?.phase}`);
  return missing.join("; ");
}

export async function waitConverged(env: OperatorEnv, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    try {
      last = await notConverged(env);
      if (!last) return;
    } catch (err) {
      last = String(err);
    }
    await sleep(500);
  }
  throw new Error(`the examples did not converge within ${timeoutMs / 1000}s: ${last} (operator log: ${env.logFile})`);
}

/**
 * Compacts a datacenter's etcd at its current revision (old resourceVersions
 * expire: watches from them get 410 Gone); returns that revision.
 */
export async function compactEtcd(env: OperatorEnv, dc: DcName): Promise<number> {
  const base = `http://127.0.0.1:${env.dc(dc).ports.etcdClient}/v3`;
  const status = (await (await fetch(`${base}/maintenance/status`, { method: "POST", body: "{}" })).json()) as {
    header: { revision: string };
  };
  const revision = Number(status.header.revision);
  const res = await fetch(`${base}/kv/compaction`, {
    method: "POST",
    body: JSON.stringify({ revision, physical: true }),
  });
  if (!res.ok) throw new Error(`etcd compaction of ${dc} at ${revision}: ${res.status} ${await res.text()}`);
  return revision;
}

/**
 * One pass over the whole world: every controller of the operator reconciles
 * every key of every object it watches, as if each had just changed, and is
 * idle again. Returns the write requests the pass made (0 in a steady state).
 */
export async function reconcileEverything(env: OperatorEnv): Promise<number> {
  const controllers = env.operator!.controllers;
  const before = await env.requests();
  for (const c of controllers) c.resyncAll();
  await Promise.all(controllers.map((c) => c.idle()));
  return (await env.requests()) - before;
}

/**
 * Waits until a pass over every key writes nothing (after a convergence, the
 * last status writes land); an operator that keeps writing fails here.
 */
export async function waitOperatorSteady(env: OperatorEnv, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) if ((await reconcileEverything(env)) === 0) return;
  throw new Error(`the operator kept writing for ${timeoutMs / 1000}s: ${(await env.writeSeries()).join("\n")}`);
}

/** The operator's metric value summed over series matching `labels`. */
export async function metricSum(env: OperatorEnv, name: string, labels: Record<string, string> = {}): Promise<number> {
  let sum = 0;
  for (const line of (await env.operator!.metrics()).split("\n")) {
    const m = new RegExp(`^${name}(?:\\{([^}]*)\\})? (\\S+)$`).exec(line);
    if (!m) continue;
    if (Object.entries(labels).every(([k, v]) => (m[1] ?? "").includes(`${k}="${v}"`))) sum += Number(m[2]);
  }
  return sum;
}
