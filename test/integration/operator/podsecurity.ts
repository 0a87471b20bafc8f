// Issue 13: a CellApp cannot get its author, through the operator's rights,
// workloads the author could not create (docs/adr/0011-cellapps-cannot-escalate.md).
// Member cluster (dc2): the operator stamps nothing beyond Pod Security
// baseline even where no admission policy stopped the CellApp, and the
// namespace it creates there enforces baseline, so that API server refuses a
// privileged pod itself. Home cluster (dc1): the chart's admission policy
// refuses each escalation of a user who may only create CellApps, naming the
// field, and lets through an author with the rights the workloads need.
// Registered last by operator.test.ts: it installs a cluster-wide policy.
import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, expect, it } from "vitest";
import { REPO_DIR, toolPaths } from "../../../hack/lib/tools.ts";
import { Labels, MANAGED_BY } from "../../../src/reconcilers/naming.ts";
import { KUBE_VERSION } from "../../unit/chart/render.ts";
import { ESCALATIONS, allowedTemplate, APP_IMAGE } from "../../unit/api/pod-security-cases.ts";
import { eventually } from "../harness.ts";
import {
  condition,
  deploymentsPath,
  ldcPath,
  type CellAppObj,
  type DcName,
  type Meta,
  type OperatorEnv,
} from "./setup.ts";

const execFileAsync = promisify(execFile);
const NS = "podsec";
const RELEASE = "podsec";
/** Only CellApps: what the attacker has. */
const CELLAPP_AUTHOR = "mallory";
/** CellApps, Deployments and Services, but no ServiceAccount impersonation. */
const APP_DEVELOPER = "dev";
/** rz01: active in hz-b (dc2, a member cluster), standby in hz-a (dc1). */
const CELL = "rz01";

type Obj = Record<string, unknown>;

const cellApp = (name: string, template: Obj): Obj => ({
  apiVersion: "ldc.io/v1alpha1",
  kind: "CellApp",
  metadata: { name, namespace: NS },
  spec: { shardingRule: "users", scope: "Regional", cells: [CELL], replicas: 1, standbyReplicas: 1, template },
});

export function podSecurityTests(env: OperatorEnv): void {
  const kubectl = (args: string[], input?: string, dc: DcName = "dc1") => env.kubectl(dc, args, input);
  /** The API server's refusal (stderr) of a server-side dry run; "" when it was accepted. */
  const refusal = (obj: Obj, as?: string, dc: DcName = "dc1") =>
    kubectl(["create", "--dry-run=server", ...(as ? [`--as=${as}`] : []), "-f", "-"], JSON.stringify(obj), dc).then(
      () => "",
      (e: { stderr?: string }) => e.stderr ?? String(e),
    );
  const stampedFor = async (app: string) => {
    const out: string[] = [];
    for (const dc of ["dc1", "dc2", "dc3"] as const) {
      const list = await env.list<{ metadata: Meta }>(dc, `${deploymentsPath(NS)}?labelSelector=ldc.io/app%3D${app}`);
      out.push(...list.map((d) => `${dc}/${d.metadata.name}`));
    }
    return out;
  };

  beforeAll(async () => {
    await kubectl(["create", "namespace", NS]);
  });
  afterAll(async () => {
    await kubectl([
      "delete",
      "validatingadmissionpolicy,validatingadmissionpolicybinding",
      `${RELEASE}-ldc-operator-cellapps`,
      "--ignore-not-found",
    ]);
  });

  it("stamps nothing of a CellApp beyond baseline, in any cluster, and says which field (no admission policy in the way)", async () => {
    const escalating = cellApp("escalate", {
      spec: {
        hostNetwork: true,
        containers: [{ name: "app", image: APP_IMAGE, securityContext: { privileged: true } }],
      },
    });
    await kubectl(["apply", "-f", "-"], JSON.stringify(escalating));
    const app = await eventually("escalate Valid=False", async () => {
      const a = await env.get<CellAppObj>("dc1", ldcPath("cellapps", "escalate", NS));
      return condition(a, "Valid")?.status === "False" && a;
    });
    expect(condition(app, "Valid")).toMatchObject({ reason: "PodSecurity" });
    expect(condition(app, "Valid")?.message).toMatch(
      /^spec\.template\.spec\.hostNetwork: Pod Security baseline allows no/,
    );
    expect(condition(app, "Valid")?.message).toContain(
      "spec.template.spec.containers[name=app].securityContext.privileged: Pod Security baseline allows no privileged containers",
    );
    expect(await stampedFor("escalate")).toEqual([]);
  });

  it("creates the app's namespace in a member cluster enforcing baseline: that API server refuses a privileged pod itself", async () => {
    await kubectl(["apply", "-f", "-"], JSON.stringify(cellApp("clean", allowedTemplate())));
    const ns = await eventually(`namespace ${NS} created in dc2 (hz-b)`, () =>
      env.get<{ metadata: Meta }>("dc2", `/api/v1/namespaces/${NS}`),
    );
    expect(ns.metadata.labels).toMatchObject({
      [Labels.managedBy]: MANAGED_BY,
      "pod-security.kubernetes.io/enforce": "baseline",
      "pod-security.kubernetes.io/enforce-version": "latest",
    });
    await eventually("clean stamped in dc2", async () => (await stampedFor("clean")).some((d) => d.startsWith("dc2/")));
    const pod = (spec: Obj) => ({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "escalate", namespace: NS },
      spec: { containers: [{ name: "app", image: APP_IMAGE }], ...spec },
    });
    expect(await refusal(pod({ hostNetwork: true }), undefined, "dc2")).toMatch(
      /violates PodSecurity "baseline:latest": host namespaces \(hostNetwork=true\)/,
    );
    expect(await refusal(pod({ volumes: [{ name: "root", hostPath: { path: "/" } }] }), undefined, "dc2")).toMatch(
      /violates PodSecurity "baseline:latest": hostPath volumes/,
    );
    expect(await refusal(pod({}), undefined, "dc2")).toBe("");
  });

  it("the chart's admission policy refuses a user with only CellApp rights each escalation, naming the field", async () => {
    const helm = await execFileAsync(
      toolPaths().helm,
      [
        "template",
        RELEASE,
        path.join(REPO_DIR, "charts", "ldc-operator"),
        "--kube-version",
        KUBE_VERSION,
        "--show-only",
        "templates/cellapp-policy.yaml",
      ],
      { cwd: REPO_DIR },
    );
    await kubectl(["apply", "-f", "-"], helm.stdout);
    const rbac = (user: string, rules: Obj[]) => [
      { apiVersion: "rbac.authorization.k8s.io/v1", kind: "Role", metadata: { name: user, namespace: NS }, rules },
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "RoleBinding",
        metadata: { name: user, namespace: NS },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: user },
        subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: user }],
      },
    ];
    const cellApps = {
      apiGroups: ["ldc.io"],
      resources: ["cellapps"],
      verbs: ["get", "list", "watch", "create", "update", "patch"],
    };
    const items = [
      ...rbac(CELLAPP_AUTHOR, [cellApps]),
      ...rbac(APP_DEVELOPER, [
        cellApps,
        { apiGroups: ["apps"], resources: ["deployments"], verbs: ["create"] },
        { apiGroups: [""], resources: ["services"], verbs: ["create"] },
      ]),
    ];
    await kubectl(["apply", "-f", "-"], JSON.stringify({ apiVersion: "v1", kind: "List", items }));

    // The API server picks a new policy up within a moment: wait for the first refusal.
    const first = ESCALATIONS[0]!;
    await eventually("the policy in force", async () => {
      const r = await refusal(cellApp("x", first.template), CELLAPP_AUTHOR);
      return first.field.test(r) && r;
    });
    const unnamed: string[] = [];
    for (const c of ESCALATIONS) {
      const r = await refusal(cellApp("x", c.template), CELLAPP_AUTHOR);
      if (!c.field.test(r) || !/denied request/.test(r)) unnamed.push(`${c.name}: ${r || "accepted"}`);
    }
    expect(unnamed).toEqual([]);

    // Another ServiceAccount of the namespace (the operator would run pods as it).
    const withSa = { spec: { serviceAccountName: "builder", containers: [{ name: "app", image: APP_IMAGE }] } };
    expect(await refusal(cellApp("x", withSa), CELLAPP_AUTHOR)).toMatch(
      /spec\.template\.spec\.serviceAccountName: mallory may not run pods as ServiceAccount builder in podsec/,
    );
    // A template within baseline still needs the rights the operator would use for it.
    expect(await refusal(cellApp("x", allowedTemplate()), CELLAPP_AUTHOR)).toMatch(
      /spec\.template: mallory may not create Deployments and Services in podsec/,
    );
  });

  it("lets an author who may create Deployments and Services create a CellApp within baseline, and nothing more", async () => {
    expect(await refusal(cellApp("x", allowedTemplate()), APP_DEVELOPER)).toBe("");
    const withSa = { spec: { serviceAccountName: "builder", containers: [{ name: "app", image: APP_IMAGE }] } };
    expect(await refusal(cellApp("x", withSa), APP_DEVELOPER)).toMatch(
      /spec\.template\.spec\.serviceAccountName: dev may not/,
    );
    expect(await refusal(cellApp("x", ESCALATIONS[0]!.template), APP_DEVELOPER)).toMatch(ESCALATIONS[0]!.field);
    // The operator's own updates (its finalizer) of an app admitted before the policy are not blocked.
    await kubectl(["delete", "cellapp", "escalate", "-n", NS, "--wait=true", "--timeout=60s"]);
    expect(await env.get("dc1", ldcPath("cellapps", "escalate", NS))).toBeUndefined();
  });
}
