// The "pods" of the drill verifier: for every cell, in every zone where it has
// workloads (active and standby), a recording backend (the app) and an
// in-process ldc-sidecar in front of it. Everything runs in the test process,
// so one sequence counter orders every event (a backend serving a request, a
// sidecar taking a table) exactly.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { PodSidecars, type PodSidecarsOptions } from "../../../hack/lib/pod-sidecars.ts";
import { RoundRobinBalancer } from "./balancer.ts";
import type { RoutingTable } from "../../../src/routing/index.ts";
import { sidecarConfig, startSidecar, type CellType, type Sidecar } from "../../../src/sidecar/index.ts";

let counter = 0;
/** A strictly increasing sequence number: the total order of events in this process. */
export function tick(): number {
  return ++counter;
}

/** Shard of a user id under the examples' rule (Digits -3..-1: the 3rd- and 2nd-to-last digits). */
export function shardOfUid(uid: number): number {
  return Math.floor(uid / 10) % 100;
}

/** One request a backend served. */
export interface ServedRecord {
  seq: number;
  time: number;
  cell: string;
  zone: string;
  method: string;
  uid: number;
  shard: number;
  requestId: string;
  /** x-ldc-epoch: the epoch of the table the deciding sidecar (the one in front of this backend) held. */
  epoch: number;
  /** The sidecar instance in front of the backend ("cell@zone#n"). */
  instance: string;
  id: string;
}

export interface Swap {
  epoch: number;
  time: number;
  seq: number;
}

/** The instance name of a deployed pod's sidecar: "cell@zone#<pod>". */
export function podInstanceName(pod: { cell: string; zone: string; id: string }): string {
  return `${pod.cell}@${pod.zone}#${pod.id.slice(pod.id.indexOf("/") + 1)}`;
}

/** One sidecar process (a restarted sidecar is a new instance with its own history). */
export interface Instance {
  /** "cell@zone#n" */
  name: string;
  cell: string;
  zone: string;
  cellType: CellType;
  sidecar: Sidecar;
  startedAt: number;
  startSeq: number;
  stoppedAt?: number;
  swaps: Swap[];
}

export interface PodSpec {
  cell: string;
  cellType: CellType;
  zone: string;
  region: string;
}

interface Pod extends PodSpec {
  key: string;
  sidecarPort: number;
  backendPort: number;
  backend?: http.Server;
  instance?: Instance;
  restarts: number;
}

export interface FleetOptions {
  pods: PodSpec[];
  routingApi: string;
  /** The routing API as the sidecar of `cell` in `zone` reaches it (default: routingApi), e.g. through a PartitionProxy. */
  routingApiFor?: (zone: string, cell: string) => string;
  token: string;
  rule: string;
  /** Called with every table any sidecar takes. */
  onTable?: (table: RoutingTable) => void;
  /**
   * false: no sidecar of the fleet's own, only adopted ones of deployed pods (relays serve
   * only pods, by their pod-bound tokens); the peers are then one "Service" per cell@zone, a
   * RoundRobinBalancer over that cell@zone's running pod sidecars. Default true.
   */
  ownSidecars?: boolean;
}

async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<http.Server>((resolve, reject) => {
          const s = http.createServer();
          s.once("error", reject);
          s.listen(0, "127.0.0.1", () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

export class Fleet {
  readonly records: ServedRecord[] = [];
  readonly instances: Instance[] = [];
  readonly #pods: Pod[];
  readonly #opts: FleetOptions;
  /** The sidecars of deployed pods (adopted), by instance name, and their backends. */
  readonly #podInstances = new Map<string, Instance>();
  readonly #podBackends = new Map<string, http.Server>();
  /** cell@zone -> the Service of its pods' sidecars (ownSidecars false). */
  readonly #services = new Map<string, RoundRobinBalancer>();

  private constructor(pods: Pod[], opts: FleetOptions) {
    this.#pods = pods;
    this.#opts = opts;
  }

  /** Allocates the ports (stable across restarts: LDC_PEERS names them) and starts every pod. */
  static async start(opts: FleetOptions): Promise<Fleet> {
    const ports = await freePorts(opts.pods.length * 2);
    const pods: Pod[] = opts.pods.map((p, i) => ({
      ...p,
      key: `${p.cell}@${p.zone}`,
      sidecarPort: ports[2 * i]!,
      backendPort: ports[2 * i + 1]!,
      restarts: 0,
    }));
    const fleet = new Fleet(pods, opts);
    if (opts.ownSidecars === false) {
      for (const p of pods) fleet.#services.set(p.key, await RoundRobinBalancer.start([]));
    } else await Promise.all(pods.map((p) => fleet.#startPod(p)));
    return fleet;
  }

  /** LDC_PEERS: every "cell@zone" -> the sidecar of that cell in that zone (or the Service of its pods' sidecars). */
  get peers(): Record<string, string> {
    return Object.fromEntries(
      this.#pods.map((p) => [p.key, this.#services.get(p.key)?.url ?? `http://127.0.0.1:${p.sidecarPort}`]),
    );
  }

  /** The sidecar instances running now. */
  running(): Instance[] {
    return [
      ...this.#pods.flatMap((p) => (p.instance && p.instance.stoppedAt === undefined ? [p.instance] : [])),
      ...[...this.#podInstances.values()].filter((i) => i.stoppedAt === undefined),
    ];
  }

  /** A lost datacenter loses its pods: stop the backends and sidecars of `zone`. */
  async stopZone(zone: string): Promise<void> {
    await Promise.all(this.#pods.filter((p) => p.zone === zone).map((p) => this.#stopPod(p)));
  }

  /** The datacenter is back: its pods start again (new sidecar instances, same addresses). */
  async startZone(zone: string): Promise<void> {
    if (this.#opts.ownSidecars === false) return;
    await Promise.all(
      this.#pods.filter((p) => p.zone === zone && p.backend === undefined).map((p) => this.#startPod(p)),
    );
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.#pods.map((p) => this.#stopPod(p)));
    await Promise.all([...this.#services.values()].map((s) => s.stop()));
  }

  /** The Service of cell@zone sends new connections to that cell@zone's running pod sidecars. */
  #updateService(cell: string, zone: string): void {
    const svc = this.#services.get(`${cell}@${zone}`);
    if (!svc) return;
    const ports = [...this.#podInstances.values()]
      .filter((i) => i.cell === cell && i.zone === zone && i.stoppedAt === undefined)
      .map((i) => Number(new URL(i.sidecar.url).port));
    svc.setTargets(ports);
  }

  async #startPod(p: Pod): Promise<void> {
    p.restarts++;
    const name = `${p.key}#${p.restarts}`;
    const backend = await this.#recordingBackend(p, name, `${p.restarts}`, p.backendPort);
    p.backend = backend;
    const inst: Instance = {
      name,
      cell: p.cell,
      zone: p.zone,
      cellType: p.cellType,
      sidecar: undefined as unknown as Sidecar,
      startedAt: Date.now(),
      startSeq: tick(),
      swaps: [],
    };
    inst.sidecar = await startSidecar(
      sidecarConfig({
        appUrl: `http://127.0.0.1:${p.backendPort}`,
        rule: this.#opts.rule,
        cell: p.cell,
        cellType: p.cellType,
        zone: p.zone,
        region: p.region,
        listenHost: "127.0.0.1",
        listenPort: p.sidecarPort,
        routingApi: this.#opts.routingApiFor?.(p.zone, p.cell) ?? this.#opts.routingApi,
        routingToken: this.#opts.token,
        peers: this.peers,
        sidecarId: p.key,
        ackIntervalSeconds: 1,
        longPollTimeoutSeconds: 20,
        shutdownGraceSeconds: 1,
        upstreamTimeoutSeconds: 5,
      }),
      {
        backoffMinMs: 100,
        backoffMaxMs: 1000,
        onTableSwap: (table) => {
          inst.swaps.push({ epoch: table.epoch, time: Date.now(), seq: tick() });
          this.#opts.onTable?.(table);
        },
      },
    );
    p.instance = inst;
    this.instances.push(inst);
  }

  /** The app of one pod: records every request it serves, as decided by the sidecar `instance` in front of it. */
  async #recordingBackend(p: PodSpec & { key: string }, instance: string, incarnation: string, port: number) {
    let served = 0;
    const backend = http.createServer((req, res) => {
      const seq = tick();
      const time = Date.now();
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        // The user as the sidecar decided on it (x-ldc-key), as apps must read it (docs/sidecar.md).
        const uid = Number(req.headers["x-ldc-key"] ?? NaN);
        const id = `${p.key}/${++served}@${incarnation}`;
        const requestId = String(req.headers["x-request-id"] ?? "");
        const epoch = Number(req.headers["x-ldc-epoch"] ?? NaN);
        this.records.push({
          seq,
          time,
          cell: p.cell,
          zone: p.zone,
          method: req.method ?? "GET",
          uid,
          shard: shardOfUid(uid),
          requestId,
          epoch,
          instance,
          id,
        });
        const body = JSON.stringify({ id, cell: p.cell, zone: p.zone, requestId, epoch });
        res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
        res.end(body);
      });
    });
    await new Promise<void>((resolve, reject) => {
      backend.once("error", reject);
      backend.listen(port, "127.0.0.1", () => resolve());
    });
    return backend;
  }

  /**
   * The app of a deployed (kwok) pod whose sidecar hack/lib/pod-sidecars.ts
   * runs from the pod's own env: a recording backend on a port of its own.
   * Its sidecar is registered with adopt() once started.
   */
  async backendForPod(pod: { zone: string; cell: string; id: string }): Promise<string> {
    const spec = this.#opts.pods.find((p) => p.cell === pod.cell && p.zone === pod.zone);
    if (!spec) throw new Error(`no cell ${pod.cell} in zone ${pod.zone} in this fleet`);
    const name = podInstanceName(pod);
    const backend = await this.#recordingBackend({ ...spec, key: `${pod.cell}@${pod.zone}` }, name, pod.id, 0);
    this.#podBackends.set(name, backend);
    return `http://127.0.0.1:${(backend.address() as AddressInfo).port}`;
  }

  /** A deployed pod's sidecar started (PodSidecars onStart): one more instance, in the load and the checks. */
  adopt(pod: { id: string; sidecar: Sidecar; config: { cell: string; zone: string; cellType: CellType } }): Instance {
    const inst: Instance = {
      name: podInstanceName({ cell: pod.config.cell, zone: pod.config.zone, id: pod.id }),
      cell: pod.config.cell,
      zone: pod.config.zone,
      cellType: pod.config.cellType,
      sidecar: pod.sidecar,
      startedAt: Date.now(),
      startSeq: tick(),
      swaps: [],
    };
    // The table it took at start (before adoption) counts as its first swap.
    const epoch = pod.sidecar.currentEpoch();
    if (epoch !== undefined) inst.swaps.push({ epoch, time: inst.startedAt, seq: inst.startSeq });
    this.#podInstances.set(inst.name, inst);
    this.instances.push(inst);
    this.#updateService(inst.cell, inst.zone);
    return inst;
  }

  /** A deployed pod's table swap (PodSidecars onTable). */
  podTableSwap(pod: { id: string; config: { cell: string; zone: string } }, table: RoutingTable): void {
    const inst = this.#podInstances.get(podInstanceName({ cell: pod.config.cell, zone: pod.config.zone, id: pod.id }));
    inst?.swaps.push({ epoch: table.epoch, time: Date.now(), seq: tick() });
    this.#opts.onTable?.(table);
  }

  /** A deployed pod's sidecar stopped (PodSidecars onStop): its backend goes with it. */
  release(pod: { id: string; config: { cell: string; zone: string } }): void {
    const name = podInstanceName({ cell: pod.config.cell, zone: pod.config.zone, id: pod.id });
    const inst = this.#podInstances.get(name);
    if (inst && inst.stoppedAt === undefined) inst.stoppedAt = Date.now();
    this.#podInstances.delete(name);
    this.#updateService(pod.config.cell, pod.config.zone);
    const backend = this.#podBackends.get(name);
    this.#podBackends.delete(name);
    if (backend) {
      backend.closeAllConnections();
      backend.close();
    }
  }

  async #stopPod(p: Pod): Promise<void> {
    const inst = p.instance;
    const backend = p.backend;
    p.backend = undefined;
    if (inst && inst.stoppedAt === undefined) {
      inst.stoppedAt = Date.now();
      await inst.sidecar.close();
    }
    if (backend) {
      backend.closeAllConnections();
      await new Promise((r) => backend.close(r));
    }
  }
}

/**
 * The sidecars of the pods the operator deployed (kwok pods with an
 * ldc-sidecar container), run from each pod's own env by PodSidecars, each in
 * front of a recording backend of `fleet`: the barrier waits for them, the
 * load reaches them and the checks cover them like the fleet's own.
 */
export async function runDeployedSidecars(
  fleet: Fleet,
  o: Pick<PodSidecarsOptions, "clusters" | "routingApiFor" | "token" | "tokenFileFor" | "log">,
): Promise<PodSidecars> {
  return PodSidecars.start({
    ...o,
    appUrlFor: (p) => fleet.backendForPod(p),
    peers: () => fleet.peers,
    // As the fleet's own sidecars: acks every second, a short grace, short upstream timeouts.
    env: {
      LDC_ACK_INTERVAL_SECONDS: "1",
      LDC_LONG_POLL_TIMEOUT_SECONDS: "20",
      LDC_SHUTDOWN_GRACE_SECONDS: "1",
      LDC_UPSTREAM_TIMEOUT_SECONDS: "5",
    },
    onStart: (p) => fleet.adopt(p),
    onStop: (p) => fleet.release(p),
    onTable: (t, p) => fleet.podTableSwap(p, t),
  });
}
