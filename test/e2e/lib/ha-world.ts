// The drill verifier on the topology users install (issue 12, items 5 and 6):
// three datacenters, the operator as two processes of `node src/main.ts` with
// leader election (as the chart runs it) behind a round-robin "Service"
// (RoundRobinBalancer), member zones hz-b and sh-a reached through
// PartitionProxies, and the sidecars of the pods the operator deployed, each
// in front of a recording backend.
// Path "relay" (the default, what the chart installs): the operators run with
// --relay; an `ldc-relay` process per zone's cluster (hack/lib/relay-process.ts,
// with the chart's relay permissions behind a ServiceAccount token) serves
// that zone's sidecars, each cell@zone's through a proxy of its own (to stall
// them); they read and ack with tokens bound to their pods, and reach each
// other through one "Service" per cell@zone (the fleet's peers). Cutting a
// zone off is cutting the operators' path to its API server: its relay stops
// seeing renewals.
// Path "direct": sidecars long-poll the Service with a shared token, a member
// zone's through the zone's proxy too (to cut it off), and the fleet runs a
// sidecar of its own per cell@zone (not a pod) as well.
// State is read through the API server and the routing API over HTTP, never
// from an operator's memory. ha.test.ts and the soak run its scenarios.
import { writeFileSync } from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { down, up, type ClusterState, type DatacenterState } from "../../../hack/lib/controlplane.ts";
import {
  MEMBER_SECRETS,
  OPERATOR_NAMESPACE,
  applyExamples,
  installExamples,
  kubectl,
} from "../../../hack/lib/examples.ts";
import { spawnOperator, type OperatorProcess } from "../../../hack/lib/operator-process.ts";
import { podBoundTokenFiles, type PodSidecars } from "../../../hack/lib/pod-sidecars.ts";
import { relayIdentity, spawnRelay, type RelayProcess } from "../../../hack/lib/relay-process.ts";
import type { Cell, CellApp, Failover, FailoverStep, ShardingRule, Zone } from "../../../src/api/index.ts";
import { DECIDED_AT } from "../../../src/controllers/failover.ts";
import { LdcResources } from "../../../src/ldc-resources.ts";
import { DEFAULT_LEASE_MS } from "../../../src/routing-api/index.ts";
import { AUTOMATIC_LABEL } from "../../../src/reconcilers/autofailover.ts";
import { LEG as FAILOVER_LEG } from "../../../src/reconcilers/failover.ts";
import { parseTable, type RoutingTable } from "../../../src/routing/index.ts";
import { KubeClient, Resources, connectionFromFile, type Lease } from "../../../src/runtime/index.ts";
import type { CellType } from "../../../src/sidecar/index.ts";
import { RoundRobinBalancer } from "./balancer.ts";
import { eventually, freePort, memberThroughProxy, tweakedExamples } from "./env.ts";
import { Fleet, runDeployedSidecars } from "./fleet.ts";
import { TableHistory, checkAll } from "./invariants.ts";
import { LoadGenerator } from "./load.ts";
import { PartitionProxy } from "./partition.ts";

export const RULE = "users";
const TOKEN = "e2e-token";
const LEASE_NAME = "ldc-operator";
export const TERMINAL = new Set(["Succeeded", "Failed", "RolledBack", "Aborted"]);
export const MEMBER_ZONES = ["hz-b", "sh-a"] as const;
const MEMBER_DC: Record<string, "dc2" | "dc3"> = { "hz-b": "dc2", "sh-a": "dc3" };
const MEMBER_SECRET: Record<string, string> = Object.fromEntries(MEMBER_SECRETS.map((m) => [m.zone, m.secret]));
/** The datacenter (cluster) of each zone. */
export const ZONE_DC: Record<string, "dc1" | "dc2" | "dc3"> = { "hz-a": "dc1", "hz-b": "dc2", "sh-a": "dc3" };

// A drill's steps in order: the leg, the drill wait, the failback, the same leg back.
const LEG: readonly FailoverStep[] = ["Preflight", ...FAILOVER_LEG];

/** Where a drill is: 0..6 the first leg, 7 DrillWait, 8 Failback, 9..14 the leg back, 15 Done, 16 finished. */
export function drillPosition(fo: Failover | undefined): number {
  const st = fo?.status;
  if (!st?.step) return -1;
  if (TERMINAL.has(st.phase ?? "")) return 16;
  if (st.step === "Done") return 15;
  if (st.step === "DrillWait") return 7;
  if (st.step === "Failback") return 8;
  const back = (st.steps ?? []).some((s) => s.name === "Failback");
  return back ? 8 + LEG.indexOf(st.step) : LEG.indexOf(st.step);
}

/** A kill point: the step, on the first leg or the failback leg. */
export interface KillPoint {
  step: FailoverStep;
  failback?: boolean;
}
export const killPointLabel = (k: KillPoint) => `${k.step}${k.failback ? " (failback)" : ""}`;
export function killPointPosition(k: KillPoint): number {
  if (k.step === "DrillWait") return 7;
  if (k.step === "Failback") return 8;
  return k.failback ? 8 + LEG.indexOf(k.step) : LEG.indexOf(k.step);
}
/** Before, at and after the switch on both legs. */
export const KILL_POINTS: readonly KillPoint[] = [
  { step: "Freeze" },
  { step: "WaitAcknowledge" },
  { step: "ScaleDownOld" },
  { step: "DrillWait" },
  { step: "Failback" },
  { step: "Freeze", failback: true },
  { step: "WaitAcknowledge", failback: true },
];

export interface KillResult {
  name: string;
  point: string;
  /** The step the Failover showed when its leader was killed. */
  stepAtKill: string;
  /** SIGKILL -> the Lease names a live replica. */
  toNewLeaderMs: number;
  /** SIGKILL -> the Service serves the table again. */
  toServingMs: number;
  /** Creation -> end of the drill. */
  totalMs: number;
  failover: Failover;
}

export interface StallResult {
  failover: Failover;
  stalled: string;
  cutAt: number;
  /** When the stall was healed (after the Failover showed it waiting for the stalled sidecars). */
  healAt: number;
  /** The Failover's message while it waited. */
  waitedOn: string;
  switchAt: number;
  /** The stalled sidecar's first write refused because its routing lease ran out (undefined: none seen). */
  firstLeaseRefusalAt: number | undefined;
}

export interface PartitionResult {
  cutAt: number;
  /** The cut-off zone's first write refused because a routing lease ran out (undefined: none seen). */
  firstRefusalAt: number | undefined;
  /** The automatic Failover the cut caused, finished (undefined: no Automatic cell was active there). */
  failover: Failover | undefined;
}

/** Where a relay is killed during a failover: the zone the cell leaves or the one it moves to, at a step of the leg. */
export interface RelayRestartPoint {
  side: "source" | "destination";
  step: "Freeze" | "WaitAcknowledge";
}
export const RELAY_RESTART_POINTS: readonly RelayRestartPoint[] = [
  { side: "destination", step: "Freeze" },
  { side: "source", step: "Freeze" },
  { side: "destination", step: "WaitAcknowledge" },
  { side: "source", step: "WaitAcknowledge" },
];

export interface RelayRestartResult {
  failover: Failover;
  zone: string;
  /** The step the Failover showed when the relay was killed. */
  stepAtKill: string;
  killedAt: number;
  /** What ended the outage: the zone's writes refused (its sidecars' leases ran out), or the Failover's end. */
  restartedOn: string;
  /** The Failover's message naming the zone's sidecars while its relay was down (undefined: it never waited on them). */
  waitedOn: string | undefined;
  /** The restarted relay answers /readyz. */
  readyAt: number;
  /** The zone's first and last writes refused because a lease ran out, from the kill to the Failover's end (undefined: none). */
  firstRefusalAt: number | undefined;
  lastRefusalAt: number | undefined;
  switchAt: number;
  endAt: number;
}

export interface Options {
  stateDir: string;
  say: (m: string) => void;
  /** Requests per second of the load generator (default 200). */
  rate?: number;
  /** "relay" (default): per-zone relays, as the chart installs; "direct": sidecars reach the operators' Service. */
  path?: "relay" | "direct";
}

export class HaWorld {
  readonly tables = new TableHistory();
  readonly ops: (OperatorProcess | undefined)[] = [undefined, undefined];
  readonly ports: number[] = [];
  readonly memberApi = new Map<string, PartitionProxy>();
  readonly zoneRouting = new Map<string, PartitionProxy>();
  readonly podRouting = new Map<string, PartitionProxy>();
  /** The relay process of each zone (relay path), and the port it keeps across restarts. */
  readonly relays = new Map<string, RelayProcess>();
  readonly #relayPorts = new Map<string, number>();
  readonly #relayKubeconfigs = new Map<string, string>();
  readonly path: "relay" | "direct";
  state!: ClusterState;
  dc!: Record<"dc1" | "dc2" | "dc3", DatacenterState>;
  home!: KubeClient;
  lb!: RoundRobinBalancer;
  fleet!: Fleet;
  /** The sidecars of the pods the operator deployed (the barrier waits for each). */
  podSidecars: PodSidecars | undefined;
  load!: LoadGenerator;
  readonly #o: Options;
  #tokenFile = "";
  #n = 0;

  private constructor(o: Options) {
    this.#o = o;
    this.path = o.path ?? "relay";
  }

  static async start(o: Options): Promise<HaWorld> {
    const w = new HaWorld(o);
    try {
      await w.#start();
    } catch (e) {
      await w.stop();
      throw e;
    }
    return w;
  }

  async #start(): Promise<void> {
    const say = this.#o.say;
    say(`starting 3 datacenters in ${this.#o.stateDir}`);
    this.state = await up({ stateDir: this.#o.stateDir, datacenters: 3, log: say });
    const [dc1, dc2, dc3] = this.state.datacenters;
    this.dc = { dc1: dc1!, dc2: dc2!, dc3: dc3! };
    installExamples(this.state, { files: ["00-namespace.yaml"], log: say });
    kubectl(this.dc.dc1.kubeconfigPath, ["apply", "-f", "-"], tweakedExamples());
    for (const zone of MEMBER_ZONES) {
      this.memberApi.set(
        zone,
        await memberThroughProxy(this.dc.dc1, this.dc[MEMBER_DC[zone]!], MEMBER_SECRET[zone]!, this.#o.stateDir),
      );
    }
    applyExamples(this.state, ["30-sharding-rules.yaml", "40-cellapps.yaml"]);
    this.home = await KubeClient.fromConnection(connectionFromFile(this.dc.dc1.kubeconfigPath), {
      qps: 200,
      burst: 400,
    });

    if (this.path === "relay") {
      // The chart's relay in every zone's cluster, in the operator's namespace name, with its own permissions only.
      for (const [zone, dc] of Object.entries(ZONE_DC)) {
        const admin = await KubeClient.fromConnection(connectionFromFile(this.dc[dc].kubeconfigPath));
        try {
          this.#relayKubeconfigs.set(
            zone,
            await relayIdentity(admin, {
              adminKubeconfigPath: this.dc[dc].kubeconfigPath,
              namespace: OPERATOR_NAMESPACE,
              out: path.join(this.#o.stateDir, `${dc}-relay.kubeconfig`),
            }),
          );
        } finally {
          admin.close();
        }
        this.#relayPorts.set(zone, await freePort());
        await this.restartRelay(zone);
      }
      say(`relays: ${[...this.relays].map(([zone, r]) => `${zone} ${r.url}`).join(", ")}`);
    }

    // The chart's Service in front of two replicas, each on a port of its own (a replacement reuses it).
    this.ports.push(await freePort(), await freePort());
    this.lb = await RoundRobinBalancer.start(this.ports);
    this.#tokenFile = path.join(this.#o.stateDir, "routing-tokens");
    writeFileSync(this.#tokenFile, `${TOKEN}\n`);
    say(`starting 2 operator processes (ports ${this.ports.join(", ")}) behind ${this.lb.url}`);
    await Promise.all([0, 1].map((slot) => this.startReplica(slot)));

    await eventually(
      "the zones Ready, every CellApp Ready and the rule's table served",
      async () => {
        const zones = await this.list<Zone>("Zone");
        const apps = await this.list<CellApp>("CellApp", "payments");
        return (
          zones.length === 3 &&
          zones.every((z) => z.status?.phase === "Ready") &&
          apps.length === 3 &&
          apps.every((a) => a.status?.totalCells && a.status.readyCells === a.status.totalCells) &&
          (await this.servedTable()) !== undefined
        );
      },
      180_000,
      500,
    );

    const zones = new Map((await this.list<Zone>("Zone")).map((z) => [z.metadata.name, z]));
    const pods = (await this.list<Cell>("Cell")).flatMap((c) =>
      [c.spec.zone, ...(c.spec.standbyZones ?? [])].map((zone) => ({
        cell: c.metadata.name,
        cellType: c.spec.type as CellType,
        zone,
        region: zones.get(zone)!.spec.region,
      })),
    );
    // Each cell@zone's sidecars reach their zone's relay (relay path) or the Service (direct path)
    // through a proxy of their own (to stall them); on the direct path a member zone's through the
    // zone's proxy too (to cut the zone off).
    if (this.path === "direct")
      for (const zone of MEMBER_ZONES)
        this.zoneRouting.set(zone, await PartitionProxy.start({ host: "127.0.0.1", port: this.lb.port }));
    for (const p of pods) {
      const via = this.#relayPorts.get(p.zone) ?? this.zoneRouting.get(p.zone)?.port ?? this.lb.port;
      this.podRouting.set(`${p.cell}@${p.zone}`, await PartitionProxy.start({ host: "127.0.0.1", port: via }));
    }
    this.fleet = await Fleet.start({
      pods,
      routingApi: this.lb.url,
      routingApiFor: (zone, cell) => `http://127.0.0.1:${this.podRouting.get(`${cell}@${zone}`)!.port}`,
      token: TOKEN,
      // Relays serve pods only (pod-bound tokens): on the relay path every sidecar is a deployed pod's.
      ownSidecars: this.path === "direct",
      rule: RULE,
      onTable: (t: RoutingTable) => this.tables.add(t),
    });
    say(
      `cells@zones: ${pods.map((p) => `${p.cell}@${p.zone}`).join(", ")}${this.path === "direct" ? " (a sidecar + backend of the fleet's own each)" : ""}`,
    );
    this.podSidecars = await runDeployedSidecars(this.fleet, {
      clusters: await Promise.all(
        (["dc1", "dc2", "dc3"] as const).map(async (name) => ({
          name,
          client: await KubeClient.fromConnection(connectionFromFile(this.dc[name].kubeconfigPath)),
        })),
      ),
      // Through the proxy of its cell and zone: a stall or a partition reaches it too.
      routingApiFor: ({ zone, cell }) => `http://127.0.0.1:${this.podRouting.get(`${cell}@${zone}`)!.port}`,
      // Relays answer reads and acks only with a token bound to the pod (what the kubelet projects into it).
      ...(this.path === "relay"
        ? {
            tokenFileFor: podBoundTokenFiles({
              dir: path.join(this.#o.stateDir, "pod-tokens"),
              kubeconfigFor: (cluster) => this.dc[cluster as keyof typeof this.dc].kubeconfigPath,
            }),
          }
        : { token: TOKEN }),
      log: say,
    });
    say(`${this.podSidecars.running().length} sidecars of deployed pods`);
    await this.converged();
    this.load = new LoadGenerator({
      rate: this.#o.rate ?? 200,
      writeRatio: 0.5,
      targets: () =>
        this.fleet
          .running()
          .filter((i) => i.cellType === "Regional")
          .map((i) => ({ name: i.name, url: i.sidecar.url })),
    });
    this.load.start();
    await eventually("the fleet serving the load", () => this.fleet.records.length >= 200, 60_000, 100);
  }

  async stop(): Promise<void> {
    await this.load?.stop().catch(() => undefined);
    await this.podSidecars?.stop().catch(() => undefined);
    await this.fleet?.stopAll().catch(() => undefined);
    for (const p of [...this.podRouting.values(), ...this.zoneRouting.values(), ...this.memberApi.values()])
      await p.stop().catch(() => undefined);
    for (const o of this.ops) await o?.kill().catch(() => undefined);
    for (const r of this.relays.values()) await r.kill().catch(() => undefined);
    await this.lb?.stop().catch(() => undefined);
    if (process.env.LDC_E2E_KEEP !== "1")
      await down(this.#o.stateDir, this.#o.say).catch((e) => this.#o.say(`down failed: ${String(e)}`));
  }

  /** Starts the replica of `slot` (0 or 1) on its port, as the Deployment's replacement pod would. */
  async startReplica(slot: number): Promise<OperatorProcess> {
    const p = await spawnOperator({
      kubeconfigPath: this.dc.dc1.kubeconfigPath,
      namespace: OPERATOR_NAMESPACE,
      port: this.ports[slot]!,
      logLevel: process.env.LDC_E2E_LOG_LEVEL ?? "error",
      sidecarImage: "ldc-operator/sidecar:e2e",
      leaderElect: true,
      routingApiUrl: this.lb.url,
      memberRoutingApiUrl: this.lb.url,
      // On the relay path sidecars reach only their relays; the token reads the served table (servedTable).
      routingTokenFile: this.#tokenFile,
      ...(this.path === "relay" ? { relay: true } : {}),
    });
    this.ops[slot] = p;
    return p;
  }

  /** (Re)starts the relay of `zone` on its port, as its Deployment's replacement pod would. */
  async restartRelay(zone: string): Promise<RelayProcess> {
    const port = this.#relayPorts.get(zone);
    if (port === undefined) throw new Error(`no relay for zone ${zone} (path ${this.path})`);
    const r = await spawnRelay({
      kubeconfigPath: this.#relayKubeconfigs.get(zone)!,
      namespace: OPERATOR_NAMESPACE,
      port,
      pod: `ldc-relay-${zone}`,
      logLevel: process.env.LDC_E2E_LOG_LEVEL ?? "error",
    });
    this.relays.set(zone, r);
    return r;
  }

  async list<T>(kind: keyof typeof LdcResources, namespace?: string): Promise<T[]> {
    const l = await this.home.list(LdcResources[kind], namespace ? { namespace } : {});
    return l.items as T[];
  }

  async failover(name: string): Promise<Failover | undefined> {
    return (await this.home.tryGet(LdcResources.Failover, name)) as Failover | undefined;
  }

  async activeZone(cell: string): Promise<string | undefined> {
    const c = (await this.home.tryGet(LdcResources.Cell, cell)) as Cell | undefined;
    return c?.status?.activeZone ?? c?.spec.zone;
  }

  async createFailover(prefix: string, spec: Record<string, unknown>): Promise<string> {
    const name = `${prefix}-${++this.#n}`;
    await this.home.create(LdcResources.Failover, {
      apiVersion: "ldc.io/v1alpha1",
      kind: "Failover",
      metadata: { name, annotations: { [DECIDED_AT]: String(Date.now()) } },
      spec,
    });
    return name;
  }

  async finished(name: string, timeoutMs: number): Promise<Failover> {
    const fo = await eventually(
      `Failover ${name} to finish`,
      async () => {
        const f = await this.failover(name);
        return f && TERMINAL.has(f.status?.phase ?? "") ? f : undefined;
      },
      timeoutMs,
      200,
    );
    this.#o.say(`Failover ${name}: ${fo.status?.phase}: ${fo.status?.message}`);
    return fo;
  }

  /** The Lease's holder and the slot of the live replica it names (-1: none of them). */
  async leader(): Promise<{ identity: string; slot: number }> {
    const lease = (await this.home.tryGet(Resources.Lease, LEASE_NAME, OPERATOR_NAMESPACE)) as Lease | undefined;
    const identity = lease?.spec?.holderIdentity ?? "";
    // The identity is hostname_pid (src/runtime/leader.ts).
    const slot = this.ops.findIndex((o) => o !== undefined && identity.endsWith(`_${o.pid}`));
    return { identity, slot };
  }

  /** The table the Service serves (undefined: not served, e.g. no leader). */
  async servedTable(): Promise<RoutingTable | undefined> {
    for (let i = 0; i < 4; i++) {
      try {
        const res = await fetch(`${this.lb.url}/v1/rules/${RULE}/table`, {
          signal: AbortSignal.timeout(5000),
          headers: { authorization: `Bearer ${TOKEN}` },
        });
        if (res.status === 200) return parseTable(await res.text());
        await res.arrayBuffer();
      } catch {
        /* a killed replica's connection */
      }
    }
    return undefined;
  }

  /** Every running sidecar holds the table the Service serves, whose epoch the rule's status records. */
  async converged(timeoutMs = 60_000): Promise<number> {
    return eventually(
      "every sidecar to hold the rule's epoch as served by the routing API",
      async () => {
        const table = await this.servedTable();
        if (!table) return undefined;
        const rule = (await this.home.tryGet(LdcResources.ShardingRule, RULE)) as ShardingRule | undefined;
        if (rule?.status?.epoch !== table.epoch) return undefined;
        const all = this.fleet.running().every((i) => i.sidecar.table()?.contentHash === table.contentHash);
        return all ? table.epoch : undefined;
      },
      timeoutMs,
      250,
    );
  }

  /** Every invariant over everything recorded so far: name -> violations. */
  violations(): { name: string; list: string[] }[] {
    return checkAll({
      records: this.fleet.records.slice(),
      sent: this.load.sent.slice(),
      instances: this.fleet.instances,
      tables: this.tables,
    }).checks;
  }

  /** Waits for the replica leading at `minPosition` (or later) of a running drill, then SIGKILLs it and starts a replacement. */
  async drillWithLeaderKill(cell: string, point: KillPoint): Promise<KillResult> {
    const say = this.#o.say;
    const created = Date.now();
    const name = await this.createFailover("ha-kill", {
      type: "Drill",
      target: { cells: [cell] },
      drill: { duration: "3s" },
      writeFreeze: "1500ms",
      reason: `e2e ha: leader killed at ${killPointLabel(point)}`,
    });
    const want = killPointPosition(point);
    const fo = await eventually(
      `drill ${name} at ${killPointLabel(point)}`,
      async () => {
        const f = await this.failover(name);
        return drillPosition(f) >= want ? f : undefined;
      },
      120_000,
      20,
    );
    const stepAtKill = `${fo.status?.step}${(fo.status?.steps ?? []).some((s) => s.name === "Failback") && fo.status?.step !== "Failback" ? " (failback)" : ""}`;
    if (drillPosition(fo) === 16)
      throw new Error(`drill ${name} finished (${fo.status?.phase}) before ${killPointLabel(point)}`);
    const { identity, slot } = await eventually(
      "a live leader",
      async () => {
        const l = await this.leader();
        return l.slot >= 0 ? l : undefined;
      },
      60_000,
      20,
    );
    const killedAt = Date.now();
    await this.ops[slot]!.kill();
    say(`killed the leader ${identity} (slot ${slot}) at step ${stepAtKill}`);
    const replacement = this.startReplica(slot);
    const toNewLeaderMs = await eventually(
      "a new leader",
      async () => {
        const l = await this.leader();
        return l.slot >= 0 && l.identity !== identity ? Date.now() - killedAt : undefined;
      },
      120_000,
      50,
    );
    const toServingMs = await eventually(
      "the Service serving the table",
      async () => ((await this.servedTable()) ? Date.now() - killedAt : undefined),
      120_000,
      50,
    );
    await replacement;
    const done = await this.finished(name, 240_000);
    const totalMs = Date.parse(done.status?.completionTime ?? new Date().toISOString()) - created;
    return { name, point: killPointLabel(point), stepAtKill, toNewLeaderMs, toServingMs, totalMs, failover: done };
  }

  /**
   * The sidecars of `pod` ("cell@zone": the fleet's and the deployed pods') stop hearing the routing
   * API while an Emergency failover moves `cell`. The barrier must wait for them (they are deployed,
   * reachable and not fenced): once the Failover says it waits for them and their leases have run out
   * (writes refused), the stall is healed; the failover then goes on.
   */
  /**
   * An Emergency failover of `cell` while the sidecars of `pod` hear nothing
   * (their proxy cut); with `silentForMs`, the failover starts only after
   * they have been silent that long (beyond the relay's ack TTL, no ack
   * record names them any more). Healed once the Failover's message matches
   * `waitingFor` (default: it waits for a sidecar of the pod's zone).
   */
  async failoverWithStalledSidecar(
    pod: string,
    cell: string,
    opts: { silentForMs?: number; waitingFor?: RegExp } = {},
  ): Promise<StallResult> {
    const proxy = this.podRouting.get(pod);
    if (!proxy) throw new Error(`no sidecar ${pod}`);
    // Leases held at the cut (e.g. after a leader takeover): a refusal seen later is the stall's.
    const leased = () =>
      this.fleet
        .running()
        .filter((i) => `${i.cell}@${i.zone}` === pod)
        .every((i) => i.sidecar.lease.valid());
    await eventually(`the sidecars of ${pod} to hold routing leases`, leased, 60_000, 100);
    const cutAt = Date.now();
    proxy.cut();
    if (opts.silentForMs) {
      this.#o.say(`  ${pod} silent for ${opts.silentForMs} ms before the failover`);
      await sleep(opts.silentForMs);
    }
    let healAt: number;
    let waitedOn: string;
    let name = "";
    try {
      name = await this.createFailover("ha-stall", {
        type: "Emergency",
        target: { cells: [cell] },
        writeFreeze: "1s",
        reason: `e2e ha: sidecar ${pod} stopped acknowledging`,
      });
      const zone = pod.slice(pod.indexOf("@") + 1);
      // Only Regional cells take the load: a stalled Global or City cell's refusals cannot be seen,
      // so for those the stall is held for a lease instead (its sidecars' leases have run out by then).
      const loaded = this.fleet.running().some((i) => `${i.cell}@${i.zone}` === pod && i.cellType === "Regional");
      const refused = () =>
        loaded ? this.firstLeaseRefusal(cutAt, { pod }) !== undefined : Date.now() - cutAt > DEFAULT_LEASE_MS;
      const waiting = await eventually(
        `Failover ${name} waiting for the stalled sidecars of ${pod}, their writes refused`,
        async () => {
          const f = await this.failover(name);
          if (f && TERMINAL.has(f.status?.phase ?? "")) return f;
          const m = f?.status?.message ?? "";
          const waitingFor = opts.waitingFor ?? new RegExp(`(behind|never acknowledged): .*@${zone}`);
          return waitingFor.test(m) && refused() ? f : undefined;
        },
        120_000,
        200,
      );
      waitedOn = waiting.status?.message ?? "";
      healAt = Date.now();
    } finally {
      proxy.heal();
    }
    const failover = await this.finished(name, 240_000);
    // Healed, they take writes again: their leases renewed.
    await eventually(`the sidecars of ${pod} to hold routing leases again after the heal`, leased, 60_000, 100);
    const sw = failover.status?.steps?.find((s) => s.name === "Switch")?.startTime;
    return {
      failover,
      stalled: pod,
      cutAt,
      healAt,
      waitedOn,
      switchAt: sw ? Date.parse(sw) : NaN,
      firstLeaseRefusalAt: this.firstLeaseRefusal(cutAt, { pod }),
    };
  }

  /** The first write a sidecar of `zone` (or of instance prefix `pod`, "cell@zone") refused for an expired lease, sent at or after `since`. */
  firstLeaseRefusal(since: number, where: { zone?: string; pod?: string }): number | undefined {
    let first: number | undefined;
    for (const r of this.load.sent) {
      if (r.sentAt < since || r.status !== 503 || !/lease expired/.test(r.body?.error ?? "")) continue;
      if (where.pod !== undefined && !r.entry.startsWith(`${where.pod}#`)) continue;
      if (where.zone !== undefined && !r.entry.includes(`@${where.zone}#`)) continue;
      if (first === undefined || r.sentAt < first) first = r.sentAt;
    }
    return first;
  }

  /**
   * `zone` cut off from the operators while its users still reach it: on the relay path the
   * operators' connection to its API server (its relay keeps running and stops seeing renewals),
   * on the direct path that and its sidecars' path to the Service. Until its sidecars refuse
   * writes and any automatic Failover it caused has finished; then healed.
   */
  async partition(zone: string): Promise<PartitionResult> {
    const before = new Set((await this.list<Failover>("Failover")).map((f) => f.metadata.name));
    const cutAt = Date.now();
    this.memberApi.get(zone)!.cut();
    this.zoneRouting.get(zone)?.cut();
    try {
      const automaticCells = (await this.list<Cell>("Cell")).filter(
        (c) => c.spec.failover?.mode === "Automatic" && (c.status?.activeZone ?? c.spec.zone) === zone,
      );
      const firstRefusalAt = await eventually(
        `${zone}'s sidecars to refuse writes (lease expired)`,
        () => this.firstLeaseRefusal(cutAt, { zone }),
        60_000,
      );
      if (automaticCells.length === 0) return { cutAt, firstRefusalAt, failover: undefined };
      const auto = await eventually(
        `an automatic Failover out of ${zone}`,
        async () =>
          (await this.list<Failover>("Failover")).find(
            (f) => !before.has(f.metadata.name) && f.metadata.labels?.[AUTOMATIC_LABEL] === "true",
          ),
        90_000,
        500,
      );
      return { cutAt, firstRefusalAt, failover: await this.finished(auto.metadata.name, 240_000) };
    } finally {
      this.memberApi.get(zone)!.heal();
      this.zoneRouting.get(zone)?.heal();
      await eventually(
        `zone ${zone} Ready again`,
        async () => (await this.list<Zone>("Zone")).find((z) => z.metadata.name === zone)?.status?.phase === "Ready",
        120_000,
        500,
      );
    }
  }

  /**
   * An Emergency failover of `cell` during which the relay of the zone it leaves (source) or moves
   * to (destination) is SIGKILLed at `point.step`; the relay stays down until that zone's sidecars'
   * leases have run out (writes refused) or the Failover ended; then it is started again on the
   * same port. The failover must complete once it is back.
   */
  async failoverWithRelayRestart(cell: string, point: RelayRestartPoint): Promise<RelayRestartResult> {
    if (this.path !== "relay") throw new Error("a relay restart needs the relay path");
    const say = this.#o.say;
    const name = await this.createFailover("ha-relay", {
      type: "Emergency",
      target: { cells: [cell] },
      writeFreeze: "1s",
      reason: `e2e ha: the ${point.side} zone's relay restarted at ${point.step}`,
    });
    const want = LEG.indexOf(point.step);
    const fo = await eventually(
      `Failover ${name} at ${point.step}`,
      async () => {
        const f = await this.failover(name);
        return drillPosition(f) >= want && f?.status?.cells?.length ? f : undefined;
      },
      120_000,
      20,
    );
    if (drillPosition(fo) === 16)
      throw new Error(`Failover ${name} finished (${fo.status?.phase}) before ${point.step}`);
    const moving = fo.status!.cells!.find((c) => c.cell === cell)!;
    const zone = point.side === "source" ? moving.from : moving.to;
    const stepAtKill = fo.status?.step ?? "";
    const killedAt = Date.now();
    await this.relays.get(zone)!.kill();
    say(`killed the relay of ${zone} (${point.side} of ${cell}) at ${stepAtKill}`);
    let restartedOn: string;
    let waitedOn: string | undefined;
    try {
      restartedOn = await eventually(
        `${zone}'s writes refused (lease expired) or Failover ${name} to end`,
        async () => {
          const f = await this.failover(name);
          const m = f?.status?.message ?? "";
          if (waitedOn === undefined && new RegExp(`(behind|never acknowledged): .*@${zone}`).test(m)) waitedOn = m;
          if (TERMINAL.has(f?.status?.phase ?? "")) return `the Failover ended ${f?.status?.phase}`;
          if (this.firstLeaseRefusal(killedAt, { zone }) !== undefined)
            return `${zone}'s writes refused (lease expired)`;
          return undefined;
        },
        90_000,
        100,
      );
    } finally {
      await this.restartRelay(zone);
    }
    const readyAt = Date.now();
    say(`relay of ${zone} back after ${readyAt - killedAt} ms (restarted on: ${restartedOn})`);
    const failover = await this.finished(name, 240_000);
    const sw = failover.status?.steps?.find((s) => s.name === "Switch")?.startTime;
    const endAt = Date.parse(failover.status?.completionTime ?? new Date().toISOString());
    const refused = this.load.sent
      .filter(
        (r) =>
          r.sentAt >= killedAt &&
          r.sentAt <= endAt &&
          r.entry.includes(`@${zone}#`) &&
          r.status === 503 &&
          /lease expired/.test(r.body?.error ?? ""),
      )
      .map((r) => r.sentAt);
    return {
      failover,
      zone,
      stepAtKill,
      killedAt,
      restartedOn,
      waitedOn,
      readyAt,
      firstRefusalAt: refused.length ? Math.min(...refused) : undefined,
      lastRefusalAt: refused.length ? Math.max(...refused) : undefined,
      switchAt: sw ? Date.parse(sw) : NaN,
      endAt,
    };
  }
}
