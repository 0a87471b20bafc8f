import { describe, expect, it } from "vitest";
import { zoneHealth, type ZoneObservation } from "../../../src/reconcilers/zone.ts";
import { topology } from "./fixtures.ts";

const zone = () => {
  const z = topology().zones[0]!;
  return { ...z, spec: { ...z.spec, health: { failureThreshold: "10s", minReadyRatio: 0.5 } } };
};
const now = new Date("2026-11-21T10:00:00Z");
const healthy: ZoneObservation = {
  now,
  reachable: true,
  totalNodes: 3,
  readyNodes: 3,
  activeCells: 2,
  readyCells: 2,
  observed: true,
};

describe("zoneHealth", () => {
  it("is Ready when reachable, nodes ready and every active cell ready", () => {
    expect(zoneHealth(zone(), healthy).phase).toBe("Ready");
  });

  it("counts down to the failure threshold before declaring Unreachable, and asks to be re-checked at it", () => {
    const blip = zoneHealth(zone(), { ...healthy, reachable: false, unreachableSince: new Date(now.getTime() - 4000) });
    expect(blip.phase).toBe("Degraded");
    expect(blip.reason).toBe("ProbeFailing");
    expect(blip.requeueAfterMs).toBe(6000);
    const down = zoneHealth(zone(), {
      ...healthy,
      reachable: false,
      unreachableSince: new Date(now.getTime() - 10_000),
      probeError: "ECONNREFUSED",
    });
    expect(down.phase).toBe("Unreachable");
    expect(down.message).toMatch(/ECONNREFUSED/);
    expect(down.message).toMatch(/nothing in the zone is deleted/);
  });

  it("is Degraded below minReadyRatio, with no nodes, or with cells not ready; Pending before the first sync", () => {
    expect(zoneHealth(zone(), { ...healthy, readyNodes: 1 }).reason).toBe("NodesNotReady");
    expect(zoneHealth(zone(), { ...healthy, totalNodes: 0, readyNodes: 0 }).message).toMatch(/nodeSelector/);
    expect(zoneHealth(zone(), { ...healthy, readyCells: 1 }).reason).toBe("CellsNotReady");
    expect(zoneHealth(zone(), { ...healthy, observed: false }).phase).toBe("Pending");
  });
});
