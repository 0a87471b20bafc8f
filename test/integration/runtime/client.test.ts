// The REST client against a real kube-apiserver.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestNamespace, datacenters, type Datacenter } from "../harness.ts";
import type { KubeClient } from "../../../src/runtime/client.ts";
import { type ApiError, isConflict, isNotFound } from "../../../src/runtime/errors.ts";
import { Resources } from "../../../src/runtime/resources.ts";
import type { KubeObject } from "../../../src/runtime/types.ts";
import { clientFor, counterValue } from "./helpers.ts";

interface ConfigMap extends KubeObject {
  data?: Record<string, string>;
}

describe("KubeClient", () => {
  let dc: Datacenter;
  let client: KubeClient;
  let ns: string;

  beforeAll(async () => {
    [dc] = (await datacenters()) as [Datacenter];
    client = await clientFor(dc);
    ns = await createTestNamespace(dc, "rt-client");
  });
  afterAll(() => client?.close());

  it("creates, gets, merge-patches and deletes with preconditions", async () => {
    const created = await client.create<ConfigMap>(Resources.ConfigMap, {
      metadata: { name: "a", namespace: ns },
      data: { k: "v" },
    });
    expect(created.metadata?.uid).toBeTruthy();
    const got = await client.get<ConfigMap>(Resources.ConfigMap, "a", ns);
    expect(got.data).toEqual({ k: "v" });
    expect(got.kind).toBe("ConfigMap");
    const patched = await client.mergePatch<ConfigMap>(Resources.ConfigMap, "a", ns, { data: { k: "w", k2: "x" } });
    expect(patched.data).toEqual({ k: "w", k2: "x" });
    await expect(client.get(Resources.ConfigMap, "missing", ns)).rejects.toSatisfy(isNotFound);
    expect(await client.tryGet(Resources.ConfigMap, "missing", ns)).toBeUndefined();
    await expect(client.create(Resources.ConfigMap, { metadata: { name: "a", namespace: ns } })).rejects.toSatisfy(
      (e: unknown) => isConflict(e) && (e as ApiError).reason === "AlreadyExists",
    );
    // a wrong uid precondition refuses the delete
    await expect(
      client.delete(Resources.ConfigMap, "a", ns, { preconditions: { uid: "00000000-0000-0000-0000-000000000000" } }),
    ).rejects.toSatisfy(isConflict);
    expect(
      await client.delete(Resources.ConfigMap, "a", ns, {
        propagationPolicy: "Background",
        preconditions: { uid: created.metadata!.uid!, resourceVersion: patched.metadata!.resourceVersion! },
      }),
    ).toBe(true);
    expect(await client.delete(Resources.ConfigMap, "a", ns)).toBe(false);
  });

  it("lists with label selectors and pagination", async () => {
    for (let i = 0; i < 5; i++) {
      await client.create(Resources.ConfigMap, {
        metadata: { name: `page-${i}`, namespace: ns, labels: { page: "yes", parity: String(i % 2) } },
      });
    }
    const first = await client.list<ConfigMap>(Resources.ConfigMap, {
      namespace: ns,
      labelSelector: "page=yes",
      limit: 2,
    });
    expect(first.items).toHaveLength(2);
    expect(first.metadata.continue).toBeTruthy();
    // List items come without apiVersion/kind from the API server; the client restores them,
    // so cached objects look alike whether they came from a list or a watch.
    expect(first.items.map((i) => [i.apiVersion, i.kind])).toEqual([
      ["v1", "ConfigMap"],
      ["v1", "ConfigMap"],
    ]);
    const all = await client.listAll<ConfigMap>(Resources.ConfigMap, {
      namespace: ns,
      labelSelector: "page=yes",
      pageSize: 2,
    });
    expect(all.items.map((i) => i.metadata?.name).sort()).toEqual(["page-0", "page-1", "page-2", "page-3", "page-4"]);
    expect(all.metadata.resourceVersion).toBeTruthy();
    const odd = await client.listAll(Resources.ConfigMap, { namespace: ns, labelSelector: "page=yes,parity=1" });
    expect(odd.items).toHaveLength(2);
  });

  it("server-side apply twice leaves the resourceVersion unchanged", async () => {
    const desired = {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "applied", namespace: ns, labels: { app: "x" } },
      data: { a: "1", b: "2" },
    };
    const first = await client.apply<ConfigMap>(desired);
    const second = await client.apply<ConfigMap>(desired);
    expect(second.metadata?.resourceVersion).toBe(first.metadata?.resourceVersion);
    const mf = (second.metadata?.managedFields ?? []) as { manager?: string; operation?: string }[];
    expect(mf.some((m) => m.manager === "ldc-operator" && m.operation === "Apply")).toBe(true);
    // a field no longer applied is removed
    const third = await client.apply<ConfigMap>({ ...desired, data: { a: "1" } });
    expect(third.data).toEqual({ a: "1" });
    expect(third.metadata?.resourceVersion).not.toBe(first.metadata?.resourceVersion);
  });

  it("counts every request in rest_client_requests_total", async () => {
    const labels = { method: "POST", code: "201", host: client.host };
    const before = await counterValue("rest_client_requests_total", labels);
    await client.create(Resources.ConfigMap, { metadata: { name: "counted-1", namespace: ns } });
    await client.create(Resources.ConfigMap, { metadata: { name: "counted-2", namespace: ns } });
    expect(await counterValue("rest_client_requests_total", labels)).toBe(before + 2);
    const patches = await counterValue("rest_client_requests_total", {
      method: "PATCH",
      code: "200",
      host: client.host,
    });
    await client.apply({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "counted-1", namespace: ns },
      data: { x: "y" },
    });
    expect(await counterValue("rest_client_requests_total", { method: "PATCH", code: "200", host: client.host })).toBe(
      patches + 1,
    );
  });
});
