// The sidecar containers of kwok pods, run for real. kwok fakes every
// container; the operator's Failover barrier waits for every sidecar it
// deployed (every Running pod with an ldc-sidecar container) to acknowledge,
// so local clusters need those sidecars to exist. This runner lists such pods
// in each cluster and runs one in-process ldc-sidecar per pod, configured from
// the pod's own sidecar container env (what the operator injected: rule,
// cell, zone, id from the downward API), with what a local process must
// replace: its listen address, the app, the routing API (the in-cluster
// Service does not resolve here), the token and the peers. Pods that stop
// running lose their sidecar. With relays, podBoundTokenFiles() stands in for
// the kubelet's projected token: a token bound to the pod, audience ldc-relay.
import { once } from "node:events";
import { mkdirSync, writeFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { SIDECAR_POD_SELECTOR } from "../../src/controllers/sidecar-pods.ts";
import { RELAY_AUDIENCE, SIDECAR_CONTAINER } from "../../src/reconcilers/sidecar.ts";
import type { RoutingTable } from "../../src/routing/index.ts";
import { Resources, type KubeClient, type KubeObject } from "../../src/runtime/index.ts";
import {
  parseConfig,
  startSidecar,
  targetOf,
  type Sidecar,
  type SidecarConfig,
  type Target,
} from "../../src/sidecar/index.ts";

type EnvVar = {
  name: string;
  value?: string;
  valueFrom?: { fieldRef?: { fieldPath?: string }; secretKeyRef?: unknown };
};
type Pod = KubeObject & {
  spec?: {
    serviceAccountName?: string;
    containers?: { name: string; env?: EnvVar[] }[];
    initContainers?: { name: string; env?: EnvVar[] }[];
  };
  status?: { phase?: string };
};

/** A pod whose sidecar runs here. */
export interface PodSidecar {
  /** "<namespace>/<pod>" (the sidecar's id in acks). */
  id: string;
  cluster: string;
  config: SidecarConfig;
  sidecar: Sidecar;
}

export interface PodSidecarsOptions {
  /** The clusters whose pods to run sidecars for (name: for logs and hooks). */
  clusters: readonly { name: string; client: KubeClient }[];
  /** The routing API (or relay) URL this pod's sidecar reaches. */
  routingApiFor: (pod: { cluster: string; zone: string; cell: string; id: string }) => string;
  /** The bearer token the sidecar sends (LDC_ROUTING_TOKEN). */
  token?: string;
  /**
   * The file of this pod's token (LDC_ROUTING_TOKEN_FILE, re-read by the
   * sidecar before each ack), e.g. podBoundTokenFiles(); wins over `token`.
   */
  tokenFileFor?: (pod: PodIdentity) => Promise<string>;
  /** The app behind the sidecar (default: one 200 "ok" server shared by every pod). */
  appUrlFor?: (pod: { zone: string; cell: string; id: string }) => Promise<string>;
  /** LDC_PEERS of every sidecar (default: a cell@zone is any of its sidecars running here, in turn). */
  peers?: () => Record<string, string>;
  /** Extra env (e.g. LDC_ACK_INTERVAL_SECONDS). */
  env?: Record<string, string>;
  onTable?: (table: RoutingTable, pod: PodSidecar) => void;
  onStart?: (pod: PodSidecar) => void;
  onStop?: (pod: PodSidecar) => void;
  /** Period of listing the pods (ms). Default 300. */
  intervalMs?: number;
  log?: (m: string) => void;
}

/** The pod a sidecar runs for, as a token request names it. */
export interface PodIdentity {
  cluster: string;
  namespace: string;
  name: string;
  uid: string;
  /** spec.serviceAccountName (default "default"). */
  serviceAccount: string;
}

/**
 * tokenFileFor as the kubelet projects the token the operator asks for when
 * relays are on: a TokenRequest on the pod's ServiceAccount, bound to the pod
 * (name and uid), audience ldc-relay, written to `<dir>/<cluster>/<ns>/<pod>`.
 */
export function podBoundTokenFiles(o: {
  dir: string;
  /** A kubeconfig of `cluster` allowed to create serviceaccounts/token. */
  kubeconfigFor: (cluster: string) => string;
  audience?: string;
  expirationSeconds?: number;
}): (pod: PodIdentity) => Promise<string> {
  const apis = new Map<string, CoreV1Api>();
  return async (pod) => {
    let api = apis.get(pod.cluster);
    if (!api) {
      const kc = new KubeConfig();
      kc.loadFromFile(o.kubeconfigFor(pod.cluster));
      api = kc.makeApiClient(CoreV1Api);
      apis.set(pod.cluster, api);
    }
    const r = await api.createNamespacedServiceAccountToken({
      name: pod.serviceAccount,
      namespace: pod.namespace,
      body: {
        spec: {
          audiences: [o.audience ?? RELAY_AUDIENCE],
          expirationSeconds: o.expirationSeconds ?? 24 * 3600,
          boundObjectRef: { apiVersion: "v1", kind: "Pod", name: pod.name, uid: pod.uid },
        },
      },
    });
    const file = path.join(o.dir, pod.cluster, pod.namespace, pod.name);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, `${r.status!.token!}\n`, { mode: 0o600 });
    return file;
  };
}

function sidecarContainer(pod: Pod) {
  return [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])].find(
    (c) => c.name === SIDECAR_CONTAINER,
  );
}

export class PodSidecars {
  readonly #o: PodSidecarsOptions;
  readonly #running = new Map<string, PodSidecar>();
  readonly #starting = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #app: http.Server | undefined;
  #appUrl: string | undefined;
  #paused = new Set<string>();
  #turn = 0;

  private constructor(o: PodSidecarsOptions) {
    this.#o = o;
  }

  static async start(o: PodSidecarsOptions): Promise<PodSidecars> {
    const r = new PodSidecars(o);
    await r.sync();
    r.#schedule();
    return r;
  }

  /** The sidecars running now. */
  running(): PodSidecar[] {
    return [...this.#running.values()];
  }

  /** A datacenter's pods are gone (its machines lost): stop its sidecars and start none there until resume. */
  async pause(cluster: string): Promise<void> {
    this.#paused.add(cluster);
    await Promise.all(
      this.running()
        .filter((p) => p.cluster === cluster)
        .map((p) => this.#stop(p)),
    );
  }

  resume(cluster: string): void {
    this.#paused.delete(cluster);
  }

  /** One pass: start a sidecar for every running pod without one, stop those whose pod is gone. */
  async sync(): Promise<void> {
    const want = new Map<
      string,
      { cluster: string; pod: Pod; container: NonNullable<ReturnType<typeof sidecarContainer>> }
    >();
    const listed = new Set<string>();
    await Promise.all(
      this.#o.clusters.map(async (c) => {
        if (this.#paused.has(c.name)) return;
        let pods: Pod[];
        try {
          pods = (await c.client.list<Pod>(Resources.Pod, { labelSelector: SIDECAR_POD_SELECTOR })).items;
        } catch {
          return; // unreachable: keep what runs there (a partition does not kill pods)
        }
        listed.add(c.name);
        for (const pod of pods) {
          const container = sidecarContainer(pod);
          const md = pod.metadata ?? {};
          if (!container || pod.status?.phase !== "Running" || md.deletionTimestamp) continue;
          want.set(`${c.name}/${md.namespace}/${md.name}`, { cluster: c.name, pod, container });
        }
      }),
    );
    const stops = this.running().filter((p) => listed.has(p.cluster) && !want.has(`${p.cluster}/${p.id}`));
    await Promise.all(stops.map((p) => this.#stop(p)));
    await Promise.all(
      [...want]
        .filter(([k]) => !this.#running.has(k) && !this.#starting.has(k))
        .map(([k, w]) => this.#start(k, w.cluster, w.pod, w.container.env ?? [])),
    );
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    await Promise.all(this.running().map((p) => this.#stop(p)));
    if (this.#app) {
      this.#app.closeAllConnections();
      this.#app.close();
    }
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.sync()
        .catch((e: unknown) => this.#o.log?.(`pod sidecars: ${String(e)}`))
        .finally(() => this.#schedule());
    }, this.#o.intervalMs ?? 300);
    this.#timer.unref();
  }

  async #defaultApp(): Promise<string> {
    if (this.#appUrl) return this.#appUrl;
    const app = http.createServer((_req, res) => res.end("ok"));
    app.listen(0, "127.0.0.1");
    await once(app, "listening");
    this.#app = app;
    this.#appUrl = `http://127.0.0.1:${(app.address() as AddressInfo).port}`;
    return this.#appUrl;
  }

  async #start(key: string, cluster: string, pod: Pod, containerEnv: readonly EnvVar[]): Promise<void> {
    this.#starting.add(key);
    try {
      const md = pod.metadata ?? {};
      const env: Record<string, string> = {};
      for (const e of containerEnv) {
        const field = e.valueFrom?.fieldRef?.fieldPath;
        if (e.value !== undefined) env[e.name] = e.value;
        else if (field === "metadata.name") env[e.name] = md.name ?? "";
        else if (field === "metadata.namespace") env[e.name] = md.namespace ?? "";
      }
      const zone = env.LDC_ZONE ?? "";
      const cell = env.LDC_CELL ?? "";
      const id = `${md.namespace}/${md.name}`;
      // What a local process replaces: no volume, no in-cluster DNS, no Secret mount.
      delete env.LDC_TABLE_FILE;
      delete env.LDC_ROUTING_TOKEN_FILE;
      env.LDC_LISTEN = "127.0.0.1:0";
      env.LDC_ADMIN_LISTEN = "127.0.0.1:0";
      env.LDC_APP_URL = await (this.#o.appUrlFor?.({ zone, cell, id }) ?? this.#defaultApp());
      env.LDC_ROUTING_API = this.#o.routingApiFor({ cluster, zone, cell, id });
      delete env.LDC_ROUTING_TOKEN;
      if (this.#o.tokenFileFor) {
        env.LDC_ROUTING_TOKEN_FILE = await this.#o.tokenFileFor({
          cluster,
          namespace: md.namespace ?? "",
          name: md.name ?? "",
          uid: md.uid ?? "",
          serviceAccount: pod.spec?.serviceAccountName || "default",
        });
      } else if (this.#o.token !== undefined) env.LDC_ROUTING_TOKEN = this.#o.token;
      if (this.#o.peers) env.LDC_PEERS = JSON.stringify(this.#o.peers());
      Object.assign(env, this.#o.env);
      const config = parseConfig(env, []);
      if (config === "help") return;
      const entry = { id, cluster, config } as PodSidecar;
      entry.sidecar = await startSidecar(config, {
        backoffMinMs: 100,
        backoffMaxMs: 1000,
        onTableSwap: (t) => this.#o.onTable?.(t, entry),
        // Without given peers, a cell@zone is reached as its Service would: any sidecar of it running here now.
        ...(this.#o.peers ? {} : { peers: (c: string, z: string) => this.#peer(c, z) }),
      });
      if (this.#stopped) {
        await entry.sidecar.close();
        return;
      }
      this.#running.set(key, entry);
      this.#o.onStart?.(entry);
    } catch (e) {
      this.#o.log?.(`pod sidecars: cannot start the sidecar of ${key}: ${String(e)}`);
    } finally {
      this.#starting.delete(key);
    }
  }

  async #stop(p: PodSidecar): Promise<void> {
    const key = `${p.cluster}/${p.id}`;
    if (this.#running.get(key) !== p) return;
    this.#running.delete(key);
    this.#o.onStop?.(p);
    await p.sidecar.close();
  }

  /** A running sidecar of `cell` in `zone`, taken in turn (a Service's endpoints). */
  #peer(cell: string, zone: string): Target | undefined {
    const all = this.running().filter((p) => p.config.cell === cell && p.config.zone === zone);
    if (!all.length) return undefined;
    return targetOf(all[this.#turn++ % all.length]!.sidecar.url);
  }
}
