import { describe, expect, it } from "vitest";
import type { Cell, Failover, Zone } from "../../../src/api/index.ts";
import { decideAutomaticFailover } from "../../../src/reconcilers/autofailover.ts";
import { describeMoves, planMoves } from "../../../src/reconcilers/failover-moves.ts";
import { effectiveCells, failoverStateOf, nextStep } from "../../../src/reconcilers/failover.ts";
import { topology, withStatus } from "./fixtures.ts";

const ready = (z: Zone): Zone => withStatus(z, { phase: "Ready" });
const now = new Date("2026-11-21T10:00:00Z");

function world() {
  const t = topology();
  return { ...t, zones: t.zones.map(ready) };
}

function failover(
  name: string,
  status: NonNullable<Failover["status"]>,
  spec: Partial<Failover["spec"]> = {},
): Failover {
  return {
    apiVersion: "ldc.io/v1alpha1",
    kind: "Failover",
    metadata: { name },
    spec: { type: "Emergency", target: { cells: ["rz00"] }, writeFreeze: "0s", abort: false, ...spec },
    status,
  } as unknown as Failover;
}

describe("planMoves", () => {
  it("moves every cell active in the target zone to its first healthy standby; a City cell without one is evacuated", () => {
    const { cells, zones } = world();
    const plan = planMoves(
      { target: { zone: "hz-a" }, type: "Emergency", writeFreeze: "0s", abort: false } as Failover["spec"],
      cells,
      zones,
    );
    expect(plan.problems).toEqual([]);
    expect(plan.moves).toEqual([
      { cell: "cz-hangzhou", from: "hz-a", to: "hz-a", evacuate: true },
      { cell: "gz00", from: "hz-a", to: "hz-b" },
      { cell: "rz00", from: "hz-a", to: "hz-b" },
    ]);
  });

  it("never picks a zone that is not healthy or is cordoned, and says why", () => {
    const { cells, zones } = world();
    const sick = zones.map((z) =>
      z.metadata.name === "hz-b"
        ? withStatus(z, { phase: "Unreachable" })
        : z.metadata.name === "sh-a"
          ? { ...z, spec: { ...z.spec, cordoned: true } }
          : z,
    );
    const plan = planMoves(
      { target: { cells: ["rz00"] }, type: "Emergency", writeFreeze: "0s", abort: false } as Failover["spec"],
      cells,
      sick,
    );
    expect(plan.moves).toEqual([]);
    expect(plan.problems[0]).toMatch(/hz-b \(Unreachable\).*sh-a \(cordoned\)/);
  });
});

describe("the failover state machine's overlay", () => {
  const moving = (step: NonNullable<Failover["status"]>["step"], steps: string[] = []) =>
    failover("fo", {
      phase: "Running",
      step,
      cells: [{ cell: "rz00", from: "hz-a", to: "hz-b" }],
      steps: steps.map((name) => ({ name, phase: "Succeeded" })),
    } as NonNullable<Failover["status"]>);

  it("each cell has exactly one active zone at every step, and writes are frozen only before the switch", () => {
    const expected: [string, string, boolean][] = [
      ["ScaleUpStandby", "hz-a", false],
      ["Freeze", "hz-a", true],
      ["WaitReplication", "hz-a", true],
      ["Switch", "hz-b", false],
      ["WaitAcknowledge", "hz-b", false],
      ["ScaleDownOld", "hz-b", false],
      ["DrillWait", "hz-b", false],
    ];
    for (const [step, zone, frozen] of expected) {
      const s = failoverStateOf(moving(step as never), "rz00")!;
      expect([step, s.activeZone, Boolean(s.writeFrozen)]).toEqual([step, zone, frozen]);
    }
  });

  it("runs the failback leg in reverse after the Failback marker", () => {
    const s = failoverStateOf(moving("Freeze", ["Preflight", "DrillWait", "Failback"]), "rz00")!;
    expect(s).toMatchObject({ activeZone: "hz-b", warmZone: "hz-a", writeFrozen: true });
    expect(failoverStateOf(moving("Switch", ["Failback"]), "rz00")!.activeZone).toBe("hz-a");
  });

  it("disappears when the failover ends, also dropping the failoverRef a Cell still shows", () => {
    const { cells } = world();
    const rz00 = withStatus(
      cells.find((c) => c.metadata.name === "rz00")!,
      { activeZone: "hz-a", failoverRef: "fo" },
    );
    const [after] = effectiveCells([rz00], [failover("fo", { phase: "RolledBack" })]);
    expect(after!.status).toMatchObject({ activeZone: "hz-a" });
    expect(after!.status?.failoverRef).toBeUndefined();
    expect(after!.moving).toBeUndefined();
  });

  it("keeps what is never stored (warm zone, write freeze) beside the status, not in it", () => {
    const { cells } = world();
    const rz00 = cells.find((c) => c.metadata.name === "rz00")!;
    const running = failover("fo", {
      phase: "Running",
      step: "Freeze",
      cells: [{ cell: "rz00", from: "hz-a", to: "hz-b" }],
    } as NonNullable<Failover["status"]>);
    const [during] = effectiveCells([rz00], [running]);
    expect(during!.status).toMatchObject({ activeZone: "hz-a", failoverRef: "fo" });
    expect(during!.moving).toEqual({ warmZone: "hz-b", writeFrozen: true, failover: "fo" });
    expect(Object.keys(during!.status!)).not.toContain("writeFrozen");
  });

  it("steps through a drill: out, wait, failback, back, done", () => {
    const seq: string[] = ["Preflight"];
    let back = false;
    while (seq.at(-1) !== "Done" && seq.length < 40) {
      const s = nextStep(seq.at(-1) as never, true, back);
      if (s === "Failback") back = true;
      seq.push(s);
    }
    expect(seq.join(",")).toBe(
      "Preflight,ScaleUpStandby,Freeze,WaitReplication,Switch,WaitAcknowledge,ScaleDownOld,DrillWait,Failback,ScaleUpStandby,Freeze,WaitReplication,Switch,WaitAcknowledge,ScaleDownOld,Done",
    );
  });
});

describe("decideAutomaticFailover", () => {
  function lost() {
    const { cells, zones } = world();
    const zone = withStatus(
      zones.find((z) => z.metadata.name === "hz-a")!,
      { phase: "Unreachable" },
    );
    return { cells: cells as Cell[], zones: zones.map((z) => (z.metadata.name === "hz-a" ? zone : z)), zone };
  }

  it("moves only the Automatic cells of a lost zone, into a healthy zone", () => {
    const { cells, zones, zone } = lost();
    const d = decideAutomaticFailover({ now, zone, zones, cells, failovers: [], paused: false, zoneLeased: true });
    // rz00 is Automatic in the examples; gz00 is Manual.
    expect(d.cells).toEqual(["rz00"]);
    expect(d.reason).toMatch(/Unreachable/);
  });

  it("holds back when paused, when another zone is failing over, or during the cooldown", () => {
    const { cells, zones, zone } = lost();
    expect(
      decideAutomaticFailover({ now, zone, zones, cells, failovers: [], paused: true, zoneLeased: true }).cells,
    ).toEqual([]);
    const other = failover("auto-sh-a", { phase: "Running" });
    other.metadata.labels = { "ldc.io/automatic": "true", "ldc.io/zone": "sh-a" };
    expect(
      decideAutomaticFailover({ now, zone, zones, cells, failovers: [other], paused: false, zoneLeased: true }).cells,
    ).toEqual([]);
    const cooled = cells.map((c) =>
      c.metadata.name === "rz00"
        ? withStatus(c, { lastFailoverTime: new Date(now.getTime() - 60_000).toISOString() })
        : c,
    );
    const d = decideAutomaticFailover({
      now,
      zone,
      zones,
      cells: cooled,
      failovers: [],
      paused: false,
      zoneLeased: true,
    });
    expect(d.cells).toEqual([]);
    expect(d.held[0]!.why).toMatch(/cooldown/);
    expect(d.recheckAfterMs).toBeGreaterThan(0);
  });

  it("never fails over by itself a lost zone whose sidecars hold no routing lease (nothing proves it stopped writing)", () => {
    const { cells, zones, zone } = lost();
    const d = decideAutomaticFailover({ now, zone, zones, cells, failovers: [], paused: false, zoneLeased: false });
    expect(d.cells).toEqual([]);
    expect(d.reason).toMatch(/hold no routing lease.*spec\.fencedZones/);
    expect(d.held.map((h) => h.cell)).toEqual(["rz00"]);
  });

  it("does nothing for a healthy zone", () => {
    const { cells, zones } = world();
    expect(
      decideAutomaticFailover({ now, zone: zones[0]!, zones, cells, failovers: [], paused: false, zoneLeased: true })
        .cells,
    ).toEqual([]);
  });
});

describe("describeMoves", () => {
  it("names a single move in full", () => {
    expect(describeMoves([{ cell: "rz00", from: "hz-a", to: "hz-b" }])).toBe("rz00 hz-a->hz-b");
  });

  it("stays far below the 4,096-character status message bound for a 4,096-cell zone failover", () => {
    const moves = Array.from({ length: 4096 }, (_, i) => ({
      cell: `${"c".repeat(59)}${String(i).padStart(4, "0")}`, // 63 characters, the longest name
      from: `${"z".repeat(61)}${String(i % 20).padStart(2, "0")}`,
      to: `${"y".repeat(61)}${String(i % 20).padStart(2, "0")}`,
    }));
    const text = describeMoves(moves);
    expect(text.length).toBeLessThan(2500);
    expect(text).toMatch(
      /^205 cells z{61}00->y{61}00 \(c{59}0000, c{59}0020, c{59}0040, c{59}0060, c{59}0080, \+200 more\)/,
    );
    expect(text).toContain("+15 more directions");
  });
});
