import { describe, expect, it } from "vitest";
import { LAST_APPLIED_ANNOTATION, labelIndex, Store, stripManagedFields } from "../../../src/runtime/informer.ts";
import type { KubeObject } from "../../../src/runtime/types.ts";

const obj = (ns: string, name: string, labels: Record<string, string> = {}, rv = "1"): KubeObject => ({
  metadata: { namespace: ns, name, labels, resourceVersion: rv },
});

describe("Store", () => {
  it("keys objects by namespace/name and maintains label indexes", () => {
    const s = new Store<KubeObject>();
    s.addIndex("cell", labelIndex("ldc.io/cell"));
    s.upsert(obj("a", "x", { "ldc.io/cell": "rz01" }));
    s.upsert(obj("b", "y", { "ldc.io/cell": "rz01" }));
    s.upsert(obj("b", "z", { "ldc.io/cell": "rz02" }));
    expect(s.get("a/x")?.metadata?.name).toBe("x");
    expect(
      s
        .byIndex("cell", "rz01")
        .map((o) => o.metadata?.name)
        .sort(),
    ).toEqual(["x", "y"]);
    // relabel moves it between index buckets
    s.upsert(obj("b", "y", { "ldc.io/cell": "rz02" }, "2"));
    expect(s.byIndex("cell", "rz01").map((o) => o.metadata?.name)).toEqual(["x"]);
    expect(
      s
        .byIndex("cell", "rz02")
        .map((o) => o.metadata?.name)
        .sort(),
    ).toEqual(["y", "z"]);
    s.remove("b/z");
    expect(s.byIndex("cell", "rz02").map((o) => o.metadata?.name)).toEqual(["y"]);
    expect(s.list("b")).toHaveLength(1);
    expect(s.listByLabels({ "ldc.io/cell": "rz01" })).toHaveLength(1);
  });
});

describe("stripManagedFields", () => {
  it("drops managedFields and the last-applied annotation, keeps everything else", () => {
    const o = {
      metadata: {
        name: "x",
        managedFields: [{ manager: "ldc-operator" }],
        annotations: { [LAST_APPLIED_ANNOTATION]: "{}", keep: "1" },
      },
      spec: { replicas: 3 },
    };
    expect(stripManagedFields(o)).toEqual({
      metadata: { name: "x", annotations: { keep: "1" } },
      spec: { replicas: 3 },
    });
    const only = { metadata: { name: "y", annotations: { [LAST_APPLIED_ANNOTATION]: "{}" } } };
    expect(stripManagedFields(only)).toEqual({ metadata: { name: "y" } });
    expect(stripManagedFields({ kind: "Z" })).toEqual({ kind: "Z" });
  });
});
