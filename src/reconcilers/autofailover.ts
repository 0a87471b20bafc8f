// Automatic failover: when a zone is lost (Unreachable past its failure
// threshold) or its cells stay unhealthy past it, fail over the cells whose
// failover mode is Automatic, with guards. Pure: the controller creates the
// Failover this returns, so every automatic failover is an auditable object.
import { parseDuration, type Cell, type Failover, type Zone } from "../api/index.ts";
import { activeZoneOf } from "./cellapp.ts";
import { planMoves } from "./failover-moves.ts";

export const AUTOMATIC_LABEL = "ldc.io/automatic";

/**
 * The write freeze of an automatic Failover: 2 s. It runs after the lost
 * zone is fenced (its sidecars stopped accepting writes at least the fencing
 * margin before), for writes still in flight elsewhere; each second of it is
 * a second of the outage (docs/fencing.md).
 */
export const AUTOMATIC_WRITE_FREEZE = "2s";
export const ZONE_LABEL = "ldc.io/zone";

export interface AutoFailoverInputs {
  now: Date;
  zone: Zone;
  zones: readonly Zone[];
  /** Cells with running Failovers overlaid (effectiveCells). */
  cells: readonly Cell[];
  failovers: readonly Failover[];
  /** Automation paused cluster-wide. */
  paused: boolean;
  /**
   * The zone's sidecars hold routing leases (ADR 0007): an unreachable zone can
   * then be proven to have stopped writing. Without, only a person can say so.
   */
  zoneLeased: boolean;
}

export interface AutoFailoverDecision {
  /** Cells to move now (empty: nothing to do). */
  cells: string[];
  reason: string;
  /** Cells that qualify but are held back, and why. */
  held: { cell: string; why: string }[];
  /** Look again after this many ms (a threshold or cooldown is counting down). */
  recheckAfterMs?: number;
}

const isActive = (f: Failover) =>
  f.status?.phase === undefined || f.status.phase === "Pending" || f.status.phase === "Running";

/** Why the zone needs its cells moved, or undefined (and when to look again). */
export function zoneFailure(zone: Zone, cells: readonly Cell[], now: Date): { why?: string; recheckAfterMs?: number } {
  const threshold = parseDuration(zone.spec.health.failureThreshold);
  if (zone.status?.phase === "Unreachable") {
    return {
      why: `zone ${zone.metadata.name} is Unreachable (${zone.status.conditions?.find((c) => c.type === "Ready")?.message ?? "no answer"})`,
    };
  }
  // Cells active here that have been unhealthy (not Ready, not moving) for longer than the threshold.
  let soonest: number | undefined;
  const sick: string[] = [];
  for (const c of cells) {
    if (activeZoneOf(c) !== zone.metadata.name || c.status?.failoverRef) continue;
    const ready = c.status?.conditions?.find((x) => x.type === "Ready");
    if (!ready || ready.status === "True" || c.status?.phase === "Pending") continue;
    const since = now.getTime() - Date.parse(ready.lastTransitionTime);
    if (since >= threshold) sick.push(c.metadata.name);
    else soonest = Math.min(soonest ?? Infinity, threshold - since);
  }
  if (sick.length)
    return {
      why: `cells ${sick.join(", ")} in zone ${zone.metadata.name} unhealthy for more than ${zone.spec.health.failureThreshold}`,
    };
  return soonest !== undefined ? { recheckAfterMs: soonest } : {};
}

export function decideAutomaticFailover(i: AutoFailoverInputs): AutoFailoverDecision {
  const none = (
    reason: string,
    held: AutoFailoverDecision["held"] = [],
    recheckAfterMs?: number,
  ): AutoFailoverDecision => ({
    cells: [],
    reason,
    held,
    ...(recheckAfterMs !== undefined ? { recheckAfterMs } : {}),
  });
  const failure = zoneFailure(i.zone, i.cells, i.now);
  if (!failure.why) return none("zone healthy", [], failure.recheckAfterMs);
  const zoneName = i.zone.metadata.name;
  const unreachable = i.zone.status?.phase === "Unreachable";
  const candidates = i.cells.filter(
    (c) =>
      c.spec.failover.mode === "Automatic" &&
      activeZoneOf(c) === zoneName &&
      (unreachable || c.status?.conditions?.find((x) => x.type === "Ready")?.status !== "True"),
  );
  if (candidates.length === 0) return none(`${failure.why}; no cell there has failover mode Automatic`);
  if (unreachable && !i.zoneLeased)
    return none(
      `${failure.why}; its sidecars hold no routing lease, so nothing proves it stopped accepting writes: ` +
        "it is not failed over automatically; if it is down, fail over by hand with spec.fencedZones (docs/fencing.md)",
      candidates.map((c) => ({ cell: c.metadata.name, why: "zone cannot be proven fenced" })),
    );
  if (i.paused)
    return none(
      `${failure.why}; automatic failover is paused cluster-wide`,
      candidates.map((c) => ({ cell: c.metadata.name, why: "automation paused" })),
    );

  // At most one zone failing over automatically at a time.
  const otherZone = i.failovers.find(
    (f) =>
      isActive(f) && f.metadata.labels?.[AUTOMATIC_LABEL] === "true" && f.metadata.labels?.[ZONE_LABEL] !== zoneName,
  );
  if (otherZone) {
    return none(
      `${failure.why}; waiting: automatic Failover ${otherZone.metadata.name} (zone ${otherZone.metadata.labels?.[ZONE_LABEL]}) is still running`,
      candidates.map((c) => ({ cell: c.metadata.name, why: "another zone is failing over" })),
      5000,
    );
  }
  const held: AutoFailoverDecision["held"] = [];
  const busy = new Set(
    i.failovers
      .filter(isActive)
      .flatMap((f) => [...(f.status?.cells ?? []).map((c) => c.cell), ...(f.spec.target.cells ?? [])]),
  );
  let recheck: number | undefined;
  const go: Cell[] = [];
  for (const c of candidates) {
    const name = c.metadata.name;
    if (busy.has(name) || c.status?.failoverRef) {
      held.push({ cell: name, why: "a failover is already moving it" });
      continue;
    }
    const last = c.status?.lastFailoverTime ? Date.parse(c.status.lastFailoverTime) : undefined;
    const cooldown = parseDuration(c.spec.failover.cooldown);
    if (last !== undefined && i.now.getTime() - last < cooldown) {
      const left = cooldown - (i.now.getTime() - last);
      held.push({
        cell: name,
        why: `in cooldown for ${Math.ceil(left / 1000)}s more (spec.failover.cooldown ${c.spec.failover.cooldown})`,
      });
      recheck = Math.min(recheck ?? Infinity, left);
      continue;
    }
    go.push(c);
  }
  // Never into a zone that is not healthy: planMoves only picks Ready, uncordoned zones.
  const plan = planMoves(
    {
      target: { cells: go.map((c) => c.metadata.name) },
      type: "Emergency",
      writeFreeze: AUTOMATIC_WRITE_FREEZE,
      abort: false,
    } as Failover["spec"],
    i.cells,
    i.zones,
  );
  const movable = new Set(plan.moves.map((m) => m.cell));
  for (const c of go)
    if (!movable.has(c.metadata.name))
      held.push({
        cell: c.metadata.name,
        why: plan.problems.find((p) => p.includes(`Cell ${c.metadata.name}`)) ?? "no healthy destination",
      });
  return {
    cells: [...movable].sort(),
    reason: failure.why,
    held,
    ...(recheck !== undefined ? { recheckAfterMs: recheck } : {}),
  };
}
