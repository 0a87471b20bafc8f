// Issue 6: a DrillSchedule creates its drills (Failovers of type Drill) at
// the schedule's times, labelled and owned by the schedule, and keeps its
// history bounded. Runs against a private one-datacenter control plane with
// the operator in-process (no zones: the drills it creates fail preflight,
// which is fine here, only their creation and bookkeeping are under test).
import { mkdirSync } from "node:fs";
import path from "node:path";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiRequest, down, up, type ClusterState, type DatacenterState } from "../../../hack/lib/controlplane.ts";
import { OPERATOR_NAMESPACE, kubectl } from "../../../hack/lib/examples.ts";
import { REPO_DIR } from "../../../hack/lib/tools.ts";
import { startOperator, type RunningOperator } from "../../../src/operator.ts";
import { eventually } from "../harness.ts";
import { ldcPath, privateDatacentersAvailable } from "./setup.ts";

interface Obj {
  metadata: {
    name: string;
    uid: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: { kind: string; name: string; uid: string; controller?: boolean }[];
  };
  spec: Record<string, unknown>;
  status?: {
    lastScheduleTime?: string;
    nextScheduleTime?: string;
    history?: { failover: string; phase?: string }[];
    phase?: string;
  };
}

describe.skipIf(!privateDatacentersAvailable())("operator: DrillSchedule", () => {
  const stateDir = path.join(REPO_DIR, ".ldc", `test-drill-${process.pid}`);
  let state: ClusterState;
  let dc: DatacenterState;
  let operator: RunningOperator | undefined;

  const req = async (method: string, p: string, body?: unknown, contentType?: string) => {
    const res = contentType ? await mergePatch(dc, p, body) : await apiRequest(dc, method, p, body, 10_000);
    if (res.status >= 300) throw new Error(`${method} ${p}: ${res.status} ${res.body.slice(0, 400)}`);
    return JSON.parse(res.body) as Obj & { items: Obj[] };
  };

  beforeAll(async () => {
    state = await up({ stateDir, datacenters: 1, log: () => {} });
    dc = state.datacenters[0]!;
    kubectl(dc.kubeconfigPath, ["apply", "--server-side", "-f", path.join(REPO_DIR, "crds")]);
    kubectl(dc.kubeconfigPath, [
      "wait",
      "--for=condition=Established",
      "--timeout=60s",
      "crd",
      "-l",
      "app.kubernetes.io/part-of=ldc-operator",
    ]);
    kubectl(dc.kubeconfigPath, ["create", "namespace", OPERATOR_NAMESPACE]);
    const logFile = path.join(REPO_DIR, ".ldc", "test-op-logs", "drillschedule.log");
    mkdirSync(path.dirname(logFile), { recursive: true });
    operator = await startOperator({
      kubeconfigPath: dc.kubeconfigPath,
      namespace: OPERATOR_NAMESPACE,
      httpHost: "127.0.0.1",
      httpPort: 0,
      leaderElection: false,
      logger: pino({ level: "info" }, pino.destination({ dest: logFile, sync: true })),
      sidecarImage: "ldc-operator/sidecar:test",
    });
  });
  afterAll(async () => {
    await operator?.stop();
    await down(stateDir, () => {});
  });

  const template = { type: "Drill", target: { zone: "nowhere" }, drill: { duration: "1m" }, writeFreeze: "1s" };

  it("creates the due drill, labelled and owned by the schedule, and records it in status", async () => {
    const ds = await req("POST", ldcPath("drillschedules"), {
      apiVersion: "ldc.io/v1alpha1",
      kind: "DrillSchedule",
      metadata: { name: "every-minute" },
      spec: { schedule: "* * * * *", historyLimit: 2, template },
    });
    // pretend the last run was long ago: the latest missed minute is due now
    await req(
      "PATCH",
      `${ldcPath("drillschedules", "every-minute")}/status`,
      { status: { lastScheduleTime: "2026-01-01T00:00:00Z" } },
      "merge",
    );

    const fo = await eventually(
      "a Failover of the schedule",
      async () =>
        (await req("GET", `${ldcPath("failovers")}?labelSelector=ldc.io%2Fdrill-schedule%3Devery-minute`)).items[0],
      30_000,
    );
    expect(fo.metadata.name).toMatch(/^every-minute-\d{8}-\d{4}$/);
    expect(fo.metadata.labels).toMatchObject({ "ldc.io/drill-schedule": "every-minute" });
    expect(fo.metadata.ownerReferences).toEqual([
      expect.objectContaining({ kind: "DrillSchedule", name: "every-minute", uid: ds.metadata.uid, controller: true }),
    ]);
    expect(fo.spec).toMatchObject({
      type: "Drill",
      target: { zone: "nowhere" },
      drill: { duration: "1m" },
      abort: false,
    });

    const status = await eventually(
      "the schedule's status",
      async () => {
        const s = (await req("GET", ldcPath("drillschedules", "every-minute"))).status;
        return s?.history?.some((h) => h.failover === fo.metadata.name) && s.nextScheduleTime ? s : undefined;
      },
      30_000,
    );
    expect(Date.parse(status.lastScheduleTime!)).toBeGreaterThan(Date.parse("2026-01-01T00:00:00Z"));
    expect(Date.parse(status.nextScheduleTime!)).toBeGreaterThan(Date.parse(status.lastScheduleTime!));
    // creating the same run again is a 409 (the name is deterministic)
    const again = await apiRequest(
      dc,
      "POST",
      ldcPath("failovers"),
      { ...fo, metadata: { name: fo.metadata.name } },
      10_000,
    );
    expect(again.status).toBe(409);
  });

  it("keeps at most historyLimit finished drills, deleting the oldest", async () => {
    const ds = await req("GET", ldcPath("drillschedules", "every-minute"));
    // Suspend, then add four finished drills of this schedule by hand.
    await req("PATCH", ldcPath("drillschedules", "every-minute"), { spec: { suspend: true } }, "merge");
    const names = [
      "every-minute-20250101-0001",
      "every-minute-20250101-0002",
      "every-minute-20250101-0003",
      "every-minute-20250101-0004",
    ];
    for (const [i, name] of names.entries()) {
      await req("POST", ldcPath("failovers"), {
        apiVersion: "ldc.io/v1alpha1",
        kind: "Failover",
        metadata: {
          name,
          labels: { "ldc.io/drill-schedule": "every-minute" },
          annotations: { "ldc.io/scheduled-time": `2025-01-01T00:0${i + 1}:00Z` },
          ownerReferences: [
            {
              apiVersion: "ldc.io/v1alpha1",
              kind: "DrillSchedule",
              name: "every-minute",
              uid: ds.metadata.uid,
              controller: true,
            },
          ],
        },
        spec: template,
      });
      await req(
        "PATCH",
        `${ldcPath("failovers", name)}/status`,
        { status: { phase: "Succeeded", rtoMilliseconds: 100 + i } },
        "merge",
      );
    }
    const left = await eventually(
      "the schedule's drills pruned to historyLimit finished ones",
      async () => {
        const items = (await req("GET", `${ldcPath("failovers")}?labelSelector=ldc.io%2Fdrill-schedule%3Devery-minute`))
          .items;
        const present = names.filter((n) => items.some((f) => f.metadata.name === n));
        return present.length <= 2 ? present : undefined;
      },
      30_000,
    );
    // the two newest hand-made ones survive (unless the scheduled drill finished later than them: then fewer)
    for (const n of left) expect(names.slice(2)).toContain(n);
    const s = await eventually("history bounded", async () => {
      const st = (await req("GET", ldcPath("drillschedules", "every-minute"))).status;
      const finished = (st?.history ?? []).filter((h) => h.phase !== "Pending" && h.phase !== "Running");
      return finished.length <= 2 && finished.length > 0 ? st : undefined;
    });
    expect(s.history!.length).toBeLessThanOrEqual(3);
  });
});

async function mergePatch(dc: DatacenterState, p: string, body: unknown): Promise<{ status: number; body: string }> {
  // apiRequest sends application/json; a merge patch needs its own content type
  const { request } = await import("node:https");
  const { readFileSync } = await import("node:fs");
  const pki = path.join(dc.dir, "pki");
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const r = request(
      {
        host: "127.0.0.1",
        port: dc.ports.apiserver,
        method: "PATCH",
        path: p,
        ca: readFileSync(path.join(pki, "ca.crt")),
        cert: readFileSync(path.join(pki, "admin.crt")),
        key: readFileSync(path.join(pki, "admin.key")),
        agent: false,
        headers: { "content-type": "application/merge-patch+json", "content-length": Buffer.byteLength(payload) },
      },
      (res) => {
        let data = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (data += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: data }));
      },
    );
    r.on("error", reject);
    r.end(payload);
  });
}
