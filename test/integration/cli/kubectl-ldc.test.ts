// kubectl-ldc against a private one-datacenter control plane with the CRDs
// and a few objects (a Zone, Cells with status, a ShardingRule, a published
// routing table built with the routing core). No operator runs: what the
// plugin prints is exactly what is stored.
import { execFile } from "node:child_process";
import path from "node:path";
import { PassThrough } from "node:stream";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { kubectl } from "../../../hack/lib/examples.ts";
import { REPO_DIR } from "../../../hack/lib/tools.ts";
import { main } from "../../../src/cli/kubectl-ldc.ts";
import { routingTableName } from "../../../src/reconcilers/naming.ts";
import { buildTable } from "../../../src/routing/index.ts";
import { dedicatedDatacenter, type DedicatedDatacenter } from "../harness.ts";
import { privateDatacentersAvailable } from "../operator/setup.ts";

const execFileAsync = promisify(execFile);

async function cli(args: string[], opts: { tty?: boolean } = {}): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const stdin = Object.assign(new PassThrough(), { isTTY: opts.tty ?? false });
  stdin.end();
  const code = await main(args, {
    stdout: { write: (s: string) => (out += s), isTTY: false },
    stderr: { write: (s: string) => (err += s) },
    stdin,
    env: {},
    pollMs: 100,
  });
  return { code, out, err };
}

describe.skipIf(!privateDatacentersAvailable())("kubectl-ldc", () => {
  let dc: DedicatedDatacenter | undefined;
  let kc: string;
  const k = (args: string[], input?: string) => kubectl(kc, args, input);
  /** The datacenter may be the shared dc2, whose ldc.io objects are this file's alone: removed before and after. */
  const removeObjects = (wait: boolean) => {
    const clusterScoped = "zones.ldc.io,cells.ldc.io,shardingrules.ldc.io,failovers.ldc.io,drillschedules.ldc.io";
    k(["delete", clusterScoped, "--all", `--wait=${wait}`]);
    k(["delete", "namespace", "payments", "--ignore-not-found", `--wait=${wait}`]);
  };

  beforeAll(async () => {
    dc = await dedicatedDatacenter("dc2", "test-cli");
    kc = dc.dc.kubeconfigPath;
    k(["apply", "--server-side", "-f", path.join(REPO_DIR, "crds")]);
    k(["wait", "--for=condition=Established", "--timeout=60s", "crd", "-l", "app.kubernetes.io/part-of=ldc-operator"]);
    removeObjects(true);
    const objects = [
      { apiVersion: "ldc.io/v1alpha1", kind: "Zone", metadata: { name: "hz-a" }, spec: { region: "hangzhou" } },
      { apiVersion: "ldc.io/v1alpha1", kind: "Zone", metadata: { name: "hz-b" }, spec: { region: "hangzhou" } },
      {
        apiVersion: "ldc.io/v1alpha1",
        kind: "Cell",
        metadata: { name: "rz00" },
        spec: { type: "Regional", zone: "hz-a", standbyZones: ["hz-b"] },
      },
      {
        apiVersion: "ldc.io/v1alpha1",
        kind: "Cell",
        metadata: { name: "rz01" },
        spec: { type: "Regional", zone: "hz-b", standbyZones: ["hz-a"] },
      },
      {
        apiVersion: "ldc.io/v1alpha1",
        kind: "Cell",
        metadata: { name: "gz00" },
        spec: { type: "Global", zone: "hz-a", standbyZones: ["hz-b"] },
      },
      {
        apiVersion: "ldc.io/v1alpha1",
        kind: "ShardingRule",
        metadata: { name: "users" },
        spec: {
          key: { sources: [{ type: "Header", name: "x-user-id" }], pattern: "^[0-9]{4,20}$", onInvalidKey: "Global" },
          shards: 100,
          function: { type: "Digits", from: -3, to: -1 },
          assignments: [
            { cell: "rz00", shards: "0-49" },
            { cell: "rz01", shards: "50-99" },
          ],
          globalCell: "gz00",
        },
      },
      {
        apiVersion: "ldc.io/v1alpha1",
        kind: "Failover",
        // Named before cli-drill: `drill status` without a name picks cli-drill, created later.
        metadata: { name: "back-drill" },
        spec: { type: "Drill", target: { cells: ["rz00"] }, destination: { zone: "hz-b" }, drill: { duration: "10m" } },
      },
      { apiVersion: "v1", kind: "Namespace", metadata: { name: "payments" } },
    ];
    k(["apply", "-f", "-"], JSON.stringify({ apiVersion: "v1", kind: "List", items: objects }));
    const status = (kind: string, name: string, s: unknown) =>
      k(["patch", kind, name, "--subresource=status", "--type=merge", "-p", JSON.stringify({ status: s })]);
    status("zones.ldc.io", "hz-a", { phase: "Ready", readyNodes: 3, totalNodes: 3, cells: 1 });
    status("zones.ldc.io", "hz-b", { phase: "Ready", readyNodes: 3, totalNodes: 3, cells: 2 });
    // rz00 is in a drill, failing back: the stored Cell still says hz-a; the
    // running Failover says active in hz-b, writes frozen.
    status("cells.ldc.io", "rz00", { activeZone: "hz-a", phase: "FailingOver", shards: "0-49", shardCount: 50 });
    status("failovers.ldc.io", "back-drill", {
      phase: "Running",
      step: "Freeze",
      cells: [{ cell: "rz00", from: "hz-a", to: "hz-b" }],
      steps: [
        { name: "DrillWait", phase: "Succeeded" },
        { name: "Failback", phase: "Succeeded" },
        { name: "Freeze", phase: "Running" },
      ],
    });
    status("cells.ldc.io", "rz01", { activeZone: "hz-b", phase: "Ready", shards: "50-99", shardCount: 50 });
    status("cells.ldc.io", "gz00", { activeZone: "hz-a", phase: "Ready" });
    const valid = { type: "Valid", status: "True", reason: "Valid", message: "spec is valid" };
    status("shardingrules.ldc.io", "users", {
      epoch: 5,
      conditions: [{ ...valid, lastTransitionTime: "2026-11-30T10:00:00Z", observedGeneration: 1 }],
    });
    const table = buildTable({
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
      frozenShards: "0-49",
      epoch: 5,
    });
    k(
      ["apply", "-f", "-"],
      JSON.stringify({
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: {
          name: routingTableName("users"),
          namespace: "payments",
          labels: {
            "ldc.io/routing-table": "true",
            "ldc.io/sharding-rule": "users",
            "app.kubernetes.io/managed-by": "ldc-operator",
          },
          annotations: { "ldc.io/epoch": "5" },
        },
        data: { "table.json": table.serialize() },
      }),
    );
  });
  afterAll(async () => {
    if (kc) removeObjects(false);
    await dc?.release();
  });

  it("status: zones, cells and which zone serves which shards, frozen marked", async () => {
    const r = await cli(["status", "--kubeconfig", kc]);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    expect(r.out).toBe(
      [
        "ZONE  REGION    PHASE  NODES  CELLS",
        "hz-a  hangzhou  Ready  3/3    1",
        "hz-b  hangzhou  Ready  3/3    2",
        "",
        "CELL  TYPE      HOME  ACTIVE  SHARDS      PHASE                        FAILOVER",
        "gz00  Global    hz-a  hz-a    -           Ready                        -",
        "rz00  Regional  hz-a  hz-b*   0-49 (50)   FailingOver (writes frozen)  back-drill",
        "rz01  Regional  hz-b  hz-b    50-99 (50)  Ready                        -",
        "* active outside its home zone",
        "",
        "ROUTING users  epoch 5  100 shards  from payments/ldc-routing-users  global gz00@hz-a  1 range(s) FROZEN",
        "SHARDS  SERVED BY  STATE",
        "0-49    rz00@hz-b  FROZEN (writes refused)",
        "50-99   rz01@hz-b  serving",
        "",
      ].join("\n"),
    );
  });

  it("runs as a kubectl plugin through hack/kubectl-ldc (KUBECONFIG respected, no colors without a TTY)", async () => {
    const { stdout } = await execFileAsync(path.join(REPO_DIR, "hack", "kubectl-ldc"), ["status", "--rule", "users"], {
      env: { ...process.env, KUBECONFIG: kc },
    });
    expect(stdout).toContain("0-49    rz00@hz-b  FROZEN (writes refused)");
    expect(stdout).not.toContain("\x1b[");
    const bad = await execFileAsync(path.join(REPO_DIR, "hack", "kubectl-ldc"), ["drill", "start"]).catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect((bad as { code: number }).code).toBe(2);
  });

  it("route: key -> shard -> cell -> zone -> state, and a clear error for an invalid key", async () => {
    const read = await cli(["route", "20881234", "--kubeconfig", kc]);
    expect(read.code).toBe(0);
    expect(read.out).toBe(
      [
        "key    20881234",
        "rule   users (epoch 5, from payments/ldc-routing-users)",
        "shard  23 of 100 (Digits from -3 to -1)",
        "cell   rz00 (Regional)",
        "zone   hz-b (hangzhou)",
        "state  FROZEN for writes; this GET (a read) is served",
        "",
      ].join("\n"),
    );
    const write = await cli(["route", "20881234", "--rule", "users", "-X", "POST", "--kubeconfig", kc]);
    expect(write.out).toContain("state  FROZEN: this POST is refused with 503 + Retry-After 1s until the switch");
    const other = await cli(["route", "20887777", "--kubeconfig", kc]);
    expect(other.out).toContain("shard  77 of 100");
    expect(other.out).toContain("cell   rz01 (Regional)");
    expect(other.out).toContain("state  serving");
    const bad = await cli(["route", "12", "--kubeconfig", kc]);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/^error: key "12" is not a valid routing key for rule users/);
    const noRule = await cli(["route", "20881234", "--rule", "orders", "--kubeconfig", kc]);
    expect(noRule.code).toBe(1);
    expect(noRule.err).toMatch(/no routing table of rule orders is published/);
  });

  it("drill start creates the Drill; drill status reports it; drill abort sets spec.abort", async () => {
    const start = await cli([
      "drill",
      "start",
      "--zone",
      "hz-a",
      "--to",
      "hz-b",
      "--duration",
      "15m",
      "--freeze",
      "2s",
      "--name",
      "cli-drill",
      "--reason",
      "test",
      "--kubeconfig",
      kc,
    ]);
    expect(start.err).toBe("");
    expect(start.code).toBe(0);
    expect(start.out).toMatch(
      /^failover\.ldc\.io\/cli-drill created: drill of zone hz-a -> hz-b, failing back after 15m/,
    );
    const fo = JSON.parse(k(["get", "failovers.ldc.io", "cli-drill", "-o", "json"])) as {
      spec: Record<string, unknown>;
    };
    expect(fo.spec).toMatchObject({
      type: "Drill",
      target: { zone: "hz-a" },
      destination: { zone: "hz-b" },
      drill: { duration: "15m" },
      writeFreeze: "2s",
      reason: "test",
      abort: false,
    });
    const again = await cli(["drill", "start", "--zone", "hz-a", "--name", "cli-drill", "--kubeconfig", kc]);
    expect(again.code).toBe(1);
    expect(again.err).toMatch(/already exists: pick another --name/);

    const st = await cli(["drill", "status", "--kubeconfig", kc]);
    expect(st.code).toBe(0);
    expect(st.out).toContain("Failover cli-drill (Drill)  phase Pending");
    expect(st.out).toContain("requests refused during the freeze: n/a (sidecar metrics not reachable)");

    const ab = await cli(["drill", "abort", "cli-drill", "--kubeconfig", kc]);
    expect(ab.code).toBe(0);
    expect(ab.out).toMatch(/abort requested \(spec\.abort=true, cannot be undone\)/);
    const after = JSON.parse(k(["get", "failovers.ldc.io", "cli-drill", "-o", "json"])) as { spec: { abort: boolean } };
    expect(after.spec.abort).toBe(true);

    // a finished failover: --wait prints the report and exits 1 unless Succeeded
    k([
      "patch",
      "failovers.ldc.io",
      "cli-drill",
      "--subresource=status",
      "--type=merge",
      "-p",
      JSON.stringify({ status: { phase: "Aborted", message: "aborted" } }),
    ]);
    const w = await cli(["drill", "status", "cli-drill", "-w", "--kubeconfig", kc]);
    expect(w.code).toBe(1);
    expect(w.out).toContain("failover Aborted: aborted");
    const ab2 = await cli(["drill", "abort", "cli-drill", "--kubeconfig", kc]);
    expect(ab2.code).toBe(1);
    expect(ab2.err).toMatch(/already finished \(Aborted\): there is nothing to abort/);
  });

  it("--dry-run prints the plan (cells, shards, epochs, freeze, capacity, refusals) and creates or changes nothing", async () => {
    // Compared verbatim: any write would change a resourceVersion, any create the list.
    const snapshot = () => k(["get", "failovers.ldc.io,cells.ldc.io,zones.ldc.io,shardingrules.ldc.io", "-o", "json"]);
    const before = snapshot();
    const plan = await cli(["drill", "start", "--zone", "hz-a", "--to", "hz-b", "--dry-run", "--kubeconfig", kc]);
    expect(plan.err).toBe("");
    expect(plan.code).toBe(0);
    expect(plan.out).toMatch(
      /^DRY RUN: drill of zone hz-a -> hz-b, failing back after 10m\. Nothing was created or changed\./,
    );
    // rz00 is in back-drill's failback (effectively in hz-b): only gz00 is active in hz-a.
    expect(plan.out).toMatch(
      /\nCELL +TYPE +FROM +TO +SHARDS \(SHARE OF THE KEY SPACE\)\ngz00 +Global +hz-a +hz-b +-\n/,
    );
    // Moving the global cell changes the table at the switch and at the failback's: two epochs after 5.
    expect(plan.out).toContain("epochs:    rule users: 6, 7");
    expect(plan.out).toMatch(/freeze: +none: no moving cell owns shards/);
    expect(plan.out).toMatch(
      /capacity: +fits +zone hz-b fits: needs 0 CPU, 0\.0 GiB more requested; \d+ node\(s\) have/,
    );
    expect(plan.out).toContain("no refusal: run it without --dry-run to start it");

    const refused = await cli(["failover", "--cells", "rz01,rz00", "--to", "hz-c", "--dry-run", "--kubeconfig", kc]);
    expect(refused.code).toBe(1);
    expect(refused.out).toMatch(/^DRY RUN: EMERGENCY failover of cells rz01, rz00 -> hz-c/);
    expect(refused.out).toContain("waits for: another failover is moving rz00 (Failover back-drill)");
    expect(refused.out).toMatch(
      /REFUSED \(\d reasons?\):\n {2}- Cell rz0[01]: no healthy destination among hz-c \(no such Zone\)/,
    );
    expect(snapshot()).toBe(before);
  });

  it("failover needs confirmation: without a TTY it requires --yes; with --yes it creates an Emergency failover", async () => {
    const no = await cli(["failover", "--cells", "rz01", "--kubeconfig", kc]);
    expect(no.code).toBe(2);
    expect(no.err).toMatch(/EMERGENCY failover .* no terminal to confirm on: pass --yes/);
    expect(k(["get", "failovers.ldc.io", "-o", "name"])).not.toMatch(/failover-rz01/);
    const yes = await cli([
      "failover",
      "--cells",
      "rz01",
      "--to",
      "hz-a",
      "--yes",
      "--name",
      "em-1",
      "--kubeconfig",
      kc,
    ]);
    expect(yes.code).toBe(0);
    const fo = JSON.parse(k(["get", "failovers.ldc.io", "em-1", "-o", "json"])) as { spec: Record<string, unknown> };
    expect(fo.spec).toMatchObject({ type: "Emergency", target: { cells: ["rz01"] }, destination: { zone: "hz-a" } });
    expect(fo.spec.drill).toBeUndefined();
  });

  it("reports connection problems with what to do", async () => {
    const r = await cli(["status", "--kubeconfig", kc, "--context", "nope"]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/no context "nope" in the kubeconfig: use one of/);
  });
});
