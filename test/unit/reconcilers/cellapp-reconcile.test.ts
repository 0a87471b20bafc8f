// planCellAppReconcile: one CellApp reconcile, from what the caches show to
// what to write.
import { describe, expect, it } from "vitest";
import type { CellApp } from "../../../src/api/index.ts";
import {
  DEFAULT_POD_SECURITY,
  memberNamespace,
  planCellApp,
  planCellAppReconcile,
  UNREACHABLE_RETRY_MS,
  type CellAppObservation,
  type ClusterObservation,
  type ObservedWorkload,
} from "../../../src/reconcilers/cellapp.ts";
import { CELLAPP_FINALIZER, Labels } from "../../../src/reconcilers/naming.ts";
import { statusEqual } from "../../../src/runtime/status.ts";
import { shardingRules, topology } from "./fixtures.ts";

const sidecar = { image: "ldc/sidecar:test" };
const NOW = new Date("2026-03-01T10:00:00Z");
const LOCAL: ClusterObservation = { name: "local", local: true, reachable: true };

function observation(change: (o: CellAppObservation) => void = () => {}): CellAppObservation {
  const t = topology();
  const app = t.apps.find((a) => a.spec.scope === "Regional")!;
  const o: CellAppObservation = {
    app: { ...app, metadata: { ...app.metadata, finalizers: [CELLAPP_FINALIZER] } },
    cells: t.cells,
    zones: t.zones,
    rules: shardingRules(),
    sidecar,
    podSecurity: DEFAULT_POD_SECURITY,
    zoneClusters: new Map(t.zones.map((z) => [z.metadata.name, LOCAL])),
    clusters: [LOCAL],
    workloads: [],
    now: NOW,
  };
  change(o);
  return o;
}

/** Every desired workload as the cache would show it once applied, Deployments ready. */
function converged(o: CellAppObservation): ObservedWorkload[] {
  const plan = planCellApp(o);
  return plan.cells.flatMap((c) =>
    c.workloads.flatMap((w) => [
      {
        cluster: o.zoneClusters.get(w.zone)!.name,
        kind: "Deployment" as const,
        object: { ...w.deployment, status: { replicas: w.replicas, readyReplicas: w.replicas } },
      },
      { cluster: o.zoneClusters.get(w.zone)!.name, kind: "Service" as const, object: w.service },
    ]),
  );
}

const condition = (status: Record<string, unknown> | undefined, type: string) =>
  (status?.conditions as { type: string; status: string; reason: string; message: string }[]).find(
    (c) => c.type === type,
  );

describe("planCellAppReconcile", () => {
  it("a new app: adds the finalizer, creates every workload, reports the cells not ready", () => {
    const o = observation((x) => {
      x.app = { ...x.app, metadata: { ...x.app.metadata, finalizers: [] } };
    });
    const a = planCellAppReconcile(o);
    expect(a.addFinalizer).toBe(true);
    const plan = planCellApp(o);
    expect(a.apply).toHaveLength(plan.cells.flatMap((c) => c.workloads).length * 2);
    expect(a.apply.every((w) => w.create && w.cluster === "local")).toBe(true);
    expect(a.ensureNamespaces).toEqual([]);
    expect(a.delete).toEqual([]);
    expect(a.status?.totalCells).toBe(plan.scopeCells.length);
    expect(a.status?.readyCells).toBe(0);
    expect(condition(a.status, "Ready")).toMatchObject({ status: "False", reason: "CellsNotReady" });
    expect(condition(a.status, "Valid")).toMatchObject({ status: "True" });
    expect(a.requeueAfterMs).toBeUndefined();
  });

  it("steady state is quiet: nothing to apply or delete, and the status it wrote is unchanged", () => {
    const first = observation((x) => (x.workloads = converged(x)));
    const a = planCellAppReconcile(first);
    expect(a.apply).toEqual([]);
    expect(a.delete).toEqual([]);
    expect(a.events).toEqual([]);
    expect(condition(a.status, "Ready")).toMatchObject({ status: "True", reason: "AllCellsReady" });
    const again = planCellAppReconcile(
      observation((x) => {
        x.workloads = converged(x);
        x.app = { ...x.app, status: a.status as CellApp["status"] };
        x.now = new Date(NOW.getTime() + 60_000);
      }),
    );
    expect(statusEqual(again.status, a.status)).toBe(true);
  });

  it("deletes the workloads of a cell that left the scope, with an Event", () => {
    const o = observation((x) => (x.workloads = converged(x)));
    const [stray] = o.workloads;
    const labels = (stray!.object.metadata as { labels: Record<string, string> }).labels;
    const left: ObservedWorkload = {
      cluster: "local",
      kind: "Deployment",
      object: {
        metadata: {
          name: "gone-cell-dep",
          namespace: o.app.metadata.namespace,
          labels: { ...labels, [Labels.cell]: "rz99" },
        },
      },
    };
    const a = planCellAppReconcile({ ...o, workloads: [...o.workloads, left] });
    expect(a.delete).toEqual([
      { cluster: "local", kind: "Deployment", namespace: o.app.metadata.namespace, name: "gone-cell-dep" },
    ]);
    expect(a.events).toEqual([
      {
        type: "Normal",
        reason: "Removed",
        message: "removed Deployment gone-cell-dep: cell rz99 left the app's scope",
      },
    ]);
  });

  it("an unreachable zone: nothing applied or deleted there, Ready False, looks again later", () => {
    const o = observation((x) => (x.workloads = converged(x)));
    const lost = planCellApp(o).cells[0]!.workloads[0]!.zone;
    const member: ClusterObservation = { name: `zone-${lost}`, local: false, reachable: false };
    const a = planCellAppReconcile({
      ...o,
      zoneClusters: new Map([...o.zoneClusters, [lost, member]]),
      clusters: [LOCAL, member],
      workloads: o.workloads.filter((w) => (w.object.metadata?.labels?.[Labels.zone] ?? "") !== lost),
    });
    expect(a.apply.some((w) => w.zone === lost)).toBe(false);
    expect(a.delete).toEqual([]);
    expect(condition(a.status, "Ready")).toMatchObject({ status: "False", reason: "ZoneUnreachable" });
    expect(condition(a.status, "Ready")!.message).toContain(`zone(s) ${lost} unreachable`);
    expect(a.requeueAfterMs).toBe(UNREACHABLE_RETRY_MS);
  });

  it("creates the app's namespace first in a member cluster that gets a new workload", () => {
    const o = observation();
    const zone = planCellApp(o).cells[0]!.workloads[0]!.zone;
    const member: ClusterObservation = { name: `zone-${zone}`, local: false, reachable: true };
    const a = planCellAppReconcile({
      ...o,
      zoneClusters: new Map([...o.zoneClusters, [zone, member]]),
      clusters: [LOCAL, member],
    });
    expect(a.ensureNamespaces).toEqual([member.name]);
    expect(a.apply.filter((w) => w.cluster === member.name).length).toBeGreaterThan(0);
  });

  it("an invalid spec: conditions say why, nothing else changes, one warning per change", () => {
    const o = observation((x) => {
      x.workloads = converged(x);
      x.app = { ...x.app, spec: { ...x.app.spec, shardingRule: "no-such-rule" } };
    });
    const a = planCellAppReconcile(o);
    expect(a.apply).toEqual([]);
    expect(a.delete).toEqual([]);
    expect(condition(a.status, "Valid")).toMatchObject({ status: "False" });
    expect(condition(a.status, "Ready")).toMatchObject({ status: "False", reason: "InvalidSpec" });
    expect(a.events.map((e) => e.reason)).toEqual(["InvalidSpec"]);
    const again = planCellAppReconcile({ ...o, app: { ...o.app, status: a.status as CellApp["status"] } });
    expect(again.events).toEqual([]);
    expect(statusEqual(again.status, a.status)).toBe(true);
  });

  describe("Pod Security baseline (the operator applies templates with its own rights)", () => {
    const hostNetwork = (x: CellAppObservation) => {
      const tpl = x.app.spec.template;
      x.app = { ...x.app, spec: { ...x.app.spec, template: { ...tpl, spec: { ...tpl.spec, hostNetwork: true } } } };
    };

    it("a template beyond baseline: Valid False naming the field, nothing applied anywhere", () => {
      const o = observation(hostNetwork);
      const a = planCellAppReconcile(o);
      expect(a.apply).toEqual([]);
      expect(a.ensureNamespaces).toEqual([]);
      expect(condition(a.status, "Valid")).toMatchObject({ status: "False", reason: "PodSecurity" });
      expect(condition(a.status, "Valid")!.message).toMatch(/^spec\.template\.spec\.hostNetwork: /);
      expect(a.events).toMatchObject([{ type: "Warning", reason: "InvalidSpec" }]);
    });

    it("in a namespace on the exception list: applied as any other app", () => {
      const o = observation((x) => {
        hostNetwork(x);
        x.podSecurity = { ...DEFAULT_POD_SECURITY, privilegedNamespaces: [x.app.metadata.namespace!] };
      });
      const a = planCellAppReconcile(o);
      expect(a.apply.length).toBeGreaterThan(0);
      expect(condition(a.status, "Valid")).toMatchObject({ status: "True" });
    });

    it("namespaces created in member clusters enforce the configured level, privileged only for exceptions", () => {
      const labels = (n: Record<string, unknown>) => (n.metadata as { labels: Record<string, string> }).labels;
      expect(labels(memberNamespace("payments", DEFAULT_POD_SECURITY))).toMatchObject({
        "pod-security.kubernetes.io/enforce": "baseline",
        "pod-security.kubernetes.io/enforce-version": "latest",
      });
      const settings = { privilegedNamespaces: ["infra"], memberNamespaceLevel: "restricted" as const };
      expect(labels(memberNamespace("payments", settings))["pod-security.kubernetes.io/enforce"]).toBe("restricted");
      expect(labels(memberNamespace("infra", settings))["pod-security.kubernetes.io/enforce"]).toBe("privileged");
    });
  });

  describe("deletion", () => {
    const deleting = (x: CellAppObservation) => {
      x.workloads = converged(x);
      x.app = { ...x.app, metadata: { ...x.app.metadata, deletionTimestamp: NOW.toISOString() } };
    };

    it("deletes every workload, then releases the finalizer", () => {
      const o = observation(deleting);
      const a = planCellAppReconcile(o);
      expect(a.delete).toHaveLength(o.workloads.length);
      expect(a.removeFinalizer).toBe(true);
      expect(a.status).toBeUndefined();
    });

    it("keeps the finalizer while a cluster is unreachable, deleting what it can", () => {
      const o = observation(deleting);
      const member: ClusterObservation = { name: "zone-lost", local: false, reachable: false };
      const a = planCellAppReconcile({
        ...o,
        clusters: [LOCAL, member],
        workloads: [...o.workloads, { ...o.workloads[0]!, cluster: member.name }],
      });
      expect(a.delete).toHaveLength(o.workloads.length);
      expect(a.removeFinalizer).toBe(false);
      expect(a.blockedClusters).toEqual(["zone-lost"]);
      expect(a.events.map((e) => e.reason)).toEqual(["CleanupBlocked"]);
      expect(a.requeueAfterMs).toBe(UNREACHABLE_RETRY_MS);
    });

    it("does nothing once the finalizer is gone", () => {
      const o = observation((x) => {
        deleting(x);
        x.app = { ...x.app, metadata: { ...x.app.metadata, finalizers: [] } };
      });
      const a = planCellAppReconcile(o);
      expect(a.delete).toEqual([]);
      expect(a.removeFinalizer).toBe(false);
      expect(a.addFinalizer).toBe(false);
    });
  });
});
