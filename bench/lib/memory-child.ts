// The measured process of bench/operator-memory.ts. Imports the controller
// runtime only (what the operator's process holds besides its caches), then:
//
//   --mode baseline        connects (GET /version) and idles
//   --mode informer        the operator's Deployment informer (src/controllers/cellapp.ts
//                          workloadInformers): every namespace, label selector
//                          app.kubernetes.io/managed-by=ldc-operator, objects cached as received
//   --mode informer-strip  the same with transform: stripManagedFields
//
// After sync (and a settle period), runs the GC (needs --expose-gc) and prints
// one JSON line: RSS, heap, objects cached.
import {
  Informer,
  KubeClient,
  Resources,
  connectionFromFile,
  stripManagedFields,
  type KubeObject,
} from "../../src/runtime/index.ts";

const MB = 1024 * 1024;

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const mode = arg("--mode") ?? "baseline";
  const kubeconfig = arg("--kubeconfig");
  const settleMs = Number(arg("--settle-ms") ?? 3000);
  if (!kubeconfig) throw new Error("--kubeconfig is required");
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error("run with --expose-gc");

  // The operator's own kubeconfig loader (no @kubernetes/client-node: ~80 MB less).
  const client = await KubeClient.fromConnection(connectionFromFile(kubeconfig), { qps: 50, burst: 100 });
  const t0 = performance.now();
  let objects = 0;
  let informer: Informer | undefined;
  if (mode === "baseline") {
    const r = await client.raw("GET", "/version");
    if (r.status !== 200) throw new Error(`GET /version: ${r.status}`);
  } else {
    informer = new Informer<KubeObject>(client, Resources.Deployment, {
      labelSelector: "app.kubernetes.io/managed-by=ldc-operator",
      ...(mode === "informer-strip" ? { transform: stripManagedFields } : {}),
    });
    informer.start();
    if (!(await informer.waitForSync(300_000))) throw new Error("informer did not sync in 300s");
    objects = informer.store.size;
  }
  const syncMs = performance.now() - t0;
  const peakRssMB = process.resourceUsage().maxRSS / 1024;
  await new Promise((r) => setTimeout(r, settleMs));
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((r) => setImmediate(r));
  }
  const m = process.memoryUsage();
  process.stdout.write(
    `${JSON.stringify({
      mode,
      objects: informer ? informer.store.size : objects,
      syncMs: Math.round(syncMs),
      rssMB: Number((m.rss / MB).toFixed(1)),
      heapUsedMB: Number((m.heapUsed / MB).toFixed(1)),
      heapTotalMB: Number((m.heapTotal / MB).toFixed(1)),
      externalMB: Number(((m.external + m.arrayBuffers) / MB).toFixed(1)),
      peakRssMB: Number(peakRssMB.toFixed(1)),
    })}\n`,
  );
  await informer?.stop();
  client.close();
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`memory-child: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
