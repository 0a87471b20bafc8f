// Status written only when it changed, conditions and Events, on a real API
// server (a throwaway CRD with a status subresource).
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestNamespace, datacenters, type Datacenter } from "../harness.ts";
import type { KubeClient } from "../../../src/runtime/client.ts";
import { setCondition, type Condition } from "../../../src/runtime/conditions.ts";
import { EventRecorder, type CoreEvent } from "../../../src/runtime/events.ts";
import { registerResource, Resources, type Resource } from "../../../src/runtime/resources.ts";
import { Informer } from "../../../src/runtime/informer.ts";
import { requeueAfterStatus, writeStatus } from "../../../src/runtime/status.ts";
import type { KubeObject } from "../../../src/runtime/types.ts";
import { clientFor, counterValue, until } from "./helpers.ts";

interface Widget extends KubeObject {
  spec?: { size?: number };
  status?: { phase?: string; observedGeneration?: number; conditions?: Condition[] };
}

describe("status and events", () => {
  let dc: Datacenter;
  let client: KubeClient;
  let ns: string;
  let widgets: Resource;
  const group = `w${randomBytes(3).toString("hex")}.runtime.test.ldc.io`;

  beforeAll(async () => {
    [dc] = (await datacenters()) as [Datacenter];
    client = await clientFor(dc);
    ns = await createTestNamespace(dc, "rt-status");
    widgets = registerResource({ group, version: "v1", plural: "widgets", kind: "Widget", namespaced: true });
    await client.apply({
      apiVersion: "apiextensions.k8s.io/v1",
      kind: "CustomResourceDefinition",
      metadata: { name: `widgets.${group}` },
      spec: {
        group,
        scope: "Namespaced",
        names: { plural: "widgets", singular: "widget", kind: "Widget", listKind: "WidgetList" },
        versions: [
          {
            name: "v1",
            served: true,
            storage: true,
            subresources: { status: {} },
            schema: {
              openAPIV3Schema: {
                type: "object",
                properties: {
                  spec: { type: "object", "x-kubernetes-preserve-unknown-fields": true },
                  status: { type: "object", "x-kubernetes-preserve-unknown-fields": true },
                },
              },
            },
          },
        ],
      },
    });
    await until("the CRD to be served", async () => {
      await client.list(widgets, { namespace: ns, limit: 1 });
      return true;
    });
  });

  afterAll(async () => {
    await client.delete(Resources.CustomResourceDefinition, `widgets.${group}`).catch(() => undefined);
    client.close();
  });

  /** writeStatus by server-side apply: the written object, or undefined when nothing was written. */
  async function applyStatusIfChanged(observed: Widget, desired: object): Promise<Widget | undefined> {
    const w = await writeStatus(client, observed, desired, { method: "apply" });
    return w.outcome === "written" ? w.object : undefined;
  }

  it("writes status only when it changed, and conditions keep lastTransitionTime", async () => {
    const created = await client.apply<Widget>({
      apiVersion: `${group}/v1`,
      kind: "Widget",
      metadata: { name: "w1", namespace: ns },
      spec: { size: 1 },
    });
    const t0 = new Date(Date.now() - 60_000);
    const desired = {
      phase: "Ready",
      observedGeneration: created.metadata?.generation,
      conditions: setCondition([], { type: "Ready", status: "True", reason: "Ok", message: "all good" }, t0),
    };
    const written = await applyStatusIfChanged(created, desired);
    expect(written?.status?.phase).toBe("Ready");
    const rv = written!.metadata!.resourceVersion;

    // the same status, recomputed later (conditions rebuilt from the observed ones): no write
    const observed = await client.get<Widget>(widgets, "w1", ns);
    const patches = await counterValue("rest_client_requests_total", {
      method: "PATCH",
      host: client.host,
      code: "200",
    });
    const again = {
      conditions: setCondition(observed.status?.conditions, {
        type: "Ready",
        status: "True",
        reason: "Ok",
        message: "all good",
      }),
      observedGeneration: observed.metadata?.generation,
      phase: "Ready",
    };
    expect(await applyStatusIfChanged(observed, again)).toBeUndefined();
    expect(await counterValue("rest_client_requests_total", { method: "PATCH", host: client.host, code: "200" })).toBe(
      patches,
    );
    expect((await client.get<Widget>(widgets, "w1", ns)).metadata?.resourceVersion).toBe(rv);

    // a real change is written; the flip moves lastTransitionTime
    const changed = {
      ...again,
      phase: "Degraded",
      conditions: setCondition(observed.status?.conditions, { type: "Ready", status: "False", reason: "Broken" }),
    };
    const after = await applyStatusIfChanged(observed, changed);
    expect(after?.status?.phase).toBe("Degraded");
    expect(after?.metadata?.resourceVersion).not.toBe(rv);
    const ready = after?.status?.conditions?.find((c) => c.type === "Ready");
    expect(ready?.status).toBe("False");
    expect(new Date(ready!.lastTransitionTime).getTime()).toBeGreaterThan(t0.getTime());
    // the spec is untouched by status writes
    expect(after?.spec).toEqual({ size: 1 });
  });

  it("update: records its write in the informer at once; a stale read gets a conflict that requeues", async () => {
    const created = await client.apply<Widget>({
      apiVersion: `${group}/v1`,
      kind: "Widget",
      metadata: { name: "w2", namespace: ns },
      spec: { size: 1 },
    });
    const inf = new Informer<Widget>(client, widgets, { namespace: ns }).start();
    try {
      expect(await inf.waitForSync(30_000)).toBe(true);
      const w = await writeStatus(client, created, { phase: "Ready" }, { method: "update", informer: inf });
      expect(w.outcome).toBe("written");
      const rv = w.outcome === "written" ? w.object.metadata?.resourceVersion : undefined;
      // read your own write: the cache shows it before (or whether or not) the watch delivered it
      expect(inf.store.getByName("w2", ns)?.metadata?.resourceVersion).toBe(rv);
      expect(inf.store.getByName("w2", ns)?.status?.phase).toBe("Ready");
      // the unchanged status from the cache: nothing to write
      expect(
        (await writeStatus(client, inf.store.getByName("w2", ns)!, { phase: "Ready" }, { method: "update" })).outcome,
      ).toBe("unchanged");
      // `created` is older than the stored object: the precondition fails
      const stale = await writeStatus(client, created, { phase: "Degraded" }, { method: "update", informer: inf });
      expect(stale).toEqual({ outcome: "conflict" });
      expect(requeueAfterStatus(stale)).toEqual({ requeue: true });
      expect(inf.store.getByName("w2", ns)?.status?.phase).toBe("Ready");
    } finally {
      await inf.stop();
    }
  });

  it("aggregates repeated Events into one with a count", async () => {
    const cm = await client.create<KubeObject>(Resources.ConfigMap, { metadata: { name: "evented", namespace: ns } });
    const rec = new EventRecorder({ client, reportingController: "ldc-operator/test" });
    await rec.warning(cm, "ZoneUnreachable", "zone hz-a: API server did not answer");
    await Promise.all([
      rec.warning(cm, "ZoneUnreachable", "zone hz-a: API server did not answer"),
      rec.warning(cm, "ZoneUnreachable", "zone hz-a: API server did not answer"),
    ]);
    await rec.normal(cm, "ZoneReachable", "zone hz-a is back");
    const events = await client.listAll<CoreEvent>(Resources.Event, {
      namespace: ns,
      fieldSelector: `involvedObject.name=evented`,
    });
    const byReason = Object.fromEntries(events.items.map((e) => [e.reason, e]));
    expect(events.items).toHaveLength(2);
    expect(byReason.ZoneUnreachable?.count).toBe(3);
    expect(byReason.ZoneUnreachable?.type).toBe("Warning");
    expect(byReason.ZoneUnreachable?.involvedObject.uid).toBe(cm.metadata?.uid);
    expect(byReason.ZoneUnreachable?.reportingComponent).toBe("ldc-operator/test");
    expect(byReason.ZoneReachable?.count).toBe(1);
  });
});
