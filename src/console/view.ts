// What the console shows, as one JSON document built from the watched objects
// (pure: the server feeds it its informers' caches). The browser renders it
// as it is; nothing here talks to an API server.
import type { Cell, Failover, ShardingRule, Zone } from "../api/index.ts";
import { formatRanges, type RoutingTable, type TableDiff } from "../routing/index.ts";
import { effectiveCells, isFinished, isWriteFrozen } from "../reconcilers/failover.ts";
import { REFUSED_WRITES_ANNOTATION, describeTarget } from "../cli/format.ts";
import type { HeldAck } from "../controllers/relayacks.ts";

/** A source the console watches and whether the user's credentials let it. */
export interface SourceHealth {
  /** What it is, for the user: "Zones (home cluster)", "routing tables in zone hz-b". */
  what: string;
  ok: boolean;
  /** Why not, with the API server's words (403 reason, connection error). */
  problem?: string;
}

export interface PublishedCopy {
  table: RoutingTable;
  /** "cluster: namespace/name" */
  source: string;
  /** The zone whose cluster holds it (undefined: the home cluster, no zone pinned to it). */
  zone?: string;
}

export interface ViewInput {
  zones: readonly Zone[];
  cells: readonly Cell[];
  rules: readonly ShardingRule[];
  failovers: readonly Failover[];
  /** Every routing table ConfigMap read, in every cluster the user reaches. */
  copies: readonly PublishedCopy[];
  /** Sidecar acks (relay ack ConfigMaps) with the zone they were counted for. */
  acks: readonly (HeldAck & { countedZone: string })[];
  sources: readonly SourceHealth[];
  /** Epochs of each rule's tables this console has seen (history). */
  history: ReadonlyMap<string, readonly number[]>;
  server: string;
  user?: string;
  now: Date;
}

export interface ShardMapView {
  rule: string;
  epoch: number;
  source: string;
  shards: number;
  function: string;
  fn: RoutingTable["function"];
  cells: { name: string; type: string; zone: string; region: string }[];
  /** Owning cell index of each shard (index into cells). */
  owner: number[];
  /** Frozen shards, as a list of shard numbers. */
  frozen: number[];
}

export function describeFunction(t: Pick<RoutingTable, "function" | "shards">): string {
  const f = t.function;
  if (f.type === "Digits")
    return `Digits from ${f.from}${f.to !== undefined ? ` to ${f.to}` : ""} (${t.shards} shards)`;
  if (f.type === "Hash") return `Hash ${f.algorithm} mod ${t.shards}`;
  return `Modulo ${t.shards}`;
}

/** The newest copy of each rule's table (highest epoch wins, as a router would). */
export function newestTables(copies: readonly PublishedCopy[]): Map<string, PublishedCopy> {
  const out = new Map<string, PublishedCopy>();
  for (const c of copies) {
    const prev = out.get(c.table.ruleName);
    if (!prev || prev.table.epoch < c.table.epoch) out.set(c.table.ruleName, c);
  }
  return out;
}

export function shardMapOf(copy: PublishedCopy): ShardMapView {
  const t = copy.table;
  const { owner, frozen } = t.ownership();
  const frozenList: number[] = [];
  for (let s = 0; s < t.shards; s++) if (frozen[s]) frozenList.push(s);
  return {
    rule: t.ruleName,
    epoch: t.epoch,
    source: copy.source,
    shards: t.shards,
    function: describeFunction(t),
    fn: t.function,
    cells: t.cells.map((c) => ({ name: c.name, type: c.type, zone: c.zone, region: c.region })),
    owner: Array.from(owner),
    frozen: frozenList,
  };
}

const stepMs = (s: { startTime?: string | undefined; endTime?: string | undefined }, now: Date): number | undefined =>
  s.startTime ? (s.endTime ? Date.parse(s.endTime) : now.getTime()) - Date.parse(s.startTime) : undefined;

export function buildView(input: ViewInput) {
  const { now } = input;
  const eff = effectiveCells(input.cells, input.failovers);
  const tables = newestTables(input.copies);
  const shardCounts = new Map<string, Record<string, number>>();
  for (const [rule, copy] of tables) {
    const counts = new Map<number, number>();
    const { owner } = copy.table.ownership();
    for (const o of owner) counts.set(o, (counts.get(o) ?? 0) + 1);
    for (const [i, n] of counts) {
      const name = copy.table.cells[i]!.name;
      const per = shardCounts.get(name) ?? {};
      per[rule] = n;
      shardCounts.set(name, per);
    }
  }
  const running = input.failovers.filter((f) => !isFinished(f));
  const zones = [...input.zones]
    .sort((a, b) => a.spec.region.localeCompare(b.spec.region) || a.metadata.name.localeCompare(b.metadata.name))
    .map((z) => ({
      name: z.metadata.name,
      region: z.spec.region,
      phase: z.status?.phase ?? "Unknown",
      reachable: z.status?.reachable,
      readyNodes: z.status?.readyNodes,
      totalNodes: z.status?.totalNodes,
      cells: eff.filter((c) => (c.status?.activeZone ?? c.spec.zone) === z.metadata.name).map((c) => c.metadata.name),
      cordoned: Boolean(z.spec.cordoned),
      member: Boolean(z.spec.cluster?.kubeconfigSecretRef),
      lastProbeTime: z.status?.lastProbeTime,
    }));
  const cells = eff
    .map((c) => ({
      name: c.metadata.name,
      type: c.spec.type,
      home: c.spec.zone,
      active: c.status?.activeZone ?? c.spec.zone,
      standby: c.spec.standbyZones ?? [],
      phase: c.status?.phase ?? "Unknown",
      shards: shardCounts.get(c.metadata.name) ?? {},
      failover: c.status?.failoverRef,
      writeFrozen: isWriteFrozen(c),
    }))
    .sort((a, b) => a.name.localeCompare(b.name));
  const rules = [...input.rules]
    .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))
    .map((r) => {
      const name = r.metadata.name;
      const perZone = new Map<string, Map<number, number>>();
      for (const a of input.acks) {
        if (a.rule !== name) continue;
        const z = perZone.get(a.countedZone) ?? new Map<number, number>();
        z.set(a.epoch, (z.get(a.epoch) ?? 0) + 1);
        perZone.set(a.countedZone, z);
      }
      const published = input.copies
        .filter((c) => c.table.ruleName === name)
        .map((c) => ({ zone: c.zone ?? "(home cluster)", source: c.source, epoch: c.table.epoch }))
        .sort((a, b) => a.zone.localeCompare(b.zone) || a.source.localeCompare(b.source));
      return {
        name,
        epoch: r.status?.epoch,
        sidecars: r.status?.sidecars,
        publishedZones: r.status?.publishedZones ?? [],
        published,
        acks: [...perZone]
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([zone, m]) => ({
            zone,
            epochs: [...m].sort(([a], [b]) => b - a).map(([epoch, sidecars]) => ({ epoch, sidecars })),
          })),
        conditions: (r.status?.conditions ?? []).map((c) => ({ type: c.type, status: c.status, message: c.message })),
        history: [...(input.history.get(name) ?? [])],
      };
    });
  const failovers = [...input.failovers]
    .sort(
      (a, b) =>
        Number(isFinished(a)) - Number(isFinished(b)) ||
        (b.metadata.creationTimestamp ?? "").localeCompare(a.metadata.creationTimestamp ?? "") ||
        a.metadata.name.localeCompare(b.metadata.name),
    )
    .map((f) => ({
      name: f.metadata.name,
      type: f.spec.type,
      target: describeTarget(f),
      destination: f.spec.destination?.zone,
      drillDuration: f.spec.drill?.duration,
      writeFreeze: f.spec.writeFreeze,
      phase: f.status?.phase ?? "Pending",
      step: f.status?.step,
      finished: isFinished(f),
      abort: Boolean(f.spec.abort),
      reason: f.spec.reason,
      message: f.status?.message,
      rtoMs: f.status?.rtoMilliseconds,
      freezeMs: f.status?.freezeMilliseconds,
      refusedWrites: f.metadata.annotations?.[REFUSED_WRITES_ANNOTATION],
      epochs: f.status?.epochs,
      moves: (f.status?.cells ?? []).map((c) => ({ cell: c.cell, from: c.from, to: c.to })),
      startTime: f.status?.startTime,
      completionTime: f.status?.completionTime,
      steps: (f.status?.steps ?? []).map((s) => ({
        name: s.name,
        phase: s.phase,
        startTime: s.startTime,
        endTime: s.endTime,
        ms: stepMs(s, now),
        message: s.message,
      })),
    }));
  return {
    server: input.server,
    user: input.user,
    generatedAt: now.toISOString(),
    sources: input.sources,
    zones,
    cells,
    rules,
    shardMaps: [...tables.values()].sort((a, b) => a.table.ruleName.localeCompare(b.table.ruleName)).map(shardMapOf),
    failovers,
    running: running.map((f) => f.metadata.name),
  };
}
export type ConsoleView = ReturnType<typeof buildView>;

/** A rule-history diff for the page: what moved between two epochs. */
export function diffView(d: TableDiff) {
  return {
    rule: d.rule,
    from: d.fromEpoch,
    to: d.toEpoch,
    changed: d.changed,
    reshard: d.reshard,
    movedCount: d.movedCount,
    moved: d.moved.map((m) => ({
      shards: m.shards,
      from: `${m.from.cell}@${m.from.zone}`,
      to: `${m.to.cell}@${m.to.zone}`,
    })),
    frozen: d.frozen,
    unfrozen: d.unfrozen,
    cellsChanged: d.cells.changed.map((c) => `${c.name}: ${c.from.zone} -> ${c.to.zone}`),
    settings: Object.keys(d.settings),
  };
}

/** Shard numbers as ranges ("0-19,40"), for titles. */
export const ranges = (shards: readonly number[]): string => {
  const out: [number, number][] = [];
  for (const s of shards) {
    const last = out[out.length - 1];
    if (last && last[1] === s - 1) last[1] = s;
    else out.push([s, s]);
  }
  return formatRanges(out);
};
