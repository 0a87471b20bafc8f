// The chart's Service in front of the operator's replicas, on 127.0.0.1: a
// TCP load balancer that sends each new connection to the next replica in
// turn (kube-proxy spreads connections, not requests). A replica that is not
// the leader answers /v1 with 503 + Connection: close, so a sidecar's retry
// opens a new connection and may reach the leader: the high-availability
// drill verifier tests exactly that path. A replica that is down refuses the
// connection; the client sees its connection closed, as with a Service whose
// endpoint has not been removed yet.
import net from "node:net";

export class RoundRobinBalancer {
  readonly #server: net.Server;
  readonly #sockets = new Set<net.Socket>();
  #targets: number[];
  #next = 0;
  port = 0;

  private constructor(targets: number[]) {
    this.#targets = targets;
    this.#server = net.createServer((client) => this.#accept(client));
  }

  /** A balancer over the given ports of 127.0.0.1, listening on a free port of 127.0.0.1. */
  static async start(targets: number[]): Promise<RoundRobinBalancer> {
    const b = new RoundRobinBalancer([...targets]);
    await new Promise<void>((resolve, reject) => {
      b.#server.once("error", reject);
      b.#server.listen(0, "127.0.0.1", () => resolve());
    });
    b.port = (b.#server.address() as net.AddressInfo).port;
    return b;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** The endpoints from now on (open connections stay where they are). */
  setTargets(targets: number[]): void {
    this.#targets = [...targets];
  }

  async stop(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise((r) => this.#server.close(r));
  }

  #accept(client: net.Socket): void {
    this.#track(client);
    const targets = this.#targets;
    if (targets.length === 0) {
      client.destroy();
      return;
    }
    const port = targets[this.#next++ % targets.length]!;
    const upstream = net.connect(port, "127.0.0.1");
    this.#track(upstream);
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on("error", close);
    client.on("close", close);
    upstream.on("error", close);
    upstream.on("close", close);
    client.pipe(upstream);
    upstream.pipe(client);
  }

  #track(s: net.Socket): void {
    this.#sockets.add(s);
    s.once("close", () => this.#sockets.delete(s));
  }
}
