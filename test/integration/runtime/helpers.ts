// Shared helpers of the runtime's integration tests.
import { readFileSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import type { Datacenter } from "../harness.ts";
import { KubeClient, type ClientOptions } from "../../../src/runtime/client.ts";
import { metricsRegistry } from "../../../src/runtime/metrics.ts";

export async function clientFor(dc: Datacenter, opts: ClientOptions = {}): Promise<KubeClient> {
  return KubeClient.fromKubeConfig(dc.kubeConfig, opts);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function until<T>(
  what: string,
  fn: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 30_000,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ""}`);
}

/** Value of one counter series from the runtime registry (0 when absent). */
export async function counterValue(name: string, labels: Record<string, string>): Promise<number> {
  const metric = (await metricsRegistry.getMetricsAsJSON()).find((m) => m.name === name);
  const series = metric?.values.find((v) => Object.entries(labels).every(([k, val]) => String(v.labels[k]) === val));
  return series ? Number(series.value) : 0;
}

/**
 * A TCP proxy in front of an API server, whose connections a test can cut
 * (a network failure between the operator and the API server).
 */
export class CuttableProxy {
  readonly #target: URL;
  readonly #sockets = new Set<net.Socket>();
  #server: net.Server | undefined;
  #blocked = false;
  port = 0;

  constructor(server: string) {
    this.#target = new URL(server);
  }

  async start(): Promise<void> {
    this.#server = net.createServer((client) => {
      if (this.#blocked) {
        client.destroy();
        return;
      }
      const upstream = net.connect(Number(this.#target.port), this.#target.hostname);
      for (const s of [client, upstream]) {
        this.#sockets.add(s);
        s.on("close", () => this.#sockets.delete(s));
        s.on("error", () => undefined);
      }
      client.pipe(upstream).pipe(client);
      client.on("close", () => upstream.destroy());
      upstream.on("close", () => client.destroy());
    });
    await new Promise<void>((r) => this.#server!.listen(this.port, "127.0.0.1", r));
    this.port = (this.#server.address() as net.AddressInfo).port;
  }

  /** Drop every open connection; with block, refuse new ones until unblock(). */
  cut(block = false): void {
    this.#blocked = block;
    for (const s of this.#sockets) s.destroy();
  }

  unblock(): void {
    this.#blocked = false;
  }

  async stop(): Promise<void> {
    this.cut(true);
    await new Promise<void>((r) => (this.#server ? this.#server.close(() => r()) : r()));
  }

  /** The datacenter's kubeconfig, pointed at this proxy. */
  kubeConfig(kc: KubeConfig): KubeConfig {
    const out = new KubeConfig();
    out.loadFromOptions({
      clusters: kc.clusters.map((c) => ({ ...c, server: `https://127.0.0.1:${this.port}` })),
      users: kc.users,
      contexts: kc.contexts,
      currentContext: kc.currentContext,
    });
    return out;
  }
}

/**
 * Compact etcd at its current revision (what kube-apiserver does every 5
 * minutes), so older resourceVersions are expired and watches from them get
 * 410 Gone. Needs the etcd endpoint, found in the local control plane's
 * state.json next to the kubeconfigs; returns false when it is not there
 * (an external cluster), and the caller skips.
 */
export async function compactEtcd(dc: Datacenter): Promise<boolean> {
  const stateFile = path.join(path.dirname(dc.kubeconfigPath), "..", "state.json");
  let port: number | undefined;
  try {
    const state = JSON.parse(readFileSync(stateFile, "utf8")) as {
      datacenters: { kubeconfigPath: string; ports: { etcdClient: number } }[];
    };
    port = state.datacenters.find((d) => path.resolve(d.kubeconfigPath) === path.resolve(dc.kubeconfigPath))?.ports
      .etcdClient;
  } catch {
    return false;
  }
  if (!port) return false;
  const base = `http://127.0.0.1:${port}/v3/kv`;
  const range = (await (
    await fetch(`${base}/range`, { method: "POST", body: JSON.stringify({ key: "AA==", limit: 1, keys_only: true }) })
  ).json()) as {
    header: { revision: string };
  };
  const res = await fetch(`${base}/compaction`, {
    method: "POST",
    body: JSON.stringify({ revision: range.header.revision, physical: true }),
  });
  return res.ok;
}
