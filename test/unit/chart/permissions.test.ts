// The permission table (src/chart/permissions.ts) the chart's RBAC is
// generated from: least privilege, every rule explained.
import { describe, expect, it } from "vitest";
import { allKinds } from "../../../src/api/kinds.ts";
import {
  MEMBER_CLUSTER_RULES,
  MEMBER_RELAY_NAMESPACE_RULES,
  OPERATOR_RULES,
  RELAY_CLUSTER_RULES,
  RELAY_RULES,
} from "../../../src/chart/permissions.ts";
import type { PermissionRule } from "../../../src/chart/permissions.ts";

const VERBS = ["get", "list", "watch", "create", "update", "patch", "delete"];

/** Every (group, resource, verb, scope) a table grants. */
function grants(rules: readonly PermissionRule[]): string[] {
  return rules.flatMap((r) =>
    r.apiGroups.flatMap((g) =>
      r.resources.flatMap((res) => r.verbs.map((v) => `${r.scope} ${g || "core"} ${res} ${v}`)),
    ),
  );
}

describe.each([
  ["OPERATOR_RULES", OPERATOR_RULES],
  ["MEMBER_CLUSTER_RULES", MEMBER_CLUSTER_RULES],
  ["MEMBER_RELAY_NAMESPACE_RULES", MEMBER_RELAY_NAMESPACE_RULES],
  ["RELAY_RULES", RELAY_RULES],
  ["RELAY_CLUSTER_RULES", RELAY_CLUSTER_RULES],
])("%s", (_name, rules) => {
  it("lists verbs and resources explicitly: no *, no deletecollection, escalate, bind or impersonate", () => {
    for (const r of rules) {
      for (const s of [...r.apiGroups, ...r.resources, ...r.verbs]) expect(s, JSON.stringify(r)).not.toContain("*");
      for (const v of r.verbs) expect(VERBS, JSON.stringify(r)).toContain(v);
      expect(r.apiGroups.length * r.resources.length * r.verbs.length, JSON.stringify(r)).toBeGreaterThan(0);
    }
  });

  it("explains every rule", () => {
    for (const r of rules) expect(r.why.length, JSON.stringify(r)).toBeGreaterThan(15);
  });

  it("grants nothing twice", () => {
    const g = grants(rules);
    expect(g.length).toBe(new Set(g).size);
  });
});

describe("the operator's permissions", () => {
  const g = new Set(grants(OPERATOR_RULES));

  it("watch every ldc.io kind and write only its status, create and prune Failovers and manage CellApp and Failover finalizers", () => {
    for (const k of allKinds) {
      for (const v of ["get", "list", "watch"]) expect(g).toContain(`cluster ldc.io ${k.plural} ${v}`);
      expect(g).toContain(`cluster ldc.io ${k.plural}/status patch`);
      if (k.plural !== "failovers") expect(g).not.toContain(`cluster ldc.io ${k.plural} delete`);
    }
    const writes = [...g].filter(
      (x) => x.startsWith("cluster ldc.io ") && !/ (get|list|watch)$/.test(x) && !x.includes("/status "),
    );
    expect([...g].filter((x) => x.includes("/status ") && !x.endsWith(" patch"))).toEqual([
      "cluster ldc.io shardingrules/status update",
      "cluster ldc.io failovers/status update",
    ]);
    expect(writes.sort()).toEqual([
      "cluster ldc.io cellapps patch",
      "cluster ldc.io cellapps update",
      "cluster ldc.io cellapps/finalizers update",
      "cluster ldc.io failovers create",
      "cluster ldc.io failovers delete",
      "cluster ldc.io failovers patch",
    ]);
  });

  it("reads Secrets and uses Leases in its own namespace only, and never touches RBAC, CRDs or pods' lifecycle", () => {
    expect([...g].filter((x) => / (secrets|leases) /.test(x)).every((x) => x.startsWith("namespace "))).toBe(true);
    expect([...g].filter((x) => x.includes(" secrets ")).map((x) => x.split(" ")[3])).toEqual(["get", "list", "watch"]);
    for (const x of g) {
      expect(x).not.toMatch(/rbac\.authorization\.k8s\.io|apiextensions\.k8s\.io|serviceaccounts|clusterroles/);
      if (x.includes(" pods ")) expect(x).toMatch(/ (list|watch)$/);
      if (x.includes(" namespaces ")) expect(x).toMatch(/ get$/);
    }
  });
});

describe("the member-cluster permissions", () => {
  it("are the workload part of the operator's (plus creating app namespaces), without ldc.io kinds, Secrets or Leases", () => {
    const member = grants(MEMBER_CLUSTER_RULES);
    const operator = new Set(grants(OPERATOR_RULES));
    expect(member.filter((x) => !operator.has(x))).toEqual(["cluster core namespaces create"]);
    expect(member.filter((x) => /ldc\.io|secrets|leases/.test(x))).toEqual([]);
    for (const res of ["deployments", "services", "configmaps", "events", "nodes", "pods", "namespaces"]) {
      expect(
        member.some((x) => x.split(" ")[2] === res),
        res,
      ).toBe(true);
    }
  });
});

describe("the relay's permissions", () => {
  it("read routing ConfigMaps, get the Lease and write its ack ConfigMap, in its own namespace only; review tokens", () => {
    expect(grants(RELAY_RULES).sort()).toEqual([
      "namespace coordination.k8s.io leases get",
      "namespace core configmaps create",
      "namespace core configmaps get",
      "namespace core configmaps list",
      "namespace core configmaps update",
      "namespace core configmaps watch",
    ]);
    // Never delete or patch: a relay cannot remove another replica's acks.
    expect(grants(RELAY_CLUSTER_RULES)).toEqual(["cluster authentication.k8s.io tokenreviews create"]);
  });

  it("a zone's kubeconfig may renew the routing Lease in the relay namespace only, without update or delete", () => {
    expect(grants(MEMBER_RELAY_NAMESPACE_RULES).sort()).toEqual([
      "namespace coordination.k8s.io leases create",
      "namespace coordination.k8s.io leases patch",
    ]);
    // The operator's own Role covers the same in the home cluster's relay namespace (its own).
    const operator = new Set(grants(OPERATOR_RULES));
    for (const g of grants(MEMBER_RELAY_NAMESPACE_RULES)) expect(operator.has(g), g).toBe(true);
  });
});
