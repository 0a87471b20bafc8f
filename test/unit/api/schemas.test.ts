import { describe, expect, it } from "vitest";
import {
  Cell,
  CellApp,
  DrillSchedule,
  Failover,
  KIND_NAMES,
  Kinds,
  ShardingRule,
  Zone,
  isKindName,
  parseResource,
} from "../../../src/api/index.ts";
import type { KindName } from "../../../src/api/index.ts";
import { invalidExamples, validExamples } from "./examples.ts";

const meta = (name: string) => ({ name });

function errors(kind: KindName, obj: unknown): string[] {
  const r = parseResource(kind, obj);
  return r.ok ? [] : r.errors;
}

describe("examples", () => {
  const examples = validExamples();

  it("cover every kind", () => {
    const kinds = new Set(examples.map((e) => e.obj.kind));
    for (const k of KIND_NAMES) expect(kinds).toContain(k);
  });

  it.each(
    examples
      .filter((e) => e.obj.kind !== "Namespace")
      .map((e) => [`${e.file}: ${e.obj.kind}/${e.obj.metadata.name}`, e]),
  )("%s is valid", (_label, e) => {
    expect(isKindName(e.obj.kind)).toBe(true);
    expect(errors(e.obj.kind as KindName, e.obj)).toEqual([]);
  });

  it("apply in one `kubectl apply -f examples/`: every namespace is created in an earlier file than what it holds", () => {
    const nsFile = new Map<string, string>();
    for (const e of examples) {
      if (e.obj.kind === "Namespace") nsFile.set(e.obj.metadata.name, e.file);
      const ns = e.obj.metadata.namespace;
      if (ns !== undefined) {
        expect(
          nsFile.get(ns),
          `${e.file}: ${e.obj.kind}/${e.obj.metadata.name} needs Namespace ${ns} in an earlier file`,
        ).toBeDefined();
        expect((nsFile.get(ns) as string) < e.file).toBe(true);
      }
      const scope = isKindName(e.obj.kind) ? Kinds[e.obj.kind].scope : "Cluster";
      expect(ns !== undefined, `${e.obj.kind}/${e.obj.metadata.name}: namespace set iff namespaced`).toBe(
        scope === "Namespaced",
      );
    }
  });

  it("has the topology of the local datacenters: 2 regions, 3 zones, 4 Regional + 1 Global + 2 City cells", () => {
    const of = (kind: string) => examples.filter((e) => e.obj.kind === kind).map((e) => e.obj);
    const zones = of("Zone").map((o) => Zone.parse(o));
    expect(zones.map((z) => [z.metadata.name, z.spec.region])).toEqual([
      ["hz-a", "hangzhou"],
      ["hz-b", "hangzhou"],
      ["sh-a", "shanghai"],
    ]);
    const cells = of("Cell").map((o) => Cell.parse(o));
    const count = (t: string) => cells.filter((c) => c.spec.type === t).length;
    expect([count("Regional"), count("Global"), count("City")]).toEqual([4, 1, 2]);
    const apps = of("CellApp").map((o) => CellApp.parse(o));
    expect(new Set(apps.map((a) => a.spec.scope))).toEqual(new Set(["Regional", "Global", "City"]));
    const rule = ShardingRule.parse(of("ShardingRule")[0]);
    expect(rule.spec.shards).toBe(100);
    expect(rule.spec.function).toEqual({ type: "Digits", from: -3, to: -1 });
    expect(of("Failover").map((o) => Failover.parse(o).spec.type)).toContain("Drill");
  });
});

describe("invalid examples", () => {
  it.each(invalidExamples().map((e) => [e.file, e]))("%s is rejected by the runtime schema too", (_f, e) => {
    expect(isKindName(e.obj.kind)).toBe(true);
    const errs = errors(e.obj.kind as KindName, e.obj);
    expect(errs.length).toBeGreaterThan(0);
  });

  it("cover every kind", () => {
    const kinds = new Set(invalidExamples().map((e) => e.obj.kind));
    for (const k of KIND_NAMES) expect(kinds).toContain(k);
  });
});

describe("defaults (the same as the CRD's)", () => {
  it("Zone", () => {
    const z = Zone.parse({
      apiVersion: "ldc.io/v1alpha1",
      kind: "Zone",
      metadata: meta("hz-a"),
      spec: { region: "hangzhou" },
    });
    expect(z.spec).toEqual({
      region: "hangzhou",
      health: { failureThreshold: "10s", minReadyRatio: 0.5 },
      cordoned: false,
    });
    const withCluster = Zone.parse({
      apiVersion: "ldc.io/v1alpha1",
      kind: "Zone",
      metadata: meta("hz-b"),
      spec: { region: "hangzhou", cluster: { kubeconfigSecretRef: { namespace: "ldc-system", name: "zone-hz-b" } } },
    });
    expect(withCluster.spec.cluster?.kubeconfigSecretRef.key).toBe("kubeconfig");
  });

  it("Cell", () => {
    const c = Cell.parse({
      apiVersion: "ldc.io/v1alpha1",
      kind: "Cell",
      metadata: meta("rz00"),
      spec: { type: "Regional", zone: "hz-a" },
    });
    expect(c.spec).toEqual({ type: "Regional", zone: "hz-a", failover: { mode: "Manual", cooldown: "10m" } });
  });

  it("ShardingRule", () => {
    const r = ShardingRule.parse({
      apiVersion: "ldc.io/v1alpha1",
      kind: "ShardingRule",
      metadata: meta("users"),
      spec: {
        key: { sources: [{ type: "Header", name: "x-user-id" }] },
        shards: 16,
        function: { type: "Modulo" },
        assignments: [{ cell: "rz00", shards: "0-15" }],
      },
    });
    expect(r.spec.key.onInvalidKey).toBe("Reject");
    expect(r.spec.unitProtection).toBe("Forward");
    expect(r.spec.writeMethods).toEqual(["POST", "PUT", "PATCH", "DELETE"]);
  });

  it("CellApp", () => {
    const a = CellApp.parse({
      apiVersion: "ldc.io/v1alpha1",
      kind: "CellApp",
      metadata: { name: "account", namespace: "payments" },
      spec: {
        shardingRule: "users",
        scope: "Regional",
        template: { spec: { containers: [{ name: "app", image: "x" }] } },
      },
    });
    expect(a.spec.replicas).toBe(2);
    expect(a.spec.standbyReplicas).toBe(1);
    expect(a.spec.sidecar).toEqual({ enabled: true, port: 15001, appPort: 8080, adminPort: 15002 });
    expect(a.spec.service).toEqual({ port: 80 });
    const withSidecar = (sidecar: object) => ({
      ...a,
      spec: { ...a.spec, sidecar: { ...a.spec.sidecar, ...sidecar } },
    });
    expect(errors("CellApp", withSidecar({ adminPort: 15001 }))).toEqual([
      expect.stringMatching(/^spec\.sidecar\.adminPort: sidecar\.adminPort must differ from sidecar\.port/),
    ]);
    expect(errors("CellApp", withSidecar({ adminPort: 8080 }))).toHaveLength(1);
    expect(errors("CellApp", withSidecar({ adminPort: 8080, enabled: false }))).toEqual([]);
  });

  it("Failover and DrillSchedule", () => {
    const f = Failover.parse({
      apiVersion: "ldc.io/v1alpha1",
      kind: "Failover",
      metadata: meta("f"),
      spec: { type: "Emergency", target: { zone: "hz-a" } },
    });
    expect(f.spec).toEqual({
      type: "Emergency",
      target: { zone: "hz-a" },
      writeFreeze: "5s",
      timeouts: { step: "2m" },
      abort: false,
    });
    const d = DrillSchedule.parse({
      apiVersion: "ldc.io/v1alpha1",
      kind: "DrillSchedule",
      metadata: meta("d"),
      spec: {
        schedule: "@weekly",
        template: { type: "Drill", target: { cells: ["rz00"] }, drill: { duration: "10m" } },
      },
    });
    expect(d.spec.historyLimit).toBe(10);
    expect(d.spec.suspend).toBe(false);
    expect(d.spec.template.writeFreeze).toBe("5s");
  });
});

describe("rules mirrored from CEL", () => {
  const rule = (spec: Record<string, unknown>) => ({
    apiVersion: "ldc.io/v1alpha1",
    kind: "ShardingRule",
    metadata: meta("users"),
    spec: {
      key: { sources: [{ type: "Header", name: "x-user-id" }] },
      shards: 100,
      function: { type: "Digits", from: -3, to: -1 },
      assignments: [{ cell: "rz00", shards: "0-99" }],
      ...spec,
    },
  });

  it("Digits slices", () => {
    expect(errors("ShardingRule", rule({}))).toEqual([]);
    expect(errors("ShardingRule", rule({ function: { type: "Digits", from: -2 } }))).toEqual([]); // last two digits
    expect(errors("ShardingRule", rule({ function: { type: "Digits", from: 0, to: 2 } }))).toEqual([]);
    expect(errors("ShardingRule", rule({ function: { type: "Digits", from: -2, to: -1 } }))).toEqual([
      expect.stringMatching(/^spec\.function: the Digits slice takes too few digits/),
    ]);
    expect(errors("ShardingRule", rule({ function: { type: "Digits", from: -1, to: -3 } }))).toEqual([
      expect.stringMatching(/^spec\.function\.to: to must be greater than from/),
    ]);
    expect(errors("ShardingRule", rule({ function: { type: "Digits", from: 2 } }))).toEqual([
      expect.stringMatching(/^spec\.function\.to: with a non-negative from, to is required/),
    ]);
    expect(errors("ShardingRule", rule({ function: { type: "Digits", from: -20 } }))).toEqual([
      expect.stringMatching(/^spec\.function: the Digits slice takes at most 15 digits/),
    ]);
    expect(errors("ShardingRule", rule({ function: { type: "Hash", algorithm: "FNV1a32" } }))).toEqual([]);
    expect(errors("ShardingRule", rule({ function: { type: "Modulo", algorithm: "FNV1a32" } }))).toEqual([
      expect.stringMatching(/^spec\.function\.algorithm: algorithm applies only to type Hash/),
    ]);
  });

  it("assignments", () => {
    expect(errors("ShardingRule", rule({ assignments: [{ cell: "rz00", shards: "0-100" }] }))).toEqual([
      expect.stringMatching(/^spec\.assignments: every shard in assignments must be less than spec\.shards/),
    ]);
    expect(errors("ShardingRule", rule({ assignments: [{ cell: "rz00", shards: "99-0" }] }))).toEqual([
      expect.stringMatching(/^spec\.assignments\[0\]\.shards: each range must be written low-high/),
    ]);
    expect(
      errors(
        "ShardingRule",
        rule({
          assignments: [
            { cell: "rz00", shards: "0-49" },
            { cell: "rz00", shards: "50-99" },
          ],
        }),
      ),
    ).toEqual([expect.stringMatching(/^spec\.assignments: must not contain two entries with the same cell/)]);
    expect(errors("ShardingRule", rule({ assignments: [] }))).toHaveLength(1);
  });

  it("key sources and invalid keys", () => {
    expect(
      errors(
        "ShardingRule",
        rule({
          key: {
            sources: [
              { type: "Header", name: "x-user-id" },
              { type: "Header", name: "x-user-id" },
            ],
          },
        }),
      ),
    ).toEqual([expect.stringMatching(/sources must not list the same type and name twice/)]);
    expect(
      errors("ShardingRule", rule({ key: { sources: [{ type: "Header", name: "uid" }], onInvalidKey: "Global" } })),
    ).toEqual([expect.stringMatching(/^spec\.globalCell: globalCell is required/)]);
  });

  it("Cell standby zones", () => {
    const cell = (spec: Record<string, unknown>) => ({
      apiVersion: "ldc.io/v1alpha1",
      kind: "Cell",
      metadata: meta("rz00"),
      spec,
    });
    expect(errors("Cell", cell({ type: "Regional", zone: "hz-a", standbyZones: ["hz-b", "sh-a"] }))).toEqual([]);
    expect(errors("Cell", cell({ type: "Regional", zone: "hz-a", standbyZones: ["hz-a"] }))).toEqual([
      expect.stringMatching(/^spec\.standbyZones: standbyZones must not contain the home zone/),
    ]);
    expect(errors("Cell", cell({ type: "Regional", zone: "hz-a", standbyZones: ["hz-b", "hz-b"] }))).toEqual([
      expect.stringMatching(/^spec\.standbyZones: must not contain duplicates/),
    ]);
    expect(
      errors(
        "Cell",
        cell({ type: "Regional", zone: "hz-a", standbyZones: Array.from({ length: 9 }, (_, i) => `z${i}`) }),
      ),
    ).toHaveLength(1);
    expect(errors("Cell", { ...cell({ type: "Regional", zone: "hz-a" }), metadata: meta("RZ_00") })).toEqual([
      expect.stringMatching(/^metadata\.name: metadata\.name must be at most 63 lowercase letters/),
    ]);
  });

  it("Failover target, type and durations", () => {
    const fo = (spec: Record<string, unknown>) => ({
      apiVersion: "ldc.io/v1alpha1",
      kind: "Failover",
      metadata: meta("f"),
      spec,
    });
    expect(errors("Failover", fo({ type: "Emergency", target: { cells: ["rz00", "rz01"] } }))).toEqual([]);
    expect(errors("Failover", fo({ type: "Emergency", target: { cells: [] } }))).toHaveLength(1);
    expect(errors("Failover", fo({ type: "Emergency", target: { zone: "hz-a" }, drill: { duration: "5m" } }))).toEqual([
      expect.stringMatching(/^spec\.drill: type Drill requires drill\.duration/),
    ]);
    expect(errors("Failover", fo({ type: "Drill", target: { zone: "hz-a" }, drill: { duration: "1h30m" } }))).toEqual(
      [],
    );
    expect(errors("Failover", fo({ type: "Emergency", target: { zone: "hz-a" }, timeouts: { step: "0s" } }))).toEqual([
      expect.stringMatching(/^spec\.timeouts\.step: must be greater than zero/),
    ]);
    expect(errors("Failover", fo({ type: "Emergency", target: { zone: "hz-a" }, writeFreeze: "0s" }))).toEqual([]);
  });

  it("CellApp template and overrides", () => {
    const app = (spec: Record<string, unknown>) => ({
      apiVersion: "ldc.io/v1alpha1",
      kind: "CellApp",
      metadata: { name: "account", namespace: "payments" },
      spec: {
        shardingRule: "users",
        scope: "Regional",
        template: { spec: { containers: [{ name: "app" }] } },
        ...spec,
      },
    });
    expect(errors("CellApp", app({}))).toEqual([]);
    expect(errors("CellApp", app({ template: { spec: { containers: [] } } }))).toHaveLength(1);
    expect(
      errors("CellApp", app({ overrides: [{ cell: "rz00", resources: { limits: { cpu: 2, memory: "4Gi" } } }] })),
    ).toEqual([]);
    expect(
      errors("CellApp", app({ overrides: [{ cell: "rz00", resources: { limits: { cpu: "two" } } }] })),
    ).toHaveLength(1);
    expect(errors("CellApp", { ...app({}), metadata: { name: "0app", namespace: "payments" } })).toHaveLength(1);
    // unknown pod template fields are kept
    const parsed = CellApp.parse(
      app({
        template: { spec: { containers: [{ name: "app", ports: [{ containerPort: 80 }] }], hostNetwork: false } },
      }),
    );
    expect(parsed.spec.template.spec).toEqual({
      containers: [{ name: "app", ports: [{ containerPort: 80 }] }],
      hostNetwork: false,
    });
  });
});
