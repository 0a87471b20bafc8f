import type { EffectiveCell } from "../../../src/reconcilers/failover.ts";
import { describe, expect, it } from "vitest";
import type { Cell } from "../../../src/api/index.ts";
import { cellAppStatusCells, planCellApp } from "../../../src/reconcilers/cellapp.ts";
import { Labels, dnsLabel, workloadName } from "../../../src/reconcilers/naming.ts";
import { SIDECAR_CONTAINER } from "../../../src/reconcilers/sidecar.ts";
import { topology, withStatus } from "./fixtures.ts";

const sidecar = { image: "ldc/sidecar:test" };
type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function account() {
  const t = topology();
  const app = t.apps.find((a) => a.spec.scope === "Regional")!;
  return { ...t, app };
}

describe("planCellApp", () => {
  it("stamps an active and a standby workload per cell in scope, in the right zones", () => {
    const { app, cells, zones } = account();
    const plan = planCellApp({ app, cells, zones, sidecar });
    const regional = cells
      .filter((c) => c.spec.type === "Regional")
      .map((c) => c.metadata.name)
      .sort();
    expect(plan.scopeCells).toEqual(regional);
    expect(plan.problems).toEqual([]);
    for (const c of plan.cells) {
      const cell = cells.find((x) => x.metadata.name === c.cell)!;
      expect(c.activeZone).toBe(cell.spec.zone);
      expect(c.standbyZone).toBe(cell.spec.standbyZones![0]);
      const active = c.workloads.find((w) => w.role === "active")!;
      const standby = c.workloads.find((w) => w.role === "standby")!;
      expect(active.zone).toBe(cell.spec.zone);
      expect(standby.zone).toBe(cell.spec.standbyZones![0]);
      expect((active.deployment as Obj).metadata.name).toBe(workloadName(app.metadata.name, c.cell, active.zone));
      expect((active.deployment as Obj).spec.template.spec.nodeSelector["topology.kubernetes.io/zone"]).toBe(
        active.zone,
      );
    }
  });

  it("applies per-cell overrides (replicas, image, env, resources) to the app container only", () => {
    const { app, cells, zones } = account();
    const target = app.spec.overrides?.[0]?.cell ?? "rz00";
    const withOverride = {
      ...app,
      spec: {
        ...app.spec,
        overrides: [
          {
            cell: target,
            replicas: 7,
            standbyReplicas: 3,
            image: "canary:2",
            env: [{ name: "MODE", value: "canary" }],
            resources: { requests: { cpu: "2" } },
          },
        ],
      },
    };
    const plan = planCellApp({ app: withOverride, cells, zones, sidecar });
    const c = plan.cells.find((x) => x.cell === target)!;
    const active = c.workloads.find((w) => w.role === "active")!;
    const standby = c.workloads.find((w) => w.role === "standby")!;
    expect(active.replicas).toBe(7);
    expect(standby.replicas).toBe(3);
    const containers = (active.deployment as Obj).spec.template.spec.containers as Obj[];
    expect(containers[0]!.image).toBe("canary:2");
    expect(containers[0]!.resources).toEqual({ requests: { cpu: "2" } });
    expect(containers[0]!.env).toContainEqual({ name: "MODE", value: "canary" });
    expect(containers[0]!.env).toContainEqual({ name: "LDC_CELL", value: target });
    expect(containers.at(-1)!.name).toBe(SIDECAR_CONTAINER);
    expect(containers.at(-1)!.image).toBe("ldc/sidecar:test");
    // other cells keep the template
    const other = plan.cells.find((x) => x.cell !== target)!;
    const otherActive = other.workloads.find((w) => w.role === "active")!;
    expect(((otherActive.deployment as Obj).spec.template.spec.containers as Obj[])[0]!.image).not.toBe("canary:2");
  });

  it("follows a failover: the active side moves, the home zone becomes the standby, a warm zone gets full replicas", () => {
    const { app, cells, zones } = account();
    const rz00 = cells.find((c) => c.metadata.name === "rz00")!;
    const moved: Cell = withStatus(rz00, { activeZone: "hz-b" });
    const plan = planCellApp({ app, cells: cells.map((c) => (c === rz00 ? moved : c)), zones, sidecar });
    const c = plan.cells.find((x) => x.cell === "rz00")!;
    expect(c.activeZone).toBe("hz-b");
    expect(c.standbyZone).toBe("hz-a");
    expect(c.workloads.map((w) => [w.zone, w.role])).toEqual([
      ["hz-b", "active"],
      ["hz-a", "standby"],
    ]);

    const warming: EffectiveCell = { ...rz00, moving: { warmZone: "hz-b", writeFrozen: false, failover: "fo" } };
    const plan2 = planCellApp({ app, cells: cells.map((x) => (x === rz00 ? warming : x)), zones, sidecar });
    const w = plan2.cells.find((x) => x.cell === "rz00")!.workloads;
    const full = app.spec.overrides?.find((o) => o.cell === "rz00")?.replicas ?? app.spec.replicas;
    expect(w.map((x) => [x.zone, x.role, x.replicas])).toEqual([
      ["hz-a", "active", full],
      ["hz-b", "warm", full],
    ]);

    // Only the replicas and the Deployment's role label change: the pod templates stay as they were,
    // so a failover rolls no pod (and the barrier never waits for pods being replaced).
    const before = planCellApp({ app, cells, zones, sidecar }).cells.find((x) => x.cell === "rz00")!.workloads;
    for (const after of [...c.workloads, ...w]) {
      const same = before.find((b) => b.zone === after.zone)!;
      expect((after.deployment as Obj).spec.template, `${after.zone} ${after.role}`).toEqual(
        (same.deployment as Obj).spec.template,
      );
    }
  });

  it("labels and selects by app, cell and zone; owner references only inside the operator's own cluster", () => {
    const { app, cells, zones } = account();
    const plan = planCellApp({ app, cells, zones, sidecar });
    for (const c of plan.cells) {
      for (const w of c.workloads) {
        const d = w.deployment as Obj;
        expect(d.metadata.labels[Labels.app]).toBe(app.metadata.name);
        expect(d.metadata.labels[Labels.cell]).toBe(c.cell);
        expect(d.metadata.labels[Labels.zone]).toBe(w.zone);
        expect(d.spec.selector.matchLabels).toEqual({
          [Labels.app]: app.metadata.name,
          [Labels.cell]: c.cell,
          [Labels.zone]: w.zone,
        });
        expect((w.service as Obj).spec.selector).toEqual(d.spec.selector.matchLabels);
        const zone = zones.find((z) => z.metadata.name === w.zone)!;
        expect(Boolean(d.metadata.ownerReferences)).toBe(!zone.spec.cluster);
        // Prometheus scrapes the sidecar's admin port; the Service targets only the traffic port.
        expect(d.spec.template.metadata.annotations).toMatchObject({
          "prometheus.io/scrape": "true",
          "prometheus.io/port": String(app.spec.sidecar.adminPort),
        });
        expect((w.service as Obj).spec.ports.map((p: Obj) => p.targetPort)).toEqual([app.spec.sidecar.port]);
      }
    }
  });

  it("reports a missing zone and an override for a cell outside the scope, and leaves that cell unplanned", () => {
    const { app, cells, zones } = account();
    const broken = cells.map((c) => (c.metadata.name === "rz01" ? { ...c, spec: { ...c.spec, zone: "nowhere" } } : c));
    const plan = planCellApp({
      app: { ...app, spec: { ...app.spec, overrides: [{ cell: "gz00", replicas: 1 }] } },
      cells: broken,
      zones,
      sidecar,
    });
    expect(plan.unplannable).toEqual(["rz01"]);
    expect(plan.problems.map((p) => p.message).join("\n")).toMatch(/zone nowhere of cell rz01 does not exist/);
    expect(plan.problems.map((p) => p.field)).toContain("spec.overrides[gz00]");
  });

  it("removing a cell from spec.cells removes it from the plan", () => {
    const { app, cells, zones } = account();
    const plan = planCellApp({
      app: { ...app, spec: { ...app.spec, cells: ["rz00", "rz02"] } },
      cells,
      zones,
      sidecar,
    });
    expect(plan.cells.map((c) => c.cell)).toEqual(["rz00", "rz02"]);
  });

  it("computes per-cell status from observed Deployments", () => {
    const { app, cells, zones } = account();
    const plan = planCellApp({ app, cells, zones, sidecar });
    const first = plan.cells[0]!;
    const want = first.workloads.find((w) => w.role === "active")!.replicas;
    const status = cellAppStatusCells(plan, [
      { cell: first.cell, zone: first.activeZone, replicas: want, readyReplicas: want },
      { cell: first.cell, zone: first.standbyZone!, readyReplicas: 1 },
    ]);
    expect(status.totalCells).toBe(plan.cells.length);
    expect(status.readyCells).toBe(1);
    expect(status.cells[0]).toMatchObject({ cell: first.cell, readyReplicas: want, standbyReadyReplicas: 1 });
  });
});

describe("names", () => {
  it("are DNS-1035 labels, deterministic, and distinct when truncated", () => {
    const long = "a".repeat(40);
    const a = dnsLabel(long, "cell-one", "zone-a");
    const b = dnsLabel(long, "cell-one", "zone-b");
    expect(a.length).toBeLessThanOrEqual(63);
    expect(a).toMatch(/^[a-z]([-a-z0-9]*[a-z0-9])?$/);
    expect(a).not.toBe(b);
    expect(dnsLabel(long, "cell-one", "zone-a")).toBe(a);
    expect(workloadName("account", "rz00", "hz-a")).toBe("account-rz00-hz-a");
  });
});
