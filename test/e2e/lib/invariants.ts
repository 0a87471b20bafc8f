// The product's invariants (docs: /work/shared/design/ldc-model.md,
// "Invariants"), checked from what the backends served, what the load
// generator saw and the tables the sidecars took. Each check returns its
// violations (empty: it holds) as sentences naming the request and epoch.
//
// Ground truth:
//  - A backend records every request it served, with x-ldc-epoch: the epoch
//    of the table held by the sidecar that decided to serve it locally. A
//    backend has exactly one sidecar in front of it, so that sidecar is the
//    one that accepted the write ("decided" it).
//  - Every table any sidecar took (and every table the operator published
//    while the test subscribed) is kept by epoch: for an epoch the content
//    is unique (checked as tables arrive).
//  - Each sidecar instance records every swap (epoch, time, sequence number).
//  - One sequence counter orders all of these events, since everything runs
//    in one process.
import type { RoutingTable } from "../../../src/routing/index.ts";
import type { Instance, ServedRecord } from "./fleet.ts";
import type { SentRecord } from "./load.ts";

/** Every table seen, by epoch, with the time it was first seen. */
export class TableHistory {
  readonly byEpoch = new Map<number, RoutingTable>();
  readonly firstSeen = new Map<number, number>();
  readonly violations: string[] = [];

  add(table: RoutingTable): void {
    const known = this.byEpoch.get(table.epoch);
    if (known) {
      if (known.contentHash !== table.contentHash)
        this.violations.push(`epoch ${table.epoch} was published twice with different contents`);
      return;
    }
    this.byEpoch.set(table.epoch, table);
    this.firstSeen.set(table.epoch, Date.now());
  }

  epochs(): number[] {
    return [...this.byEpoch.keys()].sort((a, b) => a - b);
  }
}

const isWrite = (method: string) => method !== "GET" && method !== "HEAD" && method !== "OPTIONS";

function writes(records: readonly ServedRecord[]): ServedRecord[] {
  return records.filter((r) => isWrite(r.method) && Number.isInteger(r.uid));
}

/**
 * 1. Owner at the router's epoch: every write a backend served was, in the
 *    table its sidecar held (x-ldc-epoch), for a shard owned by that cell in
 *    that zone and not write-frozen.
 */
export function checkOwnerAtEpoch(records: readonly ServedRecord[], tables: TableHistory): string[] {
  const out: string[] = [];
  for (const r of writes(records)) {
    const t = tables.byEpoch.get(r.epoch);
    if (!t) {
      out.push(`${r.requestId}: served by ${r.cell}@${r.zone} at unknown epoch ${r.epoch}`);
      continue;
    }
    const owner = t.ownerOf(r.shard);
    if (owner.name !== r.cell || owner.zone !== r.zone)
      out.push(
        `${r.requestId}: write for shard ${r.shard} served by ${r.cell}@${r.zone}, but at epoch ${r.epoch} ${owner.name}@${owner.zone} owns it`,
      );
    else if (t.isFrozen(r.shard))
      out.push(
        `${r.requestId}: write for shard ${r.shard} served by ${r.cell}@${r.zone} while frozen at epoch ${r.epoch}`,
      );
  }
  return out;
}

/**
 * 2. No split brain: for each shard, the writes in the order the backends
 *    served them; wherever the serving cell@zone changes between two
 *    consecutive writes (A at epoch a, then B at epoch b), there must be an
 *    epoch f with a < f < b in which the shard was write-frozen. So every write A accepted came before every write B
 *    accepted (no overlapping windows), and the hand-over went through a
 *    freeze. A late write of the old owner after the new one started shows up
 *    as a change back without a freeze in between.
 */
export function checkNoOverlap(records: readonly ServedRecord[], tables: TableHistory): string[] {
  const out: string[] = [];
  const byShard = new Map<number, ServedRecord[]>();
  for (const r of writes(records)) {
    const list = byShard.get(r.shard) ?? [];
    list.push(r);
    byShard.set(r.shard, list);
  }
  const epochs = tables.epochs();
  for (const [shard, list] of byShard) {
    list.sort((x, y) => x.seq - y.seq);
    for (let i = 1; i < list.length; i++) {
      const a = list[i - 1]!;
      const b = list[i]!;
      if (a.cell === b.cell && a.zone === b.zone) continue;
      const frozenBetween = epochs.some((f) => f > a.epoch && f < b.epoch && tables.byEpoch.get(f)!.isFrozen(shard));
      if (!frozenBetween)
        out.push(
          `shard ${shard}: ${a.cell}@${a.zone} accepted ${a.requestId} (epoch ${a.epoch}) and then ${b.cell}@${b.zone} accepted ${b.requestId} (epoch ${b.epoch}) with no write freeze in between`,
        );
    }
  }
  return out;
}

/** When `inst` first held `epoch` or later (undefined: never). */
function heldSince(inst: Instance, epoch: number): number | undefined {
  return inst.swaps.find((s) => s.epoch >= epoch)?.time;
}

export interface FreezeWindow {
  shard: number;
  /** The first epoch of the freeze. */
  epoch: number;
  /** Every sidecar that could route held the freeze epoch (or later) from here... */
  allFrozenAt: number;
  /** ...until the first sidecar took the epoch that lifted it (Infinity: still frozen). */
  liftedAt: number;
}

/** The freeze windows of every shard: [all sidecars hold the freeze, some sidecar lifts it). */
export function freezeWindows(instances: readonly Instance[], tables: TableHistory): FreezeWindow[] {
  const epochs = tables.epochs();
  const out: FreezeWindow[] = [];
  for (let s = 0; s < 100; s++) {
    for (let i = 0; i < epochs.length; i++) {
      const f = epochs[i]!;
      const t = tables.byEpoch.get(f)!;
      if (s >= t.shards || !t.isFrozen(s)) continue;
      const prev = i > 0 ? tables.byEpoch.get(epochs[i - 1]!) : undefined;
      if (prev?.isFrozen(s)) continue; // not the start of a freeze
      const lift = epochs.slice(i + 1).find((e) => !tables.byEpoch.get(e)!.isFrozen(s));
      // The sidecars that were running when the freeze was published and took it (a stopped,
      // lost zone's sidecar that never took it cannot accept anything either).
      const published = tables.firstSeen.get(f) ?? 0;
      const took = instances
        .filter((inst) => inst.startedAt <= published)
        .map((inst) => heldSince(inst, f))
        .filter((x): x is number => x !== undefined);
      if (took.length === 0) continue;
      const liftTimes =
        lift === undefined ? [] : instances.map((inst) => heldSince(inst, lift)).filter((x) => x !== undefined);
      out.push({
        shard: s,
        epoch: f,
        allFrozenAt: Math.max(...took),
        liftedAt: liftTimes.length ? Math.min(...(liftTimes as number[])) : Infinity,
      });
    }
  }
  return out;
}

/**
 * 3. No write while frozen everywhere: no write for a shard was decided while
 *    every sidecar held a table in which the shard was frozen. A write served
 *    in that window must have been decided before (its epoch is older than
 *    the freeze, which check 1 shows did not freeze it) and still in flight:
 *    it must have reached the backend within `inFlightSlackMs` of its sidecar
 *    taking the freeze.
 */
export function checkFrozenWindows(
  records: readonly ServedRecord[],
  instances: readonly Instance[],
  tables: TableHistory,
  inFlightSlackMs: number,
): { violations: string[]; inFlight: number } {
  const out: string[] = [];
  let inFlight = 0;
  const windows = freezeWindows(instances, tables);
  const byName = new Map(instances.map((i) => [i.name, i]));
  for (const r of writes(records)) {
    for (const w of windows) {
      if (w.shard !== r.shard || r.time < w.allFrozenAt || r.time >= w.liftedAt) continue;
      if (r.epoch >= w.epoch) {
        out.push(
          `${r.requestId}: write for shard ${r.shard} accepted at epoch ${r.epoch} inside the freeze of epoch ${w.epoch}`,
        );
        continue;
      }
      const inst = byName.get(r.instance);
      const frozenAt = inst ? heldSince(inst, w.epoch) : undefined;
      if (frozenAt !== undefined && r.time - frozenAt > inFlightSlackMs)
        out.push(
          `${r.requestId}: write for shard ${r.shard} (epoch ${r.epoch}) reached ${r.cell}@${r.zone} ${r.time - frozenAt} ms after its sidecar took the freeze epoch ${w.epoch}`,
        );
      else inFlight++;
    }
  }
  return { violations: out, inFlight };
}

/** 4. A write refused as frozen (503 + Retry-After), or any sidecar refusal, never reached a backend. */
export function checkRefusedNeverServed(sent: readonly SentRecord[], records: readonly ServedRecord[]): string[] {
  const served = new Set(records.map((r) => r.requestId));
  return sent
    .filter((s) => s.status !== undefined && [400, 403, 421, 503].includes(s.status) && served.has(s.requestId))
    .map((s) => `${s.requestId}: answered ${s.status} (${s.body?.error ?? ""}) yet a backend served it`);
}

/**
 * 5. Every acknowledged write (200 to a POST) is in exactly one backend's
 *    record, the one its answer names.
 */
export function checkAckedWritesRecorded(sent: readonly SentRecord[], records: readonly ServedRecord[]): string[] {
  const out: string[] = [];
  const byId = new Map<string, ServedRecord[]>();
  for (const r of records) {
    const list = byId.get(r.requestId) ?? [];
    list.push(r);
    byId.set(r.requestId, list);
  }
  for (const s of sent) {
    if (s.method !== "POST" || s.status !== 200) continue;
    const found = byId.get(s.requestId) ?? [];
    if (found.length !== 1) {
      out.push(`${s.requestId}: acknowledged write found in ${found.length} backend record(s)`);
      continue;
    }
    const r = found[0]!;
    if (r.id !== s.body?.id || r.cell !== s.body?.cell || r.zone !== s.body?.zone)
      out.push(`${s.requestId}: acknowledged by ${s.body?.cell}@${s.body?.zone} but recorded by ${r.cell}@${r.zone}`);
  }
  return out;
}

/** 6. Epochs only go forward: each sidecar instance's swaps are strictly increasing. */
export function checkEpochHistories(instances: readonly Instance[]): string[] {
  const out: string[] = [];
  for (const inst of instances) {
    for (let i = 1; i < inst.swaps.length; i++) {
      if (inst.swaps[i]!.epoch <= inst.swaps[i - 1]!.epoch)
        out.push(`${inst.name}: took epoch ${inst.swaps[i]!.epoch} after ${inst.swaps[i - 1]!.epoch}`);
    }
  }
  return out;
}

/** A write decided just before its sidecar took a freeze may still be on its way to the backend. */
export const IN_FLIGHT_SLACK_MS = 1000;

/** Every invariant over what was recorded: name -> violations, and the writes in flight at a freeze. */
export function checkAll(o: {
  records: readonly ServedRecord[];
  sent: readonly SentRecord[];
  instances: readonly Instance[];
  tables: TableHistory;
}): { checks: { name: string; list: string[] }[]; inFlight: number } {
  const frozen = checkFrozenWindows(o.records, o.instances, o.tables, IN_FLIGHT_SLACK_MS);
  return {
    checks: [
      { name: "tables: one content per epoch", list: o.tables.violations },
      {
        name: "1. writes served only by the shard's owner at the router's epoch",
        list: checkOwnerAtEpoch(o.records, o.tables),
      },
      { name: "2. no overlapping writers for a shard", list: checkNoOverlap(o.records, o.tables) },
      { name: "3. no write while a shard is frozen everywhere", list: frozen.violations },
      { name: "4. refused requests never reached a backend", list: checkRefusedNeverServed(o.sent, o.records) },
      { name: "5. every acknowledged write recorded exactly once", list: checkAckedWritesRecorded(o.sent, o.records) },
      { name: "6. sidecar epochs strictly increasing", list: checkEpochHistories(o.instances) },
    ],
    inFlight: frozen.inFlight,
  };
}
