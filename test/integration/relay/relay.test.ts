// The per-zone relay on a real API server (a shared datacenter, as a member
// cluster): the operator's side (the routing ConfigMap as the ShardingRule
// controller writes it, the RelayLeaseRenewer) writes into the relay
// namespace; the relay reads only that namespace, with nothing but the
// chart's relay Role (RELAY_RULES) behind a ServiceAccount token; a sidecar
// reaches only the relay. The sidecar gets tables (pushed through the
// long-poll) and a lease through the relay; when the operator stops renewing,
// the relay's lease and then the sidecar's run out, before relayFencedAt, and
// the sidecar refuses writes while it still serves reads. Acks: a sidecar
// with a token bound to its Pod object (audience ldc-relay) acks through the
// relay, which reviews the token (TokenReview) and writes the ack, keyed by
// that pod, into its ConfigMap; the operator's ingestion records it. An
// unbound or wrong-audience token is refused with 401.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CoreV1Api } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  MEMBER_RELAY_NAMESPACE_RULES,
  RELAY_CLUSTER_RULES,
  RELAY_RULES,
  toPolicyRule,
} from "../../../src/chart/permissions.ts";
import { parseAckConfigMap, RelayAckIngester } from "../../../src/controllers/relayacks.ts";
import { MemoryTableStore } from "../../../src/routing-api/index.ts";
import { RelayLeaseRenewer } from "../../../src/controllers/relaylease.ts";
import { routingConfigMap } from "../../../src/reconcilers/shardingrule.ts";
import { ROUTING_LEASE_NAME } from "../../../src/reconcilers/relaylease.ts";
import { ackConfigMapName, startRelay, type RunningRelay } from "../../../src/relay/index.ts";
import { ApiError, connectionFromFile, KubeClient, Resources, type KubeObject } from "../../../src/runtime/index.ts";
import { sidecarConfig, startSidecar, type Sidecar } from "../../../src/sidecar/index.ts";
import { request, startBackend, uidFor, usersTable, type Backend } from "../../unit/sidecar/helpers.ts";
import { createTestNamespace, datacenters, eventually } from "../harness.ts";

const ZONE = "hz-a";
const { Role, RoleBinding, ClusterRole, ClusterRoleBinding, ServiceAccount } = Resources;
const RELAY_POD = "ldc-relay-test-0";
const LEASE_MS = 2000;

describe("ldc-relay against a member cluster's API server", () => {
  let admin: KubeClient;
  let relayClient: KubeClient;
  let ns: string;
  let other: string;
  let renewer: RelayLeaseRenewer;
  let relay: RunningRelay;
  let backend: Backend;
  let sidecar: Sidecar;
  let core: CoreV1Api;
  const cleanup: (() => Promise<unknown> | unknown)[] = [];

  const publish = (epoch: number) => {
    const table = usersTable({ epoch });
    return admin.apply(routingConfigMap(table.ruleName, ns, table));
  };
  const write = () =>
    request(`${sidecar.url}/pay`, { method: "POST", headers: { "x-user-id": uidFor(7) }, body: "{}" });
  const read = () => request(`${sidecar.url}/pay`, { headers: { "x-user-id": uidFor(7) } });

  /** Pod name -> uid of the app's pods. */
  const pods = new Map<string, string>();
  /** A token of the app's ServiceAccount with `audiences`, bound to pod `pod` (or to none). */
  const tokenFor = async (audiences: string[], pod: string | undefined) =>
    (
      await core.createNamespacedServiceAccountToken({
        name: "app",
        namespace: ns,
        body: {
          spec: {
            audiences,
            expirationSeconds: 3600,
            ...(pod === undefined
              ? {}
              : { boundObjectRef: { apiVersion: "v1", kind: "Pod", name: pod, uid: pods.get(pod)! } }),
          },
        },
      })
    ).status!.token!;
  /** A file holding a token for `pod` with audience ldc-relay, as the injected projected volume does. */
  const tokenFileFor = async (pod: string): Promise<string> => {
    const dir = await mkdtemp(join(tmpdir(), "ldc-token-"));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    const file = join(dir, "token");
    await writeFile(file, await tokenFor(["ldc-relay"], pod));
    return file;
  };

  beforeAll(async () => {
    const dc = (await datacenters())[1]!;
    ns = await createTestNamespace(dc, "relay");
    other = await createTestNamespace(dc, "relay-other");
    const conn = connectionFromFile(dc.kubeconfigPath);
    admin = await KubeClient.fromConnection(conn);
    cleanup.push(() => admin.close());

    // The relay's identity: a ServiceAccount with the chart's relay Role, nothing else.
    const meta = { name: "ldc-relay", namespace: ns };
    await admin.create(ServiceAccount, { metadata: meta });
    await admin.apply(
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "Role",
        metadata: meta,
        rules: RELAY_RULES.map(toPolicyRule),
      },
      { resource: Role },
    );
    await admin.apply(
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "RoleBinding",
        metadata: meta,
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "ldc-relay" },
        subjects: [{ kind: "ServiceAccount", ...meta }],
      },
      { resource: RoleBinding },
    );
    // Reviewing the sidecars' tokens: the chart's relay ClusterRole, bound for this test only.
    const crName = `ldc-relay-tokenreview-${ns}`;
    await admin.apply(
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "ClusterRole",
        metadata: { name: crName },
        rules: RELAY_CLUSTER_RULES.map(toPolicyRule),
      },
      { resource: ClusterRole },
    );
    await admin.apply(
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "ClusterRoleBinding",
        metadata: { name: crName },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: crName },
        subjects: [{ kind: "ServiceAccount", ...meta }],
      },
      { resource: ClusterRoleBinding },
    );
    cleanup.push(async () => {
      await admin.delete(ClusterRoleBinding, crName);
      await admin.delete(ClusterRole, crName);
    });
    core = dc.kubeConfig.makeApiClient(CoreV1Api);
    const token = await core.createNamespacedServiceAccountToken({
      name: "ldc-relay",
      namespace: ns,
      body: { spec: { audiences: [], expirationSeconds: 3600 } },
    });
    relayClient = await KubeClient.fromConnection(
      {
        server: conn.server,
        source: "the relay's ServiceAccount token",
        tls: { ca: conn.tls.ca },
        headers: () => Promise.resolve({ Authorization: `Bearer ${token.status!.token}` }),
        dynamic: false,
      },
      { timeoutMs: 2000 },
    );
    cleanup.push(() => relayClient.close());

    // The operator's side, with the member-cluster permissions for the relay namespace checked below.
    await publish(3);
    renewer = new RelayLeaseRenewer({
      clusters: () => [{ name: "zone-hz-a", client: admin, reachable: true, zones: [ZONE] }],
      namespace: ns,
      identity: "ldc-operator-test",
      isLeader: () => true,
      leaseMs: LEASE_MS,
      intervalMs: 300,
    });
    renewer.start();
    cleanup.push(() => renewer.stop());

    // The app's pods (Pod objects: kwok-style, nothing runs them) and the tokens the kubelet would project into them.
    await admin.create(ServiceAccount, { metadata: { name: "app", namespace: ns } });
    for (const name of ["account-rz01-0", "account-rz01-1"]) {
      const pod = await admin.create<KubeObject>(Resources.Pod, {
        metadata: { name, namespace: ns },
        spec: { serviceAccountName: "app", containers: [{ name: "app", image: "example.invalid/app" }] },
      } as KubeObject);
      pods.set(name, pod.metadata!.uid!);
    }

    relay = await startRelay({
      client: relayClient,
      namespace: ns,
      host: "127.0.0.1",
      port: 0,
      pollIntervalMs: 200,
      maxLeaseMs: LEASE_MS,
      pod: RELAY_POD,
    });
    cleanup.push(() => relay.stop());
    backend = await startBackend("rz01");
    cleanup.push(() => backend.close());
    sidecar = await startSidecar(
      sidecarConfig({
        appUrl: backend.url,
        rule: "users",
        cell: "rz01",
        zone: ZONE,
        region: "hangzhou",
        routingApi: `http://127.0.0.1:${relay.port}`,
        // Reads need the pod-bound token as acks do.
        routingTokenFile: await tokenFileFor("account-rz01-1"),
      }),
      { backoffMinMs: 20, backoffMaxMs: 200 },
    );
    cleanup.push(() => sidecar.close());
  }, 60_000);

  afterAll(async () => {
    for (const c of cleanup.reverse()) await c();
  });

  it("the relay reads its own namespace only; the member-cluster rules cover the operator's Lease renewal", async () => {
    await expect(relayClient.list(Resources.ConfigMap, { namespace: other })).rejects.toMatchObject({ code: 403 });
    await expect(relayClient.get(Resources.Secret, "x", ns)).rejects.toBeInstanceOf(ApiError);
    const lease = await eventually("the operator's routing Lease", () =>
      admin.tryGet<KubeObject & { spec?: { holderIdentity?: string } }>(Resources.Lease, ROUTING_LEASE_NAME, ns),
    );
    expect(lease.spec?.holderIdentity).toBe("ldc-operator-test");
    expect(MEMBER_RELAY_NAMESPACE_RULES.flatMap((r) => r.verbs)).toEqual(expect.arrayContaining(["create", "patch"]));
  });

  it("a sidecar acks with its pod-bound token through the relay: the ack ConfigMap names its pod, the operator records it; other tokens get 401", async () => {
    const tokenFile = await tokenFileFor("account-rz01-0");
    const acking = await startSidecar(
      sidecarConfig({
        appUrl: backend.url,
        rule: "users",
        cell: "rz01",
        zone: ZONE,
        region: "hangzhou",
        routingApi: `http://127.0.0.1:${relay.port}`,
        routingTokenFile: tokenFile,
        sidecarId: "a-name-the-sender-chose",
      }),
      { backoffMinMs: 20, backoffMaxMs: 200 },
    );
    cleanup.push(() => acking.close());
    await acking.waitForEpoch(3);
    const epoch = acking.currentEpoch()!;
    const who = `${ns}/account-rz01-0`;

    // The relay's ConfigMap holds the ack under the pod the token is bound to, never the claimed id.
    const cm = await eventually("the relay's ack ConfigMap with the pod's ack", async () => {
      const got = await admin.tryGet<KubeObject & { data?: Record<string, string> }>(
        Resources.ConfigMap,
        ackConfigMapName(RELAY_POD),
        ns,
      );
      const entry = got?.data?.users ? (JSON.parse(got.data.users) as Record<string, unknown>)[who] : undefined;
      return entry ? got : undefined;
    });
    expect(cm.metadata?.labels?.["ldc.io/acks"]).toBe("true");
    const held = JSON.parse(cm.data!.users!) as Record<string, unknown>;
    expect(held[who]).toEqual([epoch, acking.table()!.contentHash, ZONE, "rz01"]);
    expect(Object.keys(held)).not.toContain("a-name-the-sender-chose");

    // The operator's side: its own tables (up to the same epoch), the ConfigMap as its watch shows it.
    const tables = new MemoryTableStore();
    for (let e = 1; e <= epoch; e++) tables.publish(usersTable({ epoch: e }));
    const ingester = new RelayAckIngester(tables);
    // Both sidecars' pods (this one's and the first sidecar's, account-rz01-1) may have acked by now.
    const recorded = ingester.set(`zone-${ZONE}/${ns}/${cm.metadata!.name!}`, parseAckConfigMap(cm), () => ZONE);
    expect(recorded).toBe(Object.keys(held).length);
    expect(tables.acks("users").filter((a) => a.sidecar === who)).toMatchObject([
      { sidecar: who, zone: ZONE, cell: "rz01", epoch },
    ]);
    expect(Object.keys(held).every((k) => k.startsWith(`${ns}/account-rz01-`))).toBe(true);

    // Tokens that name no pod, or carry another audience, are refused with the cause.
    const ack = (token: string) =>
      request(`http://127.0.0.1:${relay.port}/v1/rules/users/acks`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
        body: JSON.stringify({ sidecar: "x", cell: "rz01", zone: ZONE, epoch, hash: acking.table()!.contentHash }),
      });
    const unbound = await ack(await tokenFor(["ldc-relay"], undefined));
    expect(unbound.status).toBe(401);
    expect(unbound.json()).toMatchObject({
      field: "Authorization",
      error: expect.stringContaining("not bound to a pod"),
    });
    const wrongAudience = await ack(await tokenFor(["another-service"], "account-rz01-0"));
    expect(wrongAudience.status).toBe(401);
    expect(wrongAudience.json().error).toContain("not valid for audience ldc-relay");
    expect(wrongAudience.json().fix).toContain("LDC_ROUTING_TOKEN_FILE");
    // Reads need the same: no table to strangers, nor to tokens that name no pod; the health endpoint is public.
    const relayUrl = `http://127.0.0.1:${relay.port}`;
    expect((await request(`${relayUrl}/v1/rules/users/table`)).status).toBe(401);
    const unboundRead = await request(`${relayUrl}/v1/rules`, {
      headers: { authorization: `Bearer ${await tokenFor(["ldc-relay"], undefined)}` },
    });
    expect(unboundRead.status).toBe(401);
    expect((await request(`${relayUrl}/healthz`)).status).toBe(200);
  });

  it("a sidecar gets the table and a lease through the relay, and writes pass", async () => {
    await sidecar.waitForEpoch(3);
    await eventually("a routing lease through the relay", () => Promise.resolve(sidecar.lease.valid()), 30_000);
    expect(relay.lease.remaining(performance.now())).toBeGreaterThan(0);
    expect(renewer.renewals().lastSentByZone.get(ZONE)).toBeGreaterThan(0);
    const w = await write();
    expect(w.status).toBe(200);
    expect(w.json()).toEqual({ served: "rz01" });
  });

  it("a new epoch written to the zone's API server reaches the sidecar through the relay's long-poll", async () => {
    await publish(4);
    await sidecar.waitForEpoch(4);
    expect(relay.store.get("users")?.epoch).toBe(4);
    // An older table is refused: the relay keeps serving epoch 4.
    await publish(2);
    await publish(5);
    await sidecar.waitForEpoch(5);
    expect(sidecar.currentEpoch()).toBe(5);
  });

  it("the operator stops renewing: the relay's lease, then the sidecar's run out before relayFencedAt; writes 503, reads served", async () => {
    renewer.stop();
    // Deadlines on the operator's clock (one process: Date.now and performance.now advance together).
    // They only grow, so the largest sample, taken until each has run out, is the final one.
    let sidecarDeadline = 0;
    let relayDeadline = 0;
    const sample = (): void => {
      sidecarDeadline = Math.max(sidecarDeadline, Date.now() + sidecar.lease.remainingMs());
      relayDeadline = Math.max(relayDeadline, Date.now() + relay.lease.remaining(performance.now()));
    };
    await eventually(
      "the relay's lease ran out",
      () => Promise.resolve((sample(), relay.lease.remaining(performance.now()) === 0)),
      30_000,
    );
    await eventually("the sidecar's lease ran out", () => Promise.resolve((sample(), !sidecar.lease.valid())), 30_000);
    // Never later than the operator's bound for the zone (renewals have stopped: it is final).
    const fence = renewer.fencedAt(ZONE);
    expect(sidecarDeadline).toBeLessThanOrEqual(relayDeadline + 1);
    expect(relayDeadline).toBeLessThanOrEqual(fence);

    const w = await write();
    expect(w.status).toBe(503);
    expect(w.headers["retry-after"]).toBe("1");
    expect(w.json().error).toMatch(/routing lease expired/);
    expect((await read()).status).toBe(200);
    // Nothing the relay answers now carries a lease.
    const probe = `Bearer ${await tokenFor(["ldc-relay"], "account-rz01-1")}`;
    const t = await request(`http://127.0.0.1:${relay.port}/v1/rules/users/table?zone=${ZONE}&sidecar=probe`, {
      headers: { authorization: probe },
    });
    expect(t.status).toBe(200);
    expect(t.headers["x-ldc-lease-ms"]).toBeUndefined();
  });

  it("renewals resume: the relay and the sidecar hold leases again and writes pass", async () => {
    renewer.start();
    await eventually("the sidecar's lease is back", () => Promise.resolve(sidecar.lease.valid()), 30_000);
    expect((await write()).status).toBe(200);
  });
});
