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

/** A sidecar id naming a pod ("<namespace>/<pod>"), as deployed sidecars and relays send it. */
const POD_ID = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?\/[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

/** A sidecar the operator deployed (a Running pod of a stamped Deployment): it must acknowledge. */
export interface ExpectedSidecar {
  /** The id its acks carry ("<namespace>/<pod>"). */
  sidecar: string;
  zone: string;
}

export interface BarrierInput {
  /**
   * Per rule routing to the moving cells: its name, the sidecars it last
   * counted, the acks heard, and the sidecars deployed for it (the expected set).
   */
  rules: readonly {
    name: string;
    knownSidecars: number;
    acks: readonly BarrierAck[];
    expected: readonly ExpectedSidecar[];
  }[];
  /** Zones whose pods are not listed yet (who should hold the table there is unknown). */
  unlistedZones: ReadonlySet<string>;
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
  // A reachable zone whose pods are not listed yet: its expected set is unknown, "none behind" would be vacuous.
  const unlisted = [...b.unlistedZones].filter((z) => !b.unreachableZones.has(z) && !fenced(z)).sort();
  if (unlisted.length) return { waiting: `listing the sidecar pods of zone(s) ${unlisted.join(", ")}`, retryMs: 500 };
  let count = 0;
  const behind: string[] = [];
  const silent: string[] = [];
  for (const rule of b.rules) {
    const held = new Map<string, number>();
    const deployed = new Set(rule.expected.map((p) => p.sidecar));
    for (const ack of rule.acks) {
      if (b.unreachableZones.has(ack.zone)) continue; // fenced (checked above)
      // The last ack of a pod that is gone (scaled down, replaced): its sidecar went with it.
      if (POD_ID.test(ack.sidecar) && !deployed.has(ack.sidecar) && !b.unlistedZones.has(ack.zone)) continue;
      count++;
      held.set(ack.sidecar, Math.max(held.get(ack.sidecar) ?? -1, ack.epoch));
      if (ack.epoch < b.epoch && !fenced(ack.zone)) behind.push(`${ack.sidecar}@${ack.zone}=${ack.epoch}`);
    }
    // Every deployed sidecar, whether it reported or not: silence is not agreement.
    for (const pod of rule.expected) {
      if (b.unreachableZones.has(pod.zone) || fenced(pod.zone) || held.has(pod.sidecar)) continue;
      silent.push(`${pod.sidecar}@${pod.zone}`);
    }
  }
  if (behind.length || silent.length) {
    const parts = [
      ...(behind.length ? [`${behind.length} sidecar(s) behind: ${behind.slice(0, 5).join(", ")}`] : []),
      ...(silent.length
        ? [`${silent.length} deployed sidecar(s) never acknowledged: ${silent.slice(0, 5).join(", ")}`]
        : []),
    ];
    return { waiting: `waiting for epoch ${b.epoch}: ${parts.join("; ")}`, retryMs: POLL_MS };
  }
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
