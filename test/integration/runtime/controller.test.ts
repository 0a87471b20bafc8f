// A controller run by the Manager against a real API server: it derives a
// ConfigMap from each source ConfigMap with server-side apply, reaches a
// steady state with no writes, and reports readiness on the server.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestNamespace, datacenters, type Datacenter } from "../harness.ts";
import type { KubeClient } from "../../../src/runtime/client.ts";
import { Controller, ownerKey } from "../../../src/runtime/controller.ts";
import { Informer } from "../../../src/runtime/informer.ts";
import { Manager } from "../../../src/runtime/manager.ts";
import { Resources } from "../../../src/runtime/resources.ts";
import { RuntimeServer } from "../../../src/runtime/server.ts";
import type { KubeObject } from "../../../src/runtime/types.ts";
import { clientFor, counterValue, until } from "./helpers.ts";

interface ConfigMap extends KubeObject {
  data?: Record<string, string>;
}

describe("Controller + Manager", () => {
  let dc: Datacenter;
  let client: KubeClient;
  let ns: string;
  let manager: Manager;
  let controller: Controller;
  let port = 0;
  let reconciles = 0;

  beforeAll(async () => {
    [dc] = (await datacenters()) as [Datacenter];
    client = (await clientFor(dc)).withFieldManager("ldc-operator-test");
    ns = await createTestNamespace(dc, "rt-ctrl");
    const sources = new Informer<ConfigMap>(client, Resources.ConfigMap, {
      namespace: ns,
      labelSelector: "role=source",
    });
    const derived = new Informer<ConfigMap>(client, Resources.ConfigMap, {
      namespace: ns,
      labelSelector: "role=derived",
    });
    controller = new Controller({
      name: "derive",
      kind: "ConfigMap",
      workers: 2,
      reconcile: async (key, { namespace, name }) => {
        reconciles++;
        const src = sources.store.get(key);
        if (!src) return; // the derived object is garbage-collected through its ownerReference
        await client.apply({
          apiVersion: "v1",
          kind: "ConfigMap",
          metadata: {
            name: `${name}-derived`,
            namespace,
            labels: { role: "derived" },
            ownerReferences: [
              {
                apiVersion: "v1",
                kind: "ConfigMap",
                name,
                uid: src.metadata!.uid!,
                controller: true,
                blockOwnerDeletion: true,
              },
            ],
          },
          data: { copy: src.data?.value ?? "" },
        });
      },
    })
      .watch(sources)
      .watch(derived, ownerKey("ConfigMap"));
    const server = new RuntimeServer({ port: 0, host: "127.0.0.1", processMetrics: false });
    manager = new Manager({ server }).addController(controller);
    const listening = server.listen.bind(server);
    server.listen = async () => (port = await listening());
    await manager.start();
  });

  afterAll(async () => {
    await manager?.stop();
    client?.close();
  });

  it("reconciles sources into derived objects and repairs drift", async () => {
    await client.create(Resources.ConfigMap, {
      metadata: { name: "s1", namespace: ns, labels: { role: "source" } },
      data: { value: "one" },
    });
    await until(
      "derived object",
      async () => (await client.tryGet<ConfigMap>(Resources.ConfigMap, "s1-derived", ns))?.data?.copy === "one",
    );
    await client.mergePatch(Resources.ConfigMap, "s1", ns, { data: { value: "two" } });
    await until(
      "derived follows",
      async () => (await client.tryGet<ConfigMap>(Resources.ConfigMap, "s1-derived", ns))?.data?.copy === "two",
    );
    // someone edits the child: the owner is reconciled and the drift repaired
    await client.mergePatch(Resources.ConfigMap, "s1-derived", ns, { data: { copy: "tampered" } });
    await until(
      "drift repaired",
      async () => (await client.tryGet<ConfigMap>(Resources.ConfigMap, "s1-derived", ns))?.data?.copy === "two",
    );
  });

  it("reaches a steady state: reconciling again writes nothing", async () => {
    await controller.idle(); // the drift repair's reconciles are done
    const before = (await client.get<ConfigMap>(Resources.ConfigMap, "s1-derived", ns)).metadata?.resourceVersion;
    const n = reconciles;
    await client.mergePatch(Resources.ConfigMap, "s1", ns, { metadata: { annotations: { touched: "yes" } } });
    await until("reconciled again", () => reconciles > n);
    await controller.idle();
    // and a pass over every key, as a resync would make
    const m = reconciles;
    controller.resyncAll();
    await controller.idle();
    expect(reconciles).toBeGreaterThan(m);
    const after = (await client.get<ConfigMap>(Resources.ConfigMap, "s1-derived", ns)).metadata?.resourceVersion;
    expect(after).toBe(before);
    expect(
      await counterValue("controller_runtime_reconcile_total", { controller: "derive", result: "success" }),
    ).toBeGreaterThan(0);
  });

  it("serves readiness and metrics", async () => {
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
    expect(ready.status).toBe(200);
    const body = await ready.text();
    expect(body).toContain(`[+]informer:local/configmaps/${ns}?role=source ok`);
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(metrics).toMatch(/controller_runtime_reconcile_total\{controller="derive",result="success"\} \d+/);
    expect(metrics).toContain('workqueue_adds_total{name="derive"}');
    expect(metrics).toContain('controller_runtime_max_concurrent_reconciles{controller="derive"} 2');
  });
});
