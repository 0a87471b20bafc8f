// Which cells a Failover moves and where to: the plan Preflight records in
// the Failover's status (status.cells), and how moves are described. Pure.
import type { Cell, Failover, ShardingRule, Zone } from "../api/index.ts";
import { cityStandIn } from "../routing/index.ts";
import { activeZoneOf } from "./cellapp.ts";
import { isFailoverDestination } from "./zone.ts";

export interface Move {
  cell: string;
  from: string;
  /** The zone the cell is active in after the move (a City cell's own zone: it does not move). */
  to: string;
  /**
   * City cells: true, its region's City-scope reads go to its stand-in from
   * the switch on (no freeze: they are reads); false, they come back to it.
   */
  evacuate?: boolean;
}

/** A target cell that cannot move, and why (naming the fix). */
export interface Unmovable {
  cell: string;
  reason: string;
}

export interface MovePlan {
  moves: Move[];
  /** Why the failover cannot start, naming the field and the fix (every entry of `unmovable` included). */
  problems: string[];
  /** The target cells among the problems: spec.onUnmovable Skip leaves them and moves the rest. */
  unmovable: Unmovable[];
  /** Not a refusal: what is merely not observed yet (a zone's first health check); Preflight waits for it. */
  waiting: string[];
}

/** Whether a move is a City cell's evacuation (or return): no zone change, no freeze, no scale-up. */
export function isCityMove(m: Move): boolean {
  return m.evacuate !== undefined;
}

/**
 * The cells a failover moves and each one's destination: spec.destination,
 * else the cell's first standby (home zone first when failing back) that is
 * Ready and not cordoned. Never a zone that is not healthy. A zone not yet
 * observed is waited for, not refused.
 *
 * City cells (per-city read copies) move only to a healthy home or standby
 * zone of their own region (a region has one City cell); otherwise their region's City-scope
 * reads go to a stand-in (another City cell not being evacuated, else each
 * rule's global cell: cityStandIn, as the routing table resolves it), so
 * they need no standby zone. One already evacuated comes back when a
 * failover names it in target.cells. `rules` (their global cells) tells
 * whether a stand-in exists when no other City cell does; omitted: assumed.
 */
export function planMoves(
  spec: Pick<Failover["spec"], "target" | "destination">,
  cells: readonly Cell[],
  zones: readonly Zone[],
  rules?: readonly Pick<ShardingRule, "metadata" | "spec">[],
): MovePlan {
  const zoneByName = new Map(zones.map((z) => [z.metadata.name, z]));
  const problems: string[] = [];
  const unmovable: Unmovable[] = [];
  const waiting: string[] = [];
  let targets: Cell[];
  if (spec.target.cells) {
    targets = [];
    for (const name of spec.target.cells) {
      const c = cells.find((x) => x.metadata.name === name);
      if (!c) problems.push(`spec.target.cells: Cell ${name} does not exist: fix the name`);
      else targets.push(c);
    }
  } else {
    const zone = spec.target.zone!;
    if (!zoneByName.has(zone)) problems.push(`spec.target.zone: Zone ${zone} does not exist: fix the name`);
    // A City cell already evacuated serves nothing here: nothing to move.
    targets = cells.filter((c) => activeZoneOf(c) === zone && !(c.spec.type === "City" && c.status?.evacuated));
    if (zoneByName.has(zone) && targets.length === 0)
      problems.push(`spec.target.zone: no cell is active in zone ${zone}: nothing to move`);
  }
  const sorted = [...targets].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  // Every City cell in the target counts as leaving when choosing stand-ins (those that move within their region too: conservative).
  const evacuating = new Set(
    sorted.filter((c) => c.spec.type === "City" && !c.status?.evacuated).map((c) => c.metadata.name),
  );
  const moves: Move[] = [];
  const refuse = (cell: string, reason: string) => {
    unmovable.push({ cell, reason });
    problems.push(`Cell ${cell}: ${reason}`);
  };
  for (const cell of sorted) {
    const name = cell.metadata.name;
    const from = activeZoneOf(cell);
    const candidates = spec.destination?.zone
      ? [spec.destination.zone]
      : [cell.spec.zone, ...(cell.spec.standbyZones ?? [])].filter((z) => z !== from);
    const healthy = candidates.find((z) => {
      const zone = zoneByName.get(z);
      return z !== from && zone !== undefined && isFailoverDestination(zone);
    });
    if (cell.spec.type === "City") {
      if (cell.status?.evacuated) {
        moves.push({ cell: name, from, to: from, evacuate: false });
        continue;
      }
      // A read copy moves only where it has a copy (its home or standby zones: spec.destination only if one of
      // them) and within its region (a region has one City cell); else its region's reads are served elsewhere.
      const region = zoneByName.get(from)?.spec.region;
      const sameRegion = [cell.spec.zone, ...(cell.spec.standbyZones ?? [])].find((z) => {
        const zone = zoneByName.get(z);
        return (
          z !== from &&
          (spec.destination?.zone === undefined || z === spec.destination.zone) &&
          zone !== undefined &&
          isFailoverDestination(zone) &&
          zone.spec.region === region
        );
      });
      if (sameRegion) {
        moves.push({ cell: name, from, to: sameRegion });
        continue;
      }
      const lacking = cityWithoutStandIn(cells, evacuating, rules);
      if (lacking.length)
        refuse(
          name,
          `no other City cell to serve its region's reads, and rule(s) ${lacking.join(", ")} have no spec.globalCell: ` +
            "add a City cell in another region or a global cell to the rule, or set spec.onUnmovable: Skip",
        );
      else moves.push({ cell: name, from, to: from, evacuate: true });
      continue;
    }
    if (healthy) {
      moves.push({ cell: name, from, to: healthy });
      continue;
    }
    // A zone not observed yet, or still coming up, may become a destination: wait for it (the step timeout bounds it).
    const coming = candidates.filter((z) => z !== from && mayBecomeReady(zoneByName.get(z)));
    if (coming.length) {
      const what = coming.map((z) => `${z} (${zoneByName.get(z)!.status?.phase ?? "not yet observed"})`);
      waiting.push(`Cell ${name}: waiting for zone ${what.join(" or ")} to be Ready`);
      continue;
    }
    const why = candidates
      .map((z) => {
        const zone = zoneByName.get(z);
        if (z === from) return `${z} (the cell is already there)`;
        if (!zone) return `${z} (no such Zone)`;
        return `${z} (${zone.spec.cordoned ? "cordoned" : (zone.status?.phase ?? "not yet observed")})`;
      })
      .join(", ");
    refuse(
      name,
      `no healthy destination among ${why || "(no standby zones)"}: ` +
        (spec.destination?.zone
          ? "choose another spec.destination.zone"
          : "add a healthy standby zone to the cell or set spec.destination.zone") +
        ", or set spec.onUnmovable: Skip",
    );
  }
  return { moves, problems, unmovable, waiting };
}

/**
 * A zone that is not a destination yet but may become one by itself: not
 * observed yet (no phase, Pending while its caches sync) or Degraded (its
 * cells' apps still starting). Unreachable, cordoned or missing zones are refusals.
 */
function mayBecomeReady(zone: Zone | undefined): boolean {
  if (!zone || zone.spec.cordoned) return false;
  const phase = zone.status?.phase;
  return phase === undefined || phase === "Pending" || phase === "Degraded";
}

/** The rules that would have nobody to serve City-scope reads once `evacuating` City cells are: empty when a stand-in exists. */
function cityWithoutStandIn(
  cells: readonly Cell[],
  evacuating: ReadonlySet<string>,
  rules: readonly Pick<ShardingRule, "metadata" | "spec">[] | undefined,
): string[] {
  const infos = cells.map((c) => ({
    name: c.metadata.name,
    type: c.spec.type,
    ...(c.status?.evacuated || evacuating.has(c.metadata.name) ? { evacuated: true as const } : {}),
  }));
  if (cityStandIn(infos, undefined) !== undefined || rules === undefined) return [];
  return rules.filter((r) => cityStandIn(infos, r.spec.globalCell) === undefined).map((r) => r.metadata.name);
}

/**
 * The moves for a status message or an Event, bounded whatever the number of
 * cells (a message is at most 4,096 characters): grouped by direction, at
 * most `names` cell names per group, e.g. "1000 cells a1->b1 (c0000, c0001, c0002, c0003, c0004, +995 more)".
 */
export function describeMoves(moves: readonly Move[], names = 5): string {
  const groups = new Map<string, string[]>();
  for (const m of moves) {
    const k = m.evacuate === undefined ? `${m.from}->${m.to}` : `${m.evacuate ? "evacuated" : "back"} in ${m.from}`;
    const g = groups.get(k);
    if (g) g.push(m.cell);
    else groups.set(k, [m.cell]);
  }
  const parts = [...groups].map(([dir, cells]) => {
    const shown = cells.slice(0, names).join(", ");
    const more = cells.length > names ? `, +${cells.length - names} more` : "";
    return cells.length === 1 ? `${cells[0]} ${dir}` : `${cells.length} cells ${dir} (${shown}${more})`;
  });
  // Names are at most 63 characters: 5 groups of 5 names stay under 2,500 characters.
  return parts.slice(0, 5).join("; ") + (parts.length > 5 ? `; +${parts.length - 5} more directions` : "");
}

/** The moves of the current leg: out, or reversed for the failback. */
export function legMoves(moves: readonly Move[], failingBack: boolean): Move[] {
  return failingBack
    ? moves.map((m) => ({
        cell: m.cell,
        from: m.to,
        to: m.from,
        ...(m.evacuate !== undefined ? { evacuate: !m.evacuate } : {}),
      }))
    : [...moves];
}
