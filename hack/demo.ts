// The local multi-datacenter demo (`npm run demo`): three datacenters, the
// CRDs and the examples applied, the operator running, and each cell's apps
// becoming Ready in their zones.
//   dc1 = zone hz-a (the operator's own cluster), dc2 = hz-b, dc3 = sh-a
//   (member clusters, connected by kubeconfig Secrets in ldc-system).
// Options: --keep-running (leave the operator running until Ctrl-C).
import path from "node:path";
import { parseArgs } from "node:util";
import { startOperator } from "../src/operator.ts";
import { DEFAULT_STATE_DIR, up } from "./lib/controlplane.ts";
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
  const operator = await startOperator({
    kubeconfigPath: dc1.kubeconfigPath,
    namespace: OPERATOR_NAMESPACE,
    httpHost: "127.0.0.1",
    httpPort: 0,
    leaderElection: false,
    logLevel: process.env.LDC_LOG_LEVEL ?? "warn",
    sidecarImage: "ldc-operator/sidecar:demo",
  });
  say(`operator running: http://127.0.0.1:${operator.port}/readyz and /metrics`);

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
  const kubeconfigs = state.datacenters
    .map((d) => `  ${d.name} (${d.zone}): KUBECONFIG=${path.relative(REPO_DIR, d.kubeconfigPath)}`)
    .join("\n");
  say(`explore with kubectl (npm run cluster -- env puts the pinned kubectl on PATH):\n${kubeconfigs}`);

  if (values["keep-running"]) {
    say("the operator keeps running; Ctrl-C stops it (the datacenters stay up: npm run cluster -- down)");
    await new Promise<void>((resolve) => process.once("SIGINT", () => resolve()));
  }
  await operator.stop();
  say("operator stopped; the datacenters stay up (npm run cluster -- down removes them)");
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`demo: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
