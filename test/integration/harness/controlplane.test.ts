// Proves the local control planes are real: pinned server version, Deployments
// become ReplicaSets and Ready pods on zone-labelled kwok nodes, a stopped
// datacenter is unreachable while the others work (and comes back with its
// data), and the cached kubectl and helm work against them.
import { mkdtempSync, mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { AppsV1Api, CoreV1Api, KubeConfig, VersionApi } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readState, stop, start } from "../../../hack/lib/controlplane.ts";
import { readVersions } from "../../../hack/lib/tools.ts";
import {
  createTestNamespace,
  datacenters,
  dedicatedDatacenter,
  eventually,
  runTool,
  uniqueName,
  type Datacenter,
  type DedicatedDatacenter,
} from "../harness.ts";

let dcs: Datacenter[];
beforeAll(async () => {
  dcs = await datacenters();
});

describe("local control planes", () => {
  it("every datacenter runs the pinned Kubernetes release", async () => {
    const { KUBERNETES_VERSION } = readVersions();
    for (const dc of dcs) {
      const version = await dc.kubeConfig.makeApiClient(VersionApi).getCode();
      if (dc.external) expect(version.gitVersion).toMatch(/^v1\./);
      else expect(version.gitVersion).toBe(KUBERNETES_VERSION);
    }
  });

  it("each datacenter has Ready fake nodes labelled with its own region and zone", async () => {
    for (const dc of dcs) {
      const nodes = await dc.kubeConfig.makeApiClient(CoreV1Api).listNode({ labelSelector: "kwok.x-k8s.io/node=fake" });
      expect(nodes.items.length).toBeGreaterThanOrEqual(1);
      for (const node of nodes.items) {
        expect(node.metadata?.labels?.["topology.kubernetes.io/zone"]).toBe(dc.zone);
        expect(node.metadata?.labels?.["topology.kubernetes.io/region"]).toBe(dc.region);
        expect(node.status?.conditions?.find((c) => c.type === "Ready")?.status).toBe("True");
      }
    }
  });

  it("a Deployment in dc2 gets a ReplicaSet and Ready pods on dc2's zone nodes", async () => {
    const dc2 = dcs[1]!;
    const ns = await createTestNamespace(dc2, "deploy");
    const apps = dc2.kubeConfig.makeApiClient(AppsV1Api);
    const core = dc2.kubeConfig.makeApiClient(CoreV1Api);
    await apps.createNamespacedDeployment({
      namespace: ns,
      body: {
        metadata: { name: "web" },
        spec: {
          replicas: 3,
          selector: { matchLabels: { app: "web" } },
          template: {
            metadata: { labels: { app: "web" } },
            spec: {
              nodeSelector: { "topology.kubernetes.io/zone": dc2.zone },
              containers: [{ name: "web", image: "registry.example/web:1" }],
            },
          },
        },
      },
    });
    const ready = await eventually("3 ready replicas", async () => {
      const d = await apps.readNamespacedDeployment({ name: "web", namespace: ns });
      return d.status?.readyReplicas === 3 ? d : undefined;
    });
    expect(ready.status?.availableReplicas).toBe(3);
    const replicaSets = await apps.listNamespacedReplicaSet({ namespace: ns });
    expect(replicaSets.items).toHaveLength(1);
    expect(replicaSets.items[0]!.metadata?.ownerReferences?.[0]?.name).toBe("web");

    const pods = await core.listNamespacedPod({ namespace: ns });
    expect(pods.items).toHaveLength(3);
    const nodes = await core.listNode({});
    const zoneOf = new Map(
      nodes.items.map((n) => [n.metadata!.name!, n.metadata!.labels!["topology.kubernetes.io/zone"]]),
    );
    for (const pod of pods.items) {
      expect(pod.status?.phase).toBe("Running");
      expect(pod.status?.conditions?.find((c) => c.type === "Ready")?.status).toBe("True");
      expect(pod.status?.podIP).toBeTruthy();
      expect(zoneOf.get(pod.spec!.nodeName!)).toBe(dc2.zone);
    }
  });

  it("the cached kubectl and helm work against a datacenter", async () => {
    const dc1 = dcs[0]!;
    const { stdout } = await runTool("kubectl", dc1, ["version", "-o", "json"]);
    const version = JSON.parse(stdout) as {
      clientVersion: { gitVersion: string };
      serverVersion: { gitVersion: string };
    };
    if (!dc1.external) {
      expect(version.clientVersion.gitVersion).toBe(readVersions().KUBERNETES_VERSION);
      expect(version.serverVersion.gitVersion).toBe(readVersions().KUBERNETES_VERSION);
    }

    const ns = await createTestNamespace(dc1, "helm");
    const chartDir = path.join(mkdtempSync(path.join(tmpdir(), "ldc-chart-")), "probe");
    mkdirSync(path.join(chartDir, "templates"), { recursive: true });
    writeFileSync(path.join(chartDir, "Chart.yaml"), "apiVersion: v2\nname: probe\nversion: 0.1.0\n");
    writeFileSync(path.join(chartDir, "values.yaml"), "message: hello\n");
    writeFileSync(
      path.join(chartDir, "templates", "cm.yaml"),
      "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  message: {{ .Values.message | quote }}\n",
    );
    const helmVersion = await runTool("helm", dc1, ["version", "--short"]);
    expect(helmVersion.stdout.trim()).toContain(readVersions().HELM_VERSION);
    await runTool("helm", dc1, [
      "install",
      "probe",
      chartDir,
      "--namespace",
      ns,
      "--set",
      "message=from-helm",
      "--wait",
    ]);
    const cm = await dc1.kubeConfig.makeApiClient(CoreV1Api).readNamespacedConfigMap({ name: "probe", namespace: ns });
    expect(cm.data?.message).toBe("from-helm");
    await runTool("helm", dc1, ["uninstall", "probe", "--namespace", ns, "--wait"]);
    await expect(
      dc1.kubeConfig.makeApiClient(CoreV1Api).readNamespacedConfigMap({ name: "probe", namespace: ns }),
    ).rejects.toThrow();
  });
});

// An outage needs a datacenter no other test file uses while it is down:
// the shared dc3 (restarted and healthy again at the end), or a private one.
describe.skipIf(process.env.LDC_KUBECONFIGS)("a datacenter outage", () => {
  let outage: DedicatedDatacenter | undefined;
  afterAll(async () => {
    await outage?.release();
  });

  it("stopping a datacenter makes its API unreachable while the others keep working, and it comes back with its data", async () => {
    const quiet = () => undefined;
    outage = await dedicatedDatacenter("dc3", "test-outage");
    const { stateDir, dc } = outage;
    const kc = new KubeConfig();
    kc.loadFromFile(dc.kubeconfigPath);
    const core = kc.makeApiClient(CoreV1Api);
    const keep = uniqueName("survives-outage");
    await core.createNamespacedConfigMap({
      namespace: "default",
      body: { metadata: { name: keep }, data: { k: "v" } },
    });

    await stop(stateDir, dc.name, quiet);
    try {
      expect(Object.values(readState(stateDir)!.datacenters.find((d) => d.name === dc.name)!.pids)).toHaveLength(0);
      await expect(core.readNamespacedConfigMap({ name: keep, namespace: "default" })).rejects.toThrow(
        /ECONNREFUSED|fetch failed/,
      );
      for (const other of dcs.filter((d) => d.kubeconfigPath !== dc.kubeconfigPath).slice(0, 2)) {
        const ns = await other.kubeConfig.makeApiClient(CoreV1Api).listNamespace({});
        expect(ns.items.length).toBeGreaterThan(0);
      }
    } finally {
      // back and healthy (API, nodes, controller-manager, scheduler) for whoever uses it next
      await start(stateDir, dc.name, quiet);
    }
    const back = await core.readNamespacedConfigMap({ name: keep, namespace: "default" });
    expect(back.data?.k).toBe("v");
    await core.deleteNamespacedConfigMap({ name: keep, namespace: "default" });
  });
});
