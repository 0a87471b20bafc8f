// The acknowledgement barrier of a Failover's Freeze and WaitAcknowledge
// steps: every sidecar routing to the moving cells holds the epoch, or is
// provably fenced (ADR 0007). Pure: the controller gathers the acks, the
// zones' phases and the lease grants.
import { POLL_MS, type Waiting } from "./failover.ts";
import { ACK_WARMUP_MS } from "./shardingrule.ts";

/** One sidecar's last acknowledgement. */
export interface BarrierAck {
  sidecar: string;
  zone: string;
  epoch: number;
}

export interface BarrierInput {
  /** Per rule routing to the moving cells: its name, the sidecars it last counted, the acks heard. */
  rules: readonly { name: string; knownSidecars: number; acks: readonly BarrierAck[] }[];
  epoch: number;
  /** Zones the operator cannot reach (their sidecars cannot acknowledge). */
  unreachableZones: ReadonlySet<string>;
  /**
   * When no sidecar of `zone` can hold a routing lease any more (ms; fencedAt
   * in src/routing-api). Infinity: never provably (its sidecars hold no lease);
   * -Infinity: declared fenced by the user (Failover spec.fencedZones).
   */
  fencedAt(zone: string): number;
  /** How long the ack store has listened (a restarted operator has heard from nobody yet). */
  listenedMs: number;
  now: number;
}

/** The sidecars holding `epoch`, or what the barrier waits for. */
export function acknowledgementBarrier(b: BarrierInput): { count: number } | Waiting {
  // A restarted operator's ack store is empty: "no sidecar is behind" would be
  // vacuous, and a sidecar still backing off could hold the pre-freeze table
  // after the switch (two writers). Until the store has listened for one ack
  // interval, require at least the sidecars the rule last reported to be back.
  if (b.listenedMs < ACK_WARMUP_MS) {
    for (const rule of b.rules) {
      const heard = rule.acks.filter((a) => !b.unreachableZones.has(a.zone)).length;
      if (heard < rule.knownSidecars)
        return {
          waiting: `the operator restarted ${Math.round(b.listenedMs / 1000)}s ago: waiting for the ${rule.knownSidecars} sidecar(s) of rule ${rule.name} to report again (${heard} so far)`,
          retryMs: 200,
        };
    }
  }
  const fenced = (zone: string) => b.now >= b.fencedAt(zone);
  // A zone cut off from the operator may still serve its users: its sidecars are
  // excused only once their leases have provably run out.
  const unfenced = [...b.unreachableZones].filter((z) => !fenced(z)).sort();
  const never = unfenced.filter((z) => b.fencedAt(z) === Infinity);
  if (never.length)
    return {
      waiting:
        `zone(s) ${never.join(", ")} unreachable and their sidecars hold no routing lease (no routing API configured for them), ` +
        "so nothing proves they stopped accepting writes: waiting for them to answer again; if they are down or cut off from their users too, " +
        "declare them in spec.fencedZones of a new Failover (docs/fencing.md)",
      retryMs: 1000,
    };
  if (unfenced.length) {
    const waits = unfenced.map((z) => `${z} in ${Math.ceil((b.fencedAt(z) - b.now) / 1000)}s`);
    return {
      waiting: `zone(s) unreachable: waiting until their sidecars' routing leases have run out (writes refused there): ${waits.join(", ")}`,
      retryMs: Math.min(1000, Math.max(POLL_MS, Math.min(...unfenced.map((z) => b.fencedAt(z) - b.now)))),
    };
  }
  let count = 0;
  const behind: string[] = [];
  for (const rule of b.rules) {
    for (const ack of rule.acks) {
      if (b.unreachableZones.has(ack.zone)) continue; // fenced (checked above)
      count++;
      if (ack.epoch < b.epoch && !fenced(ack.zone)) behind.push(`${ack.sidecar}@${ack.zone}=${ack.epoch}`);
    }
  }
  if (behind.length)
    return {
      waiting: `waiting for ${behind.length} sidecar(s) to reach epoch ${b.epoch}: ${behind.slice(0, 5).join(", ")}`,
      retryMs: POLL_MS,
    };
  return { count };
}

/**
 * When no sidecar of a zone can still accept writes (ms): -Infinity when the
 * user declared the zone fenced (spec.fencedZones); Infinity when its sidecars
 * hold no routing lease (nothing proves they stopped); else the latest fence of
 * whatever grants their leases: the operator's routing API (fencedAt) and the
 * zone's relays (relayFencedAt), since a zone's sidecars may hold either.
 */
export function zoneFencedAt(z: { declared: boolean; leased: boolean; fences: readonly number[] }): number {
  if (z.declared) return -Infinity;
  if (!z.leased) return Infinity;
  return Math.max(-Infinity, ...z.fences);
}
