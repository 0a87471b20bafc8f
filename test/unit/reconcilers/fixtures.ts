// The examples/ topology, parsed through the API schemas (defaults applied),
// as fixtures for the pure reconcilers.
import {
  parseResource,
  type Cell,
  type CellApp,
  type KindName,
  type ShardingRule,
  type Zone,
} from "../../../src/api/index.ts";
import type { FailoverObservation } from "../../../src/reconcilers/failover.ts";
import { validExamples } from "../api/examples.ts";

function all<K extends KindName>(kind: K) {
  return validExamples()
    .filter((e) => e.obj.kind === kind)
    .map((e) => {
      const r = parseResource(kind, { ...e.obj, metadata: { uid: `uid-${e.obj.metadata.name}`, ...e.obj.metadata } });
      if (!r.ok) throw new Error(`${e.file}: ${r.errors.join("; ")}`);
      return r.value;
    });
}

export function topology(): { zones: Zone[]; cells: Cell[]; apps: CellApp[] } {
  return { zones: all("Zone") as Zone[], cells: all("Cell") as Cell[], apps: all("CellApp") as CellApp[] };
}

export function shardingRules(): ShardingRule[] {
  return all("ShardingRule") as ShardingRule[];
}

export function withStatus<T extends { status?: unknown }>(obj: T, status: Record<string, unknown>): T {
  return { ...obj, status: { ...(obj.status as object | undefined), ...status } };
}

/**
 * A Failover observation where everything is ready at once (destinations up,
 * tables published at epoch 8, three sidecars holding them): override what a
 * test is about.
 */
export function readyObservation(
  world: { cells: readonly Cell[]; zones: readonly Zone[]; rules?: readonly ShardingRule[] },
  o: Partial<FailoverObservation> = {},
): FailoverObservation {
  return {
    cells: world.cells,
    zones: world.zones,
    failovers: [],
    rules: world.rules ?? [],
    plan: () => ({}),
    epochOf: () => 7,
    destinationNotReady: () => [],
    routing: () => ({ epoch: 8 }),
    acknowledged: () => ({ count: 3 }),
    annotation: () => undefined,
    ...o,
  };
}
