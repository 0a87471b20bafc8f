// The relay's own lease (src/relay/lease.ts): taken from renewals of the
// operator's Lease seen between two GETs, counted from the earlier GET's send
// time; and what it grants sidecars. A fake clock: readings are passed in.
import { describe, expect, it } from "vitest";
import { RelayLease, RENEWAL_ANNOTATION, renewalOf, type Renewal } from "../../../src/relay/index.ts";

const r = (n: number, leaseMs = 10_000): Renewal => ({ marker: `renewal-${n}`, leaseMs });

describe("RelayLease", () => {
  it("holds no lease from the first GET alone: it cannot tell when that renewal was written", () => {
    const l = new RelayLease();
    expect(l.observe(1000, r(1))).toBe(false);
    expect(l.remaining(1000)).toBe(0);
    expect(l.grantable(1000)).toBeUndefined();
  });

  it("a renewal new since the previous GET gives a lease until that GET's send time + the lease", () => {
    const l = new RelayLease();
    l.observe(1000, r(1));
    expect(l.observe(2000, r(2))).toBe(true);
    // Counted from 1000 (the previous GET), not 2000 and not the answer's arrival.
    expect(l.remaining(2500)).toBe(8500);
    expect(l.grantable(2500)).toBe(8500);
    expect(l.remaining(11_000)).toBe(0);
    expect(l.grantable(10_999.5)).toBeUndefined();
  });

  it("the same renewal seen again extends nothing: the operator has stopped renewing", () => {
    const l = new RelayLease();
    l.observe(1000, r(1));
    l.observe(2000, r(2));
    for (const t of [3000, 4000, 5000, 9000]) expect(l.observe(t, r(2))).toBe(false);
    expect(l.remaining(10_999)).toBe(1);
    expect(l.remaining(11_000)).toBe(0);
    // Renewed again: counted from the last GET that did not show it.
    expect(l.observe(12_000, r(3))).toBe(true);
    expect(l.remaining(12_000)).toBe(7000); // from 9000
  });

  it("GETs that got no answer are not reported: the next answer is counted from the last answered GET", () => {
    const l = new RelayLease();
    l.observe(1000, r(1));
    // GETs sent at 2000..5000 failed; the one sent at 6000 shows a new renewal.
    expect(l.observe(6000, r(2))).toBe(true);
    expect(l.remaining(6000)).toBe(5000);
  });

  it("a Lease that is missing, or not the operator's, is no renewal; one appearing after it is", () => {
    const l = new RelayLease();
    expect(l.observe(1000, undefined)).toBe(false);
    expect(l.observe(2000, undefined)).toBe(false);
    expect(l.remaining(2000)).toBe(0);
    expect(l.observe(3000, r(1))).toBe(true);
    expect(l.remaining(3000)).toBe(9000);
  });

  it("ignores an answer to a GET sent before the last one counted (it proves nothing newer)", () => {
    const l = new RelayLease();
    l.observe(1000, r(1));
    l.observe(3000, r(2));
    expect(l.observe(2000, r(3))).toBe(false);
    expect(l.remaining(3000)).toBe(8000);
  });

  it("takes at most maxLeaseMs from a renewal, whatever the Lease says, and grants at most the cap", () => {
    const l = new RelayLease({ maxLeaseMs: 4000 });
    l.observe(0, r(1, 60_000));
    l.observe(1000, r(2, 60_000));
    expect(l.remaining(1000)).toBe(3000);
    expect(l.grantable(1000, 2000)).toBe(2000);
    // Never rounded up: a sidecar's lease never outlives the relay's.
    expect(l.grantable(1000.7)).toBe(2999);
  });
});

describe("renewalOf", () => {
  const lease = (
    over: Record<string, unknown> = {},
    annotations: Record<string, unknown> = { [RENEWAL_ANNOTATION]: "7" },
  ) => ({
    metadata: { name: "ldc-routing", annotations },
    spec: { holderIdentity: "op-1", renewTime: "2026-11-30T11:00:00.000000Z", leaseDurationSeconds: 10, ...over },
  });

  it("reads the operator's renewal: a marker that changes with holder, renewTime or counter, and the duration", () => {
    const a = renewalOf(lease());
    expect(a?.leaseMs).toBe(10_000);
    expect(renewalOf(lease({ holderIdentity: "op-2" }))?.marker).not.toBe(a?.marker);
    expect(renewalOf(lease({ renewTime: "2026-11-30T11:00:02.000000Z" }))?.marker).not.toBe(a?.marker);
    expect(renewalOf(lease({}, { [RENEWAL_ANNOTATION]: "8" }))?.marker).not.toBe(a?.marker);
    expect(renewalOf(lease())?.marker).toBe(a?.marker);
  });

  it("is undefined for anything else (no crash on hostile objects)", () => {
    for (const bad of [
      undefined,
      null,
      "x",
      {},
      lease({ leaseDurationSeconds: 0 }),
      lease({ leaseDurationSeconds: "10" }),
      lease({ leaseDurationSeconds: 1.5 }),
      lease({ renewTime: undefined }),
      lease({ holderIdentity: 3 }),
      lease({}, {}),
      { metadata: null, spec: null },
    ]) {
      expect(renewalOf(bad)).toBeUndefined();
    }
  });
});
