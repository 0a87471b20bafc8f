// The local multi-datacenter demo (`npm run demo`): three datacenters, the
// CRDs and the examples applied, the operator running, each cell's apps
// becoming Ready in their zones, then the examples' drill of hz-a followed
// step by step under traffic: every kwok pod's sidecar runs for real
// (hack/lib/pod-sidecars.ts) and a small load of reads and writes goes
// through them, so the freeze (503s) and the switch show in the counts.
//   dc1 = zone hz-a (the operator's own cluster), dc2 = hz-b, dc3 = sh-a
//   (member clusters, connected by kubeconfig Secrets in ldc-system).
// Options: --keep-running (leave the operator running until Ctrl-C).
import path from "node:path";
import { parseArgs } from "node:util";
import type { Failover } from "../src/api/index.ts";
import { startOperator } from "../src/operator.ts";
import { KubeClient, connectionFromFile } from "../src/runtime/index.ts";
import { PodSidecars } from "./lib/pod-sidecars.ts";
import { DEFAULT_STATE_DIR, up } from "./lib/controlplane.ts";
import { freePort } from "./lib/ports.ts";
import { OPERATOR_NAMESPACE, installExamples, kubectl } from "./lib/examples.ts";
import { REPO_DIR } from "./lib/tools.ts";

const t0 = Date.now();
const say = (m: string) => process.stderr.write(`[demo ${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s] ${m}\n`);

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { "keep-running": { type: "boolean", default: false } } });
  say("starting 3 datacenters (reused when already up)");
  const state = await up({ stateDir: DEFAULT_STATE_DIR, datacenters: 3 });
  const [dc1, dc2, dc3] = state.datacenters as [
    (typeof state.datacenters)[0],
    (typeof state.datacenters)[0],
    (typeof state.datacenters)[0],
  ];

  installExamples(state, { log: say });

  say("starting the operator");
  // Every zone's sidecars reach its routing API (here: 127.0.0.1), so they hold routing leases and acknowledge.
  const port = await freePort();
  const routingApi = `http://127.0.0.1:${port}`;
  const operator = await startOperator({
    kubeconfigPath: dc1.kubeconfigPath,
    namespace: OPERATOR_NAMESPACE,
    httpHost: "127.0.0.1",
    httpPort: port,
    leaderElection: false,
    logLevel: process.env.LDC_LOG_LEVEL ?? "warn",
    sidecarImage: "ldc-operator/sidecar:demo",
    routingTokens: [DEMO_TOKEN],
    routingApiUrl: routingApi,
    memberRoutingApiUrl: routingApi,
  });
  say(`operator running: ${routingApi}/readyz and /metrics`);
  // kwok runs no containers: the sidecar of every pod that has one runs here, from the pod's own env.
  const sidecars = await PodSidecars.start({
    clusters: await Promise.all(
      [dc1, dc2, dc3].map(async (d) => ({
        name: d.name,
        client: await KubeClient.fromConnection(connectionFromFile(d.kubeconfigPath)),
      })),
    ),
    routingApiFor: () => routingApi,
    token: DEMO_TOKEN,
    env: { LDC_ACK_INTERVAL_SECONDS: "2" },
    log: say,
  });

  const deadline = Date.now() + 180_000;
  let last = "";
  for (;;) {
    const apps = JSON.parse(kubectl(dc1.kubeconfigPath, ["get", "cellapps", "-A", "-o", "json"])) as {
      items: {
        metadata: { namespace: string; name: string };
        status?: {
          readyCells?: number;
          totalCells?: number;
          cells?: { cell: string; zone: string; readyReplicas: number; desiredReplicas: number }[];
        };
      }[];
    };
    const lines = apps.items.map((a) => {
      const cells = (a.status?.cells ?? [])
        .map((c) => `${c.cell}@${c.zone} ${c.readyReplicas}/${c.desiredReplicas}`)
        .join("  ");
      return `  ${a.metadata.namespace}/${a.metadata.name}: ${a.status?.readyCells ?? 0}/${a.status?.totalCells ?? "?"} cells ready  ${cells}`;
    });
    const text = lines.join("\n");
    if (text !== last) {
      say(`apps:\n${text}`);
      last = text;
    }
    const done =
      apps.items.length > 0 &&
      apps.items.every((a) => a.status?.totalCells && a.status.readyCells === a.status.totalCells);
    if (done) break;
    if (Date.now() > deadline) {
      await operator.stop();
      throw new Error(
        "the apps did not become Ready within 180 s; look at `kubectl get ldc` and the operator's logs (LDC_LOG_LEVEL=info npm run demo)",
      );
    }
    await new Promise((r) => setTimeout(r, 1000));
  }

  say("every cell's apps are Ready in their zones:");
  process.stdout.write(kubectl(dc1.kubeconfigPath, ["get", "ldc"]) + "\n");
  for (const dc of [dc1, dc2, dc3]) {
    process.stdout.write(`--- ${dc.name} (${dc.zone}): Deployments in namespace payments\n`);
    process.stdout.write(
      kubectl(dc.kubeconfigPath, ["get", "deployments", "-n", "payments", "-L", "ldc.io/cell,ldc.io/role"]) + "\n",
    );
  }
  await followDrill(dc1.kubeconfigPath, sidecars, say);

  const kubeconfigs = state.datacenters
    .map((d) => `  ${d.name} (${d.zone}): KUBECONFIG=${path.relative(REPO_DIR, d.kubeconfigPath)}`)
    .join("\n");
  say(`explore with kubectl (npm run cluster -- env puts the pinned kubectl on PATH):\n${kubeconfigs}`);

  if (values["keep-running"]) {
    say("the operator keeps running; Ctrl-C stops it (the datacenters stay up: npm run cluster -- down)");
    await new Promise<void>((resolve) => process.once("SIGINT", () => resolve()));
  }
  await sidecars.stop();
  await operator.stop();
  say("operator stopped; the datacenters stay up (npm run cluster -- down removes them)");
}

const DEMO_TOKEN = "demo-routing-token";
const DRILL = "drill-hz-a-2026-11-21";

/**
 * Follows the examples' drill of hz-a until its switch is acknowledged (the
 * drill then waits `drill.duration` before failing back), printing each step
 * with what the load saw meanwhile: 200s, writes refused while frozen, other.
 */
async function followDrill(kubeconfig: string, sidecars: PodSidecars, say: (m: string) => void): Promise<void> {
  say(`following the examples' drill ${DRILL} (hz-a -> hz-b) under a small load through the pods' sidecars`);
  const counts = new Map<string, number>();
  let stop = false;
  // Four clients, each one request at a time, spread over the Regional cells' sidecars.
  const client = async (n: number) => {
    for (let i = n; !stop; i += 4) {
      const targets = sidecars.running().filter((p) => p.config.cellType === "Regional");
      const t = targets[i % Math.max(1, targets.length)];
      if (t) {
        const uid = String(10_000_000 + Math.floor(Math.random() * 90_000_000));
        const method = i % 2 ? "POST" : "GET";
        const outcome = await fetch(`${t.sidecar.url}/pay`, {
          method,
          headers: { "x-user-id": uid },
          signal: AbortSignal.timeout(5000),
        }).then(
          async (r) => {
            const body = await r.text();
            return r.status === 503 && /frozen/.test(body) ? `${method} 503 frozen` : `${method} ${r.status}`;
          },
          () => "error",
        );
        counts.set(outcome, (counts.get(outcome) ?? 0) + 1);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const load = Promise.all([0, 1, 2, 3].map(client));
  const tally = () => {
    const text = [...counts].map(([k, v]) => `${k}: ${v}`).join(", ") || "none yet";
    counts.clear();
    return text;
  };
  const deadline = Date.now() + 300_000;
  let seen = "";
  try {
    for (;;) {
      const fo = JSON.parse(kubectl(kubeconfig, ["get", "failover", DRILL, "-o", "json"])) as Failover;
      const st = fo.status ?? {};
      const where = `${st.phase ?? "Pending"} ${st.step ?? ""}`.trim();
      if (where !== seen) {
        say(`  ${where}: ${st.message ?? ""}  [requests since the last line: ${tally()}]`);
        seen = where;
      }
      const finished = ["Succeeded", "Failed", "RolledBack", "Aborted"].includes(st.phase ?? "");
      if (finished || st.step === "DrillWait") {
        if (st.rtoMilliseconds !== undefined)
          say(`  switched: RTO ${st.rtoMilliseconds} ms, writes frozen ${st.freezeMilliseconds ?? "?"} ms`);
        if (!finished)
          say(
            `  the drill fails back by itself after its drill.duration; watch it: kubectl ldc drill status ${DRILL} -w`,
          );
        break;
      }
      if (Date.now() > deadline) {
        say(`  the drill is still at ${where} after 300 s: see kubectl ldc drill status ${DRILL}`);
        break;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  } finally {
    stop = true;
    await load;
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`demo: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
