// Multi-cluster: one client and set of informer caches per cluster (the
// operator's own cluster plus member clusters built from kubeconfig strings,
// read from Secrets), each probed for reachability (GET /readyz with a short
// timeout every few seconds). Reachability changes are reported to callbacks
// (the Zone controller requeues on them). Removing or changing a member's
// kubeconfig tears its client and caches down (and builds new ones).
import { createHash } from "node:crypto";
import type { Logger } from "pino";
import { KubeconfigRefused, connectionFromKubeconfig, type UntrustedKubeconfigPolicy } from "./kubeconfig.ts";
import { KubeClient, type ClientOptions } from "./client.ts";
import { Informer, stripManagedFields, type InformerOptions } from "./informer.ts";
import { silentLogger } from "./logger.ts";
import { clusterReachable } from "./metrics.ts";
import { sleep } from "./ratelimit.ts";
import type { Resource } from "./resources.ts";
import type { CheckResult } from "./server.ts";
import type { KubeObject } from "./types.ts";

export interface ClusterState {
  name: string;
  /** Undefined until the first probe answered or failed. */
  reachable: boolean | undefined;
  /** When `reachable` last changed (or the cluster was added); for unreachable, the first failed probe of the streak. */
  since: Date;
  lastProbe?: Date;
  lastError?: string;
}

export type ClusterChange =
  | { type: "added" | "replaced"; cluster: Cluster }
  | { type: "reachability"; cluster: Cluster; state: ClusterState }
  | { type: "removed"; name: string };

export class Cluster {
  readonly name: string;
  readonly client: KubeClient;
  /** The operator's own cluster. */
  readonly local: boolean;
  readonly #informers = new Map<string, Informer<KubeObject>>();
  readonly #informerDefaults: InformerOptions;
  #state: ClusterState;
  /** Failed probes in a row, and when the first of them failed. */
  #failures = 0;
  #firstFailure: Date | undefined;

  constructor(name: string, client: KubeClient, local: boolean, informerDefaults: InformerOptions) {
    this.name = name;
    this.client = client;
    this.local = local;
    this.#informerDefaults = informerDefaults;
    this.#state = { name, reachable: undefined, since: new Date() };
  }

  get state(): ClusterState {
    return { ...this.#state };
  }

  /** Reachable: the last probe answered, or too few probes in a row have failed since one did (see setProbeResult). */
  get reachable(): boolean {
    return this.#state.reachable === true;
  }

  /**
   * The last probe answered (strict: no failed probe tolerated). What stops
   * lease renewals to a zone at its first failed probe: every renewal sent
   * counts toward its fence, so renewals into a partition only delay it.
   */
  get lastProbeAnswered(): boolean {
    return this.#state.reachable === true && this.#failures === 0;
  }

  /**
   * The shared, started informer for `resource` (and namespace/selectors)
   * in this cluster, created on first use.
   */
  informer<T extends KubeObject>(resource: Resource, opts: InformerOptions = {}): Informer<T> {
    const key = JSON.stringify([
      resource.group,
      resource.plural,
      opts.namespace,
      opts.labelSelector,
      opts.fieldSelector,
    ]);
    let inf = this.#informers.get(key);
    if (!inf) {
      // Caches drop managedFields unless told otherwise (transform: undefined keeps them).
      inf = new Informer<KubeObject>(this.client, resource, {
        transform: stripManagedFields,
        ...this.#informerDefaults,
        ...opts,
        cluster: this.name,
      });
      this.#informers.set(key, inf);
      inf.start();
    }
    return inf as unknown as Informer<T>;
  }

  informers(): Informer<KubeObject>[] {
    return [...this.#informers.values()];
  }

  /**
   * @internal Records a probe. A reachable cluster becomes unreachable only
   * after `failuresToUnreachable` failed probes in a row (one slow answer
   * under load is not an outage), counted from the first of them.
   */
  setProbeResult(ok: boolean, error?: string, failuresToUnreachable = 1): boolean {
    const now = new Date();
    if (ok) {
      this.#failures = 0;
      this.#firstFailure = undefined;
    } else {
      this.#failures++;
      this.#firstFailure ??= now;
    }
    const reachable = ok || (this.#state.reachable === true && this.#failures < failuresToUnreachable);
    const changed = this.#state.reachable !== reachable;
    this.#state = {
      name: this.name,
      reachable,
      since: !changed ? this.#state.since : reachable ? now : this.#firstFailure!,
      lastProbe: now,
      ...(error ? { lastError: error } : {}),
    };
    clusterReachable.set({ cluster: this.name }, reachable ? 1 : 0);
    return changed;
  }

  /** @internal */
  async stop(): Promise<void> {
    await Promise.all([...this.#informers.values()].map((i) => i.stop()));
    this.#informers.clear();
    this.client.close();
    clusterReachable.remove({ cluster: this.name });
  }
}

export interface ClusterRegistryOptions {
  logger?: Logger;
  /** Probe period. Default 5 s. */
  probeIntervalMs?: number;
  /** Probe timeout. Default 3 s. */
  probeTimeoutMs?: number;
  /** Failed probes in a row before a reachable cluster counts as unreachable. Default 2. */
  probeFailuresToUnreachable?: number;
  /** Options of member clusters' clients (the local one is passed in). */
  clientOptions?: ClientOptions;
  /** Defaults for every informer created through Cluster.informer(); the default transform is stripManagedFields. */
  informerDefaults?: InformerOptions;
}

/** How setMember reads a member's kubeconfig. */
export interface MemberOptions extends Partial<UntrustedKubeconfigPolicy> {
  /** Where the kubeconfig came from, for messages (default: "kubeconfig of <name>"). */
  source?: string;
}

interface Entry {
  cluster: Cluster;
  fingerprint: string;
  stop: AbortController;
  probing: Promise<void>;
}

export class ClusterRegistry {
  readonly #o: ClusterRegistryOptions;
  readonly #log: Logger;
  readonly #entries = new Map<string, Entry>();
  readonly #listeners = new Set<(c: ClusterChange) => void>();
  #localName: string | undefined;
  /** Serializes add/replace/remove. */
  #lock: Promise<unknown> = Promise.resolve();

  constructor(opts: ClusterRegistryOptions = {}) {
    this.#o = opts;
    this.#log = (opts.logger ?? silentLogger).child({ component: "clusters" });
  }

  /** Register the operator's own cluster. */
  async setLocal(name: string, client: KubeClient): Promise<Cluster> {
    return this.#serial(async () => {
      this.#localName = name;
      return this.#install(name, client, `local:${client.server}`, true);
    });
  }

  /**
   * Add a member cluster from a kubeconfig string, or replace it when the
   * kubeconfig or the policy changed (no-op when unchanged). Resolves after
   * the first probe. The kubeconfig is untrusted (it comes from a Secret):
   * what the policy refuses throws KubeconfigRefused, and the member connected
   * before, if any, is removed (a policy that no longer allows it must not
   * leave it in use).
   */
  async setMember(name: string, kubeconfig: string, opts: MemberOptions = {}): Promise<Cluster> {
    return this.#serial(async () => {
      const policy: UntrustedKubeconfigPolicy = {
        allowInsecureTLS: opts.allowInsecureTLS ?? false,
        ...(opts.insecureOptIn !== undefined ? { insecureOptIn: opts.insecureOptIn } : {}),
      };
      const fingerprint = createHash("sha256")
        .update(kubeconfig)
        .update(policy.allowInsecureTLS ? "\0insecure-tls" : "\0")
        .digest("hex");
      const existing = this.#entries.get(name);
      if (existing && existing.fingerprint === fingerprint) return existing.cluster;
      let connection;
      try {
        const source = opts.source ?? `kubeconfig of ${name}`;
        connection = connectionFromKubeconfig(kubeconfig, { source, untrusted: policy });
      } catch (err) {
        if (err instanceof KubeconfigRefused && existing) await this.#removeEntry(name, existing);
        throw err;
      }
      const client = await KubeClient.fromConnection(connection, this.#o.clientOptions);
      return this.#install(name, client, fingerprint, false);
    });
  }

  /** Remove a member (its kubeconfig Secret is gone): stop its caches and probes. */
  async remove(name: string): Promise<void> {
    await this.#serial(async () => {
      const e = this.#entries.get(name);
      if (e) await this.#removeEntry(name, e);
    });
  }

  async #removeEntry(name: string, e: Entry): Promise<void> {
    this.#entries.delete(name);
    await this.#teardown(e);
    this.#log.info({ cluster: name }, "cluster removed");
    this.#emit({ type: "removed", name });
  }

  get(name: string): Cluster | undefined {
    return this.#entries.get(name)?.cluster;
  }

  get local(): Cluster | undefined {
    return this.#localName === undefined ? undefined : this.get(this.#localName);
  }

  list(): Cluster[] {
    return [...this.#entries.values()].map((e) => e.cluster);
  }

  states(): ClusterState[] {
    return this.list().map((c) => c.state);
  }

  /** Subscribe to added/replaced/removed/reachability changes; returns an unsubscribe function. */
  onChange(cb: (c: ClusterChange) => void): () => void {
    this.#listeners.add(cb);
    return () => {
      this.#listeners.delete(cb);
    };
  }

  /**
   * Readiness: the local cluster's informers must be synced and alive.
   * Member clusters are not part of readiness: one being unreachable is a
   * condition the operator handles, not a reason to stop serving.
   */
  readiness(): CheckResult[] {
    const local = this.local;
    if (!local) return [];
    return local.informers().map((inf) => {
      const s = inf.status();
      const ok = s.synced && !s.dead;
      return {
        name: `informer:${s.name}`,
        ok,
        ...(ok ? {} : { message: s.synced ? "watch dead" : "cache not synced" }),
      };
    });
  }

  /** Stop every cluster's probes and caches. */
  async stop(): Promise<void> {
    await this.#serial(async () => {
      const entries = [...this.#entries.values()];
      this.#entries.clear();
      await Promise.all(entries.map((e) => this.#teardown(e)));
    });
  }

  async #install(name: string, client: KubeClient, fingerprint: string, local: boolean): Promise<Cluster> {
    const old = this.#entries.get(name);
    if (old) {
      this.#entries.delete(name);
      await this.#teardown(old);
    }
    const cluster = new Cluster(name, client, local, {
      ...this.#o.informerDefaults,
      logger: this.#o.informerDefaults?.logger ?? this.#log,
    });
    const stop = new AbortController();
    await this.#probe(cluster);
    const entry: Entry = { cluster, fingerprint, stop, probing: this.#probeLoop(cluster, stop.signal) };
    this.#entries.set(name, entry);
    this.#log.info(
      { cluster: name, server: client.server, reachable: cluster.reachable },
      old ? "cluster replaced" : "cluster added",
    );
    this.#emit({ type: old ? "replaced" : "added", cluster });
    return cluster;
  }

  async #teardown(e: Entry): Promise<void> {
    e.stop.abort(new Error("cluster removed"));
    await e.probing;
    await e.cluster.stop();
  }

  async #probeLoop(cluster: Cluster, stop: AbortSignal): Promise<void> {
    const period = this.#o.probeIntervalMs ?? 5_000;
    while (!stop.aborted) {
      try {
        await sleep(period, stop);
      } catch {
        return;
      }
      const changed = await this.#probe(cluster);
      if (changed && !stop.aborted) {
        const state = cluster.state;
        this.#log.warn(
          { cluster: cluster.name, reachable: state.reachable, err: state.lastError },
          "cluster reachability changed",
        );
        this.#emit({ type: "reachability", cluster, state });
      }
    }
  }

  /** Probe once; returns whether reachability changed. */
  async #probe(cluster: Cluster): Promise<boolean> {
    const timeoutMs = this.#o.probeTimeoutMs ?? 3_000;
    const failures = this.#o.probeFailuresToUnreachable ?? 2;
    try {
      const r = await cluster.client.raw("GET", "/readyz", { timeoutMs });
      const ok = r.status === 200;
      return cluster.setProbeResult(ok, ok ? undefined : `GET /readyz: ${r.status} ${r.body.slice(0, 200)}`, failures);
    } catch (err) {
      return cluster.setProbeResult(false, err instanceof Error ? err.message : String(err), failures);
    }
  }

  #emit(c: ClusterChange): void {
    for (const l of this.#listeners) {
      try {
        l(c);
      } catch (err) {
        this.#log.error({ err }, "cluster change listener threw");
      }
    }
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.#lock.then(fn, fn);
    this.#lock = p.catch(() => undefined);
    return p;
  }
}
