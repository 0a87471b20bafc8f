// The Helm chart installed for real: into a namespace enforcing Pod Security
// "restricted" on dc1 (admitted, every object created, the operator's pods
// Ready on kwok nodes), upgraded with other values, and uninstalled; its
// ServiceAccount can do exactly what src/chart/permissions.ts lists (kubectl
// auth can-i with impersonation). Member-cluster mode on dc2: the token
// Secret becomes a working kubeconfig with the member-cluster permissions.
//
// ClusterRoles are cluster-scoped and the clusters are shared by parallel
// test files: every release has a per-run name (the chart names
// cluster-scoped objects after the release) and is uninstalled at the end.
// The CRDs already exist (other tests install them): the chart's crds/ are
// skipped by Helm then, which is part of what this test proves.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  MEMBER_CLUSTER_RULES,
  MEMBER_RELAY_NAMESPACE_RULES,
  OPERATOR_RULES,
  RELAY_CLUSTER_RULES,
  RELAY_RULES,
} from "../../../src/chart/permissions.ts";
import type { PermissionRule } from "../../../src/chart/permissions.ts";
import { createTestNamespace, datacenters, eventually, runTool, uniqueName } from "../harness.ts";
import type { Datacenter, DatacenterInfo } from "../harness.ts";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const CHART = path.join(ROOT, "charts", "ldc-operator");
// kwok nodes advertise cpu, memory and pods but no ephemeral-storage, so the
// chart's default ephemeral-storage request is dropped here (null removes a
// value in Helm); everything else is the default.
const KWOK_VALUES = [
  "--set",
  "resources.requests.ephemeral-storage=null,resources.limits.ephemeral-storage=null," +
    "relay.resources.requests.ephemeral-storage=null,relay.resources.limits.ephemeral-storage=null",
];
const RESTRICTED = {
  "pod-security.kubernetes.io/enforce": "restricted",
  "pod-security.kubernetes.io/enforce-version": "latest",
};

type Obj = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
} & Record<string, unknown>;
type Pod = Obj & {
  spec: { nodeName?: string };
  status: { phase?: string; conditions?: { type: string; status: string }[] };
};

let dc: Datacenter;
let memberDc: Datacenter;
let ns: string;
let release: string;
let fullname: string;
let workDir: string;
const installed: { dc: DatacenterInfo; release: string; ns: string }[] = [];

const helm = (on: DatacenterInfo, args: string[]) => runTool("helm", on, args);
const kubectl = (on: DatacenterInfo, args: string[], input?: string) =>
  runTool("kubectl", on, args, input === undefined ? {} : { input });

function objects(text: string): Obj[] {
  return parseAllDocuments(text)
    .map((d) => d.toJS() as Obj | null)
    .filter((o): o is Obj => o !== null);
}

async function getJson<T>(on: DatacenterInfo, args: string[]): Promise<T> {
  return JSON.parse((await kubectl(on, ["get", ...args, "-o", "json"])).stdout) as T;
}

/** `kubectl auth can-i`: true on "yes" (exit 0), false on "no" (exit 1). */
async function canI(on: DatacenterInfo, args: string[]): Promise<boolean> {
  try {
    const { stdout } = await kubectl(on, ["auth", "can-i", ...args]);
    return stdout.trim() === "yes";
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string };
    if (err.stdout?.trim() === "no") return false;
    throw new Error(`kubectl auth can-i ${args.join(" ")} failed: ${err.stderr ?? String(e)}`, { cause: e });
  }
}

/** One `can-i` question per verb and resource of a rule: [verb, resource[.group], flags...]. */
function questions(rules: readonly PermissionRule[], namespace: string): string[][] {
  return rules.flatMap((r) =>
    r.apiGroups.flatMap((g) =>
      r.resources.flatMap((res) => {
        const [resource, sub] = res.split("/");
        const target = g === "" ? resource! : `${resource}.${g}`;
        const where = r.scope === "namespace" ? ["-n", namespace] : ["--all-namespaces"];
        return r.verbs.map((v) => [v, target, ...(sub ? [`--subresource=${sub}`] : []), ...where]);
      }),
    ),
  );
}

/** Runs `check` over items, `limit` at a time. */
async function inBatches<T, R>(items: readonly T[], limit: number, check: (x: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += limit) out.push(...(await Promise.all(items.slice(i, i + limit).map(check))));
  return out;
}

async function readyPods(component: "operator" | "relay" = "operator"): Promise<Pod[]> {
  const list = await getJson<{ items: Pod[] }>(dc, [
    "pods",
    "-n",
    ns,
    "-l",
    `app.kubernetes.io/instance=${release},app.kubernetes.io/component=${component}`,
  ]);
  return list.items.filter((p) => p.status.conditions?.some((c) => c.type === "Ready" && c.status === "True"));
}

beforeAll(async () => {
  const dcs = await datacenters();
  dc = dcs[0]!;
  memberDc = dcs[1] ?? dcs[0]!;
  ns = await createTestNamespace(dc, "chart", RESTRICTED);
  release = uniqueName("ldc");
  fullname = `${release}-ldc-operator`;
  workDir = mkdtempSync(path.join(tmpdir(), "ldc-chart-"));
});

afterAll(async () => {
  for (const r of installed.splice(0)) {
    await helm(r.dc, ["uninstall", r.release, "-n", r.ns, "--wait"]).catch(() => undefined);
  }
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

describe("helm install into a restricted namespace", () => {
  it("is admitted, creates every object and prints what to apply next", async () => {
    const { stdout } = await helm(dc, [
      "install",
      release,
      CHART,
      "-n",
      ns,
      ...KWOK_VALUES,
      "--wait",
      "--timeout",
      "100s",
    ]);
    installed.push({ dc, release, ns });
    expect(stdout).toContain("STATUS: deployed");
    expect(stdout).toContain("What to apply next");
    expect(stdout).toContain(`kubectl -n ${ns} create secret generic zone-<zone>`);

    const manifest = objects((await helm(dc, ["get", "manifest", release, "-n", ns])).stdout);
    expect(manifest.map((o) => o.kind).sort()).toEqual([
      "ClusterRole",
      "ClusterRole",
      "ClusterRoleBinding",
      "ClusterRoleBinding",
      "Deployment",
      "Deployment",
      "PodDisruptionBudget",
      "PodDisruptionBudget",
      "Role",
      "Role",
      "RoleBinding",
      "RoleBinding",
      "Service",
      "Service",
      "ServiceAccount",
      "ServiceAccount",
      "ValidatingAdmissionPolicy",
      "ValidatingAdmissionPolicy",
      "ValidatingAdmissionPolicyBinding",
      "ValidatingAdmissionPolicyBinding",
    ]);
    // The relay (relay.enabled, the default) under the fixed names the operator's sidecar URL uses.
    expect(
      manifest
        .filter((o) => o.metadata.labels?.["app.kubernetes.io/component"] === "relay")
        .map((o) => `${o.kind}/${o.metadata.name}`)
        .sort(),
    ).toEqual([
      `ClusterRole/${fullname}-relay-tokenreview`,
      `ClusterRoleBinding/${fullname}-relay-tokenreview`,
      "Deployment/ldc-relay",
      "PodDisruptionBudget/ldc-relay",
      "Role/ldc-relay",
      "RoleBinding/ldc-relay",
      "Service/ldc-relay",
      "ServiceAccount/ldc-relay",
      `ValidatingAdmissionPolicy/${fullname}-relay-acks`,
      `ValidatingAdmissionPolicyBinding/${fullname}-relay-acks`,
    ]);
    // Every object of the release, read back from the API server.
    const manifestText = (await helm(dc, ["get", "manifest", release, "-n", ns])).stdout;
    const live = JSON.parse((await kubectl(dc, ["get", "-f", "-", "-o", "json"], manifestText)).stdout) as {
      items: Obj[];
    };
    expect(live.items.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual(
      manifest.map((o) => `${o.kind}/${o.metadata.name}`).sort(),
    );
    for (const o of live.items) {
      expect(o.metadata.labels?.["app.kubernetes.io/instance"], `${o.kind} ${o.metadata.name}`).toBe(release);
    }
    // Cluster-scoped objects carry the release name.
    for (const o of manifest.filter((x) => x.kind.startsWith("ClusterRole"))) {
      expect([fullname, `${fullname}-relay-tokenreview`]).toContain(o.metadata.name);
    }
  });

  it("is in a namespace that really enforces restricted (a root pod is refused)", async () => {
    const err = await kubectl(dc, ["run", "root-pod", "--image=busybox", "-n", ns, "--dry-run=server"]).then(
      () => "",
      (e: { stderr?: string }) => e.stderr ?? "",
    );
    expect(err).toMatch(/violates PodSecurity "restricted:latest"/);
  });

  it("runs 2 operator pods, Ready on kwok nodes, spread over nodes", async () => {
    const pods = await eventually("2 Ready operator pods", async () => {
      const ready = await readyPods();
      return ready.length === 2 ? ready : undefined;
    });
    const nodes = new Set<string>();
    for (const p of pods) {
      expect(p.spec.nodeName, p.metadata.name).toBeTruthy();
      const node = await getJson<Obj>(dc, ["node", p.spec.nodeName!]);
      expect(node.metadata.annotations?.["kwok.x-k8s.io/node"]).toBe("fake");
      nodes.add(p.spec.nodeName!);
    }
    expect(nodes.size).toBe(2);
  });

  it("runs 2 relay pods, Ready on kwok nodes, behind the ldc-relay Service", async () => {
    await eventually("2 Ready relay pods", async () => ((await readyPods("relay")).length === 2 ? true : undefined));
    const svc = await getJson<Obj & { spec: { selector: Record<string, string> } }>(dc, [
      "service",
      "ldc-relay",
      "-n",
      ns,
    ]);
    expect(svc.spec.selector["app.kubernetes.io/component"]).toBe("relay");
  });

  it("finds the CRDs in place and the documented CRD upgrade step accepted", async () => {
    const crds = await getJson<{ items: Obj[] }>(dc, ["crd", "-l", "app.kubernetes.io/part-of=ldc-operator"]);
    expect(crds.items.length).toBeGreaterThanOrEqual(6);
    // docs/adr/0003-crd-upgrades.md; a server-side dry run, so the shared CRDs gain no field manager.
    const { stdout } = await kubectl(dc, [
      "apply",
      "--server-side",
      "--force-conflicts",
      "--field-manager=ldc-operator-crds",
      "--dry-run=server",
      "-f",
      path.join(CHART, "crds"),
    ]);
    expect(stdout.trim().split("\n")).toHaveLength(6);
  });
});

describe("the operator's ServiceAccount", () => {
  const as = () => `--as=system:serviceaccount:${ns}:${fullname}`;

  it("can do everything in src/chart/permissions.ts", async () => {
    const qs = questions(OPERATOR_RULES, ns);
    const answers = await inBatches(qs, 8, (q) => canI(dc, [...q, as()]));
    const denied = qs.filter((_, i) => !answers[i]).map((q) => q.join(" "));
    expect(denied).toEqual([]);
  });

  it("can do nothing beyond it", async () => {
    const beyond = [
      ["delete", "secrets", "-n", ns],
      ["create", "secrets", "-n", ns],
      ["get", "secrets", "-n", "default"],
      ["list", "secrets", "--all-namespaces"],
      ["get", "leases.coordination.k8s.io", "-n", "default"],
      ["create", "clusterroles.rbac.authorization.k8s.io"],
      ["create", "rolebindings.rbac.authorization.k8s.io", "-n", ns],
      ["create", "customresourcedefinitions.apiextensions.k8s.io"],
      ["update", "deployments.apps", "--all-namespaces"],
      // Watched and applied, never read one by one (src/chart/permissions.ts).
      ["get", "deployments.apps", "--all-namespaces"],
      ["get", "configmaps", "-n", "default"],
      ["get", "nodes"],
      ["create", "pods", "-n", ns],
      ["delete", "pods", "--all-namespaces"],
      ["get", "pods", "--all-namespaces"],
      ["patch", "nodes"],
      ["delete", "namespaces"],
      ["create", "namespaces"],
      ["delete", "cellapps.ldc.io", "--all-namespaces"],
      ["update", "zones.ldc.io"],
      ["delete", "drillschedules.ldc.io"],
      ["impersonate", "users"],
    ];
    const answers = await inBatches(beyond, 8, (q) => canI(dc, [...q, as()]));
    const allowed = beyond.filter((_, i) => answers[i]).map((q) => q.join(" "));
    expect(allowed).toEqual([]);
  });
});

describe("the relay's ServiceAccount", () => {
  const as = () => `--as=system:serviceaccount:${ns}:ldc-relay`;

  it("can do everything in RELAY_RULES, in its namespace, and RELAY_CLUSTER_RULES (review tokens)", async () => {
    const qs = [...questions(RELAY_RULES, ns), ...questions(RELAY_CLUSTER_RULES, ns)];
    const answers = await inBatches(qs, 8, (q) => canI(dc, [...q, as()]));
    expect(qs.filter((_, i) => !answers[i]).map((q) => q.join(" "))).toEqual([]);
  });

  it("can do nothing beyond it: no other writes, no other namespace, no Secrets", async () => {
    const beyond = [
      ["get", "configmaps", "-n", "default"],
      ["list", "configmaps", "--all-namespaces"],
      ["create", "configmaps", "-n", "default"],
      ["delete", "configmaps", "-n", ns],
      ["patch", "configmaps", "-n", ns],
      ["create", "subjectaccessreviews.authorization.k8s.io"],
      ["list", "leases.coordination.k8s.io", "-n", ns],
      ["update", "leases.coordination.k8s.io", "-n", ns],
      ["patch", "leases.coordination.k8s.io", "-n", ns],
      ["get", "leases.coordination.k8s.io", "-n", "default"],
      ["get", "secrets", "-n", ns],
      ["list", "pods", "-n", ns],
      ["list", "shardingrules.ldc.io"],
    ];
    const answers = await inBatches(beyond, 8, (q) => canI(dc, [...q, as()]));
    expect(beyond.filter((_, i) => answers[i]).map((q) => q.join(" "))).toEqual([]);
  });
});

describe("acknowledgement ConfigMaps", () => {
  it("only the relay's ServiceAccount may create one in the release namespace (a forged ack is refused, naming why)", async () => {
    const cm = (name: string, labels: Record<string, string>) =>
      JSON.stringify({ apiVersion: "v1", kind: "ConfigMap", metadata: { name, namespace: ns, labels }, data: {} });
    const refused = await kubectl(
      dc,
      ["create", "--dry-run=server", "-f", "-"],
      cm("forged-acks", { "ldc.io/acks": "true" }),
    ).then(
      () => "",
      (e: { stderr?: string }) => e.stderr ?? "",
    );
    expect(refused).toMatch(/only the ldc-relay ServiceAccount writes acknowledgement ConfigMaps/);
    // Other ConfigMaps are not its business; the relay itself may.
    await kubectl(dc, ["create", "--dry-run=server", "-f", "-"], cm("plain", { app: "x" }));
    await kubectl(
      dc,
      ["create", "--dry-run=server", `--as=system:serviceaccount:${ns}:ldc-relay`, "-f", "-"],
      cm("ldc-acks-relay-0", { "ldc.io/acks": "true" }),
    );
  });
});

describe("helm upgrade and uninstall", () => {
  it("upgrade applies changed values", async () => {
    const { stdout } = await helm(dc, [
      "upgrade",
      release,
      CHART,
      "-n",
      ns,
      ...KWOK_VALUES,
      "--set",
      "replicaCount=3,logLevel=debug,networkPolicy.enabled=true",
      "--wait",
      "--timeout",
      "100s",
    ]);
    expect(stdout).toContain("STATUS: deployed");
    expect(stdout).toContain("helm upgrade` never changes CRDs");
    await eventually("3 Ready operator pods", async () => ((await readyPods()).length === 3 ? true : undefined));
    const d = await getJson<
      Obj & { spec: { template: { spec: { containers: { env: { name: string; value?: string }[] }[] } } } }
    >(dc, ["deployment", fullname, "-n", ns]);
    expect(d.spec.template.spec.containers[0]!.env.find((e) => e.name === "LDC_LOG_LEVEL")?.value).toBe("debug");
    await getJson(dc, ["networkpolicy", fullname, "-n", ns]);
  });

  it("uninstall removes the release's objects, cluster-scoped ones too, and keeps the CRDs", async () => {
    await helm(dc, ["uninstall", release, "-n", ns, "--wait"]);
    installed.splice(
      installed.findIndex((r) => r.release === release),
      1,
    );
    const left = await kubectl(dc, [
      "get",
      "clusterroles,clusterrolebindings",
      "-l",
      `app.kubernetes.io/instance=${release}`,
      "-o",
      "name",
    ]);
    expect(left.stdout.trim()).toBe("");
    const inNs = await kubectl(dc, [
      "get",
      "deployments,services,serviceaccounts,roles,rolebindings,pdb",
      "-n",
      ns,
      "-l",
      `app.kubernetes.io/instance=${release}`,
      "-o",
      "name",
    ]);
    expect(inNs.stdout.trim()).toBe("");
    const crds = await getJson<{ items: Obj[] }>(dc, ["crd", "-l", "app.kubernetes.io/part-of=ldc-operator"]);
    expect(crds.items.length).toBeGreaterThanOrEqual(6);
  });
});

describe("member-cluster mode", () => {
  it("gives a zone's kubeconfig exactly the member-cluster permissions", async () => {
    const memberNs = await createTestNamespace(memberDc, "member", RESTRICTED);
    const memberRelease = uniqueName("ldc-member");
    const sa = `${memberRelease}-ldc-operator-member`;
    const { stdout } = await helm(memberDc, [
      "install",
      memberRelease,
      CHART,
      "-n",
      memberNs,
      "--skip-crds",
      "--set",
      "memberCluster.enabled=true",
    ]);
    installed.push({ dc: memberDc, release: memberRelease, ns: memberNs });
    expect(stdout).toContain("build a kubeconfig from the token");
    const manifest = objects((await helm(memberDc, ["get", "manifest", memberRelease, "-n", memberNs])).stdout);
    const member = manifest.filter((o) => o.metadata.labels?.["app.kubernetes.io/component"] === "member-cluster");
    expect(member.map((o) => o.kind).sort()).toEqual([
      "ClusterRole",
      "ClusterRoleBinding",
      "Role",
      "RoleBinding",
      "Secret",
      "ServiceAccount",
    ]);
    // Each member cluster gets its relay too.
    expect(
      manifest.filter((o) => o.metadata.labels?.["app.kubernetes.io/component"] === "relay").map((o) => o.kind),
    ).toContain("Deployment");

    // The token controller fills the Secret; then build the kubeconfig as the NOTES say.
    const secret = await eventually("the token Secret filled", async () => {
      const s = await getJson<Obj & { data?: Record<string, string> }>(memberDc, [
        "secret",
        `${sa}-token`,
        "-n",
        memberNs,
      ]);
      return s.data?.token && s.data["ca.crt"] ? s.data : undefined;
    });
    const server = (
      await kubectl(memberDc, ["config", "view", "--minify", "-o", "jsonpath={.clusters[0].cluster.server}"])
    ).stdout.trim();
    const caFile = path.join(workDir, "ca.crt");
    writeFileSync(caFile, Buffer.from(secret["ca.crt"]!, "base64"));
    const zone: DatacenterInfo = { ...memberDc, kubeconfigPath: path.join(workDir, "zone.kubeconfig") };
    await kubectl(zone, [
      "config",
      "set-cluster",
      "member",
      `--server=${server}`,
      `--certificate-authority=${caFile}`,
      "--embed-certs=true",
    ]);
    await kubectl(zone, [
      "config",
      "set-credentials",
      "ldc-operator",
      `--token=${Buffer.from(secret.token!, "base64").toString()}`,
    ]);
    await kubectl(zone, ["config", "set-context", "member", "--cluster=member", "--user=ldc-operator"]);
    await kubectl(zone, ["config", "use-context", "member"]);

    expect((await kubectl(zone, ["auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"])).stdout).toBe(
      `system:serviceaccount:${memberNs}:${sa}`,
    );
    const qs = questions([...MEMBER_CLUSTER_RULES, ...MEMBER_RELAY_NAMESPACE_RULES], memberNs);
    const answers = await inBatches(qs, 8, (q) => canI(zone, q));
    expect(qs.filter((_, i) => !answers[i]).map((q) => q.join(" "))).toEqual([]);

    const beyond = [
      ["get", "secrets", "-n", memberNs],
      ["list", "zones.ldc.io"],
      ["get", "leases.coordination.k8s.io", "-n", "default"],
      ["update", "leases.coordination.k8s.io", "-n", memberNs],
      ["delete", "leases.coordination.k8s.io", "-n", memberNs],
      ["create", "pods", "-n", "default"],
      ["create", "clusterrolebindings.rbac.authorization.k8s.io"],
      ["update", "deployments.apps", "-n", "default"],
    ];
    const denied = await inBatches(beyond, 8, (q) => canI(zone, q));
    expect(beyond.filter((_, i) => denied[i]).map((q) => q.join(" "))).toEqual([]);
  });
});
