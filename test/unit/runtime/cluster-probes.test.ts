// Reachability from probes: one slow answer under load is not an outage.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Cluster } from "../../../src/runtime/clusters.ts";
import type { KubeClient } from "../../../src/runtime/client.ts";

describe("Cluster.setProbeResult", () => {
  beforeEach(() => vi.useFakeTimers({ now: Date.parse("2026-11-30T10:00:00Z"), toFake: ["Date"] }));
  afterEach(() => vi.useRealTimers());
  const cluster = () => new Cluster("dc2", {} as KubeClient, false, {});
  const tick = (ms: number) => vi.setSystemTime(Date.now() + ms);

  it("keeps a reachable cluster reachable through fewer failed probes in a row than the threshold", () => {
    const c = cluster();
    expect(c.setProbeResult(true, undefined, 2)).toBe(true);
    tick(1000);
    expect(c.setProbeResult(false, "timeout", 2)).toBe(false);
    expect(c.reachable).toBe(true);
    // Lease renewals stop at the first failed probe: each one sent would push the zone's fence later.
    expect(c.lastProbeAnswered).toBe(false);
    tick(1000);
    expect(c.setProbeResult(true, undefined, 2)).toBe(false);
    expect(c.lastProbeAnswered).toBe(true);
    tick(1000);
    // The streak starts again after an answer.
    expect(c.setProbeResult(false, "timeout", 2)).toBe(false);
    expect(c.reachable).toBe(true);
  });

  it("counts an outage from the first failed probe of the streak that reached the threshold", () => {
    const c = cluster();
    c.setProbeResult(true, undefined, 2);
    tick(1000);
    const firstFailure = new Date();
    c.setProbeResult(false, "timeout", 2);
    tick(2000);
    expect(c.setProbeResult(false, "connection refused", 2)).toBe(true);
    expect(c.state).toMatchObject({ reachable: false, since: firstFailure, lastError: "connection refused" });
    tick(1000);
    expect(c.setProbeResult(false, "connection refused", 2)).toBe(false);
    expect(c.state.since).toEqual(firstFailure);
    tick(1000);
    expect(c.setProbeResult(true, undefined, 2)).toBe(true);
    expect(c.state).toMatchObject({ reachable: true, since: new Date() });
  });

  it("takes the first probe of a cluster never reached at its word", () => {
    const c = cluster();
    expect(c.setProbeResult(false, "connection refused", 2)).toBe(true);
    expect(c.reachable).toBe(false);
  });
});
