// Failover RTO and push latency through the per-zone relays, on the path the
// chart installs (issue 12 item 6): the operator as its own process with
// --relay (hack/lib/operator-process.ts), an ldc-relay process in every zone's
// cluster with the chart's relay permissions (hack/lib/relay-process.ts),
// the sidecars of the deployed (kwok) pods run from their pods' env against
// their zone's relay and acking with pod-bound tokens (hack/lib/pod-sidecars.ts).
//
//   node_modules/.bin/node bench/relay-push.ts [--runs 7] [--replicas 2]
//
// Three private datacenters (.ldc/bench-relay-push-<pid>, removed at the end):
// 10 Regional cells active in hz-a with standby zone hz-b, a rule of 100
// shards, one CellApp (`replicas`, warm standby of as many), so
// 10 x 2 x replicas deployed sidecars, all relayed, all acking, all waited
// for by the barrier. `runs` Emergency Failovers alternate hz-a <-> hz-b
// (target.zone, writeFreeze 0s): status.rtoMilliseconds (decision -> every
// deployed sidecar acked the switch epoch, acks through the relays'
// ConfigMaps) p50/p90/max.
// Push: a reference sidecar long-polls the operator's own routing API. For
// every epoch the failovers publish: from the reference taking it (the
// operator serves it) to every deployed sidecar holding it (operator ->
// ConfigMap in each zone's API server -> relay watch -> long-poll),
// p50/p99/max. One JSON line on stdout; nothing asserted. `npm run bench -- relay`
// runs it alone.
import { writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawnOperator, type OperatorProcess } from "../hack/lib/operator-process.ts";
import { PodSidecars, podBoundTokenFiles } from "../hack/lib/pod-sidecars.ts";
import { relayIdentity, spawnRelay, type RelayProcess } from "../hack/lib/relay-process.ts";
import type { ClusterState } from "../hack/lib/controlplane.ts";
import type { Failover } from "../src/api/index.ts";
import { LdcResources } from "../src/ldc-resources.ts";
import { KubeClient, connectionFromFile } from "../src/runtime/index.ts";
import { sidecarConfig, startSidecar } from "../src/sidecar/index.ts";
import {
  clientFor,
  ensureNamespace,
  freePort,
  log,
  numArg,
  percentile,
  round,
  sleep,
  runBench,
  RULE,
} from "./lib/common.ts";
import {
  OPERATOR_NAMESPACE,
  REGION_OF_ZONE,
  TERMINAL,
  ZONE_OF_DC,
  applyAll,
  benchApp,
  benchRule,
  createFailover,
  dcOf,
  deployments,
  dist,
  loadavg,
  prepareHome,
  withDatacenters,
  zoneObject,
  ROUTING_TOKEN,
} from "./lib/failover.ts";

const NAME = "relay-push";
const APP_NS = "bench";
const CELLS = 10;
const SHARDS = 100;
const A = "hz-a";
const B = "hz-b";
const cellName = (i: number) => `rz${String(i).padStart(2, "0")}`;

async function setup(state: ClusterState, replicas: number): Promise<void> {
  const admin = await prepareHome(state);
  try {
    await ensureNamespace(admin, APP_NS);
    const cells = Array.from({ length: CELLS }, (_, i) => ({
      apiVersion: "ldc.io/v1alpha1",
      kind: "Cell",
      metadata: { name: cellName(i) },
      spec: { type: "Regional", zone: A, standbyZones: [B] },
    }));
    await applyAll(admin, [
      zoneObject(A, { region: "hangzhou" }),
      zoneObject(B, { region: "hangzhou", member: true }),
      zoneObject("sh-a", { region: "shanghai", member: true }),
    ]);
    await applyAll(admin, cells);
    const app = benchApp(APP_NS, RULE) as { spec: Record<string, unknown> };
    app.spec.replicas = replicas;
    app.spec.standbyReplicas = replicas;
    // Here the deployed pods' own sidecars are the ones measured.
    app.spec.sidecar = { enabled: true };
    await applyAll(admin, [
      benchRule(
        RULE,
        SHARDS,
        cells.map((c) => c.metadata.name),
      ),
      app as never,
    ]);
    log(`created 3 Zones, ${CELLS} Cells, 1 ShardingRule (${SHARDS} shards), 1 CellApp`);
  } finally {
    admin.close();
  }
}

/** The relays: the chart's identity in every zone's cluster, one process each. */
async function startRelays(state: ClusterState): Promise<Map<string, RelayProcess>> {
  const relays = new Map<string, RelayProcess>();
  for (const [dc, zone] of Object.entries(ZONE_OF_DC)) {
    const d = dcOf(state, dc);
    const admin = await clientFor(d.kubeconfigPath, { qps: 0 });
    try {
      const kubeconfigPath = await relayIdentity(admin, {
        adminKubeconfigPath: d.kubeconfigPath,
        namespace: OPERATOR_NAMESPACE,
        out: path.join(state.stateDir, `${dc}-relay.kubeconfig`),
      });
      relays.set(
        zone,
        await spawnRelay({
          kubeconfigPath,
          namespace: OPERATOR_NAMESPACE,
          port: await freePort(),
          pod: `ldc-relay-${zone}`,
          logLevel: "error",
        }),
      );
    } finally {
      admin.close();
    }
  }
  return relays;
}

/** Served table epoch of the operator's routing API (undefined: none yet). */
async function servedEpoch(url: string): Promise<number | undefined> {
  try {
    const res = await fetch(`${url}/v1/rules/${RULE}/table`, { headers: { authorization: `Bearer ${ROUTING_TOKEN}` } });
    await res.arrayBuffer();
    return res.ok ? Number(res.headers.get("x-ldc-epoch")) : undefined;
  } catch {
    return undefined;
  }
}

async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}`);
    await sleep(50);
  }
}

async function main(): Promise<unknown> {
  const runs = numArg("--runs", 7);
  const replicas = numArg("--replicas", 2);
  const loadBefore = loadavg();
  const report = await withDatacenters(NAME, 3, async (state) => {
    await setup(state, replicas);
    const relays = await startRelays(state);
    log(`relays: ${[...relays].map(([z, r]) => `${z} ${r.url}`).join(", ")}`);
    const port = await freePort();
    const tokenFile = path.join(state.stateDir, "routing-tokens");
    writeFileSync(tokenFile, `${ROUTING_TOKEN}\n`);
    let op: OperatorProcess | undefined;
    let pods: PodSidecars | undefined;
    let reference: Awaited<ReturnType<typeof startSidecar>> | undefined;
    const home = await KubeClient.fromConnection(connectionFromFile(dcOf(state, "dc1").kubeconfigPath));
    try {
      op = await spawnOperator({
        kubeconfigPath: dcOf(state, "dc1").kubeconfigPath,
        namespace: OPERATOR_NAMESPACE,
        port,
        sidecarImage: "registry.example.com/ldc/ldc-sidecar:bench",
        logLevel: "error",
        relay: true,
        routingTokenFile: tokenFile,
      });
      const clusters = await Promise.all(
        Object.keys(ZONE_OF_DC).map(async (name) => ({
          name,
          client: await KubeClient.fromConnection(connectionFromFile(dcOf(state, name).kubeconfigPath)),
        })),
      );
      // Push: epoch -> pod -> when its sidecar took it; the reference: the operator's own routing API.
      const took = new Map<number, Map<string, number>>();
      const served = new Map<number, number>();
      pods = await PodSidecars.start({
        clusters,
        routingApiFor: ({ zone }) => relays.get(zone)!.url,
        tokenFileFor: podBoundTokenFiles({
          dir: path.join(state.stateDir, "pod-tokens"),
          kubeconfigFor: (c) => dcOf(state, c).kubeconfigPath,
        }),
        env: { LDC_ACK_INTERVAL_SECONDS: "1", LDC_SHUTDOWN_GRACE_SECONDS: "1" },
        onTable: (t, p) => {
          const m = took.get(t.epoch) ?? new Map<string, number>();
          if (!m.has(p.id)) m.set(p.id, Date.now());
          took.set(t.epoch, m);
        },
        log,
      });
      reference = await startSidecar(
        sidecarConfig({
          appUrl: "http://127.0.0.1:9",
          rule: RULE,
          cell: cellName(0),
          zone: A,
          region: REGION_OF_ZONE[A]!,
          routingApi: op.url,
          routingToken: ROUTING_TOKEN,
          sidecarId: "push-reference",
          ackIntervalSeconds: 3600,
          shutdownGraceSeconds: 1,
        }),
        { backoffMinMs: 50, backoffMaxMs: 1000, onTableSwap: (t) => served.set(t.epoch, Date.now()) },
      );
      const expected = CELLS * 2 * replicas;

      const settle = async () => {
        await waitFor(
          "the app's Deployments Ready in hz-a and hz-b",
          async () => {
            for (const dc of ["dc1", "dc2"] as const) {
              const deps = await deployments(dcOf(state, dc), APP_NS);
              if (deps.length < CELLS || !deps.every((d) => (d.status?.readyReplicas ?? 0) >= (d.spec?.replicas ?? 1)))
                return false;
            }
            return true;
          },
          180_000,
        );
        await waitFor(
          "every sidecar (deployed and push) on the served epoch",
          async () => {
            const e = await servedEpoch(op!.url);
            return (
              e !== undefined &&
              pods!.running().length >= expected &&
              pods!.running().every((p) => p.sidecar.currentEpoch() === e) &&
              reference!.currentEpoch() === e
            );
          },
          120_000,
        );
        await sleep(2000); // the acks of that epoch reach the relays' ConfigMaps and the operator
      };
      log("waiting for the topology to settle");
      await settle();
      const results: { name: string; from: string; to: string; phase: string; rtoMs: number; message: string }[] = [];
      let at = A;
      const firstFailoverAt = Date.now();
      for (let i = 0; i < runs; i++) {
        const name = `relay-rto-${i}`;
        await createFailover(dcOf(state, "dc1"), name, { type: "Emergency", target: { zone: at }, writeFreeze: "0s" });
        let fo: Failover | undefined;
        await waitFor(
          `Failover ${name} to finish`,
          async () => {
            fo = (await home.tryGet(LdcResources.Failover, name)) as Failover | undefined;
            return TERMINAL.has(fo?.status?.phase ?? "");
          },
          180_000,
        );
        const st = fo!.status!;
        const r = {
          name,
          from: at,
          to: st.cells?.[0]?.to ?? "?",
          phase: st.phase ?? "?",
          rtoMs: st.rtoMilliseconds ?? NaN,
          message: st.message ?? "",
        };
        results.push(r);
        log(
          `${name}: ${r.from} -> ${r.to} ${r.phase}, RTO ${r.rtoMs} ms${r.phase === "Succeeded" ? "" : `: ${r.message}`}`,
        );
        if (r.phase === "Succeeded") at = r.to;
        await settle();
      }
      // Push delays of the epochs the failovers published that the reference and every deployed sidecar took.
      const push: number[] = [];
      for (const [epoch, t0] of served) {
        if (t0 < firstFailoverAt) continue;
        const m = took.get(epoch);
        if (m && m.size >= expected) push.push(Math.max(...m.values()) - t0);
      }
      push.sort((a, b) => a - b);
      const ok = results.filter((r) => r.phase === "Succeeded");
      const rto = dist(ok.map((r) => r.rtoMs));
      return {
        bench: NAME,
        node: process.version,
        cpus: os.cpus().length,
        loadavg: { before: loadBefore, after: loadavg() },
        topology: {
          datacenters: 3,
          cells: CELLS,
          shards: SHARDS,
          deployedSidecars: pods.running().length,
          replicas: `${replicas} per cell, warm standby ${replicas}`,
          operator: "its own process, --relay",
          relays: "one process per zone, the chart's relay Role behind a ServiceAccount token",
          failover: "Emergency, target.zone, writeFreeze 0s, alternating hz-a <-> hz-b",
        },
        summary: {
          rtoP50Ms: rto.p50,
          rtoP90Ms: rto.p90,
          rtoMaxMs: rto.max,
          succeeded: ok.length,
          runs: results.length,
          pushEpochs: push.length,
          pushP50Ms: push.length ? percentile(push, 50) : NaN,
          pushP99Ms: push.length ? percentile(push, 99) : NaN,
          pushMaxMs: push.length ? push[push.length - 1] : NaN,
        },
        rtoMs: rto,
        pushMs: push.map((x) => round(x, 0)),
        perRun: results,
      };
    } finally {
      await reference?.close();
      await pods?.stop();
      await op?.stop();
      for (const r of relays.values()) await r.stop();
      home.close();
    }
  });
  return report;
}

runBench(main);
