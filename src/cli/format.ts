// What kubectl-ldc prints: pure functions from API objects to text, so they
// are unit tested. Colors only when asked (the caller passes color=true on a
// TTY without NO_COLOR).
import type { Cell, Failover, FailoverPlan, FailoverStepStatus, ShardingRule, Zone } from "../api/index.ts";
import { formatDuration } from "../api/index.ts";
import { cellShards } from "../reconcilers/cell-shards.ts";
import { activeZoneOf } from "../reconcilers/cellapp.ts";
import { effectiveCells, isFinished, isWriteFrozen } from "../reconcilers/failover.ts";
import { formatRanges, type RoutingTable, type TableDiff } from "../routing/index.ts";
import type { HistoryEntry } from "../reconcilers/rule-history.ts";

export type Style = "green" | "yellow" | "red" | "bold" | "dim";
export type TableCell = string | { text: string; style?: Style | undefined };

const ANSI: Record<Style, [string, string]> = {
  green: ["\x1b[32m", "\x1b[39m"],
  yellow: ["\x1b[33m", "\x1b[39m"],
  red: ["\x1b[31m", "\x1b[39m"],
  bold: ["\x1b[1m", "\x1b[22m"],
  dim: ["\x1b[2m", "\x1b[22m"],
};

export function paint(text: string, style: Style | undefined, color: boolean): string {
  if (!color || !style) return text;
  const [a, b] = ANSI[style];
  return a + text + b;
}

/** Aligned columns (two spaces apart), the first row a header; no trailing spaces. */
export function renderTable(rows: readonly (readonly TableCell[])[], color = false): string {
  const norm = rows.map((r) => r.map((c) => (typeof c === "string" ? { text: c } : c)));
  const widths: number[] = [];
  for (const r of norm) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.text.length)));
  return norm
    .map((r, ri) =>
      r
        .map((c, i) => {
          const padded = i === r.length - 1 ? c.text : c.text.padEnd(widths[i]!);
          return paint(padded, ri === 0 && color ? "bold" : c.style, color);
        })
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

export function phaseStyle(phase: string | undefined): Style | undefined {
  switch (phase) {
    case "Ready":
    case "Succeeded":
    case "serving":
      return "green";
    case "Pending":
    case "Running":
    case "Degraded":
    case "FailingOver":
    case "RolledBack":
    case "Aborted":
      return "yellow";
    case "Unreachable":
    case "Unavailable":
    case "Failed":
      return "red";
    default:
      return undefined;
  }
}

// ------------------------------------------------------------------ status

export interface PublishedTable {
  table: RoutingTable;
  /** Where it was read: "namespace/name". */
  source: string;
}

export interface StatusView {
  zones: readonly Zone[];
  /** As stored: the running Failovers overlay them (active zone, write freeze, failover). */
  cells: readonly Cell[];
  failovers: readonly Failover[];
  rules: readonly ShardingRule[];
  /** The newest published table per rule name. */
  tables: ReadonlyMap<string, PublishedTable>;
  /** Only this rule's routing (--rule). */
  rule?: string;
}

const byName = <T extends { metadata: { name: string } }>(a: T, b: T) =>
  a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0;

/** One row per run of consecutive shards with the same cell and frozen state. */
export function shardRuns(table: RoutingTable): { shards: string; cell: string; zone: string; frozen: boolean }[] {
  const out: { shards: string; cell: string; zone: string; frozen: boolean }[] = [];
  let start = 0;
  for (let s = 1; s <= table.shards; s++) {
    if (
      s === table.shards ||
      table.ownerIndex(s) !== table.ownerIndex(start) ||
      table.isFrozen(s) !== table.isFrozen(start)
    ) {
      const c = table.ownerOf(start);
      out.push({ shards: formatRanges([[start, s - 1]]), cell: c.name, zone: c.zone, frozen: table.isFrozen(start) });
      start = s;
    }
  }
  return out;
}

export function formatStatus(v: StatusView, color = false): string {
  const sections: string[] = [];
  const zones = [...v.zones].sort(byName);
  sections.push(
    zones.length === 0
      ? "ZONES: none (create Zone objects, see examples/10-zones.yaml)"
      : renderTable(
          [
            ["ZONE", "REGION", "PHASE", "NODES", "CELLS"],
            ...zones.map((z) => [
              z.metadata.name,
              z.spec.region,
              { text: z.status?.phase ?? "Unknown", style: phaseStyle(z.status?.phase) },
              z.status?.totalNodes !== undefined ? `${z.status.readyNodes ?? 0}/${z.status.totalNodes}` : "-",
              String(z.status?.cells ?? "-"),
            ]),
          ],
          color,
        ),
  );
  const cells = effectiveCells(v.cells, v.failovers).sort(byName);
  sections.push(
    cells.length === 0
      ? "CELLS: none (create Cell objects, see examples/20-cells.yaml)"
      : renderTable(
          [
            ["CELL", "TYPE", "HOME", "ACTIVE", "SHARDS", "PHASE", "FAILOVER"],
            ...cells.map((c) => {
              const active = activeZoneOf(c);
              const moved = active !== c.spec.zone;
              const frozen = isWriteFrozen(c)
                ? " (writes frozen)"
                : c.status?.evacuated
                  ? " (evacuated: its region's reads served elsewhere)"
                  : "";
              const owned = cellShards(c.metadata.name, v.rules);
              return [
                c.metadata.name,
                c.spec.type,
                c.spec.zone,
                { text: active + (moved ? "*" : ""), style: moved ? ("yellow" as const) : undefined },
                owned.shards ? `${owned.shards} (${owned.count})` : "-",
                {
                  text: (c.status?.phase ?? "Unknown") + frozen,
                  style: frozen ? ("red" as const) : phaseStyle(c.status?.phase),
                },
                c.status?.failoverRef ?? "-",
              ];
            }),
          ],
          color,
        ) + (cells.some((c) => activeZoneOf(c) !== c.spec.zone) ? "\n* active outside its home zone" : ""),
  );
  const rules = [...v.rules].sort(byName).filter((r) => !v.rule || r.metadata.name === v.rule);
  if (v.rule && rules.length === 0) sections.push(`RULE ${v.rule}: no such ShardingRule`);
  for (const rule of rules) {
    const pub = v.tables.get(rule.metadata.name);
    if (!pub) {
      sections.push(
        `ROUTING ${rule.metadata.name}: no routing table published yet (status epoch ${rule.status?.epoch ?? "-"}; the operator publishes it once a CellApp uses the rule)`,
      );
      continue;
    }
    const t = pub.table;
    const runs = shardRuns(t);
    const frozen = runs.filter((r) => r.frozen).length;
    const statusEpoch = rule.status?.epoch;
    const lag = statusEpoch !== undefined && statusEpoch !== t.epoch ? ` (rule status says epoch ${statusEpoch})` : "";
    const head = `ROUTING ${rule.metadata.name}  epoch ${t.epoch}${lag}  ${t.shards} shards  from ${pub.source}${
      t.globalCell ? `  global ${t.globalCell.name}@${t.globalCell.zone}` : ""
    }${frozen ? paint(`  ${frozen} range(s) FROZEN`, "red", color) : ""}`;
    sections.push(
      head +
        "\n" +
        renderTable(
          [
            ["SHARDS", "SERVED BY", "STATE"],
            ...runs.map((r) => [
              r.shards,
              `${r.cell}@${r.zone}`,
              r.frozen
                ? { text: "FROZEN (writes refused)", style: "red" as const }
                : { text: "serving", style: "green" as const },
            ]),
          ],
          color,
        ),
    );
  }
  return sections.join("\n\n") + "\n";
}

// ------------------------------------------------------------------ route

export interface RouteView {
  key: string;
  method: string;
  table: RoutingTable;
  source: string;
}

export type RouteResult = { ok: true; text: string } | { ok: false; error: string };

export function formatRoute(v: RouteView): RouteResult {
  const t = v.table;
  const shard = t.shardOf(v.key);
  if (shard < 0) {
    const why = t.keyPattern
      ? `it must match ${t.keyPattern} and suit the shard function (${describeFunction(t)})`
      : `it does not suit the shard function (${describeFunction(t)})`;
    const fallback =
      t.onInvalidKey === "Global" && t.globalCell
        ? "requests with it are rejected (400): only requests without a key go to the global cell"
        : "requests with it are rejected (400)";
    return {
      ok: false,
      error: `key ${JSON.stringify(v.key)} is not a valid routing key for rule ${t.ruleName}: ${why}; ${fallback}. Pass the user id (or whatever ${t.key.map((k) => `${k.type.toLowerCase()} ${k.name}`).join(", ")} carries).`,
    };
  }
  const cell = t.ownerOf(shard);
  const frozen = t.isFrozen(shard);
  const write = t.isWriteMethod(v.method);
  const state = frozen
    ? write
      ? `FROZEN: this ${v.method} is refused with 503 + Retry-After ${t.frozenRetryAfterSeconds}s until the switch`
      : `FROZEN for writes; this ${v.method} (a read) is served`
    : "serving";
  const text = renderTable([
    ["key", v.key],
    ["rule", `${t.ruleName} (epoch ${t.epoch}, from ${v.source})`],
    ["shard", `${shard} of ${t.shards} (${describeFunction(t)})`],
    ["cell", `${cell.name} (${cell.type})`],
    ["zone", `${cell.zone} (${cell.region})`],
    ["state", state],
  ]);
  return { ok: true, text: text + "\n" };
}

function describeFunction(t: RoutingTable): string {
  const f = t.function as { type: string; from?: number; to?: number; algorithm?: string };
  if (f.type === "Digits") return `Digits from ${f.from}${f.to !== undefined ? ` to ${f.to}` : ""}`;
  if (f.type === "Hash") return `Hash${f.algorithm ? ` ${f.algorithm}` : ""} mod ${t.shards}`;
  return `${f.type} ${t.shards}`;
}

// ------------------------------------------------------------------ failovers

export { isFinished } from "../reconcilers/failover.ts";

export const REFUSED_WRITES_ANNOTATION = "ldc.io/refused-writes";

const ms = (a?: string, b?: string): number | undefined =>
  a && b && !Number.isNaN(Date.parse(a)) && !Number.isNaN(Date.parse(b)) ? Date.parse(b) - Date.parse(a) : undefined;

export function humanDuration(millis: number | undefined): string {
  if (millis === undefined || millis < 0) return "-";
  return formatDuration(Math.round(millis));
}

function clock(t: string | undefined): string {
  if (!t) return "-";
  const d = new Date(t);
  return Number.isNaN(d.getTime()) ? t : d.toISOString().slice(11, 19);
}

export function describeTarget(f: Failover): string {
  const what = f.spec.target.zone ? `zone ${f.spec.target.zone}` : `cells ${(f.spec.target.cells ?? []).join(", ")}`;
  return `${what} -> ${f.spec.destination?.zone ?? "each cell's first healthy standby zone"}`;
}

/** Where the refused-requests figure comes from: status (if the operator reports it) or the annotation. */
export function refusedWrites(f: Failover): string {
  const fromStatus = (f.status as { refusedWrites?: unknown } | undefined)?.refusedWrites;
  if (typeof fromStatus === "number") return String(fromStatus);
  const a = f.metadata.annotations?.[REFUSED_WRITES_ANNOTATION];
  if (a !== undefined && a !== "") return a;
  return "n/a (sidecar metrics not reachable)";
}

/** A rule's kept epochs, oldest first: when, why, what changed. */
export function formatHistory(rule: string, entries: readonly HistoryEntry[], color = false): string {
  if (entries.length === 0) return `rule ${rule}: no epoch recorded yet\n`;
  return (
    `rule ${rule}: ${entries.length} epoch(s) kept (${entries[0]!.epoch}-${entries.at(-1)!.epoch}); compare two with kubectl ldc diff ${rule} E1 E2\n\n` +
    renderTable(
      [
        ["EPOCH", "PUBLISHED", "WHY", "CHANGES"],
        ...entries.map((e) => [
          String(e.epoch),
          e.time.replace(/\.\d+Z$/, "Z"),
          e.why,
          e.changes.replace(/^epoch \d+ -> \d+: /, ""),
        ]),
      ],
      color,
    ) +
    "\n"
  );
}

/** What changed between two epochs: owners (cell@zone) per shard range, freezes, cells, settings. */
export function formatTableDiff(d: TableDiff, color = false): string {
  const lines = [`rule ${d.rule}: epoch ${d.fromEpoch} -> ${d.toEpoch}${d.changed ? "" : ": no change"}`];
  if (d.reshard)
    lines.push(paint("RESHARD: the shard count or function changed; keys map to other shards", "red", color));
  if (d.moved.length)
    lines.push(
      "",
      renderTable(
        [
          ["SHARDS", "FROM", "TO"],
          ...d.moved.map((m) => [m.shards, `${m.from.cell}@${m.from.zone}`, `${m.to.cell}@${m.to.zone}`]),
        ],
        color,
      ),
      `${d.movedCount} shard(s) changed owner or zone`,
    );
  if (d.frozen) lines.push(`frozen:    ${d.frozen}`);
  if (d.unfrozen) lines.push(`unfrozen:  ${d.unfrozen}`);
  for (const a of d.added) lines.push(`added:     ${a.shards} -> ${a.to.cell}@${a.to.zone}`);
  if (d.removed) lines.push(`removed:   ${d.removed}`);
  for (const c of d.cells.added) lines.push(`cell added:   ${c.name} (${c.type}) in ${c.zone}`);
  for (const c of d.cells.removed) lines.push(`cell removed: ${c}`);
  for (const c of d.cells.changed)
    lines.push(
      `cell ${c.name}: ${c.from.zone !== c.to.zone ? `${c.from.zone} -> ${c.to.zone}` : ""}${
        c.from.evacuated !== c.to.evacuated
          ? c.to.evacuated
            ? "evacuated (its region's reads served elsewhere)"
            : "back from evacuation"
          : ""
      }`,
    );
  for (const [k, v] of Object.entries(d.settings)) lines.push(`setting ${k}: now ${JSON.stringify(v)}`);
  return lines.join("\n") + "\n";
}

/**
 * A failover's plan (a dry run): what moves where with its shards, the
 * epochs per rule, the freeze, the destinations' capacity, what cannot move,
 * what would be waited for, and every refusal.
 */
export function formatPlan(f: Failover, plan: FailoverPlan, color = false): string {
  const lines: string[] = [];
  const kind =
    f.spec.type === "Drill"
      ? `drill of ${describeTarget(f)}, failing back after ${f.spec.drill?.duration}`
      : `EMERGENCY failover of ${describeTarget(f)}`;
  lines.push(`${paint("DRY RUN", "bold", color)}: ${kind}. Nothing was created or changed.`);
  lines.push("");
  const cells = plan.cells ?? [];
  if (cells.length === 0) lines.push("cells: none would move");
  else
    lines.push(
      renderTable(
        [
          ["CELL", "TYPE", "FROM", "TO", "SHARDS (SHARE OF THE KEY SPACE)"],
          ...cells.map((c) => [
            c.cell,
            c.type,
            c.from,
            c.to ?? "(stays)",
            c.type === "City"
              ? `no freeze; its region's City reads served by ${c.servedBy ?? "-"}`
              : (c.shards ?? []).map((x) => `${x.rule} ${x.ranges} (${x.count}, ${x.percent}%)`).join("; ") || "-",
          ]),
        ],
        color,
      ),
    );
  lines.push("");
  for (const r of plan.rules ?? [])
    lines.push(
      `epochs:    rule ${r.rule}: ${r.epochs.length ? r.epochs.join(", ") : "none (its table does not change)"}`,
    );
  lines.push(`freeze:    ${plan.freeze ?? "-"}`);
  for (const c of plan.capacity ?? [])
    lines.push(
      `capacity:  ${paint(c.fits === undefined ? "?" : c.fits ? "fits" : "DOES NOT FIT", c.fits === false ? "red" : c.fits ? "green" : "yellow", color)}  ${c.message}`,
    );
  const skip = f.spec.onUnmovable === "Skip";
  for (const u of plan.unmovable ?? []) lines.push(`${skip ? "skipped:  " : "unmovable:"} ${u.cell}: ${u.reason}`);
  for (const w of plan.waiting ?? []) lines.push(`waits for: ${w}`);
  const refusals = plan.refusals ?? [];
  if (refusals.length) {
    lines.push("");
    lines.push(paint(`REFUSED (${refusals.length} reason${refusals.length > 1 ? "s" : ""}):`, "red", color));
    for (const r of refusals) lines.push(`  - ${r}`);
  } else {
    lines.push("");
    lines.push(paint("no refusal: run it without --dry-run to start it", "green", color));
  }
  return lines.join("\n") + "\n";
}

/** The full report of a failover: header, steps, epochs, RTO, freeze, refused requests. */
export function formatFailoverReport(f: Failover, color = false, now: Date = new Date()): string {
  const st = f.status ?? {};
  // A dry run (spec.dryRun) did nothing: its report is its plan.
  if (st.phase === "Planned" && st.plan) return formatPlan(f, st.plan, color);
  const phase = st.phase ?? "Pending";
  const lines: string[] = [];
  lines.push(
    `${paint(`Failover ${f.metadata.name}`, "bold", color)} (${f.spec.type})  phase ${paint(phase, phaseStyle(phase), color)}${
      st.step && !isFinished(f) ? `  step ${st.step}` : ""
    }${f.spec.abort ? "  (abort requested)" : ""}`,
  );
  lines.push(`target:    ${describeTarget(f)}${f.spec.drill ? `, failback after ${f.spec.drill.duration}` : ""}`);
  if (f.spec.reason) lines.push(`reason:    ${f.spec.reason}`);
  if (st.cells?.length)
    lines.push(
      `cells:     ${st.cells.map((c) => (c.evacuate === undefined ? `${c.cell} ${c.from}->${c.to}` : `${c.cell} ${c.evacuate ? "evacuated" : "back"} in ${c.from}`)).join(", ")}`,
    );
  for (const sk of st.skipped ?? []) lines.push(`skipped:   ${sk.cell}: ${sk.reason}`);
  if (st.abortedBy)
    lines.push(
      paint(
        `aborted by check ${st.abortedBy.check} at ${clock(st.abortedBy.time)}: ${st.abortedBy.reason}`,
        "red",
        color,
      ),
    );
  const total = ms(st.startTime, st.completionTime ?? (isFinished(f) ? undefined : now.toISOString()));
  lines.push(
    `started:   ${st.startTime ?? "-"}${st.completionTime ? `   completed: ${st.completionTime}` : ""}${
      total !== undefined ? `   (${isFinished(f) ? "took" : "running for"} ${humanDuration(total)})` : ""
    }`,
  );
  lines.push("");
  const steps = st.steps ?? [];
  if (steps.length === 0) lines.push("steps: none yet (the operator has not picked the failover up)");
  else {
    lines.push(
      renderTable(
        [
          ["STEP", "PHASE", "START", "END", "DURATION", "MESSAGE"],
          ...steps.map((s: FailoverStepStatus) => [
            s.name,
            { text: s.phase, style: phaseStyle(s.phase) },
            clock(s.startTime),
            clock(s.endTime),
            humanDuration(ms(s.startTime, s.endTime ?? (s.phase === "Running" ? now.toISOString() : undefined))),
            s.message ?? "",
          ]),
        ],
        color,
      ),
    );
  }
  lines.push("");
  const e = st.epochs ?? {};
  const epochs = [
    ["before", e.before],
    ["freeze", e.freeze],
    ["switch", e.switch],
    ["failback freeze", e.failbackFreeze],
    ["failback switch", e.failbackSwitch],
  ].filter(([, v]) => v !== undefined);
  lines.push(`epochs:    ${epochs.length ? epochs.map(([k, v]) => `${k} ${v}`).join(", ") : "-"}`);
  lines.push(`RTO:       ${st.rtoMilliseconds !== undefined ? humanDuration(st.rtoMilliseconds) : "-"}`);
  lines.push(
    `freeze:    ${st.freezeMilliseconds !== undefined ? `writes frozen for ${humanDuration(st.freezeMilliseconds)}` : "-"}`,
  );
  lines.push(`requests refused during the freeze: ${refusedWrites(f)}`);
  if (st.message) lines.push(`message:   ${st.message}`);
  return lines.join("\n") + "\n";
}

/** Progress lines for what changed between two observations of a failover (one per step transition). */
export function progressLines(prev: Failover | undefined, next: Failover, startedAt: number, now: number): string[] {
  const out: string[] = [];
  const base = next.status?.startTime ? Date.parse(next.status.startTime) : startedAt;
  const at = (t: string | undefined) => {
    const x = t && !Number.isNaN(Date.parse(t)) ? Date.parse(t) : now;
    return `[+${((x - base) / 1000).toFixed(1).padStart(6)}s]`;
  };
  const before = new Map<string, FailoverStepStatus>();
  (prev?.status?.steps ?? []).forEach((s, i) => before.set(`${i}:${s.name}`, s));
  (next.status?.steps ?? []).forEach((s, i) => {
    const old = before.get(`${i}:${s.name}`);
    if (old && old.phase === s.phase) return;
    const done = s.phase !== "Running" && s.phase !== "Pending";
    const dur = done ? ms(s.startTime, s.endTime) : undefined;
    out.push(
      `${at(done ? s.endTime : s.startTime)} ${s.name} ${s.phase}${dur !== undefined ? ` (${humanDuration(dur)})` : ""}${
        s.message ? `: ${s.message}` : ""
      }`,
    );
  });
  const p0 = prev?.status?.phase;
  const p1 = next.status?.phase;
  if (p1 && p1 !== p0)
    out.push(
      `${at(next.status?.completionTime ?? (p1 === "Running" ? next.status?.startTime : undefined))} failover ${p1}${next.status?.message ? `: ${next.status.message}` : ""}`,
    );
  return out;
}
