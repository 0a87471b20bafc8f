import { describe, expect, it } from "vitest";
import { Manager } from "../../../src/runtime/index.ts";

describe("Manager leadership", () => {
  it("without leader election it leads from start to stop, and says so before its controllers start", async () => {
    const events: string[] = [];
    const m = new Manager({ onStartedLeading: () => events.push(`started, leading=${m.isLeader()}`) });
    await m.start();
    expect(events).toEqual(["started, leading=true"]);
    expect(m.isLeader()).toBe(true);
    await m.stop();
    expect(m.isLeader()).toBe(false);
  });

  it("with leader election it does not lead before it holds the lease", () => {
    const m = new Manager({
      leaderElection: { client: undefined as never, namespace: "ldc-system", name: "ldc-operator" },
    });
    expect(m.isLeader()).toBe(false);
  });
});
