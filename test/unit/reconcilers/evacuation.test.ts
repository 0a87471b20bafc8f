// Zone evacuation (issue 14): City cells evacuated to a stand-in without a
// freeze, Preflight telling "not observed yet" from a refusal, the skip/refuse
// choice, and the dry run's plan and capacity check, on a three-city,
// five-datacenter topology with Regional, Global and City cells.
import { describe, expect, it } from "vitest";
import {
  parseResource,
  type Cell,
  type CellApp,
  type Failover,
  type KindName,
  type ShardingRule,
  type Zone,
} from "../../../src/api/index.ts";
import { checkFit, freeCapacity, parseQuantity, podRequests } from "../../../src/reconcilers/capacity.ts";
import { planMoves } from "../../../src/reconcilers/failover-moves.ts";
import { planFailover } from "../../../src/reconcilers/failover-plan.ts";
import {
  effectiveCells,
  stepFailover,
  type FailoverObservation,
  type FailoverStatus,
} from "../../../src/reconcilers/failover.ts";
import { routingInput } from "../../../src/reconcilers/routing.ts";
import { buildTable, cityStandIn, parseTable, route } from "../../../src/routing/index.ts";
import { readyObservation, withStatus } from "./fixtures.ts";

function parse<K extends KindName>(kind: K, obj: Record<string, unknown>) {
  const r = parseResource(kind, { apiVersion: "ldc.io/v1alpha1", kind, ...obj });
  if (!r.ok) throw new Error(r.errors.join("; "));
  return r.value;
}

const zone = (name: string, region: string, phase?: string): Zone =>
  withStatus(parse("Zone", { metadata: { name }, spec: { region } }) as Zone, phase && phase !== "-" ? { phase } : {});
const cell = (name: string, type: string, home: string, standbyZones?: string[]): Cell =>
  parse("Cell", { metadata: { name }, spec: { type, zone: home, ...(standbyZones ? { standbyZones } : {}) } }) as Cell;

/** Three cities, five datacenters: hz-a holds a Regional, the Global and hangzhou's City cell. */
function world(phases: Record<string, string> = {}) {
  const zones = [
    ["hz-a", "hangzhou"],
    ["hz-b", "hangzhou"],
    ["sh-a", "shanghai"],
    ["sh-b", "shanghai"],
    ["sz-a", "shenzhen"],
  ].map(([n, r]) => zone(n!, r!, phases[n!] ?? "Ready"));
  const cells = [
    cell("rz00", "Regional", "hz-a", ["hz-b"]),
    cell("rz01", "Regional", "sh-a", ["sh-b"]),
    cell("gz00", "Global", "hz-a", ["sh-a"]),
    cell("cz-hz", "City", "hz-a"),
    cell("cz-sh", "City", "sh-a"),
    cell("cz-sz", "City", "sz-a"),
  ];
  const rules = [
    parse("ShardingRule", {
      metadata: { name: "users" },
      spec: {
        key: { sources: [{ type: "Header", name: "x-user-id" }] },
        shards: 100,
        function: { type: "Modulo" },
        assignments: [
          { cell: "rz00", shards: "0-39" },
          { cell: "rz01", shards: "40-99" },
        ],
        globalCell: "gz00",
      },
    }) as ShardingRule,
  ];
  return { zones, cells, rules };
}

function failover(spec: Record<string, unknown>, status?: FailoverStatus): Failover {
  const fo = parse("Failover", { metadata: { name: "drill", generation: 1 }, spec: { type: "Emergency", ...spec } });
  return (status ? { ...fo, status } : fo) as Failover;
}

function observation(w: ReturnType<typeof world>, o: Partial<FailoverObservation> = {}): FailoverObservation {
  return readyObservation(w, o);
}

const T0 = Date.parse("2026-11-30T10:00:00Z");
const at = (ms: number) => new Date(T0 + ms);

describe("evacuating a zone that holds Regional, Global and City cells", () => {
  it("moves the Regional and Global cells and evacuates the City cell (no standby zone needed)", () => {
    const w = world();
    const plan = planMoves({ target: { zone: "hz-a" } }, w.cells, w.zones, w.rules);
    expect(plan.problems).toEqual([]);
    expect(plan.moves).toEqual([
      { cell: "cz-hz", from: "hz-a", to: "hz-a", evacuate: true },
      { cell: "gz00", from: "hz-a", to: "sh-a" },
      { cell: "rz00", from: "hz-a", to: "hz-b" },
    ]);
  });

  it("moves a City cell only to a healthy standby zone of its region, else evacuates it", () => {
    const w = world();
    const cells = w.cells.map((c) => (c.metadata.name === "cz-hz" ? cell("cz-hz", "City", "hz-a", ["hz-b"]) : c));
    expect(planMoves({ target: { cells: ["cz-hz"] } }, cells, w.zones, w.rules).moves).toEqual([
      { cell: "cz-hz", from: "hz-a", to: "hz-b" },
    ]);
    const elsewhere = planMoves({ target: { cells: ["cz-hz"] }, destination: { zone: "sh-b" } }, cells, w.zones);
    expect(elsewhere.moves).toEqual([{ cell: "cz-hz", from: "hz-a", to: "hz-a", evacuate: true }]);
    // A destination where the cell has no copy, even in its region: evacuated, not moved.
    const noCopy = planMoves({ target: { cells: ["cz-hz"] }, destination: { zone: "hz-b" } }, w.cells, w.zones);
    expect(noCopy.moves).toEqual([{ cell: "cz-hz", from: "hz-a", to: "hz-a", evacuate: true }]);
  });

  it("names a City cell that truly cannot move before anything starts: refused, or skipped when asked", () => {
    const w = world();
    const lonely = w.cells.filter((c) => !["cz-sh", "cz-sz"].includes(c.metadata.name));
    const rules = w.rules.map((r) => ({ ...r, spec: { ...r.spec, globalCell: undefined } }));
    const plan = planMoves({ target: { zone: "hz-a" } }, lonely, w.zones, rules);
    expect(plan.unmovable).toEqual([
      {
        cell: "cz-hz",
        reason: expect.stringMatching(
          /no other City cell.*rule\(s\) users have no spec\.globalCell.*onUnmovable: Skip/,
        ),
      },
    ]);
    const obs = observation({ ...w, cells: lonely, rules });
    const refuse = failover({ target: { zone: "hz-a" } }, { phase: "Running", step: "Preflight", steps: [] });
    const refused = stepFailover(refuse, obs, at(0));
    expect(refused.status?.phase).toBe("Failed");
    expect(refused.status?.message).toMatch(/preflight failed: Cell cz-hz: no other City cell/);

    const skip = failover(
      { target: { zone: "hz-a" }, onUnmovable: "Skip" },
      { phase: "Running", step: "Preflight", steps: [] },
    );
    const d = stepFailover(skip, obs, at(0));
    expect(d.status?.phase).toBe("Running");
    expect(d.status?.cells?.map((c) => c.cell)).toEqual(["gz00", "rz00"]);
    expect(d.status?.skipped).toEqual([{ cell: "cz-hz", reason: expect.stringMatching(/no other City cell/) }]);
  });

  it("evacuates the City cell at the switch (never frozen, never moved) and brings it back at the failback switch", () => {
    const w = world();
    const cells: NonNullable<FailoverStatus["cells"]> = [
      { cell: "cz-hz", from: "hz-a", to: "hz-a", evacuate: true },
      { cell: "rz00", from: "hz-a", to: "hz-b" },
    ];
    const at = (step: NonNullable<FailoverStatus["step"]>, back = false) =>
      effectiveCells(w.cells, [
        failover(
          { target: { zone: "hz-a" }, type: "Drill", drill: { duration: "1m" } },
          { phase: "Running", step, cells, steps: back ? [{ name: "Failback", phase: "Succeeded" }] : [] },
        ),
      ]).find((c) => c.metadata.name === "cz-hz")!;
    const out = ["Preflight", "ScaleUpStandby", "Freeze", "WaitReplication"] as const;
    for (const step of out) expect([step, at(step).status?.evacuated]).toEqual([step, false]);
    for (const step of ["Switch", "WaitAcknowledge", "ScaleDownOld", "DrillWait"] as const)
      expect([step, at(step).status?.evacuated]).toEqual([step, true]);
    for (const step of ["Failback", ...out.slice(1)] as const)
      expect([`back ${step}`, at(step, true).status?.evacuated]).toEqual([`back ${step}`, true]);
    for (const step of ["Switch", "WaitAcknowledge", "ScaleDownOld"] as const)
      expect([`back ${step}`, at(step, true).status?.evacuated]).toEqual([`back ${step}`, false]);
    for (const step of ["Freeze", "Switch"] as const) {
      expect(at(step).moving?.writeFrozen).toBe(false);
      expect(at(step).moving?.warmZone).toBeUndefined();
      expect(at(step).status?.activeZone).toBe("hz-a");
    }
  });

  it("a drill of the zone succeeds with failback: City reads go to another city's City cell in between", () => {
    const w = world();
    let fo = failover({ target: { zone: "hz-a" }, type: "Drill", drill: { duration: "1s" }, writeFreeze: "0s" });
    let cells = w.cells;
    const tables: { step?: string; evacuated: boolean; cityServer: string }[] = [];
    // A publisher and sidecars that follow the overlay at once.
    const publish = () => {
      const eff = effectiveCells(cells, [fo]);
      const t = buildTable(routingInput(w.rules[0]!, eff, w.zones, 1));
      const d = route(t, { method: "GET", headers: {} }, { localCell: "x", localRegion: "hangzhou", scope: "City" });
      tables.push({
        ...(fo.status?.step ? { step: fo.status.step } : {}),
        evacuated: t.cell("cz-hz")?.evacuated === true,
        cityServer: "cell" in d ? d.cell : d.kind,
      });
      return t;
    };
    const obs = () =>
      observation(
        { ...w, cells },
        {
          failovers: [fo],
          routing: (moves, want) => {
            const t = publish();
            for (const m of moves) {
              const c = t.cell(m.cell)!;
              if (m.evacuate !== undefined) {
                if ((c.evacuated === true) !== (want === "switched" ? m.evacuate : !m.evacuate))
                  return { waiting: "not yet", retryMs: 1 };
              } else if (c.zone !== (want === "frozen" ? m.from : m.to)) return { waiting: "not yet", retryMs: 1 };
            }
            return { epoch: tables.length };
          },
        },
      );
    for (let i = 0, now = 0; i < 50 && fo.status?.phase !== "Succeeded"; i++, now += 500) {
      const d = stepFailover(fo, obs(), at(now));
      for (const m of d.recordActiveZones)
        cells = cells.map((c) =>
          c.metadata.name !== m.cell
            ? c
            : withStatus(c, {
                activeZone: m.activeZone,
                ...(m.evacuated !== undefined ? { evacuated: m.evacuated } : {}),
              }),
        );
      if (d.status) fo = { ...fo, status: d.status };
    }
    expect(fo.status?.phase).toBe("Succeeded");
    expect(fo.status?.steps?.map((s) => s.name)).toContain("Failback");
    // Served by shanghai's City cell (the first not evacuated by name) while evacuated, by its own otherwise.
    expect(new Set(tables.filter((t) => t.evacuated).map((t) => t.cityServer))).toEqual(new Set(["cz-sh"]));
    expect(tables.some((t) => t.evacuated)).toBe(true);
    expect(new Set(tables.filter((t) => !t.evacuated).map((t) => t.cityServer))).toEqual(new Set(["cz-hz"]));
    // Home again, recorded: the City cell not evacuated, the others in their home zone.
    expect(
      cells.map((c) => [c.metadata.name, c.status?.activeZone ?? c.spec.zone, c.status?.evacuated ?? false]),
    ).toEqual(w.cells.map((c) => [c.metadata.name, c.spec.zone, false]));
  });
});

describe("the routing table's evacuated City cells", () => {
  const input = (evacuated: string[], globalCell?: string) => ({
    ruleName: "users",
    shards: 10,
    function: { type: "Modulo" as const },
    key: { sources: [{ type: "Header" as const, name: "x-user-id" }] },
    assignments: [{ cell: "rz00", shards: "0-9" }],
    ...(globalCell ? { globalCell } : {}),
    cells: [
      { name: "rz00", type: "Regional" as const, zone: "hz-a", region: "hangzhou" },
      { name: "gz00", type: "Global" as const, zone: "hz-a", region: "hangzhou" },
      ...["cz-hz:hangzhou", "cz-sh:shanghai"].map((s) => {
        const [name, region] = s.split(":") as [string, string];
        return {
          name,
          type: "City" as const,
          zone: `${region.slice(0, 2)}-a`,
          region,
          ...(evacuated.includes(name) ? { evacuated: true as const } : {}),
        };
      }),
    ],
    epoch: 3,
  });
  const cityRead = (t: ReturnType<typeof buildTable>, region: string) =>
    route(t, { method: "GET", headers: {} }, { localCell: "x", localRegion: region, scope: "City" });

  it("sends an evacuated City cell's region to the other City cell, else to the global cell, else 503", () => {
    expect(cityRead(buildTable(input(["cz-hz"], "gz00")), "hangzhou")).toMatchObject({ cell: "cz-sh", via: "City" });
    expect(cityRead(buildTable(input(["cz-hz", "cz-sh"], "gz00")), "hangzhou")).toMatchObject({
      cell: "gz00",
      via: "Global",
    });
    expect(cityRead(buildTable(input(["cz-hz", "cz-sh"])), "shanghai")).toMatchObject({ kind: "Unroutable" });
    // The other region is untouched.
    expect(cityRead(buildTable(input(["cz-hz"], "gz00")), "shanghai")).toMatchObject({ cell: "cz-sh" });
    expect(
      cityStandIn(
        [
          { name: "b", type: "City" },
          { name: "a", type: "City", evacuated: true },
        ],
        "g",
      ),
    ).toBe("b");
  });

  it("serialises the mark only when set (old tables keep their hash), round-trips it, and refuses it on other types", () => {
    const plain = buildTable(input([], "gz00"));
    expect(plain.serialize()).not.toContain("evacuated");
    const marked = buildTable(input(["cz-hz"], "gz00"));
    expect(marked.contentHash).not.toBe(plain.contentHash);
    expect(parseTable(marked.serialize()).contentHash).toBe(marked.contentHash);
    const bad = input([], "gz00");
    expect(() =>
      buildTable({ ...bad, cells: bad.cells.map((c) => (c.name === "rz00" ? { ...c, evacuated: true } : c)) }),
    ).toThrow(/cells\[0\]\.evacuated: only a City cell can be evacuated/);
  });
});

describe("Preflight: transient or final", () => {
  it("waits for a destination not observed yet (bounded by the step timeout), then goes on once it is Ready", () => {
    const fo = failover({ target: { zone: "hz-a" } }, { phase: "Running", step: "Preflight", steps: [] });
    // "-": no status yet (never observed)
    for (const phase of ["-", "Pending", "Degraded"]) {
      const w = world({ "hz-b": phase });
      const wait = stepFailover(fo, observation(w), at(0));
      expect([phase, wait.status]).toEqual([phase, undefined]);
      expect(wait.requeueAfterMs).toBeGreaterThan(0);
      const plan = planMoves({ target: { zone: "hz-a" } }, w.cells, w.zones, w.rules);
      expect(plan.waiting).toEqual([expect.stringMatching(/^Cell rz00: waiting for zone hz-b \(.*\) to be Ready$/)]);
    }
    const started = {
      ...fo,
      status: {
        ...fo.status!,
        steps: [{ name: "Preflight" as const, phase: "Running" as const, startTime: at(0).toISOString() }],
      },
    };
    const late = stepFailover(started, observation(world({ "hz-b": "Pending" })), at(121_000));
    expect(late.status?.phase).toBe("Failed");
    expect(late.status?.message).toMatch(/timed out after 2m: Cell rz00: waiting for zone hz-b \(Pending\)/);
    const ready = stepFailover(fo, observation(world()), at(0));
    expect(ready.status?.cells?.map((c) => c.cell)).toEqual(["cz-hz", "gz00", "rz00"]);
  });

  it("fails at once on a real refusal (Unreachable, cordoned, no such zone), even while another zone is pending", () => {
    const w = world({ "hz-b": "Unreachable", "sh-a": "Pending" });
    const fo = failover({ target: { zone: "hz-a" } }, { phase: "Running", step: "Preflight", steps: [] });
    const d = stepFailover(fo, observation(w), at(0));
    expect(d.status?.phase).toBe("Failed");
    expect(d.status?.message).toMatch(/Cell rz00: no healthy destination among hz-b \(Unreachable\)/);
  });
});

describe("dry run", () => {
  const app = parse("CellApp", {
    metadata: { name: "account", namespace: "payments" },
    spec: {
      shardingRule: "users",
      scope: "Regional",
      replicas: 4,
      standbyReplicas: 1,
      template: {
        spec: { containers: [{ name: "a", image: "a:1", resources: { requests: { cpu: "500m", memory: "1Gi" } } }] },
      },
    },
  }) as CellApp;
  const node = (name: string, zone: string, cpu: string, memory: string) => ({
    metadata: { name, labels: { "topology.kubernetes.io/zone": zone } },
    status: { allocatable: { cpu, memory } },
  });
  const busy = { spec: { nodeName: "hzb-1", containers: [{ resources: { requests: { cpu: "1", memory: "1Gi" } } }] } };

  it("plans cells, destinations, shards and their share, epochs, the freeze and capacity, and never acts", () => {
    const w = world();
    const fo = failover({ target: { zone: "hz-a" }, type: "Drill", drill: { duration: "10m" }, dryRun: true });
    const rules = w.rules.map((r) => ({ ...r, status: { epoch: 7 } }));
    const plan = planFailover({
      failover: fo,
      ...w,
      rules,
      failovers: [],
      apps: [app],
      sidecar: { image: "s" },
      capacity: (z) => (z === "hz-b" ? { nodes: [node("hzb-1", "hz-b", "2", "4Gi")], pods: [busy] } : "unreachable"),
    });
    expect(plan.cells).toEqual([
      { cell: "cz-hz", type: "City", from: "hz-a", servedBy: "cz-sh" },
      { cell: "gz00", type: "Global", from: "hz-a", to: "sh-a" },
      {
        cell: "rz00",
        type: "Regional",
        from: "hz-a",
        to: "hz-b",
        shards: [{ rule: "users", ranges: "0-39", count: 40, percent: 40 }],
      },
    ]);
    // freeze, switch, failback freeze, failback switch
    expect(plan.rules).toEqual([{ rule: "users", epochs: [8, 9, 10, 11], frozenShards: "0-39" }]);
    expect(plan.freeze).toMatch(
      /rule users shards 0-39 refused \(503, Retry-After\) for 5s before the switch and again before the failback/,
    );
    // 3 more replicas of 0.5 CPU / 1 GiB plus the injected sidecar's requests (100m / 96Mi each); 1 CPU / 3 GiB free.
    expect(plan.capacity).toEqual([
      {
        zone: "hz-b",
        fits: false,
        message: expect.stringMatching(
          /^zone hz-b lacks CPU and memory: needs 1.8 CPU, 3.3 GiB more requested; 1 node\(s\) have 1 CPU, 3.0 GiB free \(allocatable 2 CPU, 4.0 GiB minus 1 CPU, 1.0 GiB requested\): add nodes/,
        ),
      },
      { zone: "sh-a", message: "zone sh-a: not checked: unreachable" },
    ]);
    expect(plan.refusals).toEqual([
      expect.stringMatching(/zone hz-b lacks CPU and memory.*ScaleUpStandby would time out/),
    ]);

    const d = stepFailover(fo, observation(w, { plan: () => plan }), at(0));
    expect(d.status).toMatchObject({ phase: "Planned", plan });
    expect(d.status?.cells).toBeUndefined();
    expect(d.recordActiveZones).toEqual([]);
    expect(stepFailover({ ...fo, status: d.status! }, observation(w), at(1))).toEqual({
      recordActiveZones: [],
      events: [],
    });
    expect(effectiveCells(w.cells, [{ ...fo, status: d.status! }])).toEqual(w.cells);
  });

  it("names every refusal and what it would wait for", () => {
    const w = world({ "hz-b": "Pending", "sh-a": "Unreachable", "sh-b": "Unreachable" });
    const plan = planFailover({
      failover: failover({ target: { zone: "hz-a" }, dryRun: true }),
      ...w,
      failovers: [],
      apps: [],
      sidecar: { image: "s" },
      capacity: () => "unreachable",
    });
    expect(plan.waiting).toEqual([expect.stringMatching(/rz00: waiting for zone hz-b \(Pending\)/)]);
    expect(plan.refusals).toEqual([
      expect.stringMatching(/^Cell gz00: no healthy destination among sh-a \(Unreachable\)/),
    ]);
  });
});

describe("capacity", () => {
  it("reads Kubernetes quantities", () => {
    expect([
      parseQuantity("500m"),
      parseQuantity("2"),
      parseQuantity("1Gi"),
      parseQuantity("1e3"),
      parseQuantity("1.5k"),
    ]).toEqual([0.5, 2, 2 ** 30, 1000, 1500]);
    expect(parseQuantity("lots")).toBeNaN();
  });

  it("counts the requests of unfinished pods on the zone's nodes only, against their allocatable", () => {
    const nodes = [{ metadata: { name: "n1" }, status: { allocatable: { cpu: "4", memory: "8Gi" } } }];
    const pod = (nodeName: string, cpu: string, phase = "Running") => ({
      spec: { nodeName, containers: [{ resources: { requests: { cpu, memory: "1Gi" } } }, {}] },
      status: { phase },
    });
    const free = freeCapacity(nodes, [pod("n1", "1"), pod("n2", "1"), pod("n1", "2", "Succeeded")]);
    expect(free.free).toEqual({ cpu: 3, memory: 7 * 2 ** 30 });
    expect(podRequests(pod("n1", "250m").spec)).toEqual({ cpu: 0.25, memory: 2 ** 30 });
    expect(checkFit("z", { cpu: 3, memory: 2 ** 30 }, free).fits).toBe(true);
    expect(checkFit("z", { cpu: 1, memory: 8 * 2 ** 30 }, free).message).toMatch(/^zone z lacks memory/);
    expect(checkFit("z", { cpu: 1, memory: 0 }, freeCapacity([], [])).message).toMatch(/no node matches|has no node/);
  });
});
