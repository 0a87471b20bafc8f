// Which pods are sidecars the operator deployed: the Failover barrier's
// expected set. A forged or foreign pod must never count.
import { describe, expect, it } from "vitest";
import { deployedSidecar, type SlimPod } from "../../../src/controllers/sidecar-pods.ts";

function pod(
  o: { phase?: string; labels?: Record<string, string>; owner?: string; containers?: string[] } = {},
): SlimPod {
  return {
    metadata: {
      name: "account-rz01-hz-b-7d9f-x2k",
      namespace: "payments",
      labels: {
        "app.kubernetes.io/managed-by": "ldc-operator",
        "ldc.io/sharding-rule": "users",
        "ldc.io/app": "account",
        "ldc.io/cell": "rz01",
        "ldc.io/zone": "hz-b",
        ...o.labels,
      },
      ownerReferences: [
        {
          apiVersion: "apps/v1",
          kind: "ReplicaSet",
          name: o.owner ?? "account-rz01-hz-b-7d9f",
          uid: "u",
          controller: true,
        },
      ],
    },
    spec: { containers: (o.containers ?? ["account", "ldc-sidecar"]).map((name) => ({ name })) },
    status: { phase: o.phase ?? "Running" },
  };
}

const member = { name: "zone-hz-b", local: false };
const home = { name: "local", local: true };

describe("deployedSidecar", () => {
  it("is a Running pod with a sidecar, of a ReplicaSet of the Deployment its labels name, in a zone its cluster serves", () => {
    expect(deployedSidecar(pod(), member, new Set())).toEqual({
      sidecar: "payments/account-rz01-hz-b-7d9f-x2k",
      zone: "hz-b",
      rule: "users",
    });
    expect(deployedSidecar(pod(), home, new Set(["hz-b"]))).toHaveProperty("zone", "hz-b");
  });

  it("is not a pod that does not run yet, has no sidecar, or belongs to something else", () => {
    expect(deployedSidecar(pod({ phase: "Pending" }), member, new Set())).toBeUndefined();
    expect(deployedSidecar(pod({ containers: ["account"] }), member, new Set())).toBeUndefined();
    expect(deployedSidecar(pod({ owner: "other-app-7d9f" }), member, new Set())).toBeUndefined();
    expect(
      deployedSidecar(pod({ labels: { "app.kubernetes.io/managed-by": "helm" } }), member, new Set()),
    ).toBeUndefined();
  });

  it("is a Pending pod whose sidecar the kubelet reports running (another container not started yet)", () => {
    const pending = pod({ phase: "Pending" });
    expect(deployedSidecar(pending, member, new Set())).toBeUndefined();
    pending.status = { phase: "Pending", containerStatuses: [{ name: "ldc-sidecar", state: { running: {} } }] };
    expect(deployedSidecar(pending, member, new Set())).toHaveProperty(
      "sidecar",
      "payments/account-rz01-hz-b-7d9f-x2k",
    );
    expect(deployedSidecar(pod({ phase: "Succeeded" }), member, new Set())).toBeUndefined();
  });

  it("is not a pod claiming a zone its cluster does not serve", () => {
    expect(
      deployedSidecar(pod({ labels: { "ldc.io/zone": "sh-a" }, owner: "account-rz01-sh-a-1" }), member, new Set()),
    ).toBeUndefined();
    expect(deployedSidecar(pod(), home, new Set(["hz-a"]))).toBeUndefined();
  });
});
