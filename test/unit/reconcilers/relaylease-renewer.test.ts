// RelayLeaseRenewer (src/controllers/relaylease.ts) with a fake client and
// clock: what it sends, to whom, and when it counts a renewal as sent.
import { describe, expect, it } from "vitest";
import { RelayLeaseRenewer, type RenewalCluster } from "../../../src/controllers/relaylease.ts";
import { relayFencedAt } from "../../../src/routing-api/index.ts";
import type { KubeClient, WriteOptions } from "../../../src/runtime/index.ts";

interface Sent {
  cluster: string;
  obj: Record<string, unknown>;
  opts: WriteOptions;
  settle: (ok: boolean) => void;
}

function fakeClient(name: string, sent: Sent[]): KubeClient {
  return {
    apply: (obj: Record<string, unknown>, opts: WriteOptions) =>
      new Promise((resolve, reject) => {
        opts.onSend?.(0);
        sent.push({ cluster: name, obj, opts, settle: (ok) => (ok ? resolve(obj) : reject(new Error("timed out"))) });
      }),
  } as unknown as KubeClient;
}

const flush = () => new Promise((r) => setImmediate(r));

describe("RelayLeaseRenewer", () => {
  it("renews every reachable zone cluster once in flight, counts a renewal as sent whether or not it is answered, and only while leading", async () => {
    let now = 1000;
    let leader = true;
    const sent: Sent[] = [];
    const clusters: RenewalCluster[] = [
      { name: "local", client: fakeClient("local", sent), reachable: true, zones: ["hz-a"] },
      { name: "zone-hz-b", client: fakeClient("zone-hz-b", sent), reachable: true, zones: ["hz-b"] },
      { name: "zone-sh-a", client: fakeClient("zone-sh-a", sent), reachable: false, zones: ["sh-a"] },
    ];
    const r = new RelayLeaseRenewer({
      clusters: () => clusters,
      namespace: "ldc-system",
      identity: "op-1",
      isLeader: () => leader,
      leaseMs: 2500,
      commitBoundMs: 1500,
      now: () => now,
    });
    r.renewNow();
    expect(sent.map((s) => s.cluster)).toEqual(["local", "zone-hz-b"]);
    expect(sent[0]!.opts).toMatchObject({ timeoutMs: 1500 });
    expect(sent[0]!.obj).toMatchObject({
      kind: "Lease",
      metadata: { name: "ldc-routing", namespace: "ldc-system", annotations: { "ldc.io/renewal": "1" } },
      // Whole seconds, rounded up: the relays take that, and the renewer fences with it.
      spec: { holderIdentity: "op-1", leaseDurationSeconds: 3 },
    });
    expect(r.bounds()).toEqual({ leaseMs: 3000, commitBoundMs: 1500 });
    expect([...r.renewals().lastSentByZone]).toEqual([
      ["hz-a", 1000],
      ["hz-b", 1000],
    ]);

    // hz-b's renewal hangs: no second one to it while in flight; hz-a's was answered.
    now = 3000;
    sent[0]!.settle(true);
    await flush();
    r.renewNow();
    expect(sent.slice(2).map((s) => s.cluster)).toEqual(["local"]);
    expect(sent[2]!.obj).toMatchObject({ metadata: { annotations: { "ldc.io/renewal": "2" } } });
    // The unanswered one still counts as sent at 1000: it may have committed.
    sent[1]!.settle(false);
    await flush();
    expect(r.renewals().lastSentByZone.get("hz-b")).toBe(1000);
    expect(r.fencedAt("hz-b")).toBe(relayFencedAt(1000, { leaseMs: 3000, commitBoundMs: 1500 }));
    // sh-a was never renewed: bounded by the start of the term.
    expect(r.lastSentForFencing("sh-a")).toBe(1000);

    // Not leading: nothing sent. A new term forgets what was sent before.
    leader = false;
    sent[2]!.settle(true);
    await flush();
    r.renewNow();
    expect(sent).toHaveLength(3);
    r.beginTerm(5000);
    expect(r.renewals().lastSentByZone.size).toBe(0);
    expect(r.lastSentForFencing("hz-a")).toBe(5000);
  });
});
