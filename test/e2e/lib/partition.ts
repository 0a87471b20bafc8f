// A TCP proxy on 127.0.0.1 that can partition the network: `cut()` turns it
// into a black hole (open connections stop carrying bytes in both directions,
// new ones are accepted and never forwarded), as a partition does, rather
// than resetting connections as a dead process would; `heal()` drops what the
// black hole held and forwards again. The drill verifier puts one between the
// operator and a zone's API server, and one between the zone's sidecars and
// the routing API: the zone keeps serving its users and cannot hear the
// operator.
import net from "node:net";

export class PartitionProxy {
  readonly #server: net.Server;
  readonly #target: { host: string; port: number };
  readonly #pairs = new Set<[net.Socket, net.Socket | undefined]>();
  #cut = false;
  port = 0;

  private constructor(target: { host: string; port: number }) {
    this.#target = target;
    this.#server = net.createServer((client) => this.#accept(client));
  }

  /** A proxy to `target`, listening on a free port of 127.0.0.1. */
  static async start(target: { host: string; port: number }): Promise<PartitionProxy> {
    const p = new PartitionProxy(target);
    await new Promise<void>((resolve, reject) => {
      p.#server.once("error", reject);
      p.#server.listen(0, "127.0.0.1", () => resolve());
    });
    p.port = (p.#server.address() as net.AddressInfo).port;
    return p;
  }

  get isCut(): boolean {
    return this.#cut;
  }

  /** From now on no byte passes, in either direction, on old or new connections. */
  cut(): void {
    this.#cut = true;
    for (const [client, upstream] of this.#pairs) {
      client.pause();
      upstream?.pause();
      // Nothing written by either side reaches the other: unpipe, and let the held bytes drop.
      client.unpipe();
      upstream?.unpipe();
    }
  }

  /** The connections the black hole held are gone (their peers time out or reset); new ones pass. */
  heal(): void {
    this.#cut = false;
    for (const pair of this.#pairs) this.#destroy(pair);
  }

  async stop(): Promise<void> {
    for (const pair of this.#pairs) this.#destroy(pair);
    await new Promise((r) => this.#server.close(r));
  }

  #accept(client: net.Socket): void {
    const pair: [net.Socket, net.Socket | undefined] = [client, undefined];
    this.#pairs.add(pair);
    client.on("error", () => this.#destroy(pair));
    client.on("close", () => this.#destroy(pair));
    if (this.#cut) {
      client.pause(); // accepted, never answered: a black hole
      return;
    }
    const upstream = net.connect(this.#target.port, this.#target.host);
    pair[1] = upstream;
    upstream.on("error", () => this.#destroy(pair));
    upstream.on("close", () => this.#destroy(pair));
    client.pipe(upstream);
    upstream.pipe(client);
  }

  #destroy(pair: [net.Socket, net.Socket | undefined]): void {
    if (!this.#pairs.delete(pair)) return;
    pair[0].destroy();
    pair[1]?.destroy();
  }
}
