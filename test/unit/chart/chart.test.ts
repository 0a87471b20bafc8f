// The Helm chart rendered with the pinned helm (no cluster): lint, the
// objects with default and non-default values, Pod Security "restricted"
// fields, RBAC exactly from src/chart/permissions.ts, values.schema.json
// rejecting typos, and member-cluster mode.
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { parse } from "yaml";
import { beforeAll, describe, expect, it } from "vitest";
import { REPO_DIR } from "../../../hack/lib/tools.ts";
import {
  MEMBER_CLUSTER_RULES,
  MEMBER_RELAY_NAMESPACE_RULES,
  OPERATOR_RULES,
  RELAY_CLUSTER_RULES,
  RELAY_RULES,
  toPolicyRule,
} from "../../../src/chart/permissions.ts";
import { MEMBER, memberClusterObjects } from "../../../src/chart/render.ts";
import { cellAppPolicyValidations } from "../../../src/chart/cellapp-policy.ts";
import { DEFAULT_SIDECAR_IMAGE, Values, defaultValues } from "../../../src/chart/values.ts";
import { relayUrl } from "../../../src/reconcilers/sidecar.ts";
import { CHART, helm, helmPath, only, parseObjects, template as renderAll, templateError } from "./render.ts";
import type { K8sObject } from "./render.ts";

type Obj = Record<string, unknown>;
type Container = {
  name: string;
  image: string;
  env: { name: string; value?: string; valueFrom?: Obj }[];
  ports: { name: string; containerPort: number }[];
  livenessProbe: { httpGet: { path: string; port: string } };
  readinessProbe: { httpGet: { path: string; port: string } };
  resources: { requests: Record<string, string>; limits: Record<string, string> };
  securityContext: Obj & { capabilities: { drop: string[] }; seccompProfile: { type: string } };
};
type PodSpec = {
  serviceAccountName: string;
  securityContext: Obj & { seccompProfile: { type: string } };
  containers: Container[];
  topologySpreadConstraints?: { topologyKey: string; whenUnsatisfiable: string; labelSelector: { matchLabels: Obj } }[];
  volumes: Obj[];
};
type Deployment = K8sObject & {
  spec: { replicas: number; selector: { matchLabels: Obj }; template: { metadata: { labels: Obj }; spec: PodSpec } };
};
type Rule = { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] };

const podSpec = (objects: K8sObject[]) => (only(objects, "Deployment") as Deployment).spec.template.spec;
const container = (objects: K8sObject[]) => podSpec(objects).containers[0]!;
const env = (objects: K8sObject[], name: string) => container(objects).env.find((e) => e.name === name)?.value;
const rulesOf = (o: K8sObject) => (o as K8sObject & { rules: Rule[] }).rules;
const kinds = (objects: K8sObject[]) => objects.map((o) => o.kind).sort();

const isRelay = (o: K8sObject) => o.metadata.labels?.["app.kubernetes.io/component"] === "relay";
/** The rendered objects without the relay's (describe("relay") checks those). */
const template = (opts?: Parameters<typeof renderAll>[0]) => renderAll(opts).filter((o) => !isRelay(o));

let defaults: K8sObject[];

beforeAll(() => {
  helmPath(); // builds the pinned tools on a machine that has none (minutes, once)
  defaults = template();
}, 900_000);

describe("helm lint", () => {
  it.each([
    ["default values", []],
    ["every option on", ["--set", "serviceMonitor.enabled=true,networkPolicy.enabled=true,replicaCount=3"]],
    ["member-cluster mode", ["--set", "memberCluster.enabled=true"]],
  ])("passes --strict with %s", (_what, args) => {
    const r = helm(["lint", "--strict", CHART, "--namespace", "ldc-system", ...args]);
    expect(r.stderr + r.stdout).toContain("0 chart(s) failed");
    expect(r.status).toBe(0);
  });
});

describe("default values", () => {
  it("render the operator and nothing optional", () => {
    expect(kinds(defaults)).toEqual([
      "ClusterRole",
      "ClusterRoleBinding",
      "Deployment",
      "PodDisruptionBudget",
      "Role",
      "RoleBinding",
      "Service",
      "ServiceAccount",
      "ValidatingAdmissionPolicy",
      "ValidatingAdmissionPolicyBinding",
    ]);
    for (const o of defaults) {
      expect(o.metadata.labels?.["app.kubernetes.io/managed-by"], `${o.kind} ${o.metadata.name}`).toBe("Helm");
    }
  });

  it("run 2 replicas with leader election, probes on /healthz and /readyz", () => {
    const d = only(defaults, "Deployment") as Deployment;
    expect(d.spec.replicas).toBe(2);
    const c = container(defaults);
    expect(c.ports).toEqual([{ name: "http", containerPort: 8080, protocol: "TCP" }]);
    expect(c.livenessProbe.httpGet).toEqual({ path: "/healthz", port: "http" });
    expect(c.readinessProbe.httpGet).toEqual({ path: "/readyz", port: "http" });
    expect(env(defaults, "LDC_LEADER_ELECT")).toBe("true");
    expect(env(defaults, "LDC_HTTP_ADDRESS")).toBe("0.0.0.0:8080");
    expect(container(defaults).env.find((e) => e.name === "LDC_NAMESPACE")?.valueFrom).toEqual({
      fieldRef: { fieldPath: "metadata.namespace" },
    });
  });

  it("set resource requests and limits", () => {
    const { requests, limits } = container(defaults).resources;
    expect(Object.keys(requests).sort()).toEqual(["cpu", "ephemeral-storage", "memory"]);
    expect(Object.keys(limits).sort()).toEqual(["cpu", "ephemeral-storage", "memory"]);
  });

  it('pass Pod Security "restricted": non-root, read-only root, no escalation, no capabilities, RuntimeDefault seccomp', () => {
    const pod = podSpec(defaults);
    expect(pod.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: 65532,
      seccompProfile: { type: "RuntimeDefault" },
    });
    expect(container(defaults).securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      privileged: false,
      capabilities: { drop: ["ALL"] },
      seccompProfile: { type: "RuntimeDefault" },
    });
    // restricted allows only these volume types; /tmp is the only writable path.
    for (const v of pod.volumes) expect(Object.keys(v).filter((k) => k !== "name")).toEqual(["emptyDir"]);
    expect(env(defaults, "LDC_ROUTING_TOKEN_FILE")).toBeUndefined();
  });

  it("spread replicas over zones and nodes, selecting the pods' own labels", () => {
    const d = only(defaults, "Deployment") as Deployment;
    const spread = podSpec(defaults).topologySpreadConstraints ?? [];
    expect(spread.map((t) => [t.topologyKey, t.whenUnsatisfiable])).toEqual([
      ["topology.kubernetes.io/zone", "ScheduleAnyway"],
      ["kubernetes.io/hostname", "DoNotSchedule"],
    ]);
    for (const t of spread) expect(t.labelSelector.matchLabels).toEqual(d.spec.selector.matchLabels);
    expect(d.spec.template.metadata.labels).toMatchObject(d.spec.selector.matchLabels);
  });

  it("select the operator's pods from the Service and the PodDisruptionBudget", () => {
    const selector = (only(defaults, "Deployment") as Deployment).spec.selector.matchLabels;
    const svc = only(defaults, "Service") as K8sObject & { spec: { selector: Obj; ports: Obj[]; type: string } };
    expect(svc.spec.selector).toEqual(selector);
    expect(svc.spec.type).toBe("ClusterIP");
    expect(svc.spec.ports).toEqual([{ name: "http", port: 8080, targetPort: "http", protocol: "TCP" }]);
    const pdb = only(defaults, "PodDisruptionBudget") as K8sObject & { spec: Obj & { selector: { matchLabels: Obj } } };
    expect(pdb.spec.selector.matchLabels).toEqual(selector);
    expect(pdb.spec.maxUnavailable).toBe(1);
  });

  it("configure the injected sidecar's image and the routing API through the Service", () => {
    const version = (parse(readFileSync(path.join(CHART, "Chart.yaml"), "utf8")) as { appVersion: string }).appVersion;
    expect(env(defaults, "LDC_SIDECAR_IMAGE")).toBe(`${DEFAULT_SIDECAR_IMAGE}:${version}`);
    expect(env(defaults, "LDC_ROUTING_API_URL")).toBe("http://ldc-operator.ldc-system.svc:8080");
    expect(container(defaults).image).toBe(`ghcr.io/ldc-operator/ldc-operator:${version}`);
  });

  it("run as the chart's ServiceAccount", () => {
    const sa = only(defaults, "ServiceAccount");
    expect(podSpec(defaults).serviceAccountName).toBe(sa.metadata.name);
  });
});

describe("RBAC", () => {
  const renderings = () => [
    renderAll(),
    renderAll({ values: { serviceMonitor: { enabled: true }, networkPolicy: { enabled: true } } }),
    renderAll({ values: { memberCluster: { enabled: true } } }),
  ];

  it("grants nothing with *", () => {
    for (const objects of renderings()) {
      for (const o of objects.filter((x) => x.kind === "ClusterRole" || x.kind === "Role")) {
        for (const r of rulesOf(o)) {
          for (const v of [...r.apiGroups, ...r.resources, ...r.verbs, ...(r.resourceNames ?? [])]) {
            expect(v, `${o.kind} ${o.metadata.name}: ${JSON.stringify(r)}`).not.toContain("*");
          }
        }
      }
    }
  });

  it("is exactly src/chart/permissions.ts: cluster-wide rules in the ClusterRole, the rest in a Role in the release namespace", () => {
    const cr = only(defaults, "ClusterRole");
    const role = only(defaults, "Role");
    expect(rulesOf(cr)).toEqual(OPERATOR_RULES.filter((r) => r.scope === "cluster").map(toPolicyRule));
    expect(rulesOf(role)).toEqual(OPERATOR_RULES.filter((r) => r.scope === "namespace").map(toPolicyRule));
    expect(role.metadata.namespace).toBe("ldc-system");
  });

  it("binds the roles to the chart's ServiceAccount", () => {
    const sa = only(defaults, "ServiceAccount");
    for (const kind of ["ClusterRoleBinding", "RoleBinding"]) {
      const b = only(defaults, kind) as K8sObject & { subjects: Obj[]; roleRef: Obj };
      expect(b.subjects).toEqual([{ kind: "ServiceAccount", name: sa.metadata.name, namespace: "ldc-system" }]);
      expect(b.roleRef).toEqual({
        apiGroup: "rbac.authorization.k8s.io",
        kind: kind.replace("Binding", ""),
        name: only(defaults, kind.replace("Binding", "")).metadata.name,
      });
    }
  });

  it("names cluster-scoped objects after the release, so releases never share them", () => {
    const a = template({ release: "blue", namespace: "ns-a" });
    const b = template({ release: "green", namespace: "ns-b" });
    const names = (objs: K8sObject[]) =>
      objs.filter((o) => o.kind.startsWith("ClusterRole")).map((o) => o.metadata.name);
    expect(names(a)).toEqual(["blue-ldc-operator", "blue-ldc-operator"]);
    expect(names(b)).toEqual(["green-ldc-operator", "green-ldc-operator"]);
  });
});

describe("non-default values", () => {
  it("render what they ask for", () => {
    const objects = template({
      release: "prod",
      namespace: "ops",
      values: {
        replicaCount: 3,
        logLevel: "debug",
        image: { digest: `sha256:${"a".repeat(64)}`, pullPolicy: "Always" },
        sidecar: { image: { tag: "v9" } },
        routingApi: { url: "https://ldc.example.com", writeTokensSecret: "routing-tokens" },
        client: { qps: 20, burst: 40 },
        service: { type: "LoadBalancer", port: 9000 },
        serviceMonitor: { enabled: true, labels: { release: "prom" } },
        networkPolicy: { enabled: true, from: [{ namespaceSelector: { matchLabels: { team: "payments" } } }] },
        podDisruptionBudget: { enabled: false },
        topologySpread: { enabled: false },
        nodeSelector: { pool: "system" },
      },
    });
    expect(kinds(objects)).toEqual([
      "ClusterRole",
      "ClusterRoleBinding",
      "Deployment",
      "NetworkPolicy",
      "Role",
      "RoleBinding",
      "Service",
      "ServiceAccount",
      "ServiceMonitor",
      "ValidatingAdmissionPolicy",
      "ValidatingAdmissionPolicyBinding",
    ]);
    const d = only(objects, "Deployment") as Deployment;
    expect(d.metadata.name).toBe("prod-ldc-operator");
    expect(d.spec.replicas).toBe(3);
    expect(container(objects).image).toBe(`ghcr.io/ldc-operator/ldc-operator@sha256:${"a".repeat(64)}`);
    expect(env(objects, "LDC_LOG_LEVEL")).toBe("debug");
    expect(env(objects, "LDC_SIDECAR_IMAGE")).toBe(`${DEFAULT_SIDECAR_IMAGE}:v9`);
    expect(env(objects, "LDC_ROUTING_API_URL")).toBe("https://ldc.example.com");
    expect(env(objects, "LDC_ROUTING_TOKEN_FILE")).toBe("/etc/ldc/routing-tokens/tokens");
    expect(podSpec(objects).volumes).toContainEqual({
      name: "routing-tokens",
      secret: { secretName: "routing-tokens", items: [{ key: "tokens", path: "tokens" }] },
    });
    expect([env(objects, "LDC_QPS"), env(objects, "LDC_BURST")]).toEqual(["20", "40"]);
    expect(podSpec(objects).topologySpreadConstraints).toBeUndefined();
    expect((podSpec(objects) as PodSpec & { nodeSelector: Obj }).nodeSelector).toEqual({ pool: "system" });

    const svc = only(objects, "Service") as K8sObject & { spec: { type: string; ports: { port: number }[] } };
    expect(svc.spec.type).toBe("LoadBalancer");
    expect(svc.spec.ports[0]!.port).toBe(9000);

    const sm = only(objects, "ServiceMonitor") as K8sObject & { spec: { endpoints: Obj[]; selector: Obj } };
    expect(sm.metadata.labels?.release).toBe("prom");
    expect(sm.spec.endpoints).toEqual([{ port: "http", path: "/metrics", interval: "30s", scrapeTimeout: "10s" }]);
    expect(sm.spec.selector).toEqual({ matchLabels: d.spec.selector.matchLabels });

    const np = only(objects, "NetworkPolicy") as K8sObject & { spec: Obj & { podSelector: Obj; ingress: Obj[] } };
    expect(np.spec.podSelector).toEqual({ matchLabels: d.spec.selector.matchLabels });
    expect(np.spec.policyTypes).toEqual(["Ingress"]);
    expect(np.spec.ingress).toEqual([
      {
        ports: [{ port: "http", protocol: "TCP" }],
        from: [{ namespaceSelector: { matchLabels: { team: "payments" } } }],
      },
    ]);
  });

  it("allow one replica without leader election, but not two", () => {
    const one = template({ values: { replicaCount: 1, leaderElection: { enabled: false } } });
    expect(env(one, "LDC_LEADER_ELECT")).toBe("false");
    expect(templateError({ values: { leaderElection: { enabled: false } } })).toMatch(
      /replicaCount=2 needs leaderElection\.enabled=true/,
    );
  });
});

describe("values.schema.json", () => {
  it.each([
    [{ replicaCont: 3 }, "replicaCont"],
    [{ image: { tga: "v1" } }, "tga"],
    [{ resources: { limits: { memroy: "1Gi" } } }, "memroy"],
    [{ sidecar: { imge: "x" } }, "imge"],
  ])("rejects the unknown key in %j, naming it", (values, key) => {
    const err = templateError({ values });
    expect(err).toMatch(/values don't meet the specifications of the schema/);
    expect(err).toMatch(new RegExp(`additional propert(y|ies) '${key}' not allowed`));
    // The zod schema the JSON schema comes from agrees.
    expect(Values.safeParse(values).success).toBe(false);
  });

  it.each([
    [{ replicaCount: "two" }, /replicaCount/],
    [{ replicaCount: 0 }, /replicaCount/],
    [{ logLevel: "verbose" }, /logLevel/],
    [{ topologySpread: { node: "Never" } }, /topologySpread/],
  ])("rejects the invalid value %j", (values, where) => {
    expect(templateError({ values })).toMatch(where);
  });

  it("describes every key and holds the defaults values.yaml holds", () => {
    const valuesYaml = parse(readFileSync(path.join(CHART, "values.yaml"), "utf8")) as unknown;
    expect(valuesYaml).toEqual(defaultValues());
    const schema = JSON.parse(readFileSync(path.join(CHART, "values.schema.json"), "utf8")) as Obj;
    expect(schema.additionalProperties).toBe(false);
    const undocumented: string[] = [];
    const walk = (s: Obj, at: string) => {
      for (const [k, sub] of Object.entries((s.properties ?? {}) as Record<string, Obj>)) {
        if (typeof sub.description !== "string") undocumented.push(`${at}${k}`);
        // Objects of the chart's own (pass-through Kubernetes objects such as affinity have no properties).
        if (sub.properties && Object.keys(sub.properties).length > 0) {
          expect(sub.additionalProperties, `${at}${k}`).toBe(false);
          walk(sub, `${at}${k}.`);
        }
      }
    };
    walk(schema, "");
    expect(undocumented).toEqual([]);
  });
});

describe("CellApp admission policy (cellAppSecurity)", () => {
  type Policy = K8sObject & {
    spec: {
      matchConstraints: { resourceRules: { apiGroups: string[]; resources: string[]; operations: string[] }[] };
      variables: { name: string; expression: string }[];
      validations: { expression: string }[];
    };
  };
  const policy = (objects: K8sObject[]) => only(objects, "ValidatingAdmissionPolicy") as Policy;

  it("checks CellApp creates and updates, bound with Deny, every generated validation in place", () => {
    const p = policy(defaults);
    expect(p.metadata.name).toBe("ldc-operator-cellapps");
    expect(p.spec.matchConstraints.resourceRules).toMatchObject([
      { apiGroups: ["ldc.io"], resources: ["cellapps"], operations: ["CREATE", "UPDATE"] },
    ]);
    expect(p.spec.validations).toEqual(cellAppPolicyValidations());
    const binding = only(defaults, "ValidatingAdmissionPolicyBinding") as K8sObject & { spec: Obj };
    expect(binding.spec).toEqual({ policyName: p.metadata.name, validationActions: ["Deny"] });
    // No exceptions by default; the operator is told the same.
    expect(p.spec.variables[0]).toEqual({ name: "privileged", expression: "request.namespace in []" });
    expect(env(defaults, "LDC_PRIVILEGED_NAMESPACES")).toBe("");
    expect(env(defaults, "LDC_MEMBER_NAMESPACE_POD_SECURITY")).toBe("baseline");
  });

  it("renders the exception list into the policy and the operator's settings", () => {
    const objects = template({
      values: { cellAppSecurity: { privilegedNamespaces: ["infra", "ops"], memberNamespaceLevel: "restricted" } },
    });
    expect(policy(objects).spec.variables[0]!.expression).toBe('request.namespace in ["infra","ops"]');
    expect(env(objects, "LDC_PRIVILEGED_NAMESPACES")).toBe("infra,ops");
    expect(env(objects, "LDC_MEMBER_NAMESPACE_POD_SECURITY")).toBe("restricted");
  });

  it("refuses an exception that is not a namespace name (nothing reaches the CEL unchecked)", () => {
    expect(templateError({ values: { cellAppSecurity: { privilegedNamespaces: ["a' || true || '"] } } })).toMatch(
      /privilegedNamespaces/,
    );
  });

  it("is left out with admissionPolicy=false", () => {
    const objects = template({ values: { cellAppSecurity: { admissionPolicy: false } } });
    expect(objects.filter((o) => o.kind.startsWith("ValidatingAdmissionPolicy"))).toEqual([]);
  });
});

describe("member-cluster mode", () => {
  it("renders only the member-cluster roles, their ServiceAccount and a token Secret (and the relay)", () => {
    const objects = template({ values: { memberCluster: { enabled: true } } });
    expect(kinds(objects)).toEqual([
      "ClusterRole",
      "ClusterRoleBinding",
      "Role",
      "RoleBinding",
      "Secret",
      "ServiceAccount",
    ]);
    expect(rulesOf(only(objects, "ClusterRole"))).toEqual(MEMBER_CLUSTER_RULES.map(toPolicyRule));
    // The relay namespace (the release namespace) only: the routing Lease.
    expect(rulesOf(only(objects, "Role"))).toEqual(MEMBER_RELAY_NAMESPACE_RULES.map(toPolicyRule));
    expect(only(objects, "Role").metadata.namespace).toBe("ldc-system");
    const secret = only(objects, "Secret") as K8sObject & { type: string };
    expect(secret.type).toBe("kubernetes.io/service-account-token");
    expect(secret.metadata.annotations?.["kubernetes.io/service-account.name"]).toBe(
      only(objects, "ServiceAccount").metadata.name,
    );
  });

  it("renders what deploy/member-cluster-rbac.yaml holds (release ldc-operator in ldc-system)", () => {
    const strip = (o: K8sObject) => {
      const { labels: _labels, ...metadata } = o.metadata;
      return { ...o, metadata };
    };
    const chart = template({
      release: "ldc-operator",
      namespace: MEMBER.namespace,
      values: { memberCluster: { enabled: true } },
    });
    const file = parseObjects(readFileSync(path.join(REPO_DIR, "deploy", "member-cluster-rbac.yaml"), "utf8"));
    expect(file).toEqual(memberClusterObjects());
    const byKey = (objs: K8sObject[]) =>
      Object.fromEntries(
        objs.filter((o) => o.kind !== "Namespace").map((o) => [`${o.kind}/${o.metadata.name}`, strip(o)]),
      );
    expect(byKey(chart)).toEqual(byKey(file));
  });
});

describe("relay", () => {
  const relayObjects = (opts?: Parameters<typeof renderAll>[0]) => renderAll(opts).filter(isRelay);
  const operatorEnv = (objects: K8sObject[], name: string) =>
    env(
      objects.filter((o) => !isRelay(o)),
      name,
    );

  it("is on by default, here and in member-cluster mode: ServiceAccount, Role, RoleBinding, Service, Deployment, PDB, all ldc-relay in the release namespace, and its token-review ClusterRole", () => {
    for (const values of [{}, { memberCluster: { enabled: true } }]) {
      const objects = relayObjects({ values });
      expect(kinds(objects)).toEqual([
        "ClusterRole",
        "ClusterRoleBinding",
        "Deployment",
        "PodDisruptionBudget",
        "Role",
        "RoleBinding",
        "Service",
        "ServiceAccount",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
      ]);
      // Only the relay's ServiceAccount may write acknowledgement ConfigMaps in the release namespace.
      const vap = only(objects, "ValidatingAdmissionPolicy") as K8sObject & { spec: { validations: Obj[] } };
      expect(vap.spec.validations[0]!.expression).toBe(
        "request.userInfo.username == 'system:serviceaccount:ldc-system:ldc-relay'",
      );
      const vapb = only(objects, "ValidatingAdmissionPolicyBinding") as K8sObject & { spec: Obj };
      expect(vapb.spec).toMatchObject({
        policyName: vap.metadata.name,
        validationActions: ["Deny"],
        matchResources: { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "ldc-system" } } },
      });
      const cluster = objects.filter((o) => o.kind.startsWith("Cluster"));
      expect(rulesOf(only(cluster, "ClusterRole"))).toEqual(RELAY_CLUSTER_RULES.map(toPolicyRule));
      const crb = only(cluster, "ClusterRoleBinding") as K8sObject & { subjects: Obj[] };
      expect(crb.subjects).toEqual([{ kind: "ServiceAccount", name: "ldc-relay", namespace: "ldc-system" }]);
      for (const o of objects.filter((x) => !x.kind.startsWith("Cluster") && !x.kind.startsWith("Validating"))) {
        expect(o.metadata.name, o.kind).toBe("ldc-relay");
        expect(o.metadata.namespace, o.kind).toBe("ldc-system");
      }
    }
  });

  it("runs 2 replicas of the operator's image as ldc-relay, restricted, reading its own namespace", () => {
    const objects = relayObjects();
    const d = only(objects, "Deployment") as Deployment;
    expect(d.spec.replicas).toBe(2);
    const spec = d.spec.template.spec as PodSpec & { automountServiceAccountToken: boolean };
    expect(spec.serviceAccountName).toBe("ldc-relay");
    expect(spec.automountServiceAccountToken).toBe(true);
    const c = spec.containers[0]! as Container & { command: string[] };
    expect(c.image).toBe(container(defaults).image);
    expect(c.command).toEqual(["/nodejs/bin/node", "dist/src/relay/main.js"]);
    expect(c.env.find((e) => e.name === "LDC_RELAY_NAMESPACE")?.valueFrom).toEqual({
      fieldRef: { fieldPath: "metadata.namespace" },
    });
    expect(c.readinessProbe.httpGet).toEqual({ path: "/readyz", port: "http" });
    expect(c.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ["ALL"] },
      seccompProfile: { type: "RuntimeDefault" },
    });
    // Its own pods only: never the operator's.
    const labels = d.spec.template.metadata.labels;
    expect(labels["app.kubernetes.io/component"]).toBe("relay");
    expect(d.spec.selector.matchLabels["app.kubernetes.io/component"]).toBe("relay");
  });

  it("may read routing ConfigMaps and get the Lease in its namespace, nothing else", () => {
    const objects = relayObjects();
    expect(rulesOf(only(objects, "Role"))).toEqual(RELAY_RULES.map(toPolicyRule));
    const b = only(objects, "RoleBinding") as K8sObject & { subjects: Obj[]; roleRef: Obj };
    expect(b.subjects).toEqual([{ kind: "ServiceAccount", name: "ldc-relay", namespace: "ldc-system" }]);
    expect(b.roleRef).toEqual({ apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "ldc-relay" });
  });

  it("is what the operator gives sidecars: the Service the operator's relay URL names selects the relay's pods", () => {
    for (const port of [undefined, 9090]) {
      const objects = renderAll(port ? { values: { relay: { port } } } : {});
      const svc = only(objects.filter(isRelay), "Service") as K8sObject & {
        spec: { selector: Obj; ports: { port: number; targetPort: string }[] };
      };
      const d = only(objects.filter(isRelay), "Deployment") as Deployment;
      expect(svc.spec.ports).toMatchObject([{ port: port ?? 8080, targetPort: "http" }]);
      expect(d.spec.template.metadata.labels).toMatchObject(svc.spec.selector);
      expect(operatorEnv(objects, "LDC_RELAY")).toBe("true");
      expect(operatorEnv(objects, "LDC_RELAY_PORT")).toBe(String(port ?? 8080));
      expect(relayUrl(svc.metadata.namespace!, svc.spec.ports[0]!.port)).toBe(
        `http://${svc.metadata.name}.${svc.metadata.namespace}.svc:${port ?? 8080}`,
      );
    }
  });

  it("relay.enabled=false: no relay, and the operator keeps giving sidecars routingApi.url", () => {
    const objects = renderAll({ values: { relay: { enabled: false } } });
    expect(objects.filter(isRelay)).toEqual([]);
    expect(operatorEnv(objects, "LDC_RELAY")).toBe("false");
    expect(operatorEnv(objects, "LDC_RELAY_PORT")).toBeUndefined();
  });
});

describe("CRDs", () => {
  it("ships the generated CRDs unchanged in the chart's crds/ folder", () => {
    const repo = readdirSync(path.join(REPO_DIR, "crds"))
      .filter((f) => f.endsWith(".yaml"))
      .sort();
    const chart = readdirSync(path.join(CHART, "crds")).sort();
    expect(chart).toEqual(repo);
    for (const f of repo) {
      expect(readFileSync(path.join(CHART, "crds", f), "utf8"), f).toBe(
        readFileSync(path.join(REPO_DIR, "crds", f), "utf8"),
      );
    }
  });

  it("keeps CRDs out of the templates (Helm installs crds/ once and never deletes them)", () => {
    expect(defaults.filter((o) => o.kind === "CustomResourceDefinition")).toEqual([]);
    const withCrds = parseObjects(
      helm(["template", "x", CHART, "--include-crds", "--kube-version", "v1.36.3"]).stdout,
    ).filter((o) => o.kind === "CustomResourceDefinition");
    expect(withCrds.map((o) => o.metadata.name).sort()).toEqual(
      readdirSync(path.join(REPO_DIR, "crds"))
        .map((f) => /^ldc\.io_(.*)\.yaml$/.exec(f)![1] + ".ldc.io")
        .sort(),
    );
  });
});
