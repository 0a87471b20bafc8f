// Watches the Deployments and Services of one namespace and tells when every
// desired one exists with the desired spec: the finish line of the
// convergence benchmark, the same for the bare-client baseline and the operator.
import {
  Informer,
  Resources,
  stripManagedFields,
  type AnyObject,
  type KubeClient,
  type KubeObject,
} from "../../src/runtime/index.ts";
import { MANAGED_SELECTOR } from "./common.ts";

type Obj = KubeObject & { spec?: Record<string, unknown> };

interface Container {
  name?: string;
  image?: string;
}

const sameMap = (a: unknown, b: unknown): boolean => {
  const x = (a ?? {}) as Record<string, unknown>;
  const y = (b ?? {}) as Record<string, unknown>;
  const kx = Object.keys(x);
  return kx.length === Object.keys(y).length && kx.every((k) => x[k] === y[k]);
};

/** The fields of the desired spec that tell the object was applied: replicas, selector, containers' names and images. */
export function deploymentMatches(want: AnyObject, got: Obj): boolean {
  const ws = want.spec as {
    replicas: number;
    selector: { matchLabels: unknown };
    template: { spec: { containers: Container[] } };
  };
  const gs = got.spec as typeof ws | undefined;
  if (!gs || gs.replicas !== ws.replicas || !sameMap(gs.selector?.matchLabels, ws.selector.matchLabels)) return false;
  const wc = ws.template.spec.containers;
  const gc = gs.template?.spec?.containers ?? [];
  return wc.length === gc.length && wc.every((c, i) => gc[i]?.name === c.name && gc[i]?.image === c.image);
}

export function serviceMatches(want: AnyObject, got: Obj): boolean {
  const ws = want.spec as { selector: unknown; ports: { port: number; targetPort?: unknown }[] };
  const gs = got.spec as typeof ws | undefined;
  if (!gs || !sameMap(gs.selector, ws.selector)) return false;
  return (
    gs.ports?.length === ws.ports.length &&
    ws.ports.every((p, i) => gs.ports[i]?.port === p.port && gs.ports[i]?.targetPort === p.targetPort)
  );
}

export class ConvergenceWatch {
  readonly #deployments: Informer<Obj>;
  readonly #services: Informer<Obj>;
  readonly #want = new Map<string, AnyObject>();
  readonly #ok = new Set<string>();
  #doneAt: number | undefined;
  #onDone: (() => void) | undefined;

  constructor(client: KubeClient, namespace: string, desired: { deployments: AnyObject[]; services: AnyObject[] }) {
    for (const d of desired.deployments) this.#want.set(`Deployment/${d.metadata!.name}`, d);
    for (const s of desired.services) this.#want.set(`Service/${s.metadata!.name}`, s);
    const opts = { namespace, labelSelector: MANAGED_SELECTOR, transform: stripManagedFields };
    this.#deployments = new Informer<Obj>(client, Resources.Deployment, opts);
    this.#services = new Informer<Obj>(client, Resources.Service, opts);
    for (const [kind, inf] of [
      ["Deployment", this.#deployments],
      ["Service", this.#services],
    ] as const) {
      const check = (o: Obj): void => this.#check(kind, o);
      inf.on({ add: check, update: (_, o) => check(o), delete: (o) => this.#ok.delete(`${kind}/${o.metadata?.name}`) });
    }
  }

  get total(): number {
    return this.#want.size;
  }

  get converged(): number {
    return this.#ok.size;
  }

  /** performance.now() when the last desired object was seen, if it was. */
  get doneAt(): number | undefined {
    return this.#doneAt;
  }

  async start(): Promise<void> {
    this.#deployments.start();
    this.#services.start();
    const ok = (await this.#deployments.waitForSync(60_000)) && (await this.#services.waitForSync(60_000));
    if (!ok) throw new Error("the convergence watch did not sync in 60s");
  }

  /** Resolves with the time all desired objects were seen, or undefined after timeoutMs. */
  async wait(timeoutMs: number, progress?: (converged: number, total: number) => void): Promise<number | undefined> {
    if (this.#doneAt !== undefined) return this.#doneAt;
    const done = new Promise<void>((r) => (this.#onDone = r));
    const timer = progress ? setInterval(() => progress(this.#ok.size, this.total), 5000) : undefined;
    let timeout: NodeJS.Timeout | undefined;
    try {
      await Promise.race([done, new Promise<void>((r) => (timeout = setTimeout(r, timeoutMs)))]);
    } finally {
      if (timer) clearInterval(timer);
      if (timeout) clearTimeout(timeout);
    }
    return this.#doneAt;
  }

  async stop(): Promise<void> {
    await Promise.all([this.#deployments.stop(), this.#services.stop()]);
  }

  #check(kind: "Deployment" | "Service", o: Obj): void {
    const key = `${kind}/${o.metadata?.name}`;
    const want = this.#want.get(key);
    if (!want) return;
    const ok = kind === "Deployment" ? deploymentMatches(want, o) : serviceMatches(want, o);
    if (ok) this.#ok.add(key);
    else this.#ok.delete(key);
    if (this.#doneAt === undefined && this.#ok.size === this.#want.size) {
      this.#doneAt = performance.now();
      this.#onDone?.();
    }
  }
}
