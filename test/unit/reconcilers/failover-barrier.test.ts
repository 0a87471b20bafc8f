// The Failover's acknowledgement barrier: every sidecar holds the epoch, or
// its zone is provably fenced (ADR 0007).
import { describe, expect, it } from "vitest";
import { acknowledgementBarrier, zoneFencedAt, type BarrierInput } from "../../../src/reconcilers/failover-barrier.ts";

const NOW = 1_000_000;

function input(o: Partial<BarrierInput> = {}): BarrierInput {
  return {
    rules: [
      {
        name: "users",
        knownSidecars: 3,
        acks: [
          { sidecar: "a1", zone: "hz-a", epoch: 5 },
          { sidecar: "b1", zone: "hz-b", epoch: 5 },
          { sidecar: "s1", zone: "sh-a", epoch: 4 },
        ],
        expected: [
          { sidecar: "a1", zone: "hz-a" },
          { sidecar: "b1", zone: "hz-b" },
          { sidecar: "s1", zone: "sh-a" },
        ],
      },
    ],
    epoch: 5,
    unreachableZones: new Set(),
    unlistedZones: new Set(),
    fencedAt: () => NOW + 60_000, // every zone renews its leases
    listenedMs: 60_000,
    now: NOW,
    ...o,
  };
}

describe("acknowledgementBarrier", () => {
  it("waits for a reachable sidecar behind the epoch, naming it", () => {
    expect(acknowledgementBarrier(input())).toMatchObject({
      waiting: expect.stringMatching(/epoch 5: 1 sidecar\(s\) behind: s1@sh-a=4/),
    });
  });

  it("passes when every sidecar holds the epoch, counting them", () => {
    expect(acknowledgementBarrier(input({ epoch: 4 }))).toEqual({ count: 3 });
  });

  it("does not excuse an unreachable zone until its sidecars' leases have provably run out", () => {
    const cut = input({
      unreachableZones: new Set(["sh-a"]),
      fencedAt: (z) => (z === "sh-a" ? NOW + 4_200 : NOW + 60_000),
    });
    const w = acknowledgementBarrier(cut);
    expect(w).toMatchObject({ waiting: expect.stringMatching(/sh-a in 5s/), retryMs: 1000 });
    // Once fenced, its sidecars are neither counted nor waited for.
    expect(acknowledgementBarrier({ ...cut, now: NOW + 4_200 })).toEqual({ count: 2 });
  });

  it("excuses a reachable zone whose every sidecar stopped renewing (fenced), never one still renewing", () => {
    expect(acknowledgementBarrier(input({ fencedAt: (z) => (z === "sh-a" ? NOW : NOW + 60_000) }))).toEqual({
      count: 3,
    });
    expect(acknowledgementBarrier(input({ fencedAt: (z) => (z === "sh-a" ? NOW + 1 : NOW) }))).toHaveProperty(
      "waiting",
    );
  });

  it("never excuses an unreachable zone whose sidecars hold no lease, unless the user declared it fenced", () => {
    const cut = input({
      unreachableZones: new Set(["sh-a"]),
      fencedAt: (z) => (z === "sh-a" ? Infinity : NOW + 60_000),
    });
    expect(acknowledgementBarrier({ ...cut, now: NOW + 3_600_000 })).toMatchObject({
      waiting: expect.stringMatching(/sh-a unreachable and their sidecars hold no routing lease.*spec\.fencedZones/),
    });
    expect(acknowledgementBarrier({ ...cut, fencedAt: (z) => (z === "sh-a" ? -Infinity : NOW + 60_000) })).toEqual({
      count: 2,
    });
  });

  it("after a restart, waits until the sidecars the rule last counted have reported again", () => {
    const w = acknowledgementBarrier(
      input({
        listenedMs: 3_000,
        epoch: 4,
        rules: [{ ...input().rules[0]!, knownSidecars: 5 }],
      }),
    );
    expect(w).toMatchObject({
      waiting: expect.stringMatching(
        /restarted 3s ago: waiting for the 5 sidecar\(s\) of rule users to report again \(3 so far\)/,
      ),
    });
  });
});

describe("acknowledgementBarrier: the expected set is what the operator deployed, not who reported", () => {
  const silentPod = (o: Partial<BarrierInput> = {}) => {
    const base = input({ epoch: 4 });
    const rule = base.rules[0]!;
    return {
      ...base,
      rules: [{ ...rule, expected: [...rule.expected, { sidecar: "payments/b2", zone: "hz-b" }] }],
      ...o,
    };
  };

  it("waits for a deployed sidecar that never acknowledged, naming it, though every sidecar that reported holds the epoch", () => {
    expect(acknowledgementBarrier(silentPod())).toMatchObject({
      waiting: expect.stringMatching(/1 deployed sidecar\(s\) never acknowledged: payments\/b2@hz-b/),
    });
  });

  it("excuses it only once its zone is provably fenced", () => {
    expect(acknowledgementBarrier(silentPod({ fencedAt: (z) => (z === "hz-b" ? NOW : NOW + 60_000) }))).toEqual({
      count: 3,
    });
    const cut = silentPod({
      unreachableZones: new Set(["hz-b"]),
      fencedAt: (z) => (z === "hz-b" ? NOW + 5_000 : NOW + 60_000),
    });
    expect(acknowledgementBarrier(cut)).toHaveProperty("waiting");
    expect(acknowledgementBarrier({ ...cut, now: NOW + 5_000 })).toEqual({ count: 2 });
  });

  it("ignores the last ack of a pod that is gone (scaled down): its sidecar went with it; never a live sidecar's", () => {
    const base = input({ epoch: 5 });
    const rule = base.rules[0]!;
    const gone = { sidecar: "payments/account-rz01-hz-b-7d9f-old", zone: "hz-b", epoch: 4 };
    const withGone = {
      ...base,
      rules: [{ ...rule, acks: [...rule.acks.slice(0, 2), gone], expected: rule.expected.slice(0, 2) }],
    };
    expect(acknowledgementBarrier(withGone)).toEqual({ count: 2 });
    // Still deployed: it blocks. And while its zone's pods are not listed, nobody knows it is gone.
    const deployed = {
      ...withGone,
      rules: [{ ...withGone.rules[0]!, expected: [...rule.expected.slice(0, 2), gone] }],
    };
    expect(acknowledgementBarrier(deployed)).toHaveProperty("waiting");
    expect(acknowledgementBarrier({ ...withGone, unlistedZones: new Set(["hz-b"]) })).toHaveProperty("waiting");
  });

  it("waits while a reachable zone's pods are not listed yet (who should hold the table is unknown)", () => {
    expect(acknowledgementBarrier(input({ epoch: 4, unlistedZones: new Set(["hz-b"]) }))).toMatchObject({
      waiting: "listing the sidecar pods of zone(s) hz-b",
    });
  });
});

describe("zoneFencedAt", () => {
  it("is the latest fence of whatever grants the zone's leases (routing API, relays): a relayed zone is not fenced before its relay's bound", () => {
    expect(zoneFencedAt({ declared: false, leased: true, fences: [NOW + 16_150, NOW + 18_300] })).toBe(NOW + 18_300);
    expect(zoneFencedAt({ declared: false, leased: true, fences: [NOW + 16_150] })).toBe(NOW + 16_150);
  });

  it("never for a zone whose sidecars hold no lease; at once for a zone the user declared fenced", () => {
    expect(zoneFencedAt({ declared: false, leased: false, fences: [NOW] })).toBe(Infinity);
    expect(zoneFencedAt({ declared: true, leased: false, fences: [NOW + 60_000] })).toBe(-Infinity);
  });
});
