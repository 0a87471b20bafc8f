// Issue 4: the examples converge (every cell's apps Ready in the right zone
// and cluster, statuses correct), and the steady state is quiet (no writes
// without changes; applying the examples again changes nothing).
// Registered by operator.test.ts on its converged environment, first.
import { expect, it } from "vitest";
import {
  APP_NAMESPACE,
  APPS,
  CELLS,
  DC_OF_ZONE,
  EXPECTED,
  ZONES,
  condition,
  deploymentsPath,
  ldcPath,
  metricSum,
  podsPath,
  reconcileEverything,
  stampedDeployments,
  waitOperatorSteady,
  workloadName,
  type CellAppObj,
  type CellObj,
  type Deployment,
  type OperatorEnv,
  type ZoneObj,
} from "./setup.ts";

/** resourceVersion of every object of the examples and every stamped Deployment, by "<kind>/<name>". */
async function resourceVersions(env: OperatorEnv): Promise<Map<string, string>> {
  const rvs = new Map<string, string>();
  for (const plural of ["zones", "cells", "shardingrules"])
    for (const o of await env.list<{ metadata: { name: string; resourceVersion: string } }>("dc1", ldcPath(plural)))
      rvs.set(`${plural}/${o.metadata.name}`, o.metadata.resourceVersion);
  for (const o of await env.list<CellAppObj>("dc1", ldcPath("cellapps", undefined, APP_NAMESPACE)))
    rvs.set(`cellapps/${o.metadata.name}`, o.metadata.resourceVersion);
  for (const [dc, ds] of await stampedDeployments(env))
    for (const d of ds as Deployment[]) rvs.set(`${dc}/deployments/${d.metadata.name}`, d.metadata.resourceVersion);
  return rvs;
}

export function convergeTests(env: OperatorEnv): void {
  it("stamps every cell's Deployments, Ready, in the right zone and cluster", async () => {
    const byDc = await stampedDeployments(env);
    for (const w of EXPECTED) {
      const dc = DC_OF_ZONE[w.zone]!;
      const name = workloadName(w);
      const d = byDc.get(dc)!.find((x) => x.metadata.name === name);
      expect(d, `${name} in ${dc}`).toBeDefined();
      expect(d!.metadata.labels).toMatchObject({
        "app.kubernetes.io/managed-by": "ldc-operator",
        "ldc.io/app": w.app,
        "ldc.io/cell": w.cell,
        "ldc.io/zone": w.zone,
        "ldc.io/role": w.role,
      });
      expect(d!.spec.replicas, name).toBe(w.replicas);
      expect(d!.status?.readyReplicas ?? 0, name).toBe(w.replicas);
      expect(d!.spec.template.spec.nodeSelector).toEqual({ "topology.kubernetes.io/zone": w.zone });
      const app = d!.spec.template.spec.containers[0]!;
      expect(app.image).toBe(w.image);
      expect(app.env).toEqual(
        expect.arrayContaining([
          { name: "LDC_CELL", value: w.cell },
          { name: "LDC_ZONE", value: w.zone },
        ]),
      );
      // the pods run on that zone's kwok nodes
      const nodes = await env.list<{ metadata: { name: string; labels: Record<string, string> } }>(dc, "/api/v1/nodes");
      const zoneNodes = new Set(
        nodes.filter((n) => n.metadata.labels["topology.kubernetes.io/zone"] === w.zone).map((n) => n.metadata.name),
      );
      const pods = await env.list<{ spec: { nodeName?: string }; status: { phase: string } }>(
        dc,
        podsPath(APP_NAMESPACE, `ldc.io/app=${w.app},ldc.io/cell=${w.cell},ldc.io/zone=${w.zone}`),
      );
      expect(
        pods.filter((p) => p.status.phase === "Running"),
        name,
      ).toHaveLength(w.replicas);
      for (const p of pods)
        expect(zoneNodes.has(p.spec.nodeName ?? ""), `${name} pod on ${p.spec.nodeName}`).toBe(true);
    }
    // nothing else: no Deployment of the examples in a zone where it does not belong
    const stamped = [...byDc.entries()].flatMap(([dc, ds]) => ds.map((d) => `${dc}/${d.metadata.name}`)).sort();
    expect(stamped).toEqual(EXPECTED.map((w) => `${DC_OF_ZONE[w.zone]}/${workloadName(w)}`).sort());
    // the account app has its cell-router sidecar
    const rz00 = byDc.get("dc1")!.find((d) => d.metadata.name === "account-rz00-hz-a")!;
    expect(rz00.spec.template.spec.containers.map((c) => c.name)).toHaveLength(2);
  });

  it("reports CellApp status: every cell ready, per-cell zone and replicas", async () => {
    const apps = await env.list<CellAppObj>("dc1", ldcPath("cellapps", undefined, APP_NAMESPACE));
    expect(apps.map((a) => a.metadata.name).sort()).toEqual([...APPS]);
    for (const app of apps) {
      const name = app.metadata.name;
      const expected = EXPECTED.filter((w) => w.app === name);
      const cells = [...new Set(expected.map((w) => w.cell))].sort();
      expect(app.metadata.finalizers).toContain("ldc.io/cleanup");
      expect(app.status?.observedGeneration).toBe(app.metadata.generation);
      expect(app.status?.totalCells, name).toBe(cells.length);
      expect(app.status?.readyCells, name).toBe(cells.length);
      expect(condition(app, "Ready")).toMatchObject({ status: "True", reason: "AllCellsReady" });
      expect(condition(app, "Valid")).toMatchObject({ status: "True" });
      const statusCells = [...(app.status?.cells ?? [])].sort((a, b) => a.cell.localeCompare(b.cell));
      expect(statusCells).toEqual(
        cells.map((cell) => {
          const active = expected.find((w) => w.cell === cell && w.role === "active")!;
          // City cells without standby zones have none.
          const standby = expected.find((w) => w.cell === cell && w.role === "standby");
          return {
            cell,
            zone: active.zone,
            desiredReplicas: active.replicas,
            readyReplicas: active.replicas,
            ...(standby ? { standbyZone: standby.zone, standbyReadyReplicas: standby.replicas } : {}),
          };
        }),
      );
    }
  });

  it("reports Zone status: Ready, reachable, nodes and cells counted", async () => {
    const zones = await env.list<ZoneObj>("dc1", ldcPath("zones"));
    expect(zones.map((z) => z.metadata.name).sort()).toEqual([...ZONES]);
    const activeCells: Record<string, number> = { "hz-a": 3, "hz-b": 1, "sh-a": 3 };
    for (const z of zones) {
      expect(z.status, z.metadata.name).toMatchObject({
        phase: "Ready",
        reachable: true,
        readyNodes: 3,
        totalNodes: 3,
        cells: activeCells[z.metadata.name],
      });
      expect(condition(z, "Ready")).toMatchObject({ status: "True", reason: "Healthy" });
      if (z.metadata.name !== "hz-a") expect(condition(z, "ClusterConnected")).toMatchObject({ status: "True" });
    }
  });

  it("reports Cell status: active zone, shards, phase Ready", async () => {
    const cells = await env.list<CellObj>("dc1", ldcPath("cells"));
    expect(cells.map((c) => c.metadata.name).sort()).toEqual([...CELLS].sort());
    const shards: Record<string, string> = { rz00: "0-24", rz01: "25-49", rz02: "50-74", rz03: "75-99" };
    for (const c of cells) {
      const name = c.metadata.name;
      expect(c.status?.activeZone, name).toBe(c.spec.zone);
      expect(c.status?.phase, name).toBe("Ready");
      expect(c.status?.shards, name).toBe(shards[name]);
      expect(c.status?.shardCount, name).toBe(shards[name] ? 25 : 0);
      expect(condition(c, "Ready")).toMatchObject({ status: "True" });
      expect(condition(c, "Valid")).toMatchObject({ status: "True" });
    }
  });

  it("is quiet in steady state: a pass over every key of every controller writes nothing", async () => {
    // converged as seen from outside; let the last status writes land (a write loop fails here)
    await waitOperatorSteady(env);
    const before = await env.requests();
    // the counter is live: converging took writes
    expect(before).toBeGreaterThan(0);
    const seriesBefore = await env.writeSeries();
    const rvsBefore = await resourceVersions(env);
    // Every controller reconciles every object it watches, as if each had just changed.
    const objects = { zone: ZONES.length, cell: CELLS.length, shardingrule: 1, cellapp: APPS.length };
    const reconciles = async () => {
      const byController = new Map<string, number>();
      for (const controller of Object.keys(objects))
        byController.set(controller, await metricSum(env, "controller_runtime_reconcile_total", { controller }));
      return byController;
    };
    const reconcilesBefore = await reconciles();
    await reconcileEverything(env);
    const reconcilesAfter = await reconciles();
    for (const [controller, n] of Object.entries(objects))
      expect(
        reconcilesAfter.get(controller)! - reconcilesBefore.get(controller)!,
        `${controller} reconciles in the pass`,
      ).toBeGreaterThanOrEqual(n);
    const after = await env.requests();
    expect(
      after - before,
      `write requests during a pass over every key:\nbefore:\n${seriesBefore.join("\n")}\nafter:\n${(await env.writeSeries()).join("\n")}`,
    ).toBe(0);
    expect(Object.fromEntries(await resourceVersions(env))).toEqual(Object.fromEntries(rvsBefore));
  });

  it("changes nothing when the examples are applied again", async () => {
    const before = await resourceVersions(env);
    expect(before.size).toBe(3 + 7 + 1 + 3 + EXPECTED.length);
    const writesBefore = await env.requests();
    for (let i = 0; i < 2; i++) {
      const lines = (await env.applyExamples()).trim().split("\n");
      expect(lines.length).toBe(1 + 3 + 7 + 1 + 3); // namespace, zones, cells, rule, apps
      for (const line of lines) expect(line).toMatch(/ unchanged$/);
    }
    // whatever the apply might have changed: every controller looks at every object again
    await reconcileEverything(env);
    expect(Object.fromEntries(await resourceVersions(env))).toEqual(Object.fromEntries(before));
    expect(await env.requests()).toBe(writesBefore);
    // and the stamped Deployments are where they were
    for (const w of EXPECTED) {
      const d = await env.get<Deployment>(DC_OF_ZONE[w.zone]!, deploymentsPath(APP_NAMESPACE, workloadName(w)));
      expect(d?.spec.replicas).toBe(w.replicas);
    }
  });
}
