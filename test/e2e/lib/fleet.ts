// The "pods" of the drill verifier: for every cell, in every zone where it has
// workloads (active and standby), a recording backend (the app) and an
// in-process ldc-sidecar in front of it. Everything runs in the test process,
// so one sequence counter orders every event (a backend serving a request, a
// sidecar taking a table) exactly.
import http from "node:http";
import type { AddressInfo } from "node:net";
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
    await Promise.all(pods.map((p) => fleet.#startPod(p)));
    return fleet;
  }

  /** LDC_PEERS: every "cell@zone" -> the sidecar of that cell in that zone. */
  get peers(): Record<string, string> {
    return Object.fromEntries(this.#pods.map((p) => [p.key, `http://127.0.0.1:${p.sidecarPort}`]));
  }

  /** The sidecar instances running now. */
  running(): Instance[] {
    return this.#pods.flatMap((p) => (p.instance && p.instance.stoppedAt === undefined ? [p.instance] : []));
  }

  /** A lost datacenter loses its pods: stop the backends and sidecars of `zone`. */
  async stopZone(zone: string): Promise<void> {
    await Promise.all(this.#pods.filter((p) => p.zone === zone).map((p) => this.#stopPod(p)));
  }

  /** The datacenter is back: its pods start again (new sidecar instances, same addresses). */
  async startZone(zone: string): Promise<void> {
    await Promise.all(
      this.#pods.filter((p) => p.zone === zone && p.backend === undefined).map((p) => this.#startPod(p)),
    );
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.#pods.map((p) => this.#stopPod(p)));
  }

  async #startPod(p: Pod): Promise<void> {
    p.restarts++;
    const name = `${p.key}#${p.restarts}`;
    let served = 0;
    const backend = http.createServer((req, res) => {
      const seq = tick();
      const time = Date.now();
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        // The user as the sidecar decided on it (x-ldc-key), as apps must read it (docs/sidecar.md).
        const uid = Number(req.headers["x-ldc-key"] ?? NaN);
        const id = `${p.key}/${++served}@${p.restarts}`;
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
          instance: name,
          id,
        });
        const body = JSON.stringify({ id, cell: p.cell, zone: p.zone, requestId, epoch });
        res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
        res.end(body);
      });
    });
    await new Promise<void>((resolve, reject) => {
      backend.once("error", reject);
      backend.listen(p.backendPort, "127.0.0.1", () => resolve());
    });
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
