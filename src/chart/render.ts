// Renders the chart's generated files from src/chart (values.ts,
// permissions.ts) and the package version. hack/generate.ts writes them; the
// drift check keeps them in sync.

import { Document, isMap, isSeq, stringify } from "yaml";
import type { Pair, Scalar, YAMLMap } from "yaml";
import {
  MEMBER_CLUSTER_RULES,
  MEMBER_RELAY_NAMESPACE_RULES,
  OPERATOR_RULES,
  RELAY_CLUSTER_RULES,
  RELAY_RULES,
  toPolicyRule,
} from "./permissions.ts";
import type { PermissionRule } from "./permissions.ts";
import { CELLAPP_POLICY_VARIABLES, cellAppPolicyValidations } from "./cellapp-policy.ts";
import { defaultValues, valuesJsonSchema } from "./values.ts";

export const CHART_DIR = "charts/ldc-operator";

const YAML_OPTIONS = { lineWidth: 0, aliasDuplicateObjects: false } as const;

function header(source: string, comment = "#"): string {
  return `${comment} Generated from ${source} by \`npm run generate\` (hack/generate.ts). DO NOT EDIT.\n`;
}

// ------------------------------------------------------------- Chart.yaml

export function chartYaml(version: string): string {
  const chart = {
    apiVersion: "v2",
    name: "ldc-operator",
    description:
      "Kubernetes operator for cell-based (LDC, unitized) multi-active deployment: zones, cells, sharding rules, routing tables and failover drills.",
    type: "application",
    version,
    appVersion: version,
    kubeVersion: ">=1.32.0-0",
    keywords: ["ldc", "cell-based", "multi-active", "failover", "operator"],
  };
  return header("package.json (version)") + stringify(chart, YAML_OPTIONS);
}

// ----------------------------------------------------- values.schema.json

type JsonSchema = { properties?: Record<string, JsonSchema>; default?: unknown } & Record<string, unknown>;

/** Replaces the `{}` default zod emits for prefaulted objects with the object's full default. */
function fillDefaults(schema: JsonSchema, value: unknown): void {
  if (!schema.properties || typeof value !== "object" || value === null || Array.isArray(value)) return;
  schema.default = value;
  for (const [k, s] of Object.entries(schema.properties)) fillDefaults(s, (value as Record<string, unknown>)[k]);
}

export function valuesSchemaJson(): string {
  const schema = valuesJsonSchema() as JsonSchema;
  for (const [k, s] of Object.entries(schema.properties ?? {})) {
    fillDefaults(s, (defaultValues() as Record<string, unknown>)[k]);
  }
  return `${JSON.stringify(schema, null, 2)}\n`;
}

// ------------------------------------------------------------ values.yaml

function description(schema: JsonSchema | undefined): string | undefined {
  if (!schema) return undefined;
  const d = schema.description;
  return typeof d === "string" ? d : undefined;
}

function wrap(text: string, width = 100): string {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/)) {
    if (line !== "" && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line === "" ? word : `${line} ${word}`;
    }
  }
  if (line !== "") lines.push(line);
  return lines.map((l) => ` ${l}`).join("\n");
}

function annotate(map: YAMLMap, schema: JsonSchema): void {
  for (const pair of map.items as Pair<Scalar, unknown>[]) {
    const key = String(pair.key.value);
    const sub = schema.properties?.[key];
    const d = description(sub);
    if (d) pair.key.commentBefore = wrap(d);
    if (sub && isMap(pair.value)) annotate(pair.value, sub);
  }
}

/** values.yaml: every default, each key commented with its description. */
export function valuesYaml(): string {
  const schema = valuesJsonSchema() as JsonSchema;
  const doc = new Document(defaultValues(), YAML_OPTIONS);
  if (isMap(doc.contents)) {
    annotate(doc.contents, schema);
    // A blank line between top-level keys.
    for (const [i, pair] of (doc.contents.items as Pair<Scalar, unknown>[]).entries()) {
      if (i > 0) pair.key.spaceBefore = true;
    }
  }
  return (
    header("src/chart/values.ts") +
    "# Every key is checked by values.schema.json: an unknown key fails the install.\n\n" +
    doc.toString(YAML_OPTIONS)
  );
}

// ---------------------------------------------------------- RBAC rules

function rulesYaml(rules: readonly PermissionRule[]): string {
  const doc = new Document(rules.map(toPolicyRule), YAML_OPTIONS);
  if (isSeq(doc.contents)) {
    doc.contents.items.forEach((item, i) => {
      (item as YAMLMap).commentBefore = ` ${rules[i]!.why}`;
    });
  }
  return doc.toString(YAML_OPTIONS);
}

const scoped = (rules: readonly PermissionRule[], scope: PermissionRule["scope"]) =>
  rules.filter((r) => r.scope === scope);

/** templates/_rules.tpl: the rules of the chart's ClusterRoles and Role, as named templates. */
export function rulesTpl(): string {
  const define = (name: string, rules: readonly PermissionRule[]) =>
    `{{- define "${name}" -}}\n${rulesYaml(rules).trimEnd()}\n{{- end }}\n`;
  return [
    `{{- /* ${header("src/chart/permissions.ts", "").trim()} */ -}}\n`,
    define("ldc-operator.rules.operatorCluster", scoped(OPERATOR_RULES, "cluster")),
    define("ldc-operator.rules.operatorNamespace", scoped(OPERATOR_RULES, "namespace")),
    define("ldc-operator.rules.memberCluster", MEMBER_CLUSTER_RULES),
    define("ldc-operator.rules.memberRelayNamespace", MEMBER_RELAY_NAMESPACE_RULES),
    define("ldc-operator.rules.relay", RELAY_RULES),
    define("ldc-operator.rules.relayCluster", RELAY_CLUSTER_RULES),
  ].join("\n");
}

// ------------------------------------------------- CellApp admission policy

/** templates/_cellapp-policy.tpl: the CEL of the CellApp ValidatingAdmissionPolicy (src/chart/cellapp-policy.ts). */
export function cellAppPolicyTpl(): string {
  const define = (name: string, value: unknown) =>
    `{{- define "${name}" -}}\n${stringify(value, YAML_OPTIONS).trimEnd()}\n{{- end }}\n`;
  return [
    `{{- /* ${header("src/chart/cellapp-policy.ts and src/api/pod-security.ts", "").trim()} */ -}}\n`,
    define("ldc-operator.cellAppPolicy.variables", CELLAPP_POLICY_VARIABLES),
    define("ldc-operator.cellAppPolicy.validations", cellAppPolicyValidations()),
  ].join("\n");
}

// ------------------------------------------- deploy/member-cluster-rbac.yaml

/** Names of the member-cluster objects, as the chart names them for a release called `ldc-operator`. */
export const MEMBER = {
  namespace: "ldc-system",
  name: "ldc-operator-member",
  tokenSecret: "ldc-operator-member-token",
} as const;

export function memberClusterLabels(): Record<string, string> {
  return {
    "app.kubernetes.io/name": "ldc-operator",
    "app.kubernetes.io/component": "member-cluster",
    "app.kubernetes.io/part-of": "ldc-operator",
  };
}

/** The member-cluster objects (what `helm install --set memberCluster.enabled=true` renders, without Helm's labels). */
export function memberClusterObjects(): Record<string, unknown>[] {
  const labels = memberClusterLabels();
  const { namespace, name, tokenSecret } = MEMBER;
  return [
    { apiVersion: "v1", kind: "Namespace", metadata: { name: namespace, labels: { ...labels } } },
    {
      apiVersion: "v1",
      kind: "ServiceAccount",
      metadata: { name, namespace, labels: { ...labels } },
      automountServiceAccountToken: false,
    },
    {
      apiVersion: "v1",
      kind: "Secret",
      metadata: {
        name: tokenSecret,
        namespace,
        labels: { ...labels },
        annotations: { "kubernetes.io/service-account.name": name },
      },
      type: "kubernetes.io/service-account-token",
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRole",
      metadata: { name, labels: { ...labels } },
      rules: MEMBER_CLUSTER_RULES.map(toPolicyRule),
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRoleBinding",
      metadata: { name, labels: { ...labels } },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name },
      subjects: [{ kind: "ServiceAccount", name, namespace }],
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "Role",
      metadata: { name, namespace, labels: { ...labels } },
      rules: MEMBER_RELAY_NAMESPACE_RULES.map(toPolicyRule),
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name, namespace, labels: { ...labels } },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name },
      subjects: [{ kind: "ServiceAccount", name, namespace }],
    },
  ];
}

export function memberClusterRbacYaml(): string {
  const intro = [
    "#",
    "# What a zone's kubeconfig needs in a member cluster: a ServiceAccount bound to",
    "# the member-cluster ClusterRole and a token Secret for it. Apply it in the",
    "# member cluster (`kubectl apply -f deploy/member-cluster-rbac.yaml`), or install",
    "# the chart there with `--skip-crds --set memberCluster.enabled=true`;",
    "# docs/install.md shows how to build the kubeconfig from the token. The Role",
    "# is for the relay namespace (the operator's namespace name); only the chart",
    "# installs the relay itself.",
    "",
  ].join("\n");
  const docs = memberClusterObjects().map((o, i) => {
    const d = new Document(o, YAML_OPTIONS);
    const why = o.kind === "ClusterRole" ? MEMBER_CLUSTER_RULES : o.kind === "Role" ? MEMBER_RELAY_NAMESPACE_RULES : [];
    if (why.length > 0 && isMap(d.contents)) {
      const rules = d.contents.get("rules", true);
      if (isSeq(rules)) {
        rules.items.forEach((item, j) => {
          (item as YAMLMap).commentBefore = ` ${why[j]!.why}`;
        });
      }
    }
    return (i === 0 ? "" : "---\n") + d.toString(YAML_OPTIONS);
  });
  return header("src/chart/permissions.ts") + intro + "\n" + docs.join("");
}
