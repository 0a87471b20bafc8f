// Leader election on a real Lease.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestNamespace, datacenters, type Datacenter } from "../harness.ts";
import type { KubeClient } from "../../../src/runtime/client.ts";
import { LeaderElector, type Lease } from "../../../src/runtime/leader.ts";
import { Resources } from "../../../src/runtime/resources.ts";
import { clientFor, until } from "./helpers.ts";

describe("LeaderElector", () => {
  let dc: Datacenter;
  let client: KubeClient;
  let ns: string;

  beforeAll(async () => {
    [dc] = (await datacenters()) as [Datacenter];
    client = await clientFor(dc);
    ns = await createTestNamespace(dc, "rt-leader");
  });
  afterAll(() => client?.close());

  function candidate(identity: string, log: string[], releaseOnCancel: boolean): LeaderElector {
    return new LeaderElector({
      client,
      namespace: ns,
      name: `lease-${releaseOnCancel ? "release" : "crash"}`,
      identity,
      leaseDurationMs: 3000,
      renewDeadlineMs: 2000,
      retryPeriodMs: 300,
      releaseOnCancel,
      onStartedLeading: () => log.push(`${identity} started`),
      onStoppedLeading: () => log.push(`${identity} stopped`),
    });
  }

  it("elects one leader; when it stops renewing, the other takes over after the lease expires", async () => {
    const log: string[] = [];
    const a = candidate("a", log, false);
    const b = candidate("b", log, false);
    a.start();
    await until("a leads", () => a.isLeader);
    b.start();
    // b sees a's lease renewed (every 300 ms) and stays a follower
    const renewedBefore = (await client.get<Lease>(Resources.Lease, "lease-crash", ns)).spec?.renewTime ?? "";
    await until("a renews while b watches", async () => {
      const l = await client.get<Lease>(Resources.Lease, "lease-crash", ns);
      return b.leader === "a" && (l.spec?.renewTime ?? "") > renewedBefore;
    });
    expect(b.isLeader).toBe(false);
    expect(b.leader).toBe("a");
    await a.stop(); // stops renewing, does not release: like a crashed process
    const lastRenewal = (await client.get<Lease>(Resources.Lease, "lease-crash", ns)).spec!;
    expect(lastRenewal.holderIdentity).toBe("a");
    await until("b leads", () => b.isLeader, 15_000);
    const lease = await client.get<Lease>(Resources.Lease, "lease-crash", ns);
    expect(lease.spec?.holderIdentity).toBe("b");
    expect(lease.spec?.leaseTransitions).toBe(1);
    // b took the lease only once a's had expired, by the times the two wrote into it
    // (3 s lease; b's clock runs from when it saw a's last renewal, so at least 2 s)
    expect(Date.parse(lease.spec!.acquireTime!) - Date.parse(lastRenewal.renewTime!)).toBeGreaterThanOrEqual(2000);
    await b.stop();
    expect(log).toEqual(["a started", "a stopped", "b started", "b stopped"]);
  });

  it("releases the lease on stop so the other candidate takes over at once", async () => {
    const log: string[] = [];
    const a = candidate("a", log, true);
    const b = candidate("b", log, true);
    a.start();
    await until("a leads", () => a.isLeader);
    b.start();
    await a.stop();
    const lease = await client.get<Lease>(Resources.Lease, "lease-release", ns);
    expect(lease.spec?.holderIdentity ?? "").not.toBe("a");
    await until("b leads", () => b.isLeader, 5_000);
    await b.stop();
  });
});
