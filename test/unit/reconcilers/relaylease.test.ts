// The operator's renewals of the relays' Lease (src/reconcilers/relaylease.ts):
// which clusters get one, and the object, read back by the relay's side.
import { describe, expect, it } from "vitest";
import {
  planRenewals,
  routingLease,
  ROUTING_LEASE_COUNTER,
  ROUTING_LEASE_NAME,
} from "../../../src/reconcilers/relaylease.ts";
import { RELAY_LEASE_NAME, RENEWAL_ANNOTATION, renewalOf } from "../../../src/relay/index.ts";

describe("planRenewals", () => {
  const targets = [
    { cluster: "local", reachable: true, inFlight: false },
    { cluster: "zone-hz-b", reachable: true, inFlight: true },
    { cluster: "zone-sh-a", reachable: false, inFlight: false },
    { cluster: "zone-sh-b", reachable: true, inFlight: false },
  ];

  it("renews every reachable cluster whose previous renewal settled", () => {
    expect(planRenewals(true, targets)).toEqual(["local", "zone-sh-b"]);
  });

  it("renews nothing unless this replica leads", () => {
    expect(planRenewals(false, targets)).toEqual([]);
  });

  it("stops renewing a cluster that does not answer its probe: its fence can then start counting", () => {
    expect(planRenewals(true, [{ cluster: "zone-sh-a", reachable: false, inFlight: false }])).toEqual([]);
  });
});

describe("routingLease", () => {
  const at = Date.parse("2026-11-30T11:00:02.345Z");
  const lease = routingLease({ namespace: "ldc-system", identity: "op-1_42", leaseMs: 10_000, nowMs: at, counter: 7 });

  it("is the Lease the relays poll: name, namespace, holder, duration, renewTime (MicroTime) and counter", () => {
    expect(ROUTING_LEASE_NAME).toBe(RELAY_LEASE_NAME);
    expect(ROUTING_LEASE_COUNTER).toBe(RENEWAL_ANNOTATION);
    expect(lease).toMatchObject({
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      metadata: { name: "ldc-routing", namespace: "ldc-system", annotations: { "ldc.io/renewal": "7" } },
      spec: { holderIdentity: "op-1_42", leaseDurationSeconds: 10, renewTime: "2026-11-30T11:00:02.345000Z" },
    });
  });

  it("reads back on the relay's side as a renewal of the operator's lease duration; each renewal differs", () => {
    const r = renewalOf(lease);
    expect(r?.leaseMs).toBe(10_000);
    const next = renewalOf(
      routingLease({ namespace: "ldc-system", identity: "op-1_42", leaseMs: 10_000, nowMs: at, counter: 8 }),
    );
    expect(next?.marker).not.toBe(r?.marker);
  });

  it("rounds a lease that is not whole seconds up to at least 1 s (RelayLeaseRenewer fences with the rounded value)", () => {
    const spec = (ms: number) =>
      (
        routingLease({ namespace: "n", identity: "i", leaseMs: ms, nowMs: at, counter: 1 }).spec as Record<
          string,
          unknown
        >
      ).leaseDurationSeconds;
    expect(spec(300)).toBe(1);
    expect(spec(2500)).toBe(3);
  });
});
