// Issue 4: a member cluster going down (its zone Unreachable within the
// failure threshold, nothing deleted, healed when it is back), bad CellApps
// (a clear condition and a Warning Event, the others keep reconciling), a
// member kubeconfig the operator must refuse (issue 13),
// cells leaving and joining an app's scope, deleting a CellApp, and deleting
// a ShardingRule (its tables are unpublished everywhere).
// Registered by operator.test.ts after the tests that need the examples as
// they are: these delete an app and move a cell for good.
import { existsSync } from "node:fs";
import { expect, it } from "vitest";
import { OPERATOR_NAMESPACE } from "../../../hack/lib/examples.ts";
import { eventually } from "../harness.ts";
import {
  APP_NAMESPACE,
  DC_OF_ZONE,
  EXPECTED,
  ROUTING_TOKEN,
  condition,
  deploymentReady,
  deploymentsPath,
  ldcPath,
  metricSum,
  waitConverged,
  workloadName,
  type CellAppObj,
  type CellObj,
  type DcName,
  type Deployment,
  type Meta,
  type OperatorEnv,
  type ZoneObj,
} from "./setup.ts";

const DCS: readonly DcName[] = ["dc1", "dc2", "dc3"];

interface CoreEvent {
  type: string;
  reason: string;
  message: string;
  involvedObject: { kind: string; name: string };
}

export function lifecycleTests(env: OperatorEnv): void {
  const zone = (name: string) => env.get<ZoneObj>("dc1", ldcPath("zones", name));
  const cellApp = (name: string) => env.get<CellAppObj>("dc1", ldcPath("cellapps", name, APP_NAMESPACE));
  const patchApp = (name: string, patch: unknown) =>
    env.kubectl("dc1", ["patch", "cellapp", name, "-n", APP_NAMESPACE, "--type=merge", "-p", JSON.stringify(patch)]);
  /** uid of every object the operator stamped for `app` (every app when omitted), by "<dc>/<kind>/<name>". */
  const stamped = async (app?: string, dcs: readonly DcName[] = DCS): Promise<Map<string, string>> => {
    const selector = encodeURIComponent(app ? `ldc.io/app=${app}` : "ldc.io/app");
    const out = new Map<string, string>();
    for (const dc of dcs) {
      for (const [kind, p] of [
        ["Deployment", deploymentsPath()],
        ["Service", `/api/v1/namespaces/${APP_NAMESPACE}/services`],
      ] as const) {
        for (const o of await env.list<{ metadata: Meta }>(dc, `${p}?labelSelector=${selector}`)) {
          out.set(`${dc}/${kind}/${o.metadata.name}`, o.metadata.uid);
        }
      }
    }
    return out;
  };
  const warningEvents = async (name: string) =>
    (
      await env.list<CoreEvent>(
        "dc1",
        `/api/v1/namespaces/${APP_NAMESPACE}/events?fieldSelector=${encodeURIComponent(`involvedObject.name=${name}`)}`,
      )
    ).filter((e) => e.type === "Warning");

  it("marks a zone whose member cluster goes down Unreachable within its failure threshold, deletes nothing, heals when it is back", async () => {
    // shorten sh-a's threshold (20s in the examples) to keep the test short
    await env.kubectl("dc1", [
      "patch",
      "zone",
      "sh-a",
      "--type=merge",
      "-p",
      JSON.stringify({ spec: { health: { failureThreshold: "5s" } } }),
    ]);
    await eventually("sh-a reconciled with the new threshold", async () => {
      const z = await zone("sh-a");
      return (
        z?.status?.phase === "Ready" &&
        z.metadata.generation === 2 &&
        condition(z, "Ready")?.status === "True" &&
        (z.status as { observedGeneration?: number }).observedGeneration === 2
      );
    });
    const before = await stamped();
    expect([...before.keys()].filter((k) => k.startsWith("dc3/"))).toHaveLength(
      2 * EXPECTED.filter((w) => w.zone === "sh-a").length,
    );

    await env.stopDatacenter("dc3");
    try {
      const down = await eventually(
        "zone sh-a Unreachable",
        async () => {
          const z = await zone("sh-a");
          return z?.status?.phase === "Unreachable" && z;
        },
        45_000,
      );
      // Declared once the zone's cluster has not answered for its threshold, as the operator
      // measured it (when it is re-checked, at the threshold: test/unit/reconcilers/zone.test.ts).
      const silentFor = /has not answered for (\d+)s \(failure threshold 5s\)/.exec(
        condition(down, "Ready")?.message ?? "",
      );
      expect(silentFor, condition(down, "Ready")?.message).not.toBeNull();
      expect(Number(silentFor![1])).toBeGreaterThanOrEqual(5);
      expect(down.status?.reachable).toBe(false);
      expect(condition(down, "Ready")).toMatchObject({ status: "False", reason: "ClusterUnreachable" });
      expect(condition(down, "Ready")?.message).toMatch(/nothing in the zone is deleted/);
      expect(condition(down, "ClusterConnected")).toMatchObject({ status: "False" });
      // What the on-call alert reads (LdcZoneUnreachable), from the operator's cache at scrape time.
      await eventually("ldc_zone_phase says sh-a is Unreachable", async () => {
        const unreachable = await metricSum(env, "ldc_zone_phase", { zone: "sh-a", phase: "Unreachable" });
        return unreachable === 1 && (await metricSum(env, "ldc_zone_phase", { zone: "sh-a" })) === 1;
      });
      // the cells active there are unavailable, the apps say why they are not ready
      await eventually("cells active in sh-a Unavailable", async () => {
        const cells = await env.list<CellObj>("dc1", ldcPath("cells"));
        return cells.filter((c) => c.spec.zone === "sh-a").every((c) => c.status?.phase === "Unavailable");
      });
      await eventually("account reports the unreachable zone", async () => {
        const c = condition(await cellApp("account"), "Ready");
        return c?.status === "False" && c.reason === "ZoneUnreachable" && /sh-a unreachable/.test(c.message);
      });
      // the other clusters keep everything while sh-a is down
      const reachableNow = await stamped(undefined, ["dc1", "dc2"]);
      for (const [k, uid] of before) if (!k.startsWith("dc3/")) expect(reachableNow.get(k), k).toBe(uid);
    } finally {
      await env.startDatacenter("dc3");
    }
    await eventually(
      "zone sh-a Ready again",
      async () => {
        const z = await zone("sh-a");
        return z?.status?.phase === "Ready" && z.status.reachable === true;
      },
      120_000,
    );
    // nothing was deleted anywhere: every object is the very one that existed before
    const after = await stamped();
    for (const [k, uid] of before) expect(after.get(k), k).toBe(uid);
    await eventually("ldc_zone_phase says sh-a is Ready", async () => {
      return (await metricSum(env, "ldc_zone_phase", { zone: "sh-a", phase: "Ready" })) === 1;
    });
    await waitConverged(env);
  });

  it("reports bad CellApps (missing ShardingRule, override outside the scope) with a condition and a Warning Event, and keeps reconciling the others", async () => {
    const template = { spec: { containers: [{ name: "app", image: "registry.example.com/bad:1" }] } };
    const bad = [
      {
        apiVersion: "ldc.io/v1alpha1",
        kind: "CellApp",
        metadata: { name: "bad-rule", namespace: APP_NAMESPACE },
        spec: { shardingRule: "no-such-rule", scope: "Regional", template },
      },
      {
        apiVersion: "ldc.io/v1alpha1",
        kind: "CellApp",
        metadata: { name: "bad-override", namespace: APP_NAMESPACE },
        spec: {
          shardingRule: "users",
          scope: "City",
          cells: ["cz-hangzhou"],
          template,
          overrides: [{ cell: "rz00", replicas: 4 }],
        },
      },
    ];
    await env.kubectl("dc1", ["apply", "-f", "-"], JSON.stringify({ apiVersion: "v1", kind: "List", items: bad }));

    const invalid = (name: string) =>
      eventually(`${name} Valid=False`, async () => {
        const app = await cellApp(name);
        const c = condition(app, "Valid");
        return c?.status === "False" && app;
      });
    const badRule = await invalid("bad-rule");
    expect(condition(badRule, "Valid")).toMatchObject({ reason: "ShardingRuleNotFound" });
    expect(condition(badRule, "Valid")?.message).toMatch(
      /^spec\.shardingRule: ShardingRule no-such-rule does not exist: create it/,
    );
    expect(condition(badRule, "Ready")).toMatchObject({ status: "False", reason: "InvalidSpec" });
    const badOverride = await invalid("bad-override");
    expect(condition(badOverride, "Valid")?.message).toMatch(
      /spec\.overrides\[cell=rz00\]\.cell: Cell rz00 is Regional, but spec\.scope is City: use City cells only/,
    );
    expect(condition(badOverride, "Valid")?.message).toMatch(/add the cell to spec\.cells or remove the override/);

    for (const name of ["bad-rule", "bad-override"]) {
      const events = await eventually(`a Warning Event for ${name}`, async () => {
        const e = await warningEvents(name);
        return e.length > 0 && e;
      });
      expect(events[0]).toMatchObject({ reason: "InvalidSpec", involvedObject: { kind: "CellApp", name } });
      expect(events[0]!.message).toBe(condition(await cellApp(name), "Valid")?.message);
      // invalid: nothing stamped
      expect((await stamped(name)).size, name).toBe(0);
    }

    // a good app still reconciles while the bad ones exist
    await patchApp("profile-query", { spec: { replicas: 3 } });
    for (const [dc, name] of [
      ["dc1", "profile-query-cz-hangzhou-hz-a"],
      ["dc3", "profile-query-cz-shanghai-sh-a"],
    ] as const) {
      await eventually(`${name} scaled to 3`, async () =>
        deploymentReady(await env.get<Deployment>(dc, deploymentsPath(APP_NAMESPACE, name)), 3),
      );
    }
    // the operator is alive and well
    expect((await fetch(`http://127.0.0.1:${env.operator!.port}/healthz`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${env.operator!.port}/readyz`)).status).toBe(200);

    // fixing the reference clears the condition and stamps the app
    await patchApp("bad-rule", { spec: { shardingRule: "users", replicas: 1, standbyReplicas: 0 } });
    await eventually("bad-rule valid and ready", async () => {
      const app = await cellApp("bad-rule");
      return condition(app, "Valid")?.status === "True" && app?.status?.readyCells === 4;
    });
    expect((await stamped("bad-rule")).size).toBe(2 * 2 * 4);

    // clean up: both go, with whatever they stamped
    await env.kubectl("dc1", ["delete", "cellapp", "bad-rule", "bad-override", "-n", APP_NAMESPACE, "--wait=false"]);
    await eventually("bad apps deleted", async () => !(await cellApp("bad-rule")) && !(await cellApp("bad-override")));
    await eventually("bad-rule's workloads removed", async () => (await stamped("bad-rule")).size === 0);
    await patchApp("profile-query", { spec: { replicas: 2 } });
    await waitConverged(env);
  });

  it("refuses a member kubeconfig that would run a plugin or skip TLS verification unless opted in, naming the field, never quoting the Secret", async () => {
    const name = "zone-untrusted";
    const token = "s3cr3t-member-token";
    const kubeconfig = (cluster: Record<string, unknown>, user: Record<string, unknown>) => ({
      apiVersion: "v1",
      kind: "Config",
      "current-context": "m",
      // nothing listens on port 1: an accepted kubeconfig connects to nothing
      clusters: [{ name: "m", cluster: { server: "https://127.0.0.1:1", ...cluster } }],
      users: [{ name: "m", user }],
      contexts: [{ name: "m", context: { cluster: "m", user: "m" } }],
    });
    const putSecret = (kc: unknown) =>
      env.kubectl(
        "dc1",
        ["apply", "-f", "-"],
        JSON.stringify({
          apiVersion: "v1",
          kind: "Secret",
          metadata: { name, namespace: OPERATOR_NAMESPACE },
          stringData: { kubeconfig: JSON.stringify(kc) },
        }),
      );
    const marker = `/tmp/ldc-exec-plugin-ran-${process.pid}`;
    await putSecret(kubeconfig({}, { exec: { command: "/bin/sh", args: ["-c", `touch ${marker}`] }, token }));
    await env.kubectl(
      "dc1",
      ["apply", "-f", "-"],
      JSON.stringify({
        apiVersion: "ldc.io/v1alpha1",
        kind: "Zone",
        metadata: { name: "untrusted" },
        spec: { region: "hangzhou", cluster: { kubeconfigSecretRef: { namespace: OPERATOR_NAMESPACE, name } } },
      }),
    );
    const refused = (field: string) =>
      eventually(`Zone untrusted refuses ${field}`, async () => {
        const z = await zone("untrusted");
        const c = condition(z, "ClusterConnected");
        return c?.reason === "KubeconfigRefused" && c.message.includes(field) && z;
      });
    const execRefused = await refused("users[0].user.exec");
    expect(condition(execRefused, "ClusterConnected")?.message).toContain(
      `the kubeconfig in Secret ${OPERATOR_NAMESPACE}/${name} key "kubeconfig": users[0].user.exec runs a command inside the operator`,
    );
    expect(condition(execRefused, "ClusterConnected")?.message).toContain("users[].user.token");
    expect(condition(execRefused, "Ready")).toMatchObject({ status: "False", reason: "KubeconfigRefused" });
    expect(existsSync(marker)).toBe(false);

    // insecure TLS: refused, then allowed by the Zone's opt-in, which stays visible while in use
    await putSecret(kubeconfig({ "insecure-skip-tls-verify": true }, { token }));
    const insecureRefused = await refused("clusters[0].cluster.insecure-skip-tls-verify");
    expect(condition(insecureRefused, "ClusterConnected")?.message).toContain(
      "set spec.cluster.insecureSkipTLSVerify: true on the Zone (dangerous)",
    );
    const optIn = (on: boolean) =>
      env.kubectl("dc1", [
        "patch",
        "zone",
        "untrusted",
        "--type=merge",
        "-p",
        JSON.stringify({ spec: { cluster: { insecureSkipTLSVerify: on } } }),
      ]);
    await optIn(true);
    await eventually(
      "InsecureTLS=True",
      async () => condition(await zone("untrusted"), "InsecureTLS")?.status === "True",
    );
    const zoneEvents = async () =>
      (
        await env.list<CoreEvent>(
          "dc1",
          `/api/v1/events?fieldSelector=${encodeURIComponent("involvedObject.kind=Zone,involvedObject.name=untrusted")}`,
        )
      ).filter((e) => e.type === "Warning");
    await eventually("a Warning Event InsecureSkipTLSVerify", async () =>
      (await zoneEvents()).some((e) => e.reason === "InsecureSkipTLSVerify"),
    );
    // withdrawn: refused again, and the member connected with it is disconnected
    await optIn(false);
    await eventually(
      "InsecureTLS=False after the opt-in is withdrawn",
      async () => condition(await zone("untrusted"), "InsecureTLS")?.status === "False",
    );
    await refused("clusters[0].cluster.insecure-skip-tls-verify");

    // nothing of the Secret in the Zone's status or its Events
    const z = await zone("untrusted");
    for (const text of [JSON.stringify(z?.status), ...(await zoneEvents()).map((e) => e.message)]) {
      expect(text).not.toContain(token);
    }
    await env.kubectl("dc1", ["delete", "zone", "untrusted", "--wait=false"]);
    await env.kubectl("dc1", ["delete", "secret", name, "-n", OPERATOR_NAMESPACE, "--wait=false"]);
    await eventually("Zone untrusted deleted", async () => !(await zone("untrusted")));
  });

  it("removes a cell's workloads when it leaves an app's scope, and creates them when it comes back", async () => {
    const rz02 = EXPECTED.filter((w) => w.app === "account" && w.cell === "rz02");
    const keys = rz02.flatMap((w) => {
      const dc = DC_OF_ZONE[w.zone];
      return [`${dc}/Deployment/${workloadName(w)}`, `${dc}/Service/${workloadName(w)}`];
    });
    const before = await stamped("account");
    for (const k of keys) expect(before.has(k), k).toBe(true);

    await patchApp("account", { spec: { cells: ["rz00", "rz01", "rz03"] } });
    await eventually("rz02's account workloads removed from hz-a and sh-a", async () => {
      const now = await stamped("account");
      return keys.every((k) => !now.has(k));
    });
    // the other cells' workloads are untouched
    const during = await stamped("account");
    for (const [k, uid] of before) if (!keys.includes(k)) expect(during.get(k), k).toBe(uid);
    await eventually("account status without rz02", async () => {
      const s = (await cellApp("account"))?.status;
      return s?.totalCells === 3 && s.readyCells === 3 && !s.cells?.some((c) => c.cell === "rz02");
    });

    await patchApp("account", { spec: { cells: null } });
    await eventually("rz02's account workloads back", async () => {
      const now = await stamped("account");
      return keys.every((k) => now.has(k));
    });
    await waitConverged(env);
  });

  it("removes a deleted CellApp's workloads from every cluster (finalizer), then the CellApp", async () => {
    const before = await stamped("profile-query");
    // the City cells' zones: hz-a (its own cluster) and sh-a (a member cluster)
    expect(new Set([...before.keys()].map((k) => k.split("/")[0]))).toEqual(new Set(["dc1", "dc3"]));
    await env.kubectl("dc1", ["delete", "cellapp", "profile-query", "-n", APP_NAMESPACE, "--wait=false"]);
    await eventually("profile-query deleted", async () => !(await cellApp("profile-query")));
    await eventually(
      "profile-query's workloads removed everywhere",
      async () => (await stamped("profile-query")).size === 0,
    );
    // the other apps are untouched
    const others = await stamped();
    for (const w of EXPECTED.filter((x) => x.app !== "profile-query")) {
      const dc = DC_OF_ZONE[w.zone];
      expect(others.has(`${dc}/Deployment/${workloadName(w)}`), workloadName(w)).toBe(true);
    }
  });
  it("unpublishes a deleted ShardingRule: the routing API answers 404, its ConfigMaps leave every zone's cluster, an unreachable one when it is back", async () => {
    const template = { spec: { containers: [{ name: "app", image: "registry.example.com/orders:1" }] } };
    const objects = [
      {
        apiVersion: "ldc.io/v1alpha1",
        kind: "ShardingRule",
        metadata: { name: "orders" },
        spec: {
          key: { sources: [{ type: "Header", name: "x-user-id" }], onInvalidKey: "Reject" },
          shards: 10,
          function: { type: "Modulo" },
          assignments: [
            { cell: "rz00", shards: "0-4" },
            { cell: "rz01", shards: "5-9" },
          ],
        },
      },
      {
        apiVersion: "ldc.io/v1alpha1",
        kind: "CellApp",
        metadata: { name: "orders", namespace: APP_NAMESPACE },
        spec: { shardingRule: "orders", scope: "Regional", cells: ["rz00"], replicas: 1, standbyReplicas: 0, template },
      },
    ];
    await env.kubectl("dc1", ["apply", "-f", "-"], JSON.stringify({ apiVersion: "v1", kind: "List", items: objects }));
    const configMapPath = `/api/v1/namespaces/${APP_NAMESPACE}/configmaps/ldc-routing-orders`;
    const tableUrl = `http://127.0.0.1:${env.operator!.port}/v1/rules/orders/table`;
    const auth = { authorization: `Bearer ${ROUTING_TOKEN}` };
    // Its reads need the token: an anonymous one learns nothing.
    expect((await fetch(tableUrl)).status).toBe(401);
    // Published in every zone's cluster (the app's namespace) and in the routing API.
    for (const dc of DCS) await eventually(`orders' table in ${dc}`, async () => env.get(dc, configMapPath));
    const epoch = await eventually("orders' table in the routing API", async () => {
      const res = await fetch(tableUrl, { headers: auth });
      return res.status === 200 && Number(res.headers.get("x-ldc-epoch"));
    });
    // sh-a's cluster is down when the rule goes: the other zones must not wait for it.
    await env.stopDatacenter("dc3");
    try {
      await eventually(
        "sh-a's cluster seen unreachable",
        async () => (await zone("sh-a"))?.status?.reachable === false,
      );
      // A sidecar long-polling for the next epoch learns the rule is gone.
      const longPoll = fetch(`${tableUrl}?waitForEpochAfter=${epoch}&timeoutSeconds=60`, { headers: auth });
      await env.kubectl("dc1", ["delete", "shardingrule", "orders", "--wait=false"]);
      const gone = await longPoll;
      expect(gone.status).toBe(404);
      expect(((await gone.json()) as { error: string }).error).toMatch(/^rule orders was deleted/);
      expect((await fetch(tableUrl, { headers: auth })).status).toBe(404);
      for (const dc of ["dc1", "dc2"] as const) {
        await eventually(`orders' ConfigMap deleted in ${dc}`, async () => !(await env.get(dc, configMapPath)));
      }
    } finally {
      await env.startDatacenter("dc3");
    }
    // ... and sh-a's goes when its cluster answers again.
    await eventually("orders' ConfigMap deleted in dc3", async () => !(await env.get("dc3", configMapPath)), 120_000);
    // The users rule's tables stay.
    for (const dc of DCS) {
      expect(await env.get(dc, `/api/v1/namespaces/${APP_NAMESPACE}/configmaps/ldc-routing-users`), dc).toBeDefined();
    }
    // Created again under its name, the rule starts above the epoch sidecars may still hold (they ignore older ones).
    await env.kubectl("dc1", ["apply", "-f", "-"], JSON.stringify(objects[0]));
    const again = await eventually("orders' table published again", async () => {
      const res = await fetch(tableUrl, { headers: auth });
      return res.status === 200 && Number(res.headers.get("x-ldc-epoch"));
    });
    expect(again).toBeGreaterThan(epoch);
    await env.kubectl("dc1", ["delete", "shardingrule", "orders", "--wait=false"]);
    await eventually(
      "orders' table unpublished again",
      async () => (await fetch(tableUrl, { headers: auth })).status === 404,
    );

    await env.kubectl("dc1", ["delete", "cellapp", "orders", "-n", APP_NAMESPACE, "--wait=false"]);
    await eventually(
      "orders' workloads removed",
      async () => !(await cellApp("orders")) && (await stamped("orders")).size === 0,
    );
  });

  // Last in the file: it moves rz02 out of sh-a for good.
  it("never lets two Failovers act on one cell: created together, one moves it, the other waits for it to finish", async () => {
    interface FailoverObj {
      metadata: Meta;
      status?: {
        phase?: string;
        step?: string;
        message?: string;
        completionTime?: string;
        cells?: { cell: string; from: string; to: string }[];
        steps?: { name: string; endTime?: string }[];
      };
    }
    const failover = (name: string) => ({
      apiVersion: "ldc.io/v1alpha1",
      kind: "Failover",
      metadata: { name },
      // A 3 s freeze keeps the first one running while the second looks.
      spec: { type: "Emergency", target: { cells: ["rz02"] }, writeFreeze: "3s", reason: "two at once (test)" },
    });
    const names = ["twice-a", "twice-b"];
    // The barrier waits for every sidecar the operator deployed: run the kwok pods' sidecars.
    const sidecars = await env.startPodSidecars();
    await eventually("the kwok pods' sidecars running", () => Promise.resolve(sidecars.running().length > 0));
    // Each app's size where rz02 is active now (sh-a, dc3): the size hz-a must reach before the freeze.
    const fullSize = new Map(
      (
        await env.list<Deployment>(
          "dc3",
          `${deploymentsPath()}?labelSelector=${encodeURIComponent("ldc.io/cell=rz02,ldc.io/zone=sh-a")}`,
        )
      ).map((d) => [d.metadata.labels?.["ldc.io/app"] ?? "", d.spec.replicas]),
    );
    expect(fullSize.size, "rz02's apps in sh-a").toBeGreaterThan(0);
    const counted = () => metricSum(env, "ldc_failovers_total", { type: "Emergency" });
    const succeeded = () => metricSum(env, "ldc_failovers_total", { type: "Emergency", result: "Succeeded" });
    const [countedBefore, succeededBefore] = [await counted(), await succeeded()];
    const rtosBefore = await metricSum(env, "ldc_failover_rto_seconds_count");
    // One kubectl call: both objects reach the API server within milliseconds.
    await env.kubectl("dc1", ["create", "-f", "-"], names.map((n) => JSON.stringify(failover(n))).join("\n"));
    const terminal = new Set(["Succeeded", "Failed", "RolledBack", "Aborted"]);
    const overlaps: string[] = [];
    const notScaledUp: string[] = [];
    const waited = new Set<string>();
    const final = await eventually(
      "both Failovers finished",
      async () => {
        const fos = await Promise.all(names.map((n) => env.get<FailoverObj>("dc1", ldcPath("failovers", n))));
        const moving = fos.filter(
          (f) => f?.status?.phase === "Running" && f.status.cells?.some((c) => c.cell === "rz02"),
        );
        if (moving.length > 1) overlaps.push(moving.map((f) => f!.metadata.name).join(" and "));
        // Past ScaleUpStandby, every app of rz02 runs at full size in hz-a (profile-query's standby is cold).
        if (moving.some((f) => ["Freeze", "WaitReplication", "Switch"].includes(f!.status!.step ?? ""))) {
          const deps = await env.list<Deployment>(
            "dc1",
            `${deploymentsPath()}?labelSelector=${encodeURIComponent("ldc.io/cell=rz02,ldc.io/zone=hz-a")}`,
          );
          const small = deps.filter((d) => {
            const want = fullSize.get(d.metadata.labels?.["ldc.io/app"] ?? "");
            return !(
              want !== undefined &&
              want > 0 &&
              d.spec.replicas === want &&
              (d.status?.readyReplicas ?? 0) >= want
            );
          });
          if (deps.length === 0 || small.length)
            notScaledUp.push(
              `${moving[0]!.status!.step}: ${small.map((d) => `${d.metadata.name} ${d.status?.readyReplicas ?? 0}/${d.spec.replicas} ready, want ${fullSize.get(d.metadata.labels?.["ldc.io/app"] ?? "")}`).join(", ") || "none"}`,
            );
        }
        for (const f of fos)
          if (/another failover is moving rz02/.test(f?.status?.message ?? "")) waited.add(f!.metadata.name);
        return fos.every((f) => terminal.has(f?.status?.phase ?? "")) && (fos as FailoverObj[]);
      },
      120_000,
    );
    expect(overlaps, "moments when both Failovers were Running and claimed rz02").toEqual([]);
    expect(notScaledUp, "rz02's Deployments in hz-a not at full size after ScaleUpStandby").toEqual([]);
    const [first, second] = [...final].sort((x, y) =>
      (x.status?.completionTime ?? "").localeCompare(y.status?.completionTime ?? ""),
    );
    expect(first!.status?.phase, first!.status?.message).toBe("Succeeded");
    expect(first!.status?.cells).toEqual([{ cell: "rz02", from: "sh-a", to: "hz-a" }]);
    // The second one waited for the first (it said so), then planned from where rz02 is now.
    expect([...waited]).toEqual([second!.metadata.name]);
    const claimed = second!.status?.steps?.find((x) => x.name === "Preflight")?.endTime;
    if (second!.status?.cells?.length) expect(claimed! >= first!.status!.completionTime!).toBe(true);
    else expect(second!.status?.phase, second!.status?.message).toBe("Failed");
    // Each end counted once (right after its write), whatever the number of reconciles; an RTO
    // for each switch acknowledged.
    await eventually("both ends counted", async () => (await counted()) >= countedBefore + 2);
    expect(await counted()).toBe(countedBefore + 2);
    expect(await succeeded()).toBe(succeededBefore + final.filter((f) => f.status?.phase === "Succeeded").length);
    const rtos = final.filter(
      (f) => (f.status as { rtoMilliseconds?: number } | undefined)?.rtoMilliseconds !== undefined,
    );
    expect(await metricSum(env, "ldc_failover_rto_seconds_count")).toBe(rtosBefore + rtos.length);
  });

  it("deleting a drill after its switch fails it back first (its finalizer holds it), then it goes", async () => {
    interface FailoverObj {
      metadata: Meta & { finalizers?: string[]; deletionTimestamp?: string };
      status?: { phase?: string; step?: string; message?: string; cells?: { cell: string; from: string }[] };
    }
    interface CellStatusObj {
      status?: { activeZone?: string };
    }
    await env.startPodSidecars();
    const home = (await env.get<CellStatusObj>("dc1", ldcPath("cells", "rz02")))?.status?.activeZone;
    expect(home, "rz02's active zone").toBeDefined();
    const name = "deleted-drill";
    await env.kubectl(
      "dc1",
      ["create", "-f", "-"],
      JSON.stringify({
        apiVersion: "ldc.io/v1alpha1",
        kind: "Failover",
        metadata: { name },
        spec: {
          type: "Drill",
          target: { cells: ["rz02"] },
          writeFreeze: "0s",
          drill: { duration: "10m" },
          reason: "deleted mid-drill (test)",
        },
      }),
    );
    const fo = () => env.get<FailoverObj>("dc1", ldcPath("failovers", name));
    const switched = await eventually("the drill switched, waiting out its duration", async () => {
      const f = await fo();
      return f?.status?.step === "DrillWait" && f;
    });
    expect(switched.metadata.finalizers).toContain("ldc.io/failover");
    const away = switched.status!.cells!.find((c) => c.cell === "rz02")!;
    expect(away.from).toBe(home);
    const abortedDrills = () => metricSum(env, "ldc_failovers_total", { type: "Drill", result: "Aborted" });
    const abortedBefore = await abortedDrills();
    // Deleting it must not drop the overlay with the cell switched (its shards would move back without a freeze).
    await env.kubectl("dc1", ["delete", "failover", name, "--wait=false"]);
    let last: FailoverObj | undefined;
    await eventually(
      "the deleted drill failed back, then went",
      async () => {
        const f = await fo();
        if (f) last = f;
        return f === undefined;
      },
      120_000,
    );
    expect(last?.metadata.deletionTimestamp, "seen while it was being deleted").toBeDefined();
    // Its end outlives it in the metrics: counted once, as Aborted.
    await eventually("the deleted drill counted as Aborted", async () => (await abortedDrills()) === abortedBefore + 1);
    expect((await env.get<CellStatusObj>("dc1", ldcPath("cells", "rz02")))?.status?.activeZone).toBe(home);
  });
}
