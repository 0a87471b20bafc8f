// Where a request for another cell goes: that cell's Service in its active
// zone, http://<workloadName(app, cell, zone)>.<namespace>.svc:<peerPort>, unless
// LDC_PEERS maps "cell@zone" (or just "cell") to a base URL (tests, the demo,
// sidecars running as plain processes on loopback, or a multi-cluster gateway).

import { workloadName } from "../reconcilers/naming.ts";
import { TABLE_NAME } from "../routing/index.ts";

/** An upstream: host, port and the path prefix to put before the request target. */
export interface Target {
  readonly host: string;
  readonly port: number;
  readonly basePath: string;
  /** The base URL, for messages. */
  readonly url: string;
}

export function targetOf(baseUrl: string): Target {
  const u = new URL(baseUrl);
  const host = u.hostname.startsWith("[") ? u.hostname.slice(1, -1) : u.hostname;
  return {
    host,
    port: u.port === "" ? 80 : Number(u.port),
    basePath: u.pathname.replace(/\/+$/, ""),
    url: baseUrl,
  };
}

/** The upstream of `cell` active in `zone`, or undefined when there is none to name. */
export type PeerResolver = (cell: string, zone: string) => Target | undefined;

export interface PeerResolverOptions {
  readonly peers: Readonly<Record<string, string>>;
  readonly app: string | undefined;
  readonly namespace: string | undefined;
  readonly peerPort: number;
}

/**
 * LDC_PEERS first ("cell@zone", then "cell"), else the cell's per-zone Service
 * name; none for a cell or zone that is not a DNS label. Cached per cell@zone.
 */
export function createPeerResolver(opts: PeerResolverOptions): PeerResolver {
  const cache = new Map<string, Target | undefined>();
  return (cell, zone) => {
    // parseTable already refuses other names; checked again here because these become host names.
    if (!TABLE_NAME.test(cell) || !TABLE_NAME.test(zone)) return undefined;
    const k = `${cell}@${zone}`;
    if (cache.has(k)) return cache.get(k);
    const explicit = opts.peers[k] ?? opts.peers[cell];
    let t: Target | undefined;
    if (explicit !== undefined) t = targetOf(explicit);
    else if (opts.app !== undefined && opts.namespace !== undefined) {
      t = targetOf(`http://${workloadName(opts.app, cell, zone)}.${opts.namespace}.svc:${opts.peerPort}`);
    }
    if (cache.size > 10_000) cache.clear();
    cache.set(k, t);
    return t;
  };
}
