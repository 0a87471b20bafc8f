// The drill verifier on the topology users install, for high availability
// (issue 12, items 5 and 6): the operator as two leader-elected processes
// with --relay behind a round-robin Service, member zones hz-b and sh-a, an
// ldc-relay process in every zone's cluster, the deployed pods' sidecars
// reaching only their zone's relay and acking with pod-bound tokens
// (lib/ha-world.ts). Scenarios, each followed by the
// invariant checks (lib/invariants.ts) and a convergence check (every sidecar
// on the epoch the routing API serves):
//   1. the leader SIGKILLed at each step of a drill in turn (KILL_POINTS:
//      before, at and after the switch on both legs), a replacement started:
//      the drill ends Succeeded with strictly increasing epochs;
//   2. a sidecar that stops hearing the routing API while an Emergency
//      failover moves a cell it routes writes for: no switch before its
//      routing lease ran out; and one silent beyond the relay's ack TTL before
//      the failover starts (no ack record names it any more): the switch
//      still waits for it, because the expected set is what was deployed;
//   3. a partition: member zone hz-b cut off from the operators (their path
//      to its API server black-holed; its relay keeps running and stops seeing
//      renewals) while its users keep reaching it: its sidecars refuse writes
//      once their leases run out, the Automatic cell rz03 fails over to sh-a
//      and no shard has two writers (drill.test.ts's scenario 5, the same cut
//      with the operator in-process, found two writers before routing leases);
//   4. a zone's relay SIGKILLed during an Emergency failover (the zone the
//      cell moves to at Freeze, the zone it leaves at WaitAcknowledge) and
//      started again on its port: the failover completes once it is back.
// Run alone: `npx vitest run --project e2e test/e2e/ha.test.ts`.
// LDC_E2E_LOG_LEVEL sets the operators' log level (default error);
// LDC_E2E_KEEP=1 keeps the datacenters (in .ldc/e2e-ha-<pid>).
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO_DIR } from "../../hack/lib/tools.ts";
import { ACK_TTL_MS } from "../../src/relay/acks.ts";
import { HaWorld, KILL_POINTS, killPointLabel, type KillResult, type RelayRestartPoint } from "./lib/ha-world.ts";

const stateDir = path.join(REPO_DIR, ".ldc", `e2e-ha-${process.pid}`);
const t0 = Date.now();
const say = (m: string) =>
  process.stderr.write(`[e2e-ha ${((Date.now() - t0) / 1000).toFixed(1).padStart(6)}s] ${m}\n`);

let world: HaWorld;

function checkInvariants(): void {
  for (const { name, list } of world.violations()) {
    if (list.length) say(`${name}: ${list.length} violation(s):\n  ${list.slice(0, 10).join("\n  ")}`);
    expect(list, name).toEqual([]);
  }
}

describe("high availability: leader-elected operator processes and per-zone relays keep the LDC invariants", () => {
  beforeAll(async () => {
    world = await HaWorld.start({ stateDir, say });
  }, 300_000);

  afterAll(async () => {
    await world?.stop();
  }, 120_000);

  const results: KillResult[] = [];
  for (const point of KILL_POINTS) {
    it(`1. the leader killed at ${killPointLabel(point)} of a drill: the drill resumes and succeeds`, async () => {
      const before = (await world.servedTable())?.epoch ?? 0;
      const r = await world.drillWithLeaderKill("rz02", point);
      results.push(r);
      say(
        `REPORT kill at ${r.point} (status showed ${r.stepAtKill}): new leader after ${r.toNewLeaderMs} ms, ` +
          `routing API served after ${r.toServingMs} ms, drill ${r.totalMs} ms, ${r.failover.status?.phase}`,
      );
      expect(r.failover.status?.phase, r.failover.status?.message).toBe("Succeeded");
      const e = r.failover.status!.epochs!;
      const order = [e.before, e.freeze, e.switch, e.failbackFreeze, e.failbackSwitch];
      expect(
        order.every((x) => Number.isInteger(x)),
        JSON.stringify(e),
      ).toBe(true);
      for (let i = 1; i < order.length; i++) expect(order[i]!).toBeGreaterThan(order[i - 1]!);
      expect(e.before!).toBeGreaterThanOrEqual(before);
      expect(await world.activeZone("rz02")).toBe("sh-a");
      await world.converged();
      checkInvariants();
    }, 300_000);
  }

  it("2. a deployed sidecar that stops acknowledging: the failover waits for it, never switching while it is silent", async () => {
    // rz01@hz-b serves rz01's writes until the switch gives them to hz-a.
    const r = await world.failoverWithStalledSidecar("rz01@hz-b", "rz01");
    say(
      `REPORT stalled sidecar ${r.stalled}: cut at +0 ms, its first lease-expired refusal +${(r.firstLeaseRefusalAt ?? NaN) - r.cutAt} ms, ` +
        `healed +${r.healAt - r.cutAt} ms, switch +${r.switchAt - r.cutAt} ms; waited on: ${r.waitedOn}; ${r.failover.status?.phase}: ${r.failover.status?.message}`,
    );
    // The barrier named the silent sidecars and held the switch until they were back.
    expect(r.waitedOn).toMatch(/(behind|never acknowledged): .*@hz-b/);
    expect(r.switchAt).toBeGreaterThan(r.healAt);
    expect(r.failover.status?.phase, r.failover.status?.message).toBe("Succeeded");
    expect(await world.activeZone("rz01")).toBe("hz-a");
    // Meanwhile its lease ran out: it refused writes rather than write with a stale table.
    expect(r.firstLeaseRefusalAt, "the stalled sidecar refused writes once its lease ran out").toBeDefined();
    await world.converged();
    checkInvariants();
  }, 300_000);

  it("2. a deployed sidecar silent beyond the relay's ack TTL (no ack record names it any more): the failover still waits for it", async () => {
    // The expected set is what was deployed, not who reported: a sidecar forgotten by its relay still blocks the switch.
    const waitingFor = /never acknowledged: .*rz01-hz-a-/;
    const r = await world.failoverWithStalledSidecar("rz01@hz-a", "rz01", {
      silentForMs: ACK_TTL_MS + 5_000,
      waitingFor,
    });
    say(
      `REPORT sidecar ${r.stalled} silent ${Math.round((ACK_TTL_MS + 5_000) / 1000)} s before the failover: ` +
        `healed +${r.healAt - r.cutAt} ms, switch +${r.switchAt - r.cutAt} ms; waited on: ${r.waitedOn}; ${r.failover.status?.phase}: ${r.failover.status?.message}`,
    );
    expect(r.waitedOn).toMatch(waitingFor);
    expect(r.switchAt).toBeGreaterThan(r.healAt);
    expect(r.failover.status?.phase, r.failover.status?.message).toBe("Succeeded");
    expect(await world.activeZone("rz01")).toBe("hz-b");
    await world.converged();
    checkInvariants();
  }, 300_000);

  it("3. hz-b cut off from the operators while serving its users: its writes refused, rz03 fails over to sh-a by itself, never two writers", async () => {
    // The operators' path to its API server black-holed; its relay and sidecars run on, the load keeps reaching them.
    expect(await world.activeZone("rz03")).toBe("hz-b");
    const { cutAt, firstRefusalAt, failover: fo } = await world.partition("hz-b");
    expect(fo?.status?.phase, fo?.status?.message).toBe("Succeeded");
    expect(fo!.spec.target.cells).toEqual(["rz03"]);
    const switchAt = Date.parse(fo!.status!.steps!.find((s) => s.name === "Switch")!.startTime!);
    say(
      `REPORT partition of hz-b (${world.path} path): writes refused there from +${firstRefusalAt! - cutAt} ms, ` +
        `automatic Failover ${fo!.metadata.name}, switch +${switchAt - cutAt} ms`,
    );
    expect(await world.activeZone("rz03")).toBe("sh-a");
    await world.converged();
    checkInvariants();
  }, 300_000);

  // rz02 is active in sh-a (scenario 1 ended each drill there): out to hz-a, then back.
  const restarts: [string, RelayRestartPoint][] = [
    ["hz-a", { side: "destination", step: "Freeze" }],
    ["sh-a", { side: "source", step: "WaitAcknowledge" }],
  ];
  for (const [to, point] of restarts) {
    it(`4. the ${point.side} zone's relay killed at ${point.step} of a failover and restarted: the failover completes`, async () => {
      const r = await world.failoverWithRelayRestart("rz02", point);
      const refused =
        r.firstRefusalAt === undefined
          ? "no write refused there"
          : `writes refused there (lease expired) from +${r.firstRefusalAt - r.killedAt} to +${r.lastRefusalAt! - r.killedAt} ms`;
      say(
        `REPORT relay of ${r.zone} (${point.side} of rz02) killed at ${r.stepAtKill}: restarted (ready) +${r.readyAt - r.killedAt} ms ` +
          `(on: ${r.restartedOn}), ${refused}, switch ${r.switchAt - r.killedAt >= 0 ? "+" : ""}${r.switchAt - r.killedAt} ms, ` +
          `end +${r.endAt - r.killedAt} ms; the barrier ${r.waitedOn ? `waited on it: ${r.waitedOn}` : "never waited on it"}; ` +
          `${r.failover.status?.phase}: ${r.failover.status?.message}`,
      );
      expect(r.failover.status?.phase, r.failover.status?.message).toBe("Succeeded");
      expect(await world.activeZone("rz02")).toBe(to);
      await world.converged();
      checkInvariants();
    }, 300_000);
  }

  it("reports the figures", () => {
    for (const r of results)
      say(`kill at ${r.point}: new leader ${r.toNewLeaderMs} ms, served ${r.toServingMs} ms, drill ${r.totalMs} ms`);
    expect(results.length).toBe(KILL_POINTS.length);
  });
});
