// writeStatus / StatusWriter against a fake client: what is sent, when, and
// what the caller is told.
import { describe, expect, it } from "vitest";
import type { KubeClient } from "../../../src/runtime/client.ts";
import { ApiError } from "../../../src/runtime/errors.ts";
import { registerResource } from "../../../src/runtime/resources.ts";
import { requeueAfterStatus, StatusWriter, writeStatus } from "../../../src/runtime/status.ts";
import type { KubeObject } from "../../../src/runtime/types.ts";

registerResource({ group: "test.ldc.io", version: "v1", plural: "widgets", kind: "Widget", namespaced: true });

interface Widget extends KubeObject {
  status?: Record<string, unknown>;
}

const widget = (status: Record<string, unknown> | undefined, rv = "5"): Widget => ({
  apiVersion: "test.ldc.io/v1",
  kind: "Widget",
  metadata: { name: "w", namespace: "ns", resourceVersion: rv },
  ...(status ? { status } : {}),
});

function fakeClient(opts: { conflict?: boolean } = {}) {
  const calls: { verb: string; body: Widget; opts: Record<string, unknown> }[] = [];
  const client = {
    fieldManager: "ldc-operator",
    applyStatus: async (body: Widget, o: Record<string, unknown>) => {
      calls.push({ verb: "applyStatus", body, opts: o });
      return { ...widget(body.status as Record<string, unknown>, "6") };
    },
    update: async (_res: unknown, body: Widget, o: Record<string, unknown>) => {
      calls.push({ verb: "update", body, opts: o });
      if (opts.conflict) throw new ApiError(409, "the object has been modified");
      return { ...body, metadata: { ...body.metadata, resourceVersion: "6" } };
    },
  };
  return { client: client as unknown as KubeClient, calls };
}

const ready = (message: string, status = "False") => ({
  phase: "Pending",
  conditions: [{ type: "Ready", status, reason: "R", message, lastTransitionTime: "2026-01-01T00:00:00Z" }],
});

describe("writeStatus", () => {
  it("writes nothing when the status means the same", async () => {
    const { client, calls } = fakeClient();
    const w = await writeStatus(client, widget({ phase: "Ready", list: [] }), { phase: "Ready" }, { method: "apply" });
    expect(w).toEqual({ outcome: "unchanged" });
    expect(requeueAfterStatus(w)).toBeUndefined();
    expect(calls).toEqual([]);
  });

  it("applies the status subresource under the field manager and records the written object", async () => {
    const { client, calls } = fakeClient();
    const recorded: KubeObject[] = [];
    const w = await writeStatus(
      client,
      widget({ phase: "Pending" }),
      { phase: "Ready" },
      { method: "apply", fieldManager: "ldc-operator-x", informer: { recordWrite: (o) => (recorded.push(o), o) } },
    );
    expect(w.outcome).toBe("written");
    expect(calls).toEqual([
      {
        verb: "applyStatus",
        body: {
          apiVersion: "test.ldc.io/v1",
          kind: "Widget",
          metadata: { name: "w", namespace: "ns" },
          status: { phase: "Ready" },
        },
        opts: { fieldManager: "ldc-operator-x" },
      },
    ]);
    expect(recorded.map((o) => o.metadata?.resourceVersion)).toEqual(["6"]);
  });

  it("update sends the observed object (its resourceVersion is the precondition); a conflict requeues", async () => {
    const ok = fakeClient();
    const w = await writeStatus(ok.client, widget({ phase: "Pending" }), { phase: "Ready" }, { method: "update" });
    expect(w.outcome).toBe("written");
    expect(ok.calls[0]!.body.metadata?.resourceVersion).toBe("5");
    expect(ok.calls[0]!.opts).toEqual({ subresource: "status", fieldManager: "ldc-operator" });

    const stale = fakeClient({ conflict: true });
    const recorded: KubeObject[] = [];
    const c = await writeStatus(
      stale.client,
      widget({ phase: "Pending" }),
      { phase: "Ready" },
      { method: "update", informer: { recordWrite: (o) => (recorded.push(o), o) } },
    );
    expect(c).toEqual({ outcome: "conflict" });
    expect(requeueAfterStatus(c)).toEqual({ requeue: true });
    expect(recorded).toEqual([]);
  });

  it("compares only the owned fields", async () => {
    const { client, calls } = fakeClient();
    const observed = widget({ phase: "Ready", activeZone: "hz-a" });
    const w = await writeStatus(client, observed, { phase: "Ready" }, { method: "apply", owned: ["phase"] });
    expect(w.outcome).toBe("unchanged");
    expect(calls).toEqual([]);
  });
});

describe("StatusWriter", () => {
  it("coalesces message-only changes per object, writes significant ones at once", async () => {
    const { client, calls } = fakeClient();
    const writer = new StatusWriter(client, { method: "apply", coalesceMessagesMs: 60_000 });
    expect((await writer.write(widget(ready("1/20")), ready("2/20"))).outcome).toBe("written");
    const deferred = await writer.write(widget(ready("2/20")), ready("3/20"));
    expect(deferred.outcome).toBe("deferred");
    expect(requeueAfterStatus(deferred)?.requeueAfter).toBeGreaterThan(0);
    expect((await writer.write(widget(ready("2/20")), ready("20/20", "True"))).outcome).toBe("written");
    expect(calls).toHaveLength(2);
    writer.forget("ns/w");
    expect((await writer.write(widget(ready("2/20")), ready("3/20"))).outcome).toBe("written");
  });

  it("without coalescing, a message-only change is written at once", async () => {
    const { client } = fakeClient();
    const writer = new StatusWriter(client, { method: "apply" });
    expect((await writer.write(widget(ready("1/20")), ready("2/20"))).outcome).toBe("written");
    expect((await writer.write(widget(ready("2/20")), ready("3/20"))).outcome).toBe("written");
  });
});
