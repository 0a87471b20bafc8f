import { describe, expect, it } from "vitest";
import type { Cell, Failover, ShardingRule, Zone } from "../../../src/api/index.ts";
import { buildView, newestTables, type ViewInput } from "../../../src/console/view.ts";
import { buildTable } from "../../../src/routing/index.ts";

const table = (epoch: number, frozenShards?: string) =>
  buildTable({
    ruleName: "users",
    shards: 100,
    function: { type: "Digits", from: -3, to: -1 },
    key: { sources: [{ type: "Header", name: "x-user-id" }] },
    assignments: [
      { cell: "rz00", shards: "0-49" },
      { cell: "rz01", shards: "50-99" },
    ],
    cells: [
      { name: "rz00", type: "Regional", zone: "hz-a", region: "hangzhou" },
      { name: "rz01", type: "Regional", zone: "sh-a", region: "shanghai" },
    ],
    epoch,
    ...(frozenShards ? { frozenShards } : {}),
  });

const zone = (name: string, region: string, phase: string, extra: Partial<Zone["spec"]> = {}) =>
  ({ metadata: { name }, spec: { region, ...extra }, status: { phase, reachable: phase !== "Unreachable" } }) as Zone;
const cell = (name: string, zone: string, status: Cell["status"] = {}) =>
  ({ metadata: { name }, spec: { type: "Regional", zone, standbyZones: [] }, status }) as unknown as Cell;

function input(over: Partial<ViewInput> = {}): ViewInput {
  return {
    zones: [
      zone("sh-a", "shanghai", "Ready"),
      zone("hz-b", "hangzhou", "Unreachable"),
      zone("hz-a", "hangzhou", "Ready", { cordoned: true }),
    ],
    cells: [cell("rz01", "sh-a"), cell("rz00", "hz-a")],
    rules: [
      {
        metadata: { name: "users" },
        spec: {},
        status: { epoch: 7, sidecars: { total: 4, converged: 3 } },
      } as unknown as ShardingRule,
    ],
    failovers: [],
    copies: [
      { table: table(6), source: "home cluster: payments/a" },
      { table: table(7, "0-9"), source: "zone sh-a's cluster: payments/a", zone: "sh-a" },
    ],
    acks: [
      { rule: "users", sidecar: "p/a", epoch: 7, hash: "h", zone: "sh-a", cell: "rz01", countedZone: "sh-a" },
      { rule: "users", sidecar: "p/b", epoch: 6, hash: "h", zone: "sh-a", cell: "rz01", countedZone: "sh-a" },
      { rule: "users", sidecar: "p/c", epoch: 7, hash: "h", zone: "sh-a", cell: "rz01", countedZone: "sh-a" },
    ],
    sources: [],
    history: new Map([["users", [6, 7]]]),
    server: "https://127.0.0.1:6443",
    now: new Date("2026-11-30T10:00:10Z"),
    ...over,
  };
}

describe("console view", () => {
  it("groups zones by region with their health, cordon and active cells", () => {
    const v = buildView(input());
    expect(v.zones.map((z) => [z.region, z.name, z.phase, z.cordoned, z.cells])).toEqual([
      ["hangzhou", "hz-a", "Ready", true, ["rz00"]],
      ["hangzhou", "hz-b", "Unreachable", false, []],
      ["shanghai", "sh-a", "Ready", false, ["rz01"]],
    ]);
  });

  it("draws the newest table shard for shard and counts shards per cell and rule", () => {
    const v = buildView(input());
    const [m] = v.shardMaps;
    expect(m!.epoch).toBe(7);
    expect(m!.owner).toEqual(Array.from({ length: 100 }, (_, s) => (s < 50 ? 0 : 1)));
    expect(m!.frozen).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(v.cells.map((c) => [c.name, c.shards])).toEqual([
      ["rz00", { users: 50 }],
      ["rz01", { users: 50 }],
    ]);
    expect(newestTables(input().copies).get("users")!.source).toBe("zone sh-a's cluster: payments/a");
  });

  it("counts sidecars per zone and epoch, and lists every published copy", () => {
    const [r] = buildView(input()).rules;
    expect(r!.acks).toEqual([
      {
        zone: "sh-a",
        epochs: [
          { epoch: 7, sidecars: 2 },
          { epoch: 6, sidecars: 1 },
        ],
      },
    ]);
    expect(r!.published.map((p) => [p.zone, p.epoch])).toEqual([
      ["(home cluster)", 6],
      ["sh-a", 7],
    ]);
    expect(r!.history).toEqual([6, 7]);
  });

  it("lists running failovers first, with each step's duration (a running step up to now)", () => {
    const fo = (name: string, phase: string, created: string) =>
      ({
        metadata: { name, creationTimestamp: created },
        spec: { type: "Drill", target: { cells: ["rz00"] }, drill: { duration: "1m" } },
        status: {
          phase,
          step: phase === "Running" ? "Freeze" : "Done",
          steps: [
            {
              name: "Preflight",
              phase: "Succeeded",
              startTime: "2026-11-30T10:00:00Z",
              endTime: "2026-11-30T10:00:01Z",
            },
            { name: "Freeze", phase: phase === "Running" ? "Running" : "Succeeded", startTime: "2026-11-30T10:00:05Z" },
          ],
        },
      }) as unknown as Failover;
    const v = buildView(
      input({
        failovers: [fo("old", "Succeeded", "2026-11-30T11:00:00Z"), fo("now", "Running", "2026-11-30T09:00:00Z")],
      }),
    );
    expect(v.failovers.map((f) => f.name)).toEqual(["now", "old"]);
    expect(v.running).toEqual(["now"]);
    expect(v.failovers[0]!.steps.map((s) => s.ms)).toEqual([1000, 5000]);
  });
});
