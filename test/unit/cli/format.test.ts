import { describe, expect, it } from "vitest";
import type { Cell, Failover, ShardingRule, Zone } from "../../../src/api/index.ts";
import {
  formatFailoverReport,
  formatRoute,
  formatStatus,
  progressLines,
  renderTable,
  shardRuns,
} from "../../../src/cli/format.ts";
import { buildTable, type RoutingTable } from "../../../src/routing/index.ts";

function table(frozen?: string): RoutingTable {
  return buildTable({
    ruleName: "users",
    shards: 100,
    function: { type: "Digits", from: -3, to: -1 },
    key: { sources: [{ type: "Header", name: "x-user-id" }], pattern: "^[0-9]{4,20}$", onInvalidKey: "Global" },
    assignments: [
      { cell: "rz00", shards: "0-49" },
      { cell: "rz01", shards: "50-99" },
    ],
    globalCell: "gz00",
    cells: [
      { name: "rz00", type: "Regional", zone: "hz-b", region: "hangzhou" },
      { name: "rz01", type: "Regional", zone: "hz-b", region: "hangzhou" },
      { name: "gz00", type: "Global", zone: "hz-a", region: "hangzhou" },
    ],
    ...(frozen ? { frozenShards: frozen } : {}),
    epoch: 7,
  });
}

const meta = (name: string) => ({ name });
const zone = (name: string, phase: string, ready: number, cells: number): Zone =>
  ({
    apiVersion: "ldc.io/v1alpha1",
    kind: "Zone",
    metadata: meta(name),
    spec: { region: "hangzhou" },
    status: { phase, readyNodes: ready, totalNodes: 3, cells },
  }) as unknown as Zone;
const cell = (name: string, home: string, active: string, extra: Record<string, unknown> = {}): Cell =>
  ({
    apiVersion: "ldc.io/v1alpha1",
    kind: "Cell",
    metadata: meta(name),
    spec: { type: "Regional", zone: home },
    status: { activeZone: active, phase: "Ready", ...extra },
  }) as unknown as Cell;
const sharding = (name: string, assignments: { cell: string; shards: string }[], valid: boolean): ShardingRule =>
  ({
    apiVersion: "ldc.io/v1alpha1",
    kind: "ShardingRule",
    metadata: { name, generation: 1 },
    spec: { shards: 100, assignments },
    status: {
      ...(valid ? { epoch: 7 } : {}),
      conditions: [
        {
          type: "Valid",
          status: valid ? "True" : "False",
          reason: valid ? "Valid" : "InvalidRule",
          message: "",
          lastTransitionTime: "2026-11-30T10:00:00Z",
          observedGeneration: 1,
        },
      ],
    },
  }) as unknown as ShardingRule;
const rule = sharding(
  "users",
  [
    { cell: "rz00", shards: "0-49" },
    { cell: "rz01", shards: "50-99" },
  ],
  true,
);
/** A drill moving rz00 hz-a -> hz-b, now write-freezing it for the failback (active in hz-b). */
const failback: Failover = {
  apiVersion: "ldc.io/v1alpha1",
  kind: "Failover",
  metadata: { name: "drill-1" },
  spec: {
    type: "Drill",
    target: { cells: ["rz00"] },
    drill: { duration: "10m" },
    writeFreeze: "5s",
    timeouts: { step: "2m" },
    abort: false,
  },
  status: {
    phase: "Running",
    step: "Freeze",
    cells: [{ cell: "rz00", from: "hz-a", to: "hz-b" }],
    steps: [
      { name: "DrillWait", phase: "Succeeded" },
      { name: "Failback", phase: "Succeeded" },
      { name: "Freeze", phase: "Running" },
    ],
  },
} as Failover;

describe("renderTable", () => {
  it("aligns columns two spaces apart without trailing spaces, and colors only when asked", () => {
    expect(
      renderTable([
        ["A", "BB"],
        ["ccc", "d"],
      ]),
    ).toBe("A    BB\nccc  d");
    const colored = renderTable([["A"], [{ text: "x", style: "red" }]], true);
    expect(colored).toContain("\x1b[31mx\x1b[39m");
    expect(renderTable([["A"], [{ text: "x", style: "red" }]], false)).not.toContain("\x1b");
  });
});

describe("formatStatus", () => {
  it("shows zones, cells and which cell@zone serves each shard range, frozen ranges marked", () => {
    const out = formatStatus({
      zones: [zone("hz-b", "Ready", 3, 2), zone("hz-a", "Unreachable", 0, 0)],
      // rz00 as stored: still the old active zone, no freeze; the running drill overlays both.
      cells: [cell("rz01", "hz-b", "hz-b"), cell("rz00", "hz-a", "hz-a", { phase: "FailingOver" })],
      failovers: [failback],
      rules: [rule],
      tables: new Map([["users", { table: table("40-59"), source: "payments/ldc-routing-users" }]]),
    });
    expect(out).toBe(
      [
        "ZONE  REGION    PHASE        NODES  CELLS",
        "hz-a  hangzhou  Unreachable  0/3    0",
        "hz-b  hangzhou  Ready        3/3    2",
        "",
        "CELL  TYPE      HOME  ACTIVE  SHARDS      PHASE                        FAILOVER",
        "rz00  Regional  hz-a  hz-b*   0-49 (50)   FailingOver (writes frozen)  drill-1",
        "rz01  Regional  hz-b  hz-b    50-99 (50)  Ready                        -",
        "* active outside its home zone",
        "",
        "ROUTING users  epoch 7  100 shards  from payments/ldc-routing-users  global gz00@hz-a  2 range(s) FROZEN",
        "SHARDS  SERVED BY  STATE",
        "0-39    rz00@hz-b  serving",
        "40-49   rz00@hz-b  FROZEN (writes refused)",
        "50-59   rz01@hz-b  FROZEN (writes refused)",
        "60-99   rz01@hz-b  serving",
        "",
      ].join("\n"),
    );
  });

  it("says what is missing instead of printing empty tables", () => {
    const out = formatStatus({ zones: [], cells: [], failovers: [], rules: [rule], tables: new Map() });
    expect(out).toMatch(/ZONES: none \(create Zone objects/);
    expect(out).toMatch(/CELLS: none/);
    expect(out).toMatch(/ROUTING users: no routing table published yet/);
  });

  it("shows the stored cell once the Failover has finished", () => {
    const done = { ...failback, status: { ...failback.status, phase: "Succeeded", step: "Done" } } as Failover;
    const out = formatStatus({
      zones: [],
      cells: [cell("rz00", "hz-a", "hz-a", { failoverRef: "drill-1" })],
      failovers: [done],
      rules: [rule],
      tables: new Map(),
    });
    expect(out).toContain("rz00  Regional  hz-a  hz-a    0-49 (50)  Ready  -");
  });

  it("counts shards of valid rules only (an invalid second rule naming the cell adds nothing)", () => {
    const users = sharding(
      "users",
      [
        { cell: "rz00", shards: "100-199" },
        { cell: "rz01", shards: "0-99" },
      ],
      true,
    );
    const broken = sharding("orders", [{ cell: "rz00", shards: "40-139" }], false);
    const out = formatStatus({
      zones: [],
      cells: [cell("rz00", "hz-a", "hz-a")],
      failovers: [],
      rules: [users, broken],
      tables: new Map(),
    });
    expect(out).toContain("rz00  Regional  hz-a  hz-a    100-199 (100)  Ready  -");
  });

  it("shardRuns splits runs by owner and frozen state", () => {
    expect(shardRuns(table()).map((r) => `${r.shards}:${r.cell}`)).toEqual(["0-49:rz00", "50-99:rz01"]);
  });
});

describe("formatRoute", () => {
  it("prints key -> shard -> cell -> zone -> state", () => {
    const r = formatRoute({ key: "20881234", method: "GET", table: table(), source: "payments/ldc-routing-users" });
    expect(r).toEqual({
      ok: true,
      text: [
        "key    20881234",
        "rule   users (epoch 7, from payments/ldc-routing-users)",
        "shard  23 of 100 (Digits from -3 to -1)",
        "cell   rz00 (Regional)",
        "zone   hz-b (hangzhou)",
        "state  serving",
        "",
      ].join("\n"),
    });
  });

  it("tells writes to a frozen shard apart from reads", () => {
    const t = table("20-29");
    const w = formatRoute({ key: "20881234", method: "POST", table: t, source: "x" });
    expect(w.ok && w.text).toMatch(/state {2}FROZEN: this POST is refused with 503 \+ Retry-After 1s/);
    const r = formatRoute({ key: "20881234", method: "GET", table: t, source: "x" });
    expect(r.ok && r.text).toMatch(/FROZEN for writes; this GET \(a read\) is served/);
  });

  it("explains an invalid key and where such requests go", () => {
    const r = formatRoute({ key: "abc", method: "GET", table: table(), source: "x" });
    expect(r.ok).toBe(false);
    expect(!r.ok && r.error).toMatch(
      /key "abc" is not a valid routing key for rule users: it must match \^\[0-9\]\{4,20\}\$/,
    );
    expect(!r.ok && r.error).toMatch(/rejected \(400\): only requests without a key go to the global cell/);
  });
});

const drill = (status: Failover["status"], annotations?: Record<string, string>): Failover =>
  ({
    apiVersion: "ldc.io/v1alpha1",
    kind: "Failover",
    metadata: { name: "drill-1", ...(annotations ? { annotations } : {}) },
    spec: {
      type: "Drill",
      target: { zone: "hz-a" },
      destination: { zone: "hz-b" },
      drill: { duration: "10m" },
      writeFreeze: "5s",
      timeouts: { step: "2m" },
      abort: false,
    },
    status,
  }) as Failover;

const DONE: Failover["status"] = {
  phase: "Succeeded",
  step: "Done",
  startTime: "2026-11-21T10:00:00Z",
  completionTime: "2026-11-21T10:10:30Z",
  cells: [{ cell: "rz00", from: "hz-a", to: "hz-b" }],
  steps: [
    {
      name: "Preflight",
      phase: "Succeeded",
      startTime: "2026-11-21T10:00:00Z",
      endTime: "2026-11-21T10:00:01Z",
      message: "moving rz00 hz-a->hz-b",
    },
    {
      name: "Freeze",
      phase: "Succeeded",
      startTime: "2026-11-21T10:00:01Z",
      endTime: "2026-11-21T10:00:06Z",
      message: "epoch 8",
    },
  ],
  epochs: { before: 7, freeze: 8, switch: 9, failbackFreeze: 10, failbackSwitch: 11 },
  rtoMilliseconds: 6500,
  freezeMilliseconds: 5100,
  message: "done",
};

describe("formatFailoverReport", () => {
  it("reports steps with start, end, duration and message, epochs, RTO, freeze", () => {
    const out = formatFailoverReport(drill(DONE));
    expect(out).toContain("Failover drill-1 (Drill)  phase Succeeded\n");
    expect(out).toContain("target:    zone hz-a -> hz-b, failback after 10m\n");
    expect(out).toContain("(took 10m30s)");
    expect(out).toContain("STEP       PHASE      START     END       DURATION  MESSAGE\n");
    expect(out).toContain("Preflight  Succeeded  10:00:00  10:00:01  1s        moving rz00 hz-a->hz-b\n");
    expect(out).toContain("Freeze     Succeeded  10:00:01  10:00:06  5s        epoch 8\n");
    expect(out).toContain("epochs:    before 7, freeze 8, switch 9, failback freeze 10, failback switch 11\n");
    expect(out).toContain("RTO:       6.5s\n");
    expect(out).toContain("freeze:    writes frozen for 5.1s\n");
    expect(out).toContain("requests refused during the freeze: n/a (sidecar metrics not reachable)\n");
  });

  it("shows refused requests from the annotation when present", () => {
    expect(formatFailoverReport(drill(DONE, { "ldc.io/refused-writes": "42" }))).toContain(
      "requests refused during the freeze: 42\n",
    );
  });

  it("handles a failover the operator has not picked up", () => {
    const out = formatFailoverReport(drill(undefined));
    expect(out).toContain("phase Pending");
    expect(out).toContain("steps: none yet");
    expect(out).toContain("RTO:       -");
  });
});

describe("progressLines", () => {
  it("prints one line per step transition with elapsed time, then the phase change", () => {
    const running = drill({
      ...DONE,
      phase: "Running",
      completionTime: undefined,
      steps: [{ ...DONE.steps![0]! }, { name: "Freeze", phase: "Running", startTime: "2026-11-21T10:00:01Z" }],
    });
    const first = progressLines(undefined, running, 0, 0);
    expect(first).toEqual([
      "[+   1.0s] Preflight Succeeded (1s): moving rz00 hz-a->hz-b",
      "[+   1.0s] Freeze Running",
      "[+   0.0s] failover Running: done",
    ]);
    const next = progressLines(running, drill(DONE), 0, 0);
    expect(next).toEqual(["[+   6.0s] Freeze Succeeded (5s): epoch 8", "[+ 630.0s] failover Succeeded: done"]);
    expect(progressLines(drill(DONE), drill(DONE), 0, 0)).toEqual([]);
  });
});
