// Which cells a Failover moves and where to: the plan Preflight records in
// the Failover's status (status.cells), and how moves are described. Pure.
import type { Cell, Failover, Zone } from "../api/index.ts";
import { activeZoneOf } from "./cellapp.ts";
import { isFailoverDestination } from "./zone.ts";

export interface Move {
  cell: string;
  from: string;
  to: string;
}

export interface MovePlan {
  moves: Move[];
  /** Why the failover cannot start, naming the field and the fix. */
  problems: string[];
}

/**
 * The cells a failover moves and each one's destination: spec.destination,
 * else the cell's first standby (home zone first when failing back) that is
 * Ready and not cordoned. Never a zone that is not healthy.
 */
export function planMoves(spec: Failover["spec"], cells: readonly Cell[], zones: readonly Zone[]): MovePlan {
  const zoneByName = new Map(zones.map((z) => [z.metadata.name, z]));
  const problems: string[] = [];
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
    targets = cells.filter((c) => activeZoneOf(c) === zone);
    if (zoneByName.has(zone) && targets.length === 0)
      problems.push(`spec.target.zone: no cell is active in zone ${zone}: nothing to move`);
  }
  const moves: Move[] = [];
  for (const cell of [...targets].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))) {
    const from = activeZoneOf(cell);
    const candidates = spec.destination?.zone
      ? [spec.destination.zone]
      : [cell.spec.zone, ...(cell.spec.standbyZones ?? [])].filter((z) => z !== from);
    const healthy = candidates.find((z) => {
      const zone = zoneByName.get(z);
      return z !== from && zone !== undefined && isFailoverDestination(zone);
    });
    if (!healthy) {
      const why = candidates
        .map((z) => {
          const zone = zoneByName.get(z);
          if (z === from) return `${z} (the cell is already there)`;
          if (!zone) return `${z} (no such Zone)`;
          return `${z} (${zone.spec.cordoned ? "cordoned" : (zone.status?.phase ?? "not yet observed")})`;
        })
        .join(", ");
      problems.push(
        `Cell ${cell.metadata.name}: no healthy destination among ${why || "(no standby zones)"}: ` +
          (spec.destination?.zone
            ? "choose another spec.destination.zone"
            : "add a healthy standby zone to the cell or set spec.destination.zone"),
      );
      continue;
    }
    moves.push({ cell: cell.metadata.name, from, to: healthy });
  }
  return { moves, problems };
}

/**
 * The moves for a status message or an Event, bounded whatever the number of
 * cells (a message is at most 4,096 characters): grouped by direction, at
 * most `names` cell names per group, e.g. "1000 cells a1->b1 (c0000, c0001, c0002, c0003, c0004, +995 more)".
 */
export function describeMoves(moves: readonly Move[], names = 5): string {
  const groups = new Map<string, string[]>();
  for (const m of moves) {
    const k = `${m.from}->${m.to}`;
    const g = groups.get(k);
    if (g) g.push(m.cell);
    else groups.set(k, [m.cell]);
  }
  const parts = [...groups].map(([dir, cells]) => {
    const shown = cells.slice(0, names).join(", ");
    const more = cells.length > names ? `, +${cells.length - names} more` : "";
    return `${cells.length === 1 ? `${cells[0]} ${dir}` : `${cells.length} cells ${dir} (${shown}${more})`}`;
  });
  // Names are at most 63 characters: 5 groups of 5 names stay under 2,500 characters.
  return parts.slice(0, 5).join("; ") + (parts.length > 5 ? `; +${parts.length - 5} more directions` : "");
}

/** The moves of the current leg: out, or reversed for the failback. */
export function legMoves(moves: readonly Move[], failingBack: boolean): Move[] {
  return failingBack ? moves.map((m) => ({ cell: m.cell, from: m.to, to: m.from })) : [...moves];
}
