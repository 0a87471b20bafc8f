// Issue 14: the examples' drill, applied together with every other example,
// evacuates hz-a (Regional rz00 and Global gz00 move to hz-b behind a freeze;
// the City cell cz-hangzhou stays, hangzhou's City reads served by
// cz-shanghai) and fails back: Succeeded. And a dry run (spec.dryRun): the
// operator writes the plan with the member zones' capacity and does nothing.
// Its epochs are in the rule's history (kubectl ldc history / diff).
// Registered by operator.test.ts before lifecycle; leaves the examples converged.
import { readFileSync } from "node:fs";
import path from "node:path";
import { PassThrough } from "node:stream";
import { expect, it } from "vitest";
import { EXAMPLES_DIR } from "../../../hack/lib/examples.ts";
import { main } from "../../../src/cli/kubectl-ldc.ts";
import { parseTable } from "../../../src/routing/index.ts";
import { eventually } from "../harness.ts";
import { APP_NAMESPACE, EXAMPLE_FILES, ldcPath, waitConverged, type CellObj, type OperatorEnv } from "./setup.ts";

interface FailoverObj {
  metadata: { name: string };
  status?: {
    phase?: string;
    step?: string;
    message?: string;
    cells?: { cell: string; from: string; to: string; evacuate?: boolean }[];
    steps?: { name: string; phase: string }[];
    plan?: Record<string, unknown> & {
      cells?: { cell: string; type: string; to?: string; servedBy?: string }[];
      capacity?: { zone: string; fits?: boolean; message: string }[];
      rules?: { rule: string; epochs: number[] }[];
    };
  };
}

const DRILL = "drill-hz-a-2026-11-21";

export function evacuationTests(env: OperatorEnv): void {
  it("spec.dryRun: the plan in status (stand-in, epochs, member zones' capacity), phase Planned, nothing moves", async () => {
    const cellsBefore = (await env.list<CellObj>("dc1", ldcPath("cells"))).map((c) => c.metadata.resourceVersion);
    await env.kubectl(
      "dc1",
      ["create", "-f", "-"],
      JSON.stringify({
        apiVersion: "ldc.io/v1alpha1",
        kind: "Failover",
        metadata: { name: "plan-hz-a" },
        spec: {
          type: "Drill",
          target: { zone: "hz-a" },
          destination: { zone: "hz-b" },
          drill: { duration: "10m" },
          dryRun: true,
        },
      }),
    );
    const fo = await eventually("the dry run Planned", async () => {
      const f = await env.get<FailoverObj>("dc1", ldcPath("failovers", "plan-hz-a"));
      return f?.status?.phase === "Planned" && f;
    });
    const plan = fo.status!.plan!;
    expect(plan.cells?.map((c) => [c.cell, c.type, c.to ?? c.servedBy])).toEqual([
      ["cz-hangzhou", "City", "cz-shanghai"],
      ["gz00", "Global", "hz-b"],
      ["rz00", "Regional", "hz-b"],
    ]);
    expect(plan.rules?.[0]?.epochs).toHaveLength(4);
    // hz-b is a member cluster: its nodes and pods were read by the operator.
    expect(plan.capacity).toEqual([
      { zone: "hz-b", fits: true, message: expect.stringMatching(/^zone hz-b fits: needs /) },
    ]);
    expect(plan.refusals).toBeUndefined();
    expect(fo.status?.cells).toBeUndefined();
    expect((await env.list<CellObj>("dc1", ldcPath("cells"))).map((c) => c.metadata.resourceVersion)).toEqual(
      cellsBefore,
    );
  });

  it("the examples' drill, applied with every other example, evacuates hz-a and fails back: Succeeded", async () => {
    const sidecars = await env.startPodSidecars();
    await eventually("the kwok pods' sidecars running", () => Promise.resolve(sidecars.running().length > 0));
    // Every example in one apply, the drill shortened so the test does not wait 10 minutes.
    const files = [...EXAMPLE_FILES, "50-failovers.yaml"].map((f) => {
      const text = readFileSync(path.join(EXAMPLES_DIR, f), "utf8");
      return f === "50-failovers.yaml"
        ? text.replace("duration: 10m", "duration: 5s").replace("writeFreeze: 5s", "writeFreeze: 1s")
        : text;
    });
    expect(files.at(-1)).toContain("duration: 5s");
    await env.kubectl("dc1", ["apply", "-f", "-"], files.join("\n---\n"));

    // While the drill holds hz-a's cells in hz-b, the published table sends hangzhou's City reads to cz-shanghai.
    const seen = await eventually(
      "the drill in DrillWait, the table showing cz-hangzhou evacuated",
      async () => {
        const f = await env.get<FailoverObj>("dc1", ldcPath("failovers", DRILL));
        if (f?.status?.phase && f.status.phase !== "Running") return { ended: f };
        if (f?.status?.step !== "DrillWait") return false;
        const cm = await env.get<{ data?: Record<string, string> }>(
          "dc2",
          `/api/v1/namespaces/${APP_NAMESPACE}/configmaps/ldc-routing-users`,
        );
        const t = cm?.data?.["table.json"] ? parseTable(cm.data["table.json"]) : undefined;
        return t?.cell("cz-hangzhou")?.evacuated === true && { table: t };
      },
      120_000,
    );
    expect("ended" in seen ? `drill ended early: ${JSON.stringify(seen.ended?.status)}` : "").toBe("");
    const table = (seen as { table: ReturnType<typeof parseTable> }).table;
    expect(table.cells[table.cityCellIndex("hangzhou")]?.name).toBe("cz-shanghai");
    expect(table.cell("rz00")?.zone).toBe("hz-b");

    const done = await eventually(
      "the drill finished",
      async () => {
        const f = await env.get<FailoverObj>("dc1", ldcPath("failovers", DRILL));
        return f?.status?.phase !== undefined && f.status.phase !== "Running" && f;
      },
      120_000,
    );
    expect(done.status?.phase, done.status?.message).toBe("Succeeded");
    expect(done.status?.cells).toEqual([
      { cell: "cz-hangzhou", from: "hz-a", to: "hz-a", evacuate: true },
      { cell: "gz00", from: "hz-a", to: "hz-b" },
      { cell: "rz00", from: "hz-a", to: "hz-b" },
    ]);
    expect(done.status?.steps?.some((s) => s.name === "Failback")).toBe(true);
    const cz = await env.get<CellObj & { status?: { evacuated?: boolean } }>("dc1", ldcPath("cells", "cz-hangzhou"));
    expect(cz?.status?.evacuated ?? false).toBe(false);
    await waitConverged(env);

    // Every epoch it published is in the rule's history: why (the drill and its step) and what changed.
    const epochs = (done.status as { epochs?: { before: number; switch: number } }).epochs!;
    const cli = async (args: string[]) => {
      let out = "";
      let err = "";
      const code = await main([...args, "--kubeconfig", env.dc("dc1").kubeconfigPath], {
        stdout: { write: (x: string) => (out += x) },
        stderr: { write: (x: string) => (err += x) },
        stdin: Object.assign(new PassThrough(), { isTTY: false }),
        env: {},
      });
      return { code, out, err };
    };
    const hist = await eventually("the switch in the rule's history", async () => {
      const r = await cli(["history", "users"]);
      return r.code === 0 && r.out.includes(`Failover ${DRILL} (Switch)`) && r.out;
    });
    expect(hist).toMatch(
      new RegExp(`\\n${epochs.switch} +\\S+ +Failover ${DRILL} \\(Switch\\) +.*cell cz-hangzhou evacuated`),
    );
    const d = await cli(["diff", "users", String(epochs.before), String(epochs.switch)]);
    expect(d.err).toBe("");
    expect(d.out).toMatch(/\n0-24 +rz00@hz-a +rz00@hz-b\n/);
    expect(d.out).toContain("cell cz-hangzhou: evacuated (its region's reads served elsewhere)");
  });
}
