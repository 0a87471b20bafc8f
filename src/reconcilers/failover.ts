// Failover planning: which cells move, where to, and the order of steps.
// Pure; the Failover controller persists every decision in status.
import type { Cell, Failover, FailoverStep, Zone } from "../api/index.ts";
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

/** The steps of one leg (out, or back for a drill's failback). */
export const LEG: readonly FailoverStep[] = [
  "ScaleUpStandby",
  "Freeze",
  "WaitReplication",
  "Switch",
  "WaitAcknowledge",
  "ScaleDownOld",
];

/** The step after `step`: legs, then the drill wait and the failback leg, then Done. */
export function nextStep(step: FailoverStep, drill: boolean, failingBack: boolean): FailoverStep {
  if (step === "Preflight") return "ScaleUpStandby";
  if (step === "DrillWait") return "Failback";
  if (step === "Failback") return "ScaleUpStandby";
  const i = LEG.indexOf(step);
  if (i >= 0 && i < LEG.length - 1) return LEG[i + 1]!;
  if (step === "ScaleDownOld") return drill && !failingBack ? "DrillWait" : "Done";
  return "Done";
}

/** Before the switch a failure (or an abort) rolls back to the previous owner; after it, it cannot. */
export function isBeforeSwitch(step: FailoverStep): boolean {
  return step === "Preflight" || step === "ScaleUpStandby" || step === "Freeze" || step === "WaitReplication";
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

/** An index of a Failover's moving cells, built once per status object (the cache replaces it on change). */
const moveIndex = new WeakMap<readonly object[], Map<string, { cell: string; from: string; to: string }>>();
function movesByCell(
  cells: readonly { cell: string; from: string; to: string }[],
): Map<string, { cell: string; from: string; to: string }> {
  let m = moveIndex.get(cells);
  if (!m) {
    m = new Map(cells.map((c) => [c.cell, c]));
    moveIndex.set(cells, m);
  }
  return m;
}

export type CellFailoverState = { activeZone: string; warmZone?: string; writeFrozen?: boolean; failoverRef?: string };

const FINISHED_PHASES = new Set(["Succeeded", "Failed", "RolledBack", "Aborted"]);

/** Whether a Failover has ended (it no longer acts on or overlays its cells). */
export function isFinished(fo: Pick<Failover, "status">): boolean {
  return FINISHED_PHASES.has(fo.status?.phase ?? "");
}

/** Whether a Failover's status records the failback leg as started. */
export function isFailingBack(fo: Pick<Failover, "status">): boolean {
  return (fo.status?.steps ?? []).some((s) => s.name === "Failback");
}

/**
 * What a running Failover says about one cell, from its persisted step: the
 * Failover's status is the source of truth while it runs, so each step costs
 * one write however many cells move. Undefined: the Failover does not touch
 * the cell (or is finished).
 */
export function failoverStateOf(fo: Failover, cell: string): CellFailoverState | undefined {
  const st = fo.status;
  if (st?.phase !== "Running" || !st.step) return undefined;
  const move = movesByCell(st.cells ?? []).get(cell);
  if (!move) return undefined;
  return stateAt(st.step, move, isFailingBack(fo), fo.metadata.name);
}

function stateAt(step: FailoverStep, move: Move, back: boolean, ref: string): CellFailoverState {
  const from = back ? move.to : move.from;
  const to = back ? move.from : move.to;
  switch (step) {
    case "Preflight":
      return { activeZone: from, failoverRef: ref };
    case "ScaleUpStandby":
      return { activeZone: from, warmZone: to, failoverRef: ref };
    case "Freeze":
    case "WaitReplication":
      return { activeZone: from, warmZone: to, writeFrozen: true, failoverRef: ref };
    case "Switch":
    case "WaitAcknowledge":
      // The old side stays warm until the routers have all moved.
      return { activeZone: to, warmZone: from, failoverRef: ref };
    case "ScaleDownOld":
    case "Done":
      return { activeZone: to, failoverRef: ref };
    case "DrillWait":
    case "Failback":
      return { activeZone: move.to, failoverRef: ref };
  }
}

/**
 * The cells as the running Failovers make them: active/warm zone, write
 * freeze, failoverRef. Those three are derived (the Cell controller only
 * shows them), so a stored value is dropped unless a running Failover says so.
 */
export function effectiveCells<C extends Cell>(cells: readonly C[], failovers: readonly Failover[]): C[] {
  // Per running Failover once, not per cell: this runs over every cell in several controllers.
  const running = failovers
    .filter((f) => f.status?.phase === "Running" && f.status.step && f.status.cells?.length)
    .map((f) => ({
      moves: movesByCell(f.status!.cells!),
      step: f.status!.step!,
      back: isFailingBack(f),
      ref: f.metadata.name,
    }));
  return cells.map((c) => {
    let state: CellFailoverState | undefined;
    for (const fo of running) {
      const move = fo.moves.get(c.metadata.name);
      if (move) {
        state = stateAt(fo.step, move, fo.back, fo.ref);
        break;
      }
    }
    const stored = c.status;
    const derived =
      stored !== undefined && ("warmZone" in stored || "writeFrozen" in stored || "failoverRef" in stored);
    if (!state && !derived) return c;
    // Rest syntax, not `delete`: deleting keys turns objects into slow dictionaries.
    const { warmZone: _w, writeFrozen: _f, failoverRef: _r, ...rest } = stored ?? {};
    const status: NonNullable<Cell["status"]> = state
      ? {
          ...rest,
          activeZone: state.activeZone,
          ...(state.warmZone ? { warmZone: state.warmZone } : {}),
          ...(state.writeFrozen ? { writeFrozen: true } : {}),
          failoverRef: state.failoverRef,
        }
      : rest;
    return { ...c, status };
  });
}
