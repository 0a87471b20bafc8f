// Issue 6: a DrillSchedule creates its drills (Failovers of type Drill) at
// the schedule's times, labelled and owned by the schedule, and keeps its
// history bounded. Registered by operator.test.ts, last: its drills target a
// zone that does not exist and fail preflight, which is fine here, only their
// creation and bookkeeping are under test.
import path from "node:path";
import { expect, it } from "vitest";
import { apiRequest, type DatacenterState } from "../../../hack/lib/controlplane.ts";
import { eventually } from "../harness.ts";
import { ldcPath, type OperatorEnv } from "./setup.ts";

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

export function drillScheduleTests(env: OperatorEnv): void {
  const req = async (method: string, p: string, body?: unknown, contentType?: string) => {
    const dc = env.dc("dc1");
    const res = contentType ? await mergePatch(dc, p, body) : await apiRequest(dc, method, p, body, 10_000);
    if (res.status >= 300) throw new Error(`${method} ${p}: ${res.status} ${res.body.slice(0, 400)}`);
    return JSON.parse(res.body) as Obj & { items: Obj[] };
  };

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
      env.dc("dc1"),
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
}

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
