// The generated CRDs against a real API server: accepted as structural and
// Established, the examples apply in one `kubectl apply -f` and read back with
// the same defaults zod applies, every invalid example is rejected with its
// expected message, and the transition (immutability) rules hold.
//
// CRDs are cluster-scoped and shared by every test run: they are installed
// idempotently (server-side apply) and the cluster-scoped objects this file
// creates carry a per-run suffix, deleted at the end.
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ApiextensionsV1Api, CustomObjectsApi } from "@kubernetes/client-node";
import fc from "fast-check";
import { parseAllDocuments, stringify } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Kinds, allKinds, crdName, isKindName, parseResource } from "../../../src/api/index.ts";
import type { KindName } from "../../../src/api/index.ts";
import { createTestNamespace, datacenters, eventually, runTool, uniqueName, type Datacenter } from "../harness.ts";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const CRDS_DIR = path.join(ROOT, "crds");
const EXAMPLES_DIR = path.join(ROOT, "examples");
const FIELD_MANAGER = "ldc-operator-crd-test";

type Obj = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } } & Record<
  string,
  unknown
>;

let dc: Datacenter;
let suffix: string;
let workDir: string;
/** Files of objects this run created (deleted in afterAll). */
const cleanup: string[] = [];

const kubectl = (args: string[], input?: string) => runTool("kubectl", dc, args, input === undefined ? {} : { input });

/** Runs kubectl and returns its error output, failing if it succeeds. */
async function kubectlFails(args: string[], input?: string): Promise<string> {
  try {
    await kubectl(args, input);
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    return `${err.stderr ?? ""}${err.message}`;
  }
  throw new Error(`kubectl ${args.join(" ")} succeeded but should have failed`);
}

function loadObjects(file: string): Obj[] {
  return parseAllDocuments(readFileSync(file, "utf8"))
    .map((d) => d.toJS() as Obj | null)
    .filter((o): o is Obj => o !== null);
}

function isClusterScoped(o: Obj): boolean {
  return isKindName(o.kind) && Kinds[o.kind].scope === "Cluster";
}

/** Replaces every string equal to a key of `names` (object names and references to them). */
function rename<T>(value: T, names: ReadonlyMap<string, string>): T {
  if (typeof value === "string") return (names.get(value) ?? value) as T;
  if (Array.isArray(value)) return value.map((v) => rename(v, names)) as T;
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, rename(v, names)])) as T;
  }
  return value;
}

async function readBack(o: Obj): Promise<Obj> {
  const k = Kinds[o.kind as KindName];
  const api = dc.kubeConfig.makeApiClient(CustomObjectsApi);
  const got =
    k.scope === "Cluster"
      ? await api.getClusterCustomObject({
          group: k.group,
          version: k.version,
          plural: k.plural,
          name: o.metadata.name,
        })
      : await api.getNamespacedCustomObject({
          group: k.group,
          version: k.version,
          plural: k.plural,
          namespace: o.metadata.namespace as string,
          name: o.metadata.name,
        });
  return got as Obj;
}

beforeAll(async () => {
  [dc] = (await datacenters()) as [Datacenter];
  suffix = uniqueName("r").slice(2); // 6 hex characters
  workDir = mkdtempSync(path.join(tmpdir(), "ldc-crd-test-"));
  await kubectl(["apply", "--server-side", "--force-conflicts", `--field-manager=${FIELD_MANAGER}`, "-f", CRDS_DIR]);
});

afterAll(async () => {
  for (const file of cleanup.reverse()) {
    await kubectl(["delete", "--ignore-not-found", "--wait=false", "-f", file]).catch(() => undefined);
  }
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

describe("CRDs", () => {
  it("are accepted as structural and become Established, in the ldc category", async () => {
    const api = dc.kubeConfig.makeApiClient(ApiextensionsV1Api);
    for (const k of allKinds) {
      const crd = await eventually(`${crdName(k)} Established`, async () => {
        const c = await api.readCustomResourceDefinition({ name: crdName(k) });
        const established = c.status?.conditions?.find((x) => x.type === "Established")?.status === "True";
        return established ? c : undefined;
      });
      const conditions = crd.status?.conditions ?? [];
      expect(
        conditions.find((x) => x.type === "NonStructuralSchema"),
        crdName(k),
      ).toBeUndefined();
      expect(conditions.find((x) => x.type === "NamesAccepted")?.status).toBe("True");
      expect(crd.status?.acceptedNames?.categories).toEqual(["ldc"]);
      expect(crd.status?.acceptedNames?.shortNames).toEqual([...k.shortNames]);
    }
  });

  it("explain every field (kubectl explain)", async () => {
    // The apiserver publishes a new CRD's OpenAPI a moment after it is Established.
    const explain = (field: string) =>
      eventually(
        `kubectl explain ${field}`,
        async () => (await kubectl(["explain", field])).stdout.replace(/\s+/g, " "),
        30_000,
      );
    expect(await explain("cells.spec.standbyZones")).toContain("Must not contain the home zone.");
    expect(await explain("failovers.spec.abort")).toContain("The only field that may change after creation.");
    expect(await explain("shardingrules.spec.function.to")).toContain("uid 1234 gives shard 23");
  });
});

describe("examples", () => {
  let objects: Obj[] = [];

  it("apply in one `kubectl apply -f examples/` and read back with the defaults zod applies", async () => {
    // A per-run copy of examples/: cluster-scoped names and the namespace get
    // the run's suffix (references to them too), file names and order kept.
    const files = readdirSync(EXAMPLES_DIR)
      .filter((f) => f.endsWith(".yaml"))
      .sort();
    const all = files.flatMap((f) => loadObjects(path.join(EXAMPLES_DIR, f)).map((o) => ({ f, o })));
    const names = new Map<string, string>();
    for (const { o } of all)
      if (o.kind === "Namespace" || isClusterScoped(o)) names.set(o.metadata.name, `${o.metadata.name}-${suffix}`);
    const dir = path.join(workDir, "examples");
    mkdirSync(dir);
    for (const f of files) {
      const renamed = all.filter((x) => x.f === f).map((x) => rename(x.o, names));
      objects.push(...renamed);
      writeFileSync(path.join(dir, f), renamed.map((o) => stringify(o)).join("---\n"));
    }
    cleanup.push(dir);
    await kubectl(["apply", "-f", dir]);

    objects = objects.filter((o) => o.kind !== "Namespace");
    for (const o of objects) {
      const want = parseResource(o.kind as KindName, o);
      if (!want.ok) throw new Error(`${o.kind}/${o.metadata.name}: ${want.errors.join("; ")}`);
      const got = await readBack(o);
      expect(got.spec, `${o.kind}/${o.metadata.name}`).toEqual((want.value as { spec: unknown }).spec);
    }
  });

  it("are listed by `kubectl get ldc`", async () => {
    const { stdout } = await kubectl(["get", "ldc", "-A", "-o", "name"]);
    for (const o of objects)
      expect(stdout).toContain(`${Kinds[o.kind as KindName].singular}.ldc.io/${o.metadata.name}`);
  });

  it("print the columns an SRE looks at", async () => {
    const cell = objects.find((o) => o.kind === "Cell")!;
    const status = {
      observedGeneration: 1,
      activeZone: "hz-b",
      phase: "Ready",
      shards: "0-24",
      shardCount: 25,
      conditions: [
        { type: "Ready", status: "True", reason: "Ready", message: "", lastTransitionTime: "2026-11-21T09:00:00Z" },
      ],
    };
    await kubectl([
      "patch",
      "cell",
      cell.metadata.name,
      "--subresource=status",
      "--type=merge",
      "-p",
      JSON.stringify({ status }),
    ]);
    const { stdout } = await kubectl(["get", "cell", cell.metadata.name, "-o", "wide"]);
    const [header, row] = stdout.trim().split("\n");
    expect(header!.split(/\s+/)).toEqual(["NAME", "TYPE", "HOME", "ACTIVE", "SHARDS", "PHASE", "FAILOVER", "AGE"]);
    expect(row!.split(/\s+/).slice(0, 6)).toEqual([
      cell.metadata.name,
      "Regional",
      "hz-a-" + suffix,
      "hz-b",
      "0-24",
      "Ready",
    ]);
  });
});

describe("invalid examples", () => {
  const dir = path.join(EXAMPLES_DIR, "invalid");
  const cases = readdirSync(dir)
    .filter((f) => f.endsWith(".yaml"))
    .sort()
    .map((f) => {
      const text = readFileSync(path.join(dir, f), "utf8");
      const expectLine = /^# expect: (.+)$/.exec(text.split("\n")[0] ?? "");
      return { f, expect: expectLine?.[1]?.trim() ?? "", obj: loadObjects(path.join(dir, f))[0] as Obj };
    });

  it("all have an expectation", () => {
    expect(cases.length).toBeGreaterThan(0);
    for (const c of cases) expect(c.expect, c.f).not.toBe("");
  });

  it.each(cases.map((c) => [c.f, c]))("%s is rejected with its expected message", async (_f, c) => {
    const o = structuredClone(c.obj);
    o.metadata.name = `${o.metadata.name}-${suffix}`;
    if (!isClusterScoped(o)) o.metadata.namespace = await createTestNamespace(dc, "invalid");
    const file = path.join(workDir, `invalid-${c.f}`);
    writeFileSync(file, stringify(o));
    const err = await kubectlFails(["create", "-f", file]).catch((e: Error) => {
      cleanup.push(file); // it was created: remove it at the end
      throw e;
    });
    expect(err).toContain(c.expect);
  });
});

describe("transition rules", () => {
  async function create(o: Obj): Promise<void> {
    const file = path.join(workDir, `${o.kind}-${o.metadata.name}.yaml`);
    writeFileSync(file, stringify(o));
    cleanup.push(file);
    await kubectl(["create", "-f", file]);
  }
  const patch = (kind: string, name: string, p: unknown) =>
    kubectl(["patch", kind, name, "--type=merge", "-p", JSON.stringify(p)]);
  const patchFails = (kind: string, name: string, p: unknown) =>
    kubectlFails(["patch", kind, name, "--type=merge", "-p", JSON.stringify(p)]);

  it("ShardingRule: shards and function are immutable, assignments are not", async () => {
    const name = `immutable-${suffix}`;
    await create({
      apiVersion: "ldc.io/v1alpha1",
      kind: "ShardingRule",
      metadata: { name },
      spec: {
        key: { sources: [{ type: "Header", name: "x-user-id" }] },
        shards: 100,
        function: { type: "Digits", from: -3, to: -1 },
        assignments: [{ cell: "rz00", shards: "0-99" }],
      },
    });
    expect(await patchFails("shardingrule", name, { spec: { shards: 200 } })).toContain("shards is immutable");
    expect(await patchFails("shardingrule", name, { spec: { function: { from: -4 } } })).toContain(
      "function is immutable",
    );
    await patch("shardingrule", name, {
      spec: {
        assignments: [
          { cell: "rz00", shards: "0-49" },
          { cell: "rz01", shards: "50-99" },
        ],
      },
    });
  });

  it("Cell: type is immutable", async () => {
    const name = `immutable-${suffix}`;
    await create({
      apiVersion: "ldc.io/v1alpha1",
      kind: "Cell",
      metadata: { name },
      spec: { type: "Regional", zone: "hz-a" },
    });
    expect(await patchFails("cell", name, { spec: { type: "Global" } })).toContain("type is immutable");
    await patch("cell", name, { spec: { standbyZones: ["hz-b"] } });
  });

  it("Failover: only spec.abort changes, and only from false to true", async () => {
    const name = `immutable-${suffix}`;
    await create({
      apiVersion: "ldc.io/v1alpha1",
      kind: "Failover",
      metadata: { name },
      spec: { type: "Emergency", target: { cells: ["rz00"] }, reason: "test" },
    });
    const immutable = "spec is immutable except spec.abort";
    expect(await patchFails("failover", name, { spec: { target: { cells: ["rz01"] } } })).toContain(immutable);
    expect(await patchFails("failover", name, { spec: { writeFreeze: "10s" } })).toContain(immutable);
    expect(await patchFails("failover", name, { spec: { reason: null } })).toContain(immutable);
    expect(await patchFails("failover", name, { spec: { destination: { zone: "hz-b" } } })).toContain(immutable);
    await patch("failover", name, { spec: { abort: true } });
    expect(await patchFails("failover", name, { spec: { abort: false } })).toContain("abort cannot be undone");
  });

  it("CellApp: scope is immutable", async () => {
    const namespace = await createTestNamespace(dc, "capp");
    await create({
      apiVersion: "ldc.io/v1alpha1",
      kind: "CellApp",
      metadata: { name: "account", namespace },
      spec: {
        shardingRule: "users",
        scope: "Regional",
        template: { spec: { containers: [{ name: "app", image: "x" }] } },
      },
    });
    expect(
      await kubectlFails([
        "patch",
        "cellapp",
        "account",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        '{"spec":{"scope":"Global"}}',
      ]),
    ).toContain("scope is immutable");
  });
});

describe("the API server and the runtime schema agree", () => {
  /** Whether the API server accepts a ShardingRule spec (server-side dry run). */
  async function apiServerAccepts(spec: unknown): Promise<boolean> {
    const k = Kinds.ShardingRule;
    try {
      await dc.kubeConfig.makeApiClient(CustomObjectsApi).createClusterCustomObject({
        group: k.group,
        version: k.version,
        plural: k.plural,
        dryRun: "All",
        body: { apiVersion: k.apiVersion, kind: k.kind, metadata: { name: `agree-${suffix}` }, spec },
      });
      return true;
    } catch (e) {
      if ((e as { code?: number }).code === 422) return false;
      throw e;
    }
  }

  const ruleSpec = (shards: number, fn: unknown, ranges: string[]) => ({
    key: { sources: [{ type: "Header", name: "x-user-id" }] },
    shards,
    function: fn,
    assignments: ranges.map((r, i) => ({ cell: `rz${i}`, shards: r })),
  });

  it("on shard range lists (CEL: low-high, within 0..shards-1)", async () => {
    const item = (n: number) =>
      fc.oneof(
        fc.nat({ max: n + 1 }).map(String),
        fc.tuple(fc.nat({ max: n + 1 }), fc.nat({ max: n + 1 })).map(([a, b]) => `${a}-${b}`),
      );
    const cases = fc.sample(
      fc.integer({ min: 1, max: 120 }).chain((n) =>
        fc.tuple(
          fc.constant(n),
          fc.array(
            fc.array(item(n), { minLength: 1, maxLength: 4 }).map((xs) => xs.join(",")),
            { minLength: 1, maxLength: 3 },
          ),
        ),
      ),
      { numRuns: 40, seed: 42 },
    );
    cases.push(
      [100, ["0,5-5,7-9,99"]],
      [100, ["100"]],
      [100, ["10-9"]],
      [1, ["0"]],
      [1, ["0-0"]],
      [100, ["5-0"]],
      [100, ["0-0,1-2"]],
      [16384, ["0-16383"]],
    );
    for (const [n, ranges] of cases) {
      const spec = ruleSpec(n, { type: "Hash" }, ranges);
      const zodAccepts = parseResource("ShardingRule", {
        apiVersion: "ldc.io/v1alpha1",
        kind: "ShardingRule",
        metadata: { name: "x" },
        spec,
      }).ok;
      expect(await apiServerAccepts(spec), `shards ${n}, assignments ${ranges.join(" | ")}`).toBe(zodAccepts);
    }
  });

  it("on Digits slices", async () => {
    const fns = [
      { type: "Digits", from: -3, to: -1 },
      { type: "Digits", from: -2 },
      { type: "Digits", from: 0, to: 2 },
      { type: "Digits", from: 3, to: 5 },
      { type: "Digits", from: -2, to: -1 },
      { type: "Digits", from: -1, to: -3 },
      { type: "Digits", from: -3, to: 0 },
      { type: "Digits", from: 2 },
      { type: "Digits", from: -16 },
      { type: "Digits" },
      { type: "Modulo", from: -3 },
      { type: "Hash", algorithm: "FNV1a32" },
      { type: "Modulo", algorithm: "FNV1a32" },
    ];
    for (const fn of fns) {
      const spec = ruleSpec(100, fn, ["0-99"]);
      const zodAccepts = parseResource("ShardingRule", {
        apiVersion: "ldc.io/v1alpha1",
        kind: "ShardingRule",
        metadata: { name: "x" },
        spec,
      }).ok;
      expect(await apiServerAccepts(spec), JSON.stringify(fn)).toBe(zodAccepts);
    }
  });
});
