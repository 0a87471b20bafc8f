// The sidecars' acks as the zones' relays hold them (src/relay/acks.ts): the
// ConfigMaps labelled ldc.io/acks in the relay namespace of every zone's
// cluster, fed into the TableStore's acks (sidecar "<namespace>/<pod>", the
// zone the cluster serves), so the Failover barrier and the rules' sidecar
// counts read them unchanged. They live in the zones' API servers, so they
// survive operator restarts and reach whichever replica leads. An entry is
// checked again against the operator's own published tables: anyone with
// ConfigMap rights in that namespace could write one, so an epoch above the
// published one, or another hash at it, is ignored.
import type { Zone } from "../api/index.ts";
import { ACKS_SELECTOR } from "../relay/acks.ts";
import type { SidecarAck, TableStore } from "../routing-api/index.ts";
import { Controller, Resources, type Cluster, type Informer, type KubeObject } from "../runtime/index.ts";
import { watchEveryCluster, zoneOfMemberCluster, type OperatorContext } from "./context.ts";

/** One entry of an ack ConfigMap, as parsed (not yet checked against the published tables). */
export interface HeldAck {
  rule: string;
  /** "<namespace>/<pod>". */
  sidecar: string;
  epoch: number;
  hash: string;
  /** The zone the relay was told (used only where the cluster serves several zones). */
  zone: string;
  cell: string;
}

type AckConfigMap = KubeObject & { data?: Record<string, string> };

const POD = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\/[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const WORD = /^[\x21-\x7e]{1,253}$/;
/** Most entries read from one ConfigMap (the relay holds at most 10,000 per rule; a forged one may hold anything). */
const MAX_ENTRIES = 100_000;

/** The entries of an ack ConfigMap; malformed ones are skipped. Never throws. */
export function parseAckConfigMap(cm: { data?: Record<string, string> | undefined }): HeldAck[] {
  const out: HeldAck[] = [];
  for (const [rule, json] of Object.entries(cm.data ?? {})) {
    if (typeof json !== "string" || !WORD.test(rule)) continue;
    let o: unknown;
    try {
      o = JSON.parse(json);
    } catch {
      continue;
    }
    if (typeof o !== "object" || o === null || Array.isArray(o)) continue;
    for (const [sidecar, v] of Object.entries(o as Record<string, unknown>)) {
      if (out.length >= MAX_ENTRIES) return out;
      if (!POD.test(sidecar) || !Array.isArray(v)) continue;
      const [epoch, hash, zone, cell] = v as unknown[];
      if (typeof epoch !== "number" || !Number.isSafeInteger(epoch) || epoch < 0) continue;
      if (typeof hash !== "string" || !/^[0-9a-f]{64}$/.test(hash)) continue;
      if (typeof zone !== "string" || !WORD.test(zone) || typeof cell !== "string" || !WORD.test(cell)) continue;
      out.push({ rule, sidecar, epoch, hash, zone, cell });
    }
  }
  return out;
}

/**
 * Keeps the entries of every ack ConfigMap and records the valid ones into
 * the TableStore: at once when a ConfigMap changes, and again on refresh
 * (the relays write only changes; the store's acks count as live for its
 * window, so the holder re-records what the ConfigMaps still hold).
 */
export class RelayAckIngester {
  readonly #tables: TableStore;
  /** ConfigMap key ("<cluster>/<namespace>/<name>") -> its acks, with the zone decided. */
  readonly #held = new Map<string, SidecarAck[]>();

  constructor(tables: TableStore) {
    this.#tables = tables;
  }

  /**
   * A ConfigMap of `cluster` holds `entries`. `zoneOf` maps the relay's
   * claimed zone to the zone the ack counts for (undefined: ignore it).
   * Returns the number of acks recorded.
   */
  set(key: string, entries: readonly HeldAck[], zoneOf: (claimed: string) => string | undefined): number {
    const acks: SidecarAck[] = [];
    for (const e of entries) {
      const zone = zoneOf(e.zone);
      if (zone !== undefined) acks.push({ ...e, zone, principal: `relay ${key}` });
    }
    this.#held.set(key, acks);
    return this.#record(acks);
  }

  delete(key: string): void {
    this.#held.delete(key);
  }

  /** Records again every valid entry held (keeps them live); returns how many. */
  refresh(): number {
    return this.#record([...this.#held.values()].flat());
  }

  /**
   * Records `acks` that the published tables allow, each pod at the highest
   * epoch any ConfigMap holds for it (a pod that moved between relay replicas
   * appears in both; its table never goes back).
   */
  #record(acks: readonly SidecarAck[]): number {
    const best = new Map<string, SidecarAck>();
    const wanted = new Set(acks.map((a) => `${a.rule}\0${a.sidecar}`));
    for (const held of this.#held.values()) {
      for (const a of held) {
        const k = `${a.rule}\0${a.sidecar}`;
        if (!wanted.has(k) || !this.#valid(a)) continue;
        const b = best.get(k);
        if (b === undefined || a.epoch > b.epoch) best.set(k, a);
      }
    }
    for (const a of best.values()) this.#tables.recordAck(a);
    return best.size;
  }

  /** Never an epoch the operator did not publish, nor other content at the published one. */
  #valid(a: SidecarAck): boolean {
    const table = this.#tables.get(a.rule);
    if (table === undefined || a.epoch > table.epoch) return false;
    return a.epoch < table.epoch || a.hash === table.contentHash;
  }
}

/** Period at which the acks held are recorded again (well within the store's 30 s window). */
export const ACK_REFRESH_MS = 10_000;

/** The ack ConfigMaps of a cluster's relay namespace. */
export function ackInformer(cluster: Cluster, namespace: string): Informer<AckConfigMap> {
  return cluster.informer<AckConfigMap>(Resources.ConfigMap, { namespace, labelSelector: ACKS_SELECTOR });
}

/**
 * The zone an entry of `cluster` counts for: a member cluster's own zone,
 * whatever the relay was told; in the operator's cluster, the claimed zone
 * if it is one whose workloads live there.
 */
export function ackZone(cluster: { name: string; local: boolean }, zones: readonly Zone[], claimed: string) {
  if (!cluster.local) return zoneOfMemberCluster(cluster.name);
  return zones.some((z) => z.metadata.name === claimed && !z.spec.cluster) ? claimed : undefined;
}

/** The controller feeding the ack ConfigMaps of every zone's relay namespace into `tables` (relays on). */
export function relayAckController(ctx: OperatorContext, tables: TableStore, namespace: string): Controller {
  const ingester = new RelayAckIngester(tables);
  const controller = new Controller({
    name: "relay-acks",
    kind: "ConfigMap",
    logger: ctx.log,
    reconcile: async (key) => {
      const [cluster, ns, name] = key.split("/") as [string, string, string];
      const c = ctx.registry.get(cluster);
      const cm = c ? ackInformer(c, namespace).store.getByName(name, ns) : undefined;
      if (!c || !cm) {
        ingester.delete(key);
        return;
      }
      ingester.set(key, parseAckConfigMap(cm), (claimed) => ackZone(c, ctx.ldc.zones.store.list(), claimed));
      // Recorded again while it holds them: the relay writes only changes.
      return { requeueAfter: ACK_REFRESH_MS };
    },
  });
  watchEveryCluster(
    ctx.registry,
    controller,
    (cluster) => ackInformer(cluster, namespace),
    (cluster) => (cm) => `${cluster.name}/${cm.metadata?.namespace ?? ""}/${cm.metadata?.name ?? ""}`,
  );
  return controller;
}
