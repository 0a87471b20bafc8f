// Issue 4: self-healing. Stamped Deployments that are deleted, edited by
// hand or taken over by another field manager are restored; an API server
// restart and an expired watch (410 after an etcd compaction) are survived.
// Registered by operator.test.ts; every test leaves the examples converged.
import { expect, it } from "vitest";
import { eventually } from "../harness.ts";
import {
  APP_NAMESPACE,
  compactEtcd,
  deploymentReady,
  deploymentsPath,
  ldcPath,
  metricSum,
  waitConverged,
  type CellAppObj,
  type DcName,
  type Deployment,
  type OperatorEnv,
} from "./setup.ts";

const ACCOUNT_IMAGE = "registry.example.com/payments/account:1.14.2";

export function healingTests(env: OperatorEnv): void {
  const deployment = (dc: DcName, name: string) => env.get<Deployment>(dc, deploymentsPath(APP_NAMESPACE, name));
  const restored = (dc: DcName, name: string, replicas: number, image?: string) =>
    eventually(
      `${name} in ${dc} restored to ${replicas} replicas${image ? ` of ${image}` : ""} (operator log: ${env.logFile})`,
      async () => {
        const d = await deployment(dc, name);
        return deploymentReady(d, replicas) && (!image || d!.spec.template.spec.containers[0]!.image === image) && d;
      },
      90_000,
    );
  const setAppReplicas = (app: string, replicas: number) =>
    env.kubectl("dc1", [
      "patch",
      "cellapp",
      app,
      "-n",
      APP_NAMESPACE,
      "--type=merge",
      "-p",
      JSON.stringify({ spec: { replicas } }),
    ]);

  it("restores a deleted Deployment, in its own cluster and in a member cluster", async () => {
    const targets: [DcName, string, number][] = [
      ["dc1", "config-center-gz00-hz-a", 2],
      ["dc2", "account-rz01-hz-b", 3],
    ];
    for (const [dc, name, replicas] of targets) {
      const before = await deployment(dc, name);
      await env.kubectl(dc, ["delete", "deployment", name, "-n", APP_NAMESPACE, "--wait=true"]);
      const after = await restored(dc, name, replicas);
      expect(after.metadata.uid).not.toBe(before!.metadata.uid);
    }
  });

  it("restores a Deployment edited by hand (kubectl scale, kubectl patch of replicas and image)", async () => {
    await env.kubectl("dc1", ["scale", "deployment", "account-rz00-hz-a", "-n", APP_NAMESPACE, "--replicas=1"]);
    await env.kubectl("dc3", [
      "patch",
      "deployment",
      "account-rz02-sh-a",
      "-n",
      APP_NAMESPACE,
      "--type=strategic",
      "-p",
      JSON.stringify({
        spec: { replicas: 7, template: { spec: { containers: [{ name: "account", image: "evil.example.com/x:1" }] } } },
      }),
    ]);
    await restored("dc1", "account-rz00-hz-a", 5, ACCOUNT_IMAGE);
    await restored("dc3", "account-rz02-sh-a", 3, ACCOUNT_IMAGE);
  });

  it("survives a conflicting update: another field manager forcing its values onto the operator's fields", async () => {
    const name = "account-rz01-hz-b";
    const manifest = JSON.stringify({
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name, namespace: APP_NAMESPACE },
      spec: { replicas: 9 },
    });
    // without --force-conflicts the API server refuses: the operator owns spec.replicas
    await expect(
      env.kubectl("dc2", ["apply", "--server-side", "--field-manager=intruder", "-f", "-"], manifest),
    ).rejects.toThrow(/conflict/i);
    await env.kubectl(
      "dc2",
      ["apply", "--server-side", "--field-manager=intruder", "--force-conflicts", "-f", "-"],
      manifest,
    );
    const d = await restored("dc2", name, 3);
    expect(d.spec.replicas).toBe(3);
    // the operator owns the field again
    const full = JSON.parse(
      await env.kubectl("dc2", ["get", "deployment", name, "-n", APP_NAMESPACE, "-o", "json", "--show-managed-fields"]),
    ) as { metadata: { managedFields: { manager: string; fieldsV1?: { "f:spec"?: Record<string, unknown> } }[] } };
    const owners = full.metadata.managedFields
      .filter((m) => m.fieldsV1?.["f:spec"]?.["f:replicas"] !== undefined)
      .map((m) => m.manager);
    expect(owners).toEqual(["ldc-operator"]);
  });

  it("survives an API server restart (its own datacenter dc1 stopped and started) and reconciles afterwards", async () => {
    await env.stopDatacenter("dc1");
    await env.startDatacenter("dc1");
    // a change made after the restart is applied, in the operator's cluster and in a member cluster
    await setAppReplicas("config-center", 3);
    await restored("dc1", "config-center-gz00-hz-a", 3);
    await env.kubectl("dc1", ["delete", "deployment", "account-rz01-hz-a", "-n", APP_NAMESPACE]);
    await restored("dc1", "account-rz01-hz-a", 1);
    await eventually(
      "config-center status for generation after the restart",
      async () => {
        const app = await env.get<CellAppObj>("dc1", ldcPath("cellapps", "config-center", APP_NAMESPACE));
        return (
          app?.status?.observedGeneration === app?.metadata.generation && app?.status?.cells?.[0]?.readyReplicas === 3
        );
      },
      60_000,
    );
    // the operator is ready again (its own cluster's caches synced and watching)
    await eventually("operator /readyz", async () => {
      const res = await fetch(`http://127.0.0.1:${env.operator!.port}/readyz`);
      return res.status === 200;
    });
    await setAppReplicas("config-center", 2);
    await waitConverged(env);
  });

  it("survives an expired watch (410 Gone after an etcd compaction): later changes are still applied", async () => {
    const home = env.operator!.context.home;
    const informers = home.informers();
    const listsBefore = informers.map((inf) => inf.status().lists);
    const goneBefore = await metricSum(env, "ldc_informer_watch_restarts_total", { cluster: "local", reason: "gone" });
    // etcd forgets every revision before now
    await compactEtcd(env, "dc1");
    // The API server's watch cache still serves recent versions after a
    // compaction, so an open watch does not notice it: a watch expires when it
    // resumes from a version older than what the server keeps (after the
    // server ended it, or a reconnect). Make every cache of the operator's own
    // cluster resume from such a version now.
    for (const inf of informers) inf.restartWatch("1");
    await setAppReplicas("config-center", 4);
    await restored("dc1", "config-center-gz00-hz-a", 4);
    await env.kubectl("dc1", ["scale", "deployment", "account-rz02-hz-a", "-n", APP_NAMESPACE, "--replicas=3"]);
    await restored("dc1", "account-rz02-hz-a", 1);
    // every cache got 410 Gone and relisted
    const gone = await metricSum(env, "ldc_informer_watch_restarts_total", { cluster: "local", reason: "gone" });
    expect(gone - goneBefore).toBeGreaterThanOrEqual(informers.length);
    informers.forEach((inf, i) => expect(inf.status().lists, inf.name).toBeGreaterThan(listsBefore[i]!));
    await setAppReplicas("config-center", 2);
    await waitConverged(env);
  });
}
