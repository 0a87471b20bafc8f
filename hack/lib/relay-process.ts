// ldc-relay as its own process (`node src/relay/main.ts`, as the chart runs it
// in every zone's cluster), for the high-availability drill verifier and the
// benchmarks: one process per zone, so a relay can be SIGKILLed and started
// again on the same port (its Service's address) while sidecars keep polling it.
// relayIdentity() gives it the chart's relay permissions (RELAY_RULES in its
// namespace, RELAY_CLUSTER_RULES for TokenReviews) behind a ServiceAccount
// token, as relay.test.ts does, instead of the cluster admin's kubeconfig.
import { writeFileSync } from "node:fs";
import path from "node:path";
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { RELAY_CLUSTER_RULES, RELAY_RULES, toPolicyRule } from "../../src/chart/permissions.ts";
import { RELAY_SERVICE } from "../../src/relay/index.ts";
import { Resources, type KubeClient } from "../../src/runtime/index.ts";
import { spawnNodeProcess, type NodeProcess } from "./node-process.ts";
import { REPO_DIR } from "./tools.ts";

export interface RelayProcessOptions {
  /** A kubeconfig of the zone's cluster (relayIdentity's, or the admin's). */
  kubeconfigPath: string;
  /** The relay namespace (the operator's --relay-namespace). */
  namespace: string;
  /** The port on 127.0.0.1 (routing API, health, metrics); a restart reuses it. */
  port: number;
  /** Its pod name: its acks go to the ConfigMap ldc-acks-<pod>. */
  pod: string;
  logLevel?: string;
  /** How long to wait for /readyz (default 60 s). */
  readyTimeoutMs?: number;
}

/** A relay's process. */
export type RelayProcess = NodeProcess;

/** Starts `node src/relay/main.ts` with `opts` and waits until its /readyz answers 200 (routing ConfigMaps synced). */
export async function spawnRelay(opts: RelayProcessOptions): Promise<RelayProcess> {
  const args = [
    path.join(REPO_DIR, "src", "relay", "main.ts"),
    "--kubeconfig",
    opts.kubeconfigPath,
    "--namespace",
    opts.namespace,
    "--listen",
    `127.0.0.1:${opts.port}`,
    "--pod-name",
    opts.pod,
    "--log-level",
    opts.logLevel ?? "warn",
  ];
  return spawnNodeProcess({
    args,
    port: opts.port,
    what: `the relay ${opts.pod}`,
    pollMs: 100,
    ...(opts.readyTimeoutMs !== undefined ? { readyTimeoutMs: opts.readyTimeoutMs } : {}),
  });
}

const { Role, RoleBinding, ClusterRole, ClusterRoleBinding, ServiceAccount } = Resources;

/**
 * The chart's relay identity in one cluster: the namespace, the ServiceAccount
 * `ldc-relay` with the relay Role and the TokenReview ClusterRole; writes a
 * kubeconfig (server and CA of `adminKubeconfigPath`) that authenticates with
 * a token of that ServiceAccount to `out`, and returns `out`.
 */
export async function relayIdentity(
  admin: KubeClient,
  o: { adminKubeconfigPath: string; namespace: string; out: string; tokenSeconds?: number },
): Promise<string> {
  const ns = o.namespace;
  const meta = { name: RELAY_SERVICE, namespace: ns };
  const rbac = "rbac.authorization.k8s.io/v1";
  await admin.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } }, { resource: Resources.Namespace });
  await admin.apply({ apiVersion: "v1", kind: "ServiceAccount", metadata: meta }, { resource: ServiceAccount });
  await admin.apply(
    { apiVersion: rbac, kind: "Role", metadata: meta, rules: RELAY_RULES.map(toPolicyRule) },
    { resource: Role },
  );
  await admin.apply(
    {
      apiVersion: rbac,
      kind: "RoleBinding",
      metadata: meta,
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: RELAY_SERVICE },
      subjects: [{ kind: "ServiceAccount", ...meta }],
    },
    { resource: RoleBinding },
  );
  const cr = `${RELAY_SERVICE}-tokenreview-${ns}`;
  await admin.apply(
    { apiVersion: rbac, kind: "ClusterRole", metadata: { name: cr }, rules: RELAY_CLUSTER_RULES.map(toPolicyRule) },
    { resource: ClusterRole },
  );
  await admin.apply(
    {
      apiVersion: rbac,
      kind: "ClusterRoleBinding",
      metadata: { name: cr },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: cr },
      subjects: [{ kind: "ServiceAccount", ...meta }],
    },
    { resource: ClusterRoleBinding },
  );
  const kc = new KubeConfig();
  kc.loadFromFile(o.adminKubeconfigPath);
  const cluster = kc.getCurrentCluster();
  if (!cluster?.caData)
    throw new Error(`${o.adminKubeconfigPath}: its current cluster has no certificate-authority-data`);
  const token = await kc.makeApiClient(CoreV1Api).createNamespacedServiceAccountToken({
    name: RELAY_SERVICE,
    namespace: ns,
    body: { spec: { audiences: [], expirationSeconds: o.tokenSeconds ?? 24 * 3600 } },
  });
  writeFileSync(
    o.out,
    [
      "apiVersion: v1",
      "kind: Config",
      "clusters:",
      "- name: zone",
      "  cluster:",
      `    server: ${cluster.server}`,
      `    certificate-authority-data: ${cluster.caData}`,
      "users:",
      `- name: ${RELAY_SERVICE}`,
      "  user:",
      `    token: ${token.status!.token!}`,
      "contexts:",
      "- name: zone",
      "  context:",
      "    cluster: zone",
      `    user: ${RELAY_SERVICE}`,
      "current-context: zone",
      "",
    ].join("\n"),
    { mode: 0o600 },
  );
  return o.out;
}
