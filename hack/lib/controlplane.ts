// Runs N independent Kubernetes control planes ("datacenters") on 127.0.0.1 as
// plain processes: etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler and kwok (fake, zone-labelled nodes whose pods become Ready).
// Everything a datacenter owns lives under <stateDir>/<name>/; `down` stops
// every process it started and removes the state dir.
import { spawn, spawnSync } from "node:child_process";
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import https from "node:https";
import net from "node:net";
import path from "node:path";
import { REPO_DIR, ensureTools, type ToolPaths } from "./tools.ts";

export const DEFAULT_STATE_DIR = process.env.LDC_STATE_DIR ?? path.join(REPO_DIR, ".ldc", "cluster");

/** The first three simulated datacenters match the examples' zones. */
const TOPOLOGY = [
  { zone: "hz-a", region: "hangzhou" },
  { zone: "hz-b", region: "hangzhou" },
  { zone: "sh-a", region: "shanghai" },
];
export const NODES_PER_DATACENTER = 3;
export const FAKE_NODE_LABEL = "kwok.x-k8s.io/node";

const COMPONENTS = ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"] as const;
type Component = (typeof COMPONENTS)[number];

export interface DatacenterState {
  name: string;
  index: number;
  region: string;
  zone: string;
  dir: string;
  kubeconfigPath: string;
  server: string;
  ports: Record<"etcdClient" | "etcdPeer" | "apiserver" | "controllerManager" | "scheduler" | "kwok", number>;
  pids: Partial<Record<Component, number>>;
}

export interface ClusterState {
  stateDir: string;
  datacenters: DatacenterState[];
}

export type Logger = (message: string) => void;

const startedAt = Date.now();
export const stderrLogger: Logger = (message) =>
  process.stderr.write(`[cluster ${((Date.now() - startedAt) / 1000).toFixed(1).padStart(5)}s] ${message}\n`);

export function topologyFor(index: number): { zone: string; region: string } {
  return TOPOLOGY[index - 1] ?? { zone: `dc${index}`, region: `region-${index}` };
}

// ---------------------------------------------------------------- state file

function stateFile(stateDir: string): string {
  return path.join(stateDir, "state.json");
}

export function readState(stateDir = DEFAULT_STATE_DIR): ClusterState | undefined {
  try {
    return JSON.parse(readFileSync(stateFile(stateDir), "utf8")) as ClusterState;
  } catch {
    return undefined;
  }
}

function writeState(state: ClusterState): void {
  mkdirSync(state.stateDir, { recursive: true });
  writeFileAtomic(stateFile(state.stateDir), JSON.stringify(state, null, 2));
}

/**
 * Write through a temporary file and a rename: a datacenter restarted by one
 * test rewrites its state and kubeconfig while other processes read them.
 */
function writeFileAtomic(file: string, data: string, mode?: number): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, data, mode === undefined ? {} : { mode });
  renameSync(tmp, file);
}

// --------------------------------------------------------------- processes

export function isAlive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie or a recycled pid is not ours: check the marker in its environment.
  try {
    return readFileSync(`/proc/${pid}/environ`, "utf8").includes("LDC_CLUSTER_MARKER=");
  } catch {
    return false;
  }
}

/**
 * Free ports, distinct from each other and from `taken`: every listener stays
 * open until all are chosen, so the kernel cannot hand out one port twice.
 */
async function freePorts(count: number, taken: Set<number>): Promise<number[]> {
  const servers: net.Server[] = [];
  const ports: number[] = [];
  try {
    while (ports.length < count) {
      const server = net.createServer();
      servers.push(server);
      const port = await new Promise<number>((resolve, reject) => {
        server.on("error", reject);
        server.listen(0, "127.0.0.1", () => resolve((server.address() as net.AddressInfo).port));
      });
      if (!taken.has(port)) ports.push(port);
    }
  } finally {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  }
  return ports;
}

function startProcess(dc: DatacenterState, component: Component, binary: string, args: string[]): number {
  const logPath = path.join(dc.dir, "logs", `${component}.log`);
  mkdirSync(path.dirname(logPath), { recursive: true });
  const fd = openSync(logPath, "a");
  const child = spawn(binary, args, {
    detached: true, // own process group: survives the CLI, killed as a group by `down`
    stdio: ["ignore", fd, fd],
    env: { ...process.env, LDC_CLUSTER_MARKER: `${dc.dir}` },
  });
  closeSync(fd);
  child.unref();
  if (!child.pid) throw new Error(`could not start ${component} (${binary})`);
  return child.pid;
}

async function killGroup(pid: number, graceMs = 5000): Promise<void> {
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(-pid, sig);
    } catch {
      try {
        process.kill(pid, sig);
      } catch {
        /* already gone */
      }
    }
  };
  if (!isAlive(pid)) return;
  signal("SIGTERM");
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && isAlive(pid)) await sleep(100);
  if (isAlive(pid)) signal("SIGKILL");
  while (isAlive(pid)) await sleep(50);
}

/** Safety net: every process whose environment carries a marker under `dir`. */
function markedProcesses(dir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const env = readFileSync(`/proc/${entry}/environ`, "utf8");
      const m = /(?:^|\0)LDC_CLUSTER_MARKER=([^\0]*)/.exec(env);
      if (m && (m[1] === dir || m[1]!.startsWith(dir + path.sep))) pids.push(Number(entry));
    } catch {
      /* process gone or not ours to read */
    }
  }
  return pids;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// ------------------------------------------------------------ certificates

function openssl(cwd: string, args: string[]): void {
  const r = spawnSync("openssl", args, { cwd, encoding: "utf8" });
  if (r.error)
    throw new Error(`openssl is required to create certificates (apt-get install openssl): ${r.error.message}`);
  if (r.status !== 0) throw new Error(`openssl ${args.join(" ")} failed: ${r.stderr}`);
}

/** A CA, the apiserver's serving cert, an admin client cert and the service-account key pair. */
function createPki(pkiDir: string, name: string): void {
  if (existsSync(path.join(pkiDir, "admin.crt"))) return;
  mkdirSync(pkiDir, { recursive: true });
  const ec = ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out"];
  openssl(pkiDir, [...ec, "ca.key"]);
  openssl(pkiDir, [
    "req",
    "-x509",
    "-new",
    "-key",
    "ca.key",
    "-subj",
    `/CN=ldc-${name}-ca`,
    "-days",
    "3650",
    "-out",
    "ca.crt",
  ]);
  const sign = (base: string, subject: string, ext: string) => {
    openssl(pkiDir, [...ec, `${base}.key`]);
    openssl(pkiDir, ["req", "-new", "-key", `${base}.key`, "-subj", subject, "-out", `${base}.csr`]);
    writeFileSync(path.join(pkiDir, `${base}.ext`), ext);
    openssl(pkiDir, [
      "x509",
      "-req",
      "-in",
      `${base}.csr`,
      "-CA",
      "ca.crt",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-days",
      "3650",
      "-extfile",
      `${base}.ext`,
      "-out",
      `${base}.crt`,
    ]);
  };
  sign(
    "apiserver",
    "/CN=kube-apiserver",
    "subjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\n" +
      "extendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n",
  );
  sign(
    "admin",
    "/O=system:masters/CN=ldc-admin",
    "extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n",
  );
  openssl(pkiDir, [...ec, "sa.key"]);
  openssl(pkiDir, ["pkey", "-in", "sa.key", "-pubout", "-out", "sa.pub"]);
}

function kubeconfigYaml(name: string, server: string, pkiDir: string): string {
  const b64 = (file: string) => readFileSync(path.join(pkiDir, file)).toString("base64");
  return `apiVersion: v1
kind: Config
clusters:
- name: ldc-${name}
  cluster:
    server: ${server}
    certificate-authority-data: ${b64("ca.crt")}
users:
- name: ldc-${name}-admin
  user:
    client-certificate-data: ${b64("admin.crt")}
    client-key-data: ${b64("admin.key")}
contexts:
- name: ldc-${name}
  context:
    cluster: ldc-${name}
    user: ldc-${name}-admin
current-context: ldc-${name}
`;
}

// ---------------------------------------------------------------- HTTP

interface Tls {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

function tlsFor(dc: DatacenterState): Tls {
  const pki = path.join(dc.dir, "pki");
  return {
    ca: readFileSync(path.join(pki, "ca.crt")),
    cert: readFileSync(path.join(pki, "admin.crt")),
    key: readFileSync(path.join(pki, "admin.key")),
  };
}

export function apiRequest(
  dc: DatacenterState,
  method: string,
  urlPath: string,
  body?: unknown,
  timeoutMs = 3000,
): Promise<{ status: number; body: string }> {
  const tls = tlsFor(dc);
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: "127.0.0.1",
        port: dc.ports.apiserver,
        method,
        path: urlPath,
        ...tls,
        agent: false,
        timeout: timeoutMs,
        headers: body ? { "content-type": "application/json" } : {},
      },
      (res) => {
        let data = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (data += chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: data }));
      },
    );
    req.on("timeout", () => req.destroy(new Error(`timeout after ${timeoutMs}ms`)));
    req.on("error", reject);
    if (body) req.write(JSON.stringify(body));
    req.end();
  });
}

async function componentHealthy(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = https.request(
      { host: "127.0.0.1", port, path: "/healthz", rejectUnauthorized: false, agent: false, timeout: 2000 },
      (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      },
    );
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(false));
    req.end();
  });
}

export async function apiReady(dc: DatacenterState): Promise<boolean> {
  try {
    return (await apiRequest(dc, "GET", "/readyz", undefined, 2000)).status === 200;
  } catch {
    return false;
  }
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number, log?: Logger): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let nextNote = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (await check()) return;
    if (log && Date.now() > nextNote) {
      log(`still waiting for ${what}...`);
      nextNote = Date.now() + 10_000;
    }
    await sleep(200);
  }
  throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}`);
}

// ------------------------------------------------------------ components

function processArgs(dc: DatacenterState, tools: ToolPaths): Record<Component, [string, string[]]> {
  const pki = path.join(dc.dir, "pki");
  const p = (f: string) => path.join(pki, f);
  const etcdUrl = `http://127.0.0.1:${dc.ports.etcdClient}`;
  const peerUrl = `http://127.0.0.1:${dc.ports.etcdPeer}`;
  return {
    etcd: [
      tools.etcd,
      [
        `--name=${dc.name}`,
        `--data-dir=${path.join(dc.dir, "etcd")}`,
        `--listen-client-urls=${etcdUrl}`,
        `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=${peerUrl}`,
        `--initial-advertise-peer-urls=${peerUrl}`,
        `--initial-cluster=${dc.name}=${peerUrl}`,
        "--unsafe-no-fsync",
        "--log-level=warn",
        "--quota-backend-bytes=4294967296",
      ],
    ],
    "kube-apiserver": [
      tools.kubeApiserver,
      [
        `--etcd-servers=${etcdUrl}`,
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        `--secure-port=${dc.ports.apiserver}`,
        `--cert-dir=${path.join(dc.dir, "apiserver-certs")}`,
        `--tls-cert-file=${p("apiserver.crt")}`,
        `--tls-private-key-file=${p("apiserver.key")}`,
        `--client-ca-file=${p("ca.crt")}`,
        "--authorization-mode=RBAC",
        "--endpoint-reconciler-type=none",
        "--service-cluster-ip-range=10.0.0.0/16",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        `--service-account-key-file=${p("sa.pub")}`,
        `--service-account-signing-key-file=${p("sa.key")}`,
        "--allow-privileged=true",
        "--enable-priority-and-fairness=false",
        // Compaction every 5 min (default) makes old resourceVersions expire (410s) as on real clusters.
        "--v=0",
      ],
    ],
    "kube-controller-manager": [
      tools.kubeControllerManager,
      [
        `--kubeconfig=${dc.kubeconfigPath}`,
        `--authentication-kubeconfig=${dc.kubeconfigPath}`,
        `--authorization-kubeconfig=${dc.kubeconfigPath}`,
        "--leader-elect=false",
        "--bind-address=127.0.0.1",
        `--secure-port=${dc.ports.controllerManager}`,
        `--cert-dir=${path.join(dc.dir, "kcm-certs")}`,
        `--service-account-private-key-file=${p("sa.key")}`,
        `--root-ca-file=${p("ca.crt")}`,
        "--use-service-account-credentials=false",
        "--controllers=*,-nodeipam,-service-lb-controller,-cloud-node-lifecycle,-persistentvolume-binder,-attachdetach",
        "--kube-api-qps=200",
        "--kube-api-burst=400",
        "--concurrent-deployment-syncs=20",
        "--concurrent-replicaset-syncs=20",
        "--v=0",
      ],
    ],
    "kube-scheduler": [
      tools.kubeScheduler,
      [
        `--kubeconfig=${dc.kubeconfigPath}`,
        `--authentication-kubeconfig=${dc.kubeconfigPath}`,
        `--authorization-kubeconfig=${dc.kubeconfigPath}`,
        "--leader-elect=false",
        "--bind-address=127.0.0.1",
        `--secure-port=${dc.ports.scheduler}`,
        `--cert-dir=${path.join(dc.dir, "scheduler-certs")}`,
        "--v=0",
      ],
    ],
    kwok: [
      tools.kwok,
      [
        `--kubeconfig=${dc.kubeconfigPath}`,
        `--config=${path.join(dc.dir, "kwok.yaml")}`,
        "--manage-all-nodes=false",
        `--manage-nodes-with-label-selector=${FAKE_NODE_LABEL}=fake`,
        `--server-address=127.0.0.1:${dc.ports.kwok}`,
        "--cidr=10.244.0.0/16",
        "--node-ip=127.0.0.1",
      ],
    ],
  };
}

function writeKwokConfig(dc: DatacenterState, tools: ToolPaths): void {
  const stages = readdirSync(tools.kwokStagesDir)
    .filter((f) => f.endsWith(".yaml"))
    .sort()
    .map((f) => readFileSync(path.join(tools.kwokStagesDir, f), "utf8").trim());
  // Stages only: a KwokConfiguration document would replace kwok's defaults.
  writeFileSync(path.join(dc.dir, "kwok.yaml"), stages.join("\n---\n") + "\n");
}

function fakeNode(dc: DatacenterState, i: number): unknown {
  const name = `${dc.zone}-node-${i}`;
  const resources = { cpu: "64", memory: "256Gi", "ephemeral-storage": "1Ti", pods: "2000" };
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name,
      labels: {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "node-role.kubernetes.io/agent": "",
        type: "kwok",
        [FAKE_NODE_LABEL]: "fake",
        "topology.kubernetes.io/region": dc.region,
        "topology.kubernetes.io/zone": dc.zone,
      },
      annotations: { "node.alpha.kubernetes.io/ttl": "0", [FAKE_NODE_LABEL]: "fake" },
    },
    status: { allocatable: resources, capacity: resources },
  };
}

interface NodeList {
  items: { status?: { conditions?: { type: string; status: string }[] } }[];
}

async function nodesReady(dc: DatacenterState): Promise<boolean> {
  try {
    const res = await apiRequest(
      dc,
      "GET",
      `/api/v1/nodes?labelSelector=${encodeURIComponent(FAKE_NODE_LABEL + "=fake")}`,
    );
    if (res.status !== 200) return false;
    const list = JSON.parse(res.body) as NodeList;
    const ready = list.items.filter((n) =>
      n.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"),
    );
    return list.items.length >= NODES_PER_DATACENTER && ready.length === list.items.length;
  } catch {
    return false;
  }
}

async function defaultServiceAccountExists(dc: DatacenterState): Promise<boolean> {
  try {
    return (await apiRequest(dc, "GET", "/api/v1/namespaces/default/serviceaccounts/default")).status === 200;
  } catch {
    return false;
  }
}

// ----------------------------------------------------------- datacenters

async function newDatacenter(stateDir: string, index: number, taken: Set<number>): Promise<DatacenterState> {
  const name = `dc${index}`;
  const dir = path.join(stateDir, name);
  const { zone, region } = topologyFor(index);
  const [etcdClient, etcdPeer, apiserver, controllerManager, scheduler, kwok] = (await freePorts(6, taken)) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const ports = { etcdClient, etcdPeer, apiserver, controllerManager, scheduler, kwok };
  for (const port of Object.values(ports)) taken.add(port);
  return {
    name,
    index,
    region,
    zone,
    dir,
    kubeconfigPath: path.join(stateDir, "kubeconfigs", `${name}.kubeconfig`),
    server: `https://127.0.0.1:${ports.apiserver}`,
    ports,
    pids: {},
  };
}

/** Starts (or restarts) every component of one datacenter and waits until it is usable. */
export async function startDatacenter(dc: DatacenterState, tools: ToolPaths, log: Logger): Promise<void> {
  mkdirSync(dc.dir, { recursive: true });
  createPki(path.join(dc.dir, "pki"), dc.name);
  mkdirSync(path.dirname(dc.kubeconfigPath), { recursive: true });
  writeFileAtomic(dc.kubeconfigPath, kubeconfigYaml(dc.name, dc.server, path.join(dc.dir, "pki")), 0o600);
  writeKwokConfig(dc, tools);
  const args = processArgs(dc, tools);
  const start = (c: Component) => {
    if (isAlive(dc.pids[c])) return;
    const [bin, a] = args[c];
    dc.pids[c] = startProcess(dc, c, bin, a);
  };

  start("etcd");
  start("kube-apiserver");
  log(`${dc.name} (${dc.zone}): etcd and kube-apiserver starting on ${dc.server}`);
  await waitFor(
    `${dc.name} kube-apiserver /readyz (log: ${path.join(dc.dir, "logs", "kube-apiserver.log")})`,
    () => apiReady(dc),
    120_000,
    log,
  );
  log(`${dc.name}: apiserver ready; starting controller-manager, scheduler, kwok`);
  start("kube-controller-manager");
  start("kube-scheduler");
  start("kwok");
  for (let i = 1; i <= NODES_PER_DATACENTER; i++) {
    const res = await apiRequest(dc, "POST", "/api/v1/nodes", fakeNode(dc, i));
    if (res.status !== 201 && res.status !== 409)
      throw new Error(`${dc.name}: creating a fake node failed: ${res.status} ${res.body}`);
  }
  await waitFor(
    `${dc.name} kwok nodes Ready (log: ${path.join(dc.dir, "logs", "kwok.log")})`,
    () => nodesReady(dc),
    90_000,
    log,
  );
  await waitFor(
    `${dc.name} controller-manager (log: ${path.join(dc.dir, "logs", "kube-controller-manager.log")})`,
    async () => (await componentHealthy(dc.ports.controllerManager)) && (await defaultServiceAccountExists(dc)),
    90_000,
    log,
  );
  await waitFor(`${dc.name} scheduler`, () => componentHealthy(dc.ports.scheduler), 60_000, log);
  log(`${dc.name} (${dc.region}/${dc.zone}): ready, ${NODES_PER_DATACENTER} nodes; KUBECONFIG=${dc.kubeconfigPath}`);
}

/** Stops one datacenter's processes but keeps its data, certificates and ports (an outage). */
export async function stopDatacenter(dc: DatacenterState): Promise<void> {
  // Reverse order: the fake kubelets first, etcd last.
  for (const c of [...COMPONENTS].reverse()) {
    const pid = dc.pids[c];
    if (pid) await killGroup(pid);
    delete dc.pids[c];
  }
}

export interface UpOptions {
  stateDir?: string;
  datacenters: number;
  log?: Logger;
}

/** Starts N datacenters (idempotent: healthy ones are kept, broken ones restarted). */
export async function up(opts: UpOptions): Promise<ClusterState> {
  const stateDir = opts.stateDir ?? DEFAULT_STATE_DIR;
  const log = opts.log ?? stderrLogger;
  const tools = ensureTools();
  const state: ClusterState = readState(stateDir) ?? { stateDir, datacenters: [] };
  state.stateDir = stateDir;
  const taken = new Set(state.datacenters.flatMap((dc) => Object.values(dc.ports)));
  for (let i = state.datacenters.length + 1; i <= opts.datacenters; i++) {
    state.datacenters.push(await newDatacenter(stateDir, i, taken));
  }
  writeState(state);
  const wanted = state.datacenters.filter((dc) => dc.index <= opts.datacenters);
  const t0 = Date.now();
  await Promise.all(
    wanted.map(async (dc) => {
      const allAlive = COMPONENTS.every((c) => isAlive(dc.pids[c]));
      if (allAlive && (await apiReady(dc)) && (await nodesReady(dc))) {
        log(`${dc.name}: already up (${dc.server})`);
        return;
      }
      await startDatacenter(dc, tools, log);
      writeState(state);
    }),
  );
  writeState(state);
  log(`${wanted.length} datacenter(s) ready in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
  return state;
}

/** Stops every process this state dir started and removes its state. */
export async function down(stateDir = DEFAULT_STATE_DIR, log: Logger = stderrLogger): Promise<void> {
  const state = readState(stateDir);
  if (state) {
    await Promise.all(state.datacenters.map((dc) => stopDatacenter(dc)));
  }
  // Safety net for processes whose pids were lost (a crashed `up`, say).
  for (const pid of markedProcesses(stateDir)) await killGroup(pid, 2000);
  rmSync(stateDir, { recursive: true, force: true });
  log(`down: stopped ${state?.datacenters.length ?? 0} datacenter(s), removed ${stateDir}`);
}

export async function stop(stateDir: string, name: string, log: Logger = stderrLogger): Promise<void> {
  const state = readState(stateDir);
  const dc = state?.datacenters.find((d) => d.name === name);
  if (!state || !dc) throw new Error(`no datacenter ${name} in ${stateDir}; run "npm run cluster -- status"`);
  await stopDatacenter(dc);
  writeState(state);
  log(`${name}: stopped (data kept; "start ${name}" brings it back)`);
}

export async function start(stateDir: string, name: string, log: Logger = stderrLogger): Promise<void> {
  const state = readState(stateDir);
  const dc = state?.datacenters.find((d) => d.name === name);
  if (!state || !dc) throw new Error(`no datacenter ${name} in ${stateDir}; run "npm run cluster -- up" first`);
  await startDatacenter(dc, ensureTools(), log);
  writeState(state);
}

export interface DatacenterStatus {
  name: string;
  zone: string;
  region: string;
  server: string;
  kubeconfigPath: string;
  processes: Record<string, boolean>;
  apiReady: boolean;
  nodesReady: boolean;
}

export async function status(stateDir = DEFAULT_STATE_DIR): Promise<DatacenterStatus[]> {
  const state = readState(stateDir);
  if (!state) return [];
  return Promise.all(
    state.datacenters.map(async (dc) => ({
      name: dc.name,
      zone: dc.zone,
      region: dc.region,
      server: dc.server,
      kubeconfigPath: dc.kubeconfigPath,
      processes: Object.fromEntries(COMPONENTS.map((c) => [c, isAlive(dc.pids[c])])),
      apiReady: await apiReady(dc),
      nodesReady: await nodesReady(dc),
    })),
  );
}
