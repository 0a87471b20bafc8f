// A failover's plan, without doing it: the cells and their destinations (a
// City cell's stand-in), the shards and their share of the key space, the
// epochs each routing table would publish, the write freeze, whether the
// destinations can take the scaled-up replicas, and every refusal. The same
// planner (planMoves), overlay (effectiveCells) and table builder the real
// failover uses, run over the steps on paper. What a dry run (spec.dryRun)
// writes and `kubectl ldc drill start --dry-run` prints. Pure.
import type { Cell, CellApp, Failover, FailoverPlan, ShardingRule, Zone } from "../api/index.ts";
import { describeOwnership, formatRanges, rangesWhere, type RoutingTable } from "../routing/index.ts";
import { checkFit, freeCapacity, podRequests, type CapacityNode, type CapacityPod } from "./capacity.ts";
import { planCellApp } from "./cellapp.ts";
import { busyCells, effectiveCells, isFinished } from "./failover.ts";
import { planMoves, type Move } from "./failover-moves.ts";
import { resolveRule, rulesRoutingTo } from "./routing.ts";
import type { SidecarSettings } from "./sidecar.ts";
import type { FailoverStep } from "../api/index.ts";

export interface FailoverPlanInputs {
  failover: Pick<Failover, "metadata" | "spec">;
  cells: readonly Cell[];
  zones: readonly Zone[];
  rules: readonly ShardingRule[];
  /** Every Failover (the others' running moves are overlaid, and claim their cells). */
  failovers: readonly Failover[];
  apps: readonly CellApp[];
  sidecar: SidecarSettings;
  /** A zone's nodes (matching its node selector) and pods, or why they could not be read. */
  capacity(zone: string): { nodes: readonly CapacityNode[]; pods: readonly CapacityPod[] } | string;
}

export function planFailover(i: FailoverPlanInputs): FailoverPlan {
  const fo = i.failover;
  const name = fo.metadata.name;
  const others = i.failovers.filter((f) => f.metadata.name !== name);
  const now = effectiveCells(i.cells, others);
  const mp = planMoves(fo.spec, now, i.zones, i.rules);
  const skip = fo.spec.onUnmovable === "Skip";
  const refusals = skip
    ? mp.problems.filter((p) => !mp.unmovable.some((u) => p === `Cell ${u.cell}: ${u.reason}`))
    : [...mp.problems];
  const waiting = [...mp.waiting];
  const busy = busyCells(fo, mp.moves, now, others);
  if (busy.length) waiting.push(`another failover is moving ${busy.join(", ")}`);
  if (mp.moves.length === 0 && refusals.length === 0 && waiting.length === 0) refusals.push("no target cell can move");

  // The tables at each state of the run, from the same overlay the controllers read.
  const drill = fo.spec.type === "Drill";
  const at = (step: FailoverStep, back: boolean): Failover => ({
    ...(fo as Failover),
    status: {
      phase: "Running",
      step,
      cells: mp.moves,
      steps: back ? [{ name: "Failback", phase: "Succeeded" }] : [],
    },
  });
  const states: { label: string; fo?: Failover }[] = [
    { label: "before" },
    { label: "freeze", fo: at("Freeze", false) },
    { label: "switch", fo: at("Switch", false) },
    ...(drill
      ? [
          { label: "failback freeze", fo: at("Freeze", true) },
          { label: "failback switch", fo: at("Switch", true) },
        ]
      : []),
  ];
  const byName = new Map(i.cells.map((c) => [c.metadata.name, c]));
  const rules = rulesRoutingTo(
    i.rules,
    mp.moves.map((m) => byName.get(m.cell)).filter((c) => c !== undefined),
  );
  const tables = new Map<string, (RoutingTable | undefined)[]>();
  const planRules: NonNullable<FailoverPlan["rules"]> = [];
  for (const rule of rules) {
    const list = states.map((s) => {
      const r = resolveRule(rule, s.fo ? effectiveCells(i.cells, [...others, s.fo]) : now, i.zones);
      if (!r.table && s.label === "before")
        refusals.push(
          `rule ${rule.metadata.name} does not resolve: ${r.problems.map((p) => `${p.field}: ${p.message}`).join("; ")}`,
        );
      return r.table;
    });
    tables.set(rule.metadata.name, list);
    let epoch = rule.status?.epoch ?? 0;
    let hash = list[0]?.contentHash;
    const epochs: number[] = [];
    for (const t of list.slice(1)) {
      if (t && t.contentHash !== hash) epochs.push(++epoch);
      hash = t?.contentHash ?? hash;
    }
    // What this failover freezes: frozen at its freeze and not before (another failover may hold a freeze already).
    const [was, frozenAt] = [list[0], list[1]];
    const frozen = frozenAt
      ? formatRanges(rangesWhere(frozenAt.shards, (sh) => frozenAt.isFrozen(sh) && !(was?.isFrozen(sh) ?? false)))
      : "";
    planRules.push({ rule: rule.metadata.name, epochs, ...(frozen ? { frozenShards: frozen } : {}) });
  }

  const cells: NonNullable<FailoverPlan["cells"]> = mp.moves.map((m) => {
    const cell = byName.get(m.cell)!;
    const shards = [...tables].flatMap(([rule, list]) => {
      const before = list[0];
      const own = before && describeOwnership(before).find((o) => o.cell === m.cell && o.count > 0);
      return own
        ? [
            {
              rule,
              ranges: own.shards,
              count: own.count,
              percent: Math.round((own.count / before.shards) * 10000) / 100,
            },
          ]
        : [];
    });
    if (m.evacuate !== undefined)
      return { cell: m.cell, type: "City" as const, from: m.from, servedBy: servedBy(m, tables) };
    return { cell: m.cell, type: cell.spec.type, from: m.from, to: m.to, ...(shards.length ? { shards } : {}) };
  });

  const frozenRules = planRules.filter((r) => r.frozenShards);
  const freeze = frozenRules.length
    ? `writes to ${frozenRules.map((r) => `rule ${r.rule} shards ${r.frozenShards}`).join(", ")} refused (503, Retry-After) for ${fo.spec.writeFreeze} before the switch${drill ? " and again before the failback" : ""}, then until every sidecar holds the switch`
    : "none: no moving cell owns shards (Global and City cells move without freezing user shards)";

  const capacity = capacityOf(i, mp.moves, others);
  for (const c of capacity)
    if (c.fits === false) refusals.push(`${c.message} (ScaleUpStandby would time out and roll back)`);

  return {
    cells,
    ...(planRules.length ? { rules: planRules } : {}),
    freeze,
    ...(capacity.length ? { capacity } : {}),
    ...(mp.unmovable.length ? { unmovable: mp.unmovable } : {}),
    ...(refusals.length ? { refusals } : {}),
    ...(waiting.length ? { waiting } : {}),
  };
}

/** Who serves an evacuated City cell's region, per rule, as the switched tables route it. */
function servedBy(m: Move, tables: ReadonlyMap<string, (RoutingTable | undefined)[]>): string {
  const who = new Map<string, string[]>();
  for (const [rule, list] of tables) {
    const t = list[2];
    const region = t?.cell(m.cell)?.region;
    if (!t || region === undefined) continue;
    const ci = t.cityCellIndex(region);
    const name = ci >= 0 ? t.cells[ci]!.name : (t.globalCell?.name ?? "nobody (City reads answered 503)");
    who.set(name, [...(who.get(name) ?? []), rule]);
  }
  if (who.size <= 1) return [...who.keys()][0] ?? "its region's reads go to the global cell";
  return [...who].map(([n, rs]) => `${n} (rule ${rs.join(", ")})`).join(", ");
}

/** Per destination zone: the replicas ScaleUpStandby adds, against what its nodes have free. */
function capacityOf(
  i: FailoverPlanInputs,
  moves: readonly Move[],
  others: readonly Failover[],
): NonNullable<FailoverPlan["capacity"]> {
  const real = moves.filter((m) => m.evacuate === undefined);
  if (real.length === 0) return [];
  const before = effectiveCells(i.cells, others);
  const warm = effectiveCells(i.cells, [
    ...others,
    { ...(i.failover as Failover), status: { phase: "Running", step: "ScaleUpStandby", cells: real, steps: [] } },
  ]);
  const need = new Map<string, { cpu: number; memory: number }>();
  for (const app of i.apps) {
    const a = planCellApp({ app, cells: before, zones: i.zones, sidecar: i.sidecar });
    const b = planCellApp({ app, cells: warm, zones: i.zones, sidecar: i.sidecar });
    for (const m of real) {
      const was = a.cells.find((c) => c.cell === m.cell)?.workloads.find((w) => w.zone === m.to);
      const will = b.cells.find((c) => c.cell === m.cell)?.workloads.find((w) => w.zone === m.to);
      if (!will) continue;
      const extra = will.replicas - (was?.replicas ?? 0);
      if (extra <= 0) continue;
      const tpl = (will.deployment as { spec?: { template?: { spec?: CapacityPod["spec"] } } }).spec?.template?.spec;
      const r = podRequests(tpl);
      const n = need.get(m.to) ?? { cpu: 0, memory: 0 };
      need.set(m.to, { cpu: n.cpu + extra * r.cpu, memory: n.memory + extra * r.memory });
    }
  }
  return [...new Set(real.map((m) => m.to))].sort().map((zone) => {
    const wanted = need.get(zone) ?? { cpu: 0, memory: 0 };
    const seen = i.capacity(zone);
    if (typeof seen === "string") return { zone, message: `zone ${zone}: not checked: ${seen}` };
    return { zone, ...checkFit(zone, wanted, freeCapacity(seen.nodes, seen.pods)) };
  });
}

/** Whether a Failover is a dry run that has written its plan. */
export function isPlanned(fo: Pick<Failover, "status">): boolean {
  return fo.status?.phase === "Planned" && isFinished(fo);
}
