// CellPlanMemo: planCellAppReconcile with the memo a controller keeps between
// reconciles returns exactly what it returns without one, over random
// sequences of changes (overrides, the app, cells moving, zones, reachability,
// the caches catching up with the writes, drift), and plans only what changed.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { CellApp, CellOverride, Zone } from "../../../src/api/index.ts";
import {
  CellPlanMemo,
  DEFAULT_POD_SECURITY,
  planCellAppReconcile,
  type CellAppActions,
  type CellAppObservation,
  type ClusterObservation,
  type ObservedWorkload,
} from "../../../src/reconcilers/cellapp.ts";
import type { EffectiveCell } from "../../../src/reconcilers/failover.ts";
import { CELLAPP_FINALIZER } from "../../../src/reconcilers/naming.ts";
import { shardingRules, topology } from "./fixtures.ts";

const sidecar = { image: "ldc/sidecar:test" };
const NOW = new Date("2026-03-01T10:00:00Z");

interface World {
  app: CellApp;
  cells: EffectiveCell[];
  zones: Zone[];
  removedZones: Zone[];
  clusters: Map<string, ClusterObservation>;
  workloads: ObservedWorkload[];
}

function start(): World {
  const t = topology();
  const app = t.apps.find((a) => a.spec.scope === "Regional")!;
  const clusters = new Map<string, ClusterObservation>(
    t.zones.map((z) => [
      z.metadata.name,
      z.spec.cluster
        ? { name: `zone-${z.metadata.name}`, local: false, reachable: true }
        : { name: "local", local: true, reachable: true },
    ]),
  );
  return {
    app: { ...app, metadata: { ...app.metadata, generation: 1, finalizers: [CELLAPP_FINALIZER] } },
    cells: t.cells,
    zones: t.zones,
    removedZones: [],
    clusters,
    workloads: [],
  };
}

function observe(w: World, memo: CellPlanMemo | undefined): CellAppObservation {
  const zoneClusters = new Map([...w.clusters].filter(([z]) => w.zones.some((x) => x.metadata.name === z)));
  return {
    app: w.app,
    cells: w.cells,
    zones: w.zones,
    rules: shardingRules(),
    sidecar,
    podSecurity: DEFAULT_POD_SECURITY,
    zoneClusters,
    clusters: [...new Map([...w.clusters.values()].map((c) => [c.name, c])).values()],
    workloads: w.workloads,
    now: NOW,
    ...(memo ? { memo } : {}),
  };
}

/** What the API server does with a spec change: a new object, the generation bumped. */
function withSpec(app: CellApp, spec: Partial<CellApp["spec"]>): CellApp {
  return {
    ...app,
    metadata: { ...app.metadata, generation: (app.metadata.generation ?? 0) + 1 },
    spec: { ...app.spec, ...spec },
  };
}

/** The caches catch up with the applies (and deletes) of `a`: new objects, as an informer delivers them. */
function landed(w: World, a: CellAppActions): ObservedWorkload[] {
  let out = w.workloads.filter(
    (x) => !a.delete.some((d) => d.cluster === x.cluster && d.kind === x.kind && d.name === x.object.metadata?.name),
  );
  for (const ap of a.apply) {
    const fresh = { cluster: ap.cluster, kind: ap.kind, object: structuredClone(ap.object) } as ObservedWorkload;
    out = [
      ...out.filter((x) => !(x.cluster === ap.cluster && x.kind === ap.kind && x.object.metadata?.name === ap.name)),
      fresh,
    ];
  }
  return out;
}

type Change = (w: World, last: CellAppActions) => void;

const cellNames = ["rz00", "rz01", "rz02", "rz03", "nope"];
const override: fc.Arbitrary<CellOverride> = fc.record(
  {
    cell: fc.constantFrom(...cellNames),
    replicas: fc.integer({ min: 0, max: 3 }),
    image: fc.constantFrom("app:1", "app:2"),
    env: fc.constantFrom([], [{ name: "X", value: "1" }]),
  },
  { requiredKeys: ["cell"] },
) as fc.Arbitrary<CellOverride>;

const change: fc.Arbitrary<Change> = fc.oneof(
  override.map<Change>((o) => (w) => {
    const rest = (w.app.spec.overrides ?? []).filter((x) => x.cell !== o.cell);
    w.app = withSpec(w.app, { overrides: [...rest, o] });
  }),
  fc.constantFrom(...cellNames).map<Change>((cell) => (w) => {
    w.app = withSpec(w.app, { overrides: (w.app.spec.overrides ?? []).filter((x) => x.cell !== cell) });
  }),
  fc.integer({ min: 0, max: 3 }).map<Change>((replicas) => (w) => {
    w.app = withSpec(w.app, { replicas });
  }),
  // A status write or a finalizer: a new object, same spec and generation.
  fc.constant<Change>((w) => {
    w.app = { ...w.app, status: { observedGeneration: w.app.metadata.generation } };
  }),
  // A cell moves (a failover) or back; a running Failover warms a zone.
  fc
    .tuple(fc.integer({ min: 0, max: 3 }), fc.constantFrom("hz-a", "hz-b", "sh-a", undefined))
    .map<Change>(([i, zone]) => (w) => {
      const name = `rz0${i}`;
      w.cells = w.cells.map((c) =>
        c.metadata.name !== name ? c : { ...c, status: { ...c.status, ...(zone ? { activeZone: zone } : {}) } },
      );
    }),
  fc.tuple(fc.integer({ min: 0, max: 3 }), fc.constantFrom("hz-a", "hz-b", "sh-a")).map<Change>(([i, zone]) => (w) => {
    const name = `rz0${i}`;
    w.cells = w.cells.map((c) =>
      c.metadata.name !== name ? c : { ...c, moving: { failover: "fo", warmZone: zone } as EffectiveCell["moving"] },
    );
  }),
  // A zone goes away or comes back.
  fc.constantFrom("hz-b", "sh-a").map<Change>((name) => (w) => {
    const gone = w.removedZones.find((z) => z.metadata.name === name);
    if (gone) {
      w.removedZones = w.removedZones.filter((z) => z !== gone);
      w.zones = [...w.zones, gone];
    } else {
      w.removedZones.push(...w.zones.filter((z) => z.metadata.name === name));
      w.zones = w.zones.filter((z) => z.metadata.name !== name);
    }
  }),
  // A member cluster stops or starts answering.
  fc.constantFrom("hz-b", "sh-a").map<Change>((zone) => (w) => {
    const c = w.clusters.get(zone)!;
    const next = { ...c, reachable: !c.reachable };
    for (const [z, x] of w.clusters) if (x.name === c.name) w.clusters.set(z, next);
  }),
  // The caches catch up with the last writes (several times: the common case).
  fc.constant<Change>((w, last) => {
    w.workloads = landed(w, last);
  }),
  fc.constant<Change>((w, last) => {
    w.workloads = landed(w, last);
  }),
  // Someone edits a Deployment (drift), or the deployment controller writes its status.
  fc.tuple(fc.nat(), fc.boolean()).map<Change>(([n, drift]) => (w) => {
    const deps = w.workloads.filter((x) => x.kind === "Deployment");
    if (deps.length === 0) return;
    const target = deps[n % deps.length]!;
    const obj = target.object as ObservedWorkload["object"] & { spec?: { replicas?: number } };
    const edited = drift
      ? { ...obj, spec: { ...obj.spec, replicas: (obj.spec?.replicas ?? 0) + 7 } }
      : { ...obj, status: { replicas: 1, readyReplicas: 1 } };
    w.workloads = w.workloads.map((x) => (x === target ? { ...x, object: edited } : x));
  }),
);

describe("CellPlanMemo", () => {
  it("planCellAppReconcile returns the same actions with the memo as without, over random changes", () => {
    fc.assert(
      fc.property(fc.array(change, { minLength: 1, maxLength: 25 }), (changes) => {
        const w = start();
        const memo = new CellPlanMemo();
        let last = planCellAppReconcile(observe(w, memo));
        expect(last).toEqual(planCellAppReconcile(observe(w, undefined)));
        for (const c of changes) {
          c(w, last);
          const withMemo = planCellAppReconcile(observe(w, memo));
          expect(withMemo).toEqual(planCellAppReconcile(observe(w, undefined)));
          last = withMemo;
        }
      }),
      { numRuns: 40 },
    );
  });

  it("a change to one cell's override plans that cell again, compares and applies its Deployment only", () => {
    const w = start();
    const memo = new CellPlanMemo();
    w.workloads = landed(w, planCellAppReconcile(observe(w, memo)));
    const cells = memo.work.cellsPlanned;
    expect(planCellAppReconcile(observe(w, memo)).apply).toEqual([]);
    const settled = { ...memo.work };
    // Steady state: nothing planned, every cached object already known to cover its desired one.
    expect(planCellAppReconcile(observe(w, memo)).apply).toEqual([]);
    expect(memo.work).toEqual(settled);
    expect(cells).toBeGreaterThan(1);

    const rz01 = w.workloads.filter((x) => x.object.metadata?.name?.includes("-rz01-"));
    w.app = withSpec(w.app, { overrides: [...(w.app.spec.overrides ?? []), { cell: "rz01", replicas: 5 }] });
    const a = planCellAppReconcile(observe(w, memo));
    expect(a.apply.map((x) => `${x.kind}/${x.name}`)).toEqual([expect.stringMatching(/^Deployment\/.*-rz01-/)]);
    expect(memo.work.cellsPlanned - settled.cellsPlanned).toBe(1);
    // The cell's own objects (active and standby sides), none of the others'.
    expect(memo.work.compared - settled.compared).toBe(rz01.length);
  });
});
