// The drill verifier (issue 6, part 5): three simulated datacenters of its
// own, the examples, the operator in-process, a recording backend and an
// ldc-sidecar for every cell in every zone where it has workloads, and a load
// generator writing and reading all 100 shards throughout. Four scenarios,
// each followed by the invariant checks of lib/invariants.ts and a convergence
// check:
//   1. a manual Emergency failover of rz01 (hz-b -> hz-a);
//   2. a drill of rz02 (sh-a -> hz-a and back);
//   3. losing datacenter dc2 (hz-b): the operator fails the Automatic cell
//      rz03 over to sh-a by itself; dc2 comes back and nothing is failed back
//      or deleted;
//   4. the operator stopped in the middle of a drill's write freeze and a new
//      one (fresh in-memory state) started: the drill resumes from status;
//   5. a partition: sh-a cut off from the operator (its API server and its
//      sidecars' routing API behind TCP proxies that turn into black holes)
//      while its users keep reaching it: rz03 fails over to hz-b by itself,
//      and no shard has two writers (ADR 0007: the switch waits until sh-a's
//      sidecars have provably stopped accepting writes).
// Run alone: `npm run e2e:drill` (part of `npm test` too). LDC_E2E_LOG_LEVEL
// sets the operator's log level (default error); LDC_E2E_KEEP=1 keeps the
// datacenters (in .ldc/e2e-<pid>) after the run.
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  down,
  start as startDatacenter,
  stop as stopDatacenter,
  type ClusterState,
  type DatacenterState,
  up,
} from "../../hack/lib/controlplane.ts";
import { OPERATOR_NAMESPACE, applyExamples, installExamples, kubectl } from "../../hack/lib/examples.ts";
import { REPO_DIR } from "../../hack/lib/tools.ts";
import type { Cell, Failover, Zone } from "../../src/api/index.ts";
import { DECIDED_AT } from "../../src/controllers/failover.ts";
import { AUTOMATIC_LABEL } from "../../src/reconcilers/autofailover.ts";
import { startOperator, type RunningOperator } from "../../src/operator.ts";
import type { RoutingTable } from "../../src/routing/index.ts";
import type { CellType } from "../../src/sidecar/index.ts";
import { eventually, freePort, kc, memberThroughProxy, tweakedExamples } from "./lib/env.ts";
import { Fleet, runDeployedSidecars, shardOfUid } from "./lib/fleet.ts";
import type { PodSidecars } from "../../hack/lib/pod-sidecars.ts";
import { KubeClient, connectionFromFile } from "../../src/runtime/index.ts";
import { TableHistory, checkAll } from "./lib/invariants.ts";
import { LoadGenerator, uidForShard } from "./lib/load.ts";
import { PartitionProxy } from "./lib/partition.ts";

const RULE = "users";
const TOKEN = "e2e-token";
const TERMINAL = new Set(["Succeeded", "Failed", "RolledBack", "Aborted"]);

const stateDir = path.join(REPO_DIR, ".ldc", `e2e-${process.pid}`);
const t0 = Date.now();
const say = (m: string) => process.stderr.write(`[e2e ${((Date.now() - t0) / 1000).toFixed(1).padStart(6)}s] ${m}\n`);

let state: ClusterState;
let dc: Record<"dc1" | "dc2" | "dc3", DatacenterState>;
let op: RunningOperator;
let apiPort = 0;
let fleet: Fleet | undefined;
/** The sidecars of the pods the operator deployed (the barrier waits for each). */
let podSidecars: PodSidecars | undefined;
let load: LoadGenerator | undefined;
/** Between the operator and dc3's API server, and between sh-a's sidecars and the routing API. */
let dc3Api: PartitionProxy | undefined;
let shaRouting: PartitionProxy | undefined;
const tables = new TableHistory();
const operators: RunningOperator[] = [];

async function startTheOperator(): Promise<RunningOperator> {
  if (!apiPort) apiPort = await freePort();
  const o = await startOperator({
    kubeconfigPath: dc.dc1.kubeconfigPath,
    namespace: OPERATOR_NAMESPACE,
    httpHost: "127.0.0.1",
    httpPort: apiPort,
    leaderElection: false,
    logLevel: process.env.LDC_E2E_LOG_LEVEL ?? "error",
    sidecarImage: "ldc-operator/sidecar:e2e",
    routingTokens: [TOKEN],
    // Every zone's sidecars reach the routing API, so every zone holds routing leases (ADR 0007).
    routingApiUrl: `http://127.0.0.1:${apiPort}`,
    memberRoutingApiUrl: `http://127.0.0.1:${apiPort}`,
  });
  apiPort = o.port;
  o.tables.subscribe((t) => tables.add(t));
  const cur = o.tables.get(RULE);
  if (cur) tables.add(cur);
  operators.push(o);
  return o;
}

const failover = (name: string) => op.context.ldc.failovers.store.get(name) as Failover | undefined;
const cell = (name: string) => op.context.ldc.cells.store.get(name) as Cell | undefined;
const activeZone = (name: string) => cell(name)?.status?.activeZone;

async function createFailover(name: string, spec: Record<string, unknown>): Promise<void> {
  const obj = {
    apiVersion: "ldc.io/v1alpha1",
    kind: "Failover",
    metadata: { name, annotations: { [DECIDED_AT]: String(Date.now()) } },
    spec,
  };
  await kc(dc.dc1, ["create", "-f", "-"], JSON.stringify(obj));
}

async function finished(name: string, timeoutMs: number): Promise<Failover> {
  const fo = await eventually(
    `Failover ${name} to finish`,
    () => {
      const f = failover(name);
      return f && TERMINAL.has(f.status?.phase ?? "") ? f : undefined;
    },
    timeoutMs,
  );
  say(`Failover ${name}: ${fo.status?.phase}: ${fo.status?.message}`);
  return fo;
}

/** Every running sidecar holds the rule's current epoch; the API's lookups agree with their tables. */
async function checkConverged(): Promise<number> {
  const epoch = await eventually(
    "every sidecar to hold the rule's epoch",
    () => {
      const table = op.tables.get(RULE);
      const recorded = op.context.ldc.rules.store.get(RULE)?.status?.epoch;
      if (!table || recorded !== table.epoch) return undefined;
      return fleet!.running().every((i) => i.sidecar.currentEpoch() === table.epoch) ? table.epoch : undefined;
    },
    30_000,
  );
  const table = op.tables.get(RULE)!;
  for (const i of fleet!.running()) {
    expect(i.sidecar.table()!.contentHash, `${i.name} holds the API's table`).toBe(table.contentHash);
  }
  for (let s = 0; s < 100; s++) {
    const uid = uidForShard(s);
    expect(table.shardOf(String(uid))).toBe(shardOfUid(uid));
    const res = await fetch(`http://127.0.0.1:${apiPort}/v1/rules/${RULE}/lookup?key=${uid}`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    const body = (await res.json()) as { epoch: number; shard: number; cell: string; zone: string; frozen: boolean };
    const owner = table.ownerOf(s);
    expect({ epoch: body.epoch, shard: body.shard, cell: body.cell, zone: body.zone, frozen: body.frozen }).toEqual({
      epoch,
      shard: s,
      cell: owner.name,
      zone: owner.zone,
      frozen: false,
    });
  }
  return epoch;
}

function expectNone(what: string, violations: string[]): void {
  if (violations.length) say(`${what}: ${violations.length} violation(s):\n  ${violations.slice(0, 10).join("\n  ")}`);
  expect(violations, what).toEqual([]);
}

/** The invariants over everything recorded so far. */
function checkInvariants(): { inFlight: number } {
  const { checks, inFlight } = checkAll({
    records: fleet!.records.slice(),
    sent: load!.sent.slice(),
    instances: fleet!.instances,
    tables,
  });
  for (const { name, list } of checks) expectNone(name, list);
  return { inFlight };
}

/** One line per scenario: RTO, freeze, and what the traffic saw. */
function report(label: string, fo: Failover, from: number, to: number): void {
  const st = fo.status ?? {};
  const before = tables.byEpoch.get(st.epochs?.before ?? -1) ?? tables.byEpoch.get(tables.epochs()[0]!);
  const moved = new Set((st.cells ?? []).map((c) => c.cell));
  const movedShards = new Set<number>();
  for (let s = 0; s < 100; s++) if (before && moved.has(before.ownerOf(s).name)) movedShards.add(s);
  const sent = load!.sent.filter((r) => r.sentAt >= from && r.sentAt <= to && r.status !== undefined);
  const count = (xs: typeof sent) => {
    const by = new Map<string, number>();
    for (const r of xs) {
      const k =
        r.status === 503 && r.retryAfter
          ? /lease expired/.test(r.body?.error ?? "")
            ? "503 lease expired"
            : "503 frozen"
          : String(r.status);
      by.set(k, (by.get(k) ?? 0) + 1);
    }
    return [...by.entries()]
      .sort()
      .map(([k, n]) => `${k}: ${n}`)
      .join(", ");
  };
  const movedWrites = sent.filter((r) => movedShards.has(r.shard) && r.method === "POST");
  const e = st.epochs ?? {};
  say(
    `REPORT ${label}: ${st.phase}; moves ${(st.cells ?? []).map((c) => `${c.cell} ${c.from}->${c.to}`).join(", ")}; ` +
      `RTO ${st.rtoMilliseconds ?? "?"} ms, freeze ${st.freezeMilliseconds ?? "?"} ms (writeFreeze ${fo.spec.writeFreeze}); ` +
      `epochs before ${e.before} freeze ${e.freeze} switch ${e.switch}` +
      (e.failbackSwitch ? ` failback freeze ${e.failbackFreeze} switch ${e.failbackSwitch}` : "") +
      `; ${sent.length} requests (${count(sent)}); moved shards (${movedShards.size}) writes: ${movedWrites.length} (${count(movedWrites)})`,
  );
}

async function deploymentUids(d: DatacenterState): Promise<Map<string, string>> {
  const list = JSON.parse(await kc(d, ["get", "deployments", "-n", "payments", "-o", "json"])) as {
    items: { metadata: { name: string; uid: string } }[];
  };
  return new Map(list.items.map((i) => [i.metadata.name, i.metadata.uid]));
}

async function cleanup(): Promise<void> {
  await load?.stop().catch(() => undefined);
  await podSidecars?.stop().catch(() => undefined);
  await fleet?.stopAll().catch(() => undefined);
  for (const p of [dc3Api, shaRouting]) await p?.stop().catch(() => undefined);
  for (const o of operators.splice(0)) await o.stop().catch(() => undefined);
  if (process.env.LDC_E2E_KEEP !== "1") await down(stateDir, say).catch((e) => say(`down failed: ${String(e)}`));
}

describe("drill verifier: failovers under load keep the LDC invariants", () => {
  beforeAll(async () => {
    try {
      say(`starting 3 datacenters in ${path.relative(REPO_DIR, stateDir)}`);
      state = await up({ stateDir, datacenters: 3, log: say });
      const [dc1, dc2, dc3] = state.datacenters;
      dc = { dc1: dc1!, dc2: dc2!, dc3: dc3! };

      // CRDs, member-cluster Secrets and the namespace; then the zones and cells with the
      // tweaks, the rule and the apps. Not the example drill (50-) nor the schedule (60-).
      installExamples(state, { files: ["00-namespace.yaml"], log: say });
      kubectl(dc.dc1.kubeconfigPath, ["apply", "-f", "-"], tweakedExamples());
      // The operator reaches sh-a's cluster through a proxy that scenario 5 cuts.
      dc3Api = await memberThroughProxy(dc.dc1, dc.dc3, "zone-sh-a", stateDir);
      applyExamples(state, ["30-sharding-rules.yaml", "40-cellapps.yaml"]);

      say("starting the operator");
      op = await startTheOperator();
      await eventually(
        "the zones Ready, every CellApp Ready and the rule's table published",
        () => {
          const zones = op.context.ldc.zones.store.list() as Zone[];
          const apps = op.context.ldc.apps.store.list();
          return (
            zones.length === 3 &&
            zones.every((z) => z.status?.phase === "Ready") &&
            apps.length === 3 &&
            apps.every((a) => a.status?.totalCells && a.status.readyCells === a.status.totalCells) &&
            op.tables.get(RULE) !== undefined
          );
        },
        180_000,
        500,
      );

      // A sidecar + backend for every cell in every zone where it has workloads.
      const zones = new Map((op.context.ldc.zones.store.list() as Zone[]).map((z) => [z.metadata.name, z]));
      const pods = (op.context.ldc.cells.store.list() as Cell[]).flatMap((c) =>
        [c.spec.zone, ...(c.spec.standbyZones ?? [])].map((zone) => ({
          cell: c.metadata.name,
          cellType: c.spec.type as CellType,
          zone,
          region: zones.get(zone)!.spec.region,
        })),
      );
      shaRouting = await PartitionProxy.start({ host: "127.0.0.1", port: apiPort });
      fleet = await Fleet.start({
        pods,
        routingApi: `http://127.0.0.1:${apiPort}`,
        routingApiFor: (zone) =>
          zone === "sh-a" ? `http://127.0.0.1:${shaRouting!.port}` : `http://127.0.0.1:${apiPort}`,
        token: TOKEN,
        rule: RULE,
        onTable: (t: RoutingTable) => tables.add(t),
      });
      say(`${pods.length} sidecars + backends: ${pods.map((p) => `${p.cell}@${p.zone}`).join(", ")}`);
      const routingOf = (zone: string) =>
        zone === "sh-a" ? `http://127.0.0.1:${shaRouting!.port}` : `http://127.0.0.1:${apiPort}`;
      podSidecars = await runDeployedSidecars(fleet, {
        clusters: await Promise.all(
          (["dc1", "dc2", "dc3"] as const).map(async (name) => ({
            name,
            client: await KubeClient.fromConnection(connectionFromFile(dc[name].kubeconfigPath)),
          })),
        ),
        routingApiFor: ({ zone }) => routingOf(zone),
        token: TOKEN,
        log: say,
      });
      say(`${podSidecars.running().length} sidecars of deployed pods`);
      await checkConverged();

      load = new LoadGenerator({
        rate: 200,
        writeRatio: 0.5,
        targets: () =>
          fleet!
            .running()
            .filter((i) => i.cellType === "Regional")
            .map((i) => ({ name: i.name, url: i.sidecar.url })),
      });
      load.start();
      // one second's worth of requests served before the first failover
      await eventually("the fleet serving the load", () => fleet!.records.length >= 200, 60_000, 100);
      say(`load running: ${load.sent.length} requests sent, ${fleet.records.length} served`);
    } catch (e) {
      await cleanup();
      throw e;
    }
  }, 300_000);

  afterAll(async () => {
    await cleanup();
  }, 120_000);

  it("1. manual Emergency failover of rz01 (hz-b -> hz-a)", async () => {
    const from = Date.now();
    expect(activeZone("rz01")).toBe("hz-b");
    await createFailover("e2e-manual-rz01", {
      type: "Emergency",
      target: { cells: ["rz01"] },
      writeFreeze: "1s",
      reason: "e2e: manual failover",
    });
    const fo = await finished("e2e-manual-rz01", 90_000);
    expect(fo.status?.phase).toBe("Succeeded");
    await eventually("rz01 active in hz-a", () => activeZone("rz01") === "hz-a", 30_000);
    await checkConverged();
    const { inFlight } = checkInvariants();
    report("1 manual failover", fo, from, Date.now());
    say(`  writes in flight at a freeze: ${inFlight}`);
    // The moved shards really moved: rz01's shards were written in hz-a after the switch.
    expect(fleet!.records.some((r) => r.cell === "rz01" && r.zone === "hz-a" && r.method === "POST")).toBe(true);
  }, 180_000);

  it("2. drill of rz02 (sh-a -> hz-a) with automatic failback", async () => {
    const from = Date.now();
    await createFailover("e2e-drill-rz02", {
      type: "Drill",
      target: { cells: ["rz02"] },
      drill: { duration: "5s" },
      writeFreeze: "1s",
      reason: "e2e: drill",
    });
    const fo = await finished("e2e-drill-rz02", 120_000);
    expect(fo.status?.phase).toBe("Succeeded");
    expect(fo.status?.epochs?.failbackSwitch).toBeGreaterThan(fo.status?.epochs?.switch ?? Infinity);
    await eventually("rz02 back in sh-a", () => activeZone("rz02") === "sh-a", 30_000);
    await checkConverged();
    checkInvariants();
    report("2 drill with failback", fo, from, Date.now());
    const served = fleet!.records.filter((r) => r.cell === "rz02" && r.method === "POST" && r.time >= from);
    expect(served.some((r) => r.zone === "hz-a")).toBe(true); // during the drill
    expect(served.at(-1)?.zone).toBe("sh-a"); // after the failback
  }, 180_000);

  it("3. losing dc2 (hz-b): automatic failover of rz03, no failback, nothing deleted", async () => {
    const from = Date.now();
    expect(activeZone("rz03")).toBe("hz-b");
    const uidsBefore = await deploymentUids(dc.dc2);
    expect(uidsBefore.size).toBeGreaterThan(0);

    say("stopping dc2 (hz-b) and its pods");
    await Promise.all([fleet!.stopZone("hz-b"), podSidecars!.pause("dc2"), stopDatacenter(stateDir, "dc2", say)]);
    const auto = await eventually(
      "an automatic Failover",
      () =>
        (op.context.ldc.failovers.store.list() as Failover[]).find(
          (f) => f.metadata.labels?.[AUTOMATIC_LABEL] === "true",
        ),
      90_000,
      500,
    );
    say(`automatic Failover ${auto.metadata.name} for ${auto.spec.target.cells?.join(", ")}`);
    expect(auto.spec.target.cells).toEqual(["rz03"]);
    const fo = await finished(auto.metadata.name, 120_000);
    expect(fo.status?.phase).toBe("Succeeded");
    await eventually("rz03 active in sh-a", () => activeZone("rz03") === "sh-a", 30_000);
    await checkConverged();
    checkInvariants();
    report("3 zone outage (automatic)", fo, from, Date.now());

    say("starting dc2 (hz-b) again");
    await startDatacenter(stateDir, "dc2", say);
    await eventually(
      "zone hz-b Ready again",
      () => (op.context.ldc.zones.store.get("hz-b") as Zone | undefined)?.status?.phase === "Ready",
      120_000,
      500,
    );
    await fleet!.startZone("hz-b");
    podSidecars!.resume("dc2");
    // with hz-b back, every controller looks at every object once more: none fails back
    for (const c of op.controllers) c.resyncAll();
    await Promise.all(op.controllers.map((c) => c.idle()));
    expect(activeZone("rz03"), "not failed back automatically").toBe("sh-a");
    const automatic = (op.context.ldc.failovers.store.list() as Failover[]).filter(
      (f) => f.metadata.labels?.[AUTOMATIC_LABEL] === "true",
    );
    expect(automatic.map((f) => f.metadata.name)).toEqual([auto.metadata.name]);
    const uidsAfter = await deploymentUids(dc.dc2);
    for (const [name, uid] of uidsBefore) expect(uidsAfter.get(name), `Deployment ${name} in dc2`).toBe(uid);
    await checkConverged();
    checkInvariants();
  }, 300_000);

  it("4. operator stopped mid-drill and restarted: the drill resumes from status", async () => {
    const from = Date.now();
    const epochBefore = op.tables.get(RULE)!.epoch;
    await createFailover("e2e-restart-rz00", {
      type: "Drill",
      target: { cells: ["rz00"] },
      drill: { duration: "3s" },
      writeFreeze: "3s",
      reason: "e2e: operator restart mid-drill",
    });
    const step = await eventually(
      "the drill in its write freeze",
      () => {
        const s = failover("e2e-restart-rz00")?.status?.step;
        return s === "Freeze" || s === "WaitReplication" ? s : undefined;
      },
      90_000,
      20,
    );
    const lastEpoch = op.tables.get(RULE)!.epoch;
    say(`stopping the operator at step ${step} (epoch ${lastEpoch})`);
    const stopStart = Date.now();
    const old = op;
    await old.stop();
    operators.splice(operators.indexOf(old), 1);
    say(`operator stopped in ${Date.now() - stopStart} ms; starting a new one on port ${apiPort}`);
    op = await startTheOperator();
    const fo = await finished("e2e-restart-rz00", 120_000);
    expect(fo.status?.phase).toBe("Succeeded");
    const e = fo.status!.epochs!;
    expect(e.before!).toBeGreaterThanOrEqual(epochBefore);
    expect(e.freeze!).toBeGreaterThan(e.before!);
    expect(e.switch!).toBeGreaterThan(e.freeze!);
    expect(e.failbackFreeze!).toBeGreaterThan(e.switch!);
    expect(e.failbackSwitch!).toBeGreaterThan(e.failbackFreeze!);
    expect(op.tables.get(RULE)!.epoch).toBeGreaterThanOrEqual(lastEpoch);
    await eventually("rz00 back in hz-a", () => activeZone("rz00") === "hz-a", 30_000);
    await checkConverged();
    checkInvariants();
    report("4 operator restart mid-drill", fo, from, Date.now());
  }, 300_000);
  it("5. sh-a cut off from the operator while serving its users: rz03 fails over to hz-b, never two writers", async () => {
    const from = Date.now();
    expect(activeZone("rz03")).toBe("sh-a");
    const earlier = new Set((op.context.ldc.failovers.store.list() as Failover[]).map((f) => f.metadata.name));
    say("cutting sh-a (dc3) off from the operator: its API server and its sidecars' routing API (black holes)");
    const cutAt = Date.now();
    dc3Api!.cut();
    shaRouting!.cut();
    let fo: Failover;
    try {
      const auto = await eventually(
        "an automatic Failover of rz03",
        () =>
          (op.context.ldc.failovers.store.list() as Failover[]).find(
            (f) => !earlier.has(f.metadata.name) && f.metadata.labels?.[AUTOMATIC_LABEL] === "true",
          ),
        90_000,
        500,
      );
      expect(auto.spec.target.cells).toEqual(["rz03"]);
      fo = await finished(auto.metadata.name, 120_000);
      expect(fo.status?.phase).toBe("Succeeded");
      await eventually("rz03 active in hz-b", () => activeZone("rz03") === "hz-b", 30_000);
      // sh-a's users were still served while it was cut off: reads throughout.
      const shaReads = fleet!.records.filter((r) => r.zone === "sh-a" && r.time > cutAt && r.method === "GET");
      expect(shaReads.length, "sh-a kept serving reads while cut off").toBeGreaterThan(0);
      // ...and refused writes once its routing leases ran out, before the switch gave rz03's shards to hz-b.
      const switchAt = Date.parse(fo.status!.steps!.find((s) => s.name === "Switch")!.startTime!);
      const leaseRefusals = load!.sent.filter(
        (r) => r.entry.includes("@sh-a") && r.status === 503 && /lease expired/.test(r.body?.error ?? ""),
      );
      expect(leaseRefusals.length, "sh-a refused writes when its lease ran out").toBeGreaterThan(0);
      expect(Math.min(...leaseRefusals.map((r) => r.sentAt))).toBeLessThan(switchAt);
      checkInvariants();
      report("5 partition (automatic)", fo, from, Date.now());
      const switched = fo.status!.steps!.find((s) => s.name === "Switch")!;
      say(
        `partition: cut at +0 ms, automatic Failover created +${Date.parse(fo.metadata.creationTimestamp ?? "") - cutAt} ms, switch +${Date.parse(switched.startTime!) - cutAt} ms`,
      );
    } finally {
      say("healing the partition");
      dc3Api!.heal();
      shaRouting!.heal();
    }
    await eventually(
      "zone sh-a Ready again",
      () => (op.context.ldc.zones.store.get("sh-a") as Zone | undefined)?.status?.phase === "Ready",
      120_000,
      500,
    );
    await checkConverged();
    checkInvariants();
  }, 300_000);
});
