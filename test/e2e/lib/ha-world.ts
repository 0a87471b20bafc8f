// The drill verifier on the topology users install (issue 12, items 5 and 6):
// three datacenters, the operator as two processes of `node src/main.ts` with
// leader election (as the chart runs it) behind a round-robin "Service"
// (RoundRobinBalancer), member zones hz-b and sh-a reached through
// PartitionProxies, and a recording backend + in-process sidecar per cell and
// zone that reaches only the Service, through a proxy of its own (to stall
// it) and, in a member zone, through the zone's proxy (to cut the zone off).
// State is read through the API server and the routing API over HTTP, never
// from an operator's memory. ha.test.ts and the soak run its scenarios.
import { writeFileSync } from "node:fs";
import path from "node:path";
import { down, up, type ClusterState, type DatacenterState } from "../../../hack/lib/controlplane.ts";
import {
  MEMBER_SECRETS,
  OPERATOR_NAMESPACE,
  applyExamples,
  installExamples,
  kubectl,
} from "../../../hack/lib/examples.ts";
import { spawnOperator, type OperatorProcess } from "../../../hack/lib/operator-process.ts";
import type { Cell, CellApp, Failover, FailoverStep, ShardingRule, Zone } from "../../../src/api/index.ts";
import { DECIDED_AT } from "../../../src/controllers/failover.ts";
import { LdcResources } from "../../../src/ldc-resources.ts";
import { AUTOMATIC_LABEL } from "../../../src/reconcilers/autofailover.ts";
import { LEG as FAILOVER_LEG } from "../../../src/reconcilers/failover.ts";
import { parseTable, type RoutingTable } from "../../../src/routing/index.ts";
import { KubeClient, Resources, connectionFromFile, type Lease } from "../../../src/runtime/index.ts";
import type { CellType } from "../../../src/sidecar/index.ts";
import { RoundRobinBalancer } from "./balancer.ts";
import { eventually, freePort, memberThroughProxy, tweakedExamples } from "./env.ts";
import { Fleet, runDeployedSidecars } from "./fleet.ts";
import type { PodSidecars } from "../../../hack/lib/pod-sidecars.ts";
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

export interface Options {
  stateDir: string;
  say: (m: string) => void;
  /** Requests per second of the load generator (default 200). */
  rate?: number;
}

export class HaWorld {
  readonly tables = new TableHistory();
  readonly ops: (OperatorProcess | undefined)[] = [undefined, undefined];
  readonly ports: number[] = [];
  readonly memberApi = new Map<string, PartitionProxy>();
  readonly zoneRouting = new Map<string, PartitionProxy>();
  readonly podRouting = new Map<string, PartitionProxy>();
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
    // Each pod reaches the Service through a proxy of its own (to stall it), a member zone's
    // pods through the zone's proxy too (to cut the zone off).
    for (const zone of MEMBER_ZONES)
      this.zoneRouting.set(zone, await PartitionProxy.start({ host: "127.0.0.1", port: this.lb.port }));
    for (const p of pods) {
      const via = this.zoneRouting.get(p.zone)?.port ?? this.lb.port;
      this.podRouting.set(`${p.cell}@${p.zone}`, await PartitionProxy.start({ host: "127.0.0.1", port: via }));
    }
    this.fleet = await Fleet.start({
      pods,
      routingApi: this.lb.url,
      routingApiFor: (zone, cell) => `http://127.0.0.1:${this.podRouting.get(`${cell}@${zone}`)!.port}`,
      token: TOKEN,
      rule: RULE,
      onTable: (t: RoutingTable) => this.tables.add(t),
    });
    say(`${pods.length} sidecars + backends: ${pods.map((p) => `${p.cell}@${p.zone}`).join(", ")}`);
    this.podSidecars = await runDeployedSidecars(this.fleet, {
      clusters: await Promise.all(
        (["dc1", "dc2", "dc3"] as const).map(async (name) => ({
          name,
          client: await KubeClient.fromConnection(connectionFromFile(this.dc[name].kubeconfigPath)),
        })),
      ),
      // Through the proxy of its cell and zone: a stall or a partition reaches it too.
      routingApiFor: ({ zone, cell }) => `http://127.0.0.1:${this.podRouting.get(`${cell}@${zone}`)!.port}`,
      token: TOKEN,
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
      routingTokenFile: this.#tokenFile,
    });
    this.ops[slot] = p;
    return p;
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
  async failoverWithStalledSidecar(pod: string, cell: string): Promise<StallResult> {
    const proxy = this.podRouting.get(pod);
    if (!proxy) throw new Error(`no sidecar ${pod}`);
    const cutAt = Date.now();
    proxy.cut();
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
      const refused = () =>
        this.load.sent.some(
          (r) =>
            r.entry.startsWith(`${pod}#`) &&
            r.sentAt >= cutAt &&
            r.status === 503 &&
            /lease expired/.test(r.body?.error ?? ""),
        );
      const waiting = await eventually(
        `Failover ${name} waiting for the stalled sidecars of ${pod}, their writes refused`,
        async () => {
          const f = await this.failover(name);
          if (f && TERMINAL.has(f.status?.phase ?? "")) return f;
          const m = f?.status?.message ?? "";
          return new RegExp(`(behind|never acknowledged): .*@${zone}`).test(m) && refused() ? f : undefined;
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
    const sw = failover.status?.steps?.find((s) => s.name === "Switch")?.startTime;
    const refusals = this.load.sent.filter(
      (r) =>
        r.entry.startsWith(`${pod}#`) &&
        r.sentAt >= cutAt &&
        r.status === 503 &&
        /lease expired/.test(r.body?.error ?? ""),
    );
    return {
      failover,
      stalled: pod,
      cutAt,
      healAt,
      waitedOn,
      switchAt: sw ? Date.parse(sw) : NaN,
      firstLeaseRefusalAt: refusals.length ? Math.min(...refusals.map((r) => r.sentAt)) : undefined,
    };
  }

  /**
   * `zone` cut off from the operator (its API server and its sidecars' routing API) while its
   * users still reach it, until its sidecars refuse writes and any automatic Failover it caused
   * has finished; then healed. Returns that Failover, if any.
   */
  async partition(zone: string): Promise<Failover | undefined> {
    const before = new Set((await this.list<Failover>("Failover")).map((f) => f.metadata.name));
    const cutAt = Date.now();
    this.memberApi.get(zone)!.cut();
    this.zoneRouting.get(zone)!.cut();
    try {
      const automaticCells = (await this.list<Cell>("Cell")).filter(
        (c) => c.spec.failover?.mode === "Automatic" && (c.status?.activeZone ?? c.spec.zone) === zone,
      );
      await eventually(
        `${zone}'s sidecars to refuse writes (lease expired)`,
        () =>
          this.load.sent.some(
            (r) => r.entry.includes(`@${zone}#`) && r.sentAt > cutAt && /lease expired/.test(r.body?.error ?? ""),
          ),
        60_000,
      );
      if (automaticCells.length === 0) return undefined;
      const auto = await eventually(
        `an automatic Failover out of ${zone}`,
        async () =>
          (await this.list<Failover>("Failover")).find(
            (f) => !before.has(f.metadata.name) && f.metadata.labels?.[AUTOMATIC_LABEL] === "true",
          ),
        90_000,
        500,
      );
      return await this.finished(auto.metadata.name, 240_000);
    } finally {
      this.memberApi.get(zone)!.heal();
      this.zoneRouting.get(zone)!.heal();
      await eventually(
        `zone ${zone} Ready again`,
        async () => (await this.list<Zone>("Zone")).find((z) => z.metadata.name === zone)?.status?.phase === "Ready",
        120_000,
        500,
      );
    }
  }
}
