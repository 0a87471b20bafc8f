// Fencing by lease, the routing API's half: table answers carry the lease to
// callers naming their zone, the store records the grant per zone, fencedAt
// bounds every lease granted; and a replica that does not lead answers 503.
import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import express from "express";
import { afterEach, describe, expect, it } from "vitest";
import {
  DEFAULT_LEASE_MS,
  LEASE_HEADER,
  MemoryTableStore,
  bearerTokenAuthenticator,
  createRoutingApi,
  fencedAt,
  relayFencedAt,
} from "../../../src/routing-api/index.ts";
import type { RoutingApiOptions } from "../../../src/routing-api/index.ts";
import { readsWith, until, usersTable } from "../sidecar/helpers.ts";

/** Reads carry the token: the routing API answers no anonymous request. */
const request = readsWith("tok");

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

async function start(store: MemoryTableStore, opts: RoutingApiOptions = {}): Promise<string> {
  const app = express();
  app.use(createRoutingApi(store, { authenticate: bearerTokenAuthenticator(["tok"]), ...opts }));
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, "127.0.0.1", () => resolve(s));
  });
  servers.push(server);
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function published(opts: ConstructorParameters<typeof MemoryTableStore>[0] = {}): MemoryTableStore {
  const store = new MemoryTableStore(opts);
  store.publish(usersTable({ epoch: 7 }));
  return store;
}

describe("fencedAt", () => {
  const grants = (last: Record<string, number>, sinceMs = 1000, leaseMs = 10_000) => ({
    sinceMs,
    leaseMs,
    lastGrantByZone: new Map(Object.entries(last)),
  });

  it("is the last grant + lease * (1 + 1 % clock rate) + 1 s, by default", () => {
    expect(fencedAt("hz-a", grants({ "hz-a": 50_000, "hz-b": 90_000 }))).toBe(50_000 + 10_100 + 1000);
  });

  it("bounds a zone this store never granted to (or a previous leader did) by when it started granting", () => {
    expect(fencedAt("sh-a", grants({ "hz-a": 50_000 }, 7000))).toBe(7000 + 10_100 + 1000);
    // A grant recorded before sinceMs cannot lower the bound either.
    expect(fencedAt("hz-a", grants({ "hz-a": 5000 }, 7000))).toBe(7000 + 10_100 + 1000);
  });

  it("takes stated bounds; negative ones are treated as 0, never fencing earlier than the lease", () => {
    const g = grants({ "hz-a": 0 }, 0, 2000);
    expect(fencedAt("hz-a", g, { clockRate: 0.05, marginMs: 250 })).toBe(2000 * 1.05 + 250);
    expect(fencedAt("hz-a", g, { clockRate: -1, marginMs: -5000 })).toBe(2000);
  });
});

describe("routing API: leases", () => {
  it("every table answer to a caller naming its zone carries the lease and records the grant: 200, 304, long-poll", async () => {
    let clock = 1_000_000;
    const store = published({ leaseMs: 8000 });
    const base = await start(store, { now: () => clock });
    const q = "zone=hz-a&sidecar=pod-1";
    const plain = await request(`${base}/v1/rules/users/table?${q}`);
    expect(plain.status).toBe(200);
    expect(plain.headers[LEASE_HEADER]).toBe("8000");
    expect(store.leaseGrants().lastGrantByZone.get("hz-a")).toBe(1_000_000);

    clock = 1_000_500;
    const etag = store.get("users")!.etag;
    const notModified = await request(`${base}/v1/rules/users/table?zone=hz-b`, { headers: { "if-none-match": etag } });
    expect(notModified.status).toBe(304);
    expect(notModified.headers[LEASE_HEADER]).toBe("8000");

    clock = 1_001_000;
    const timedOut = await request(`${base}/v1/rules/users/table?${q}&waitForEpochAfter=7&timeoutSeconds=0`);
    expect(timedOut.status).toBe(304);
    expect(timedOut.headers[LEASE_HEADER]).toBe("8000");

    const pending = request(`${base}/v1/rules/users/table?${q}&waitForEpochAfter=7&timeoutSeconds=60`);
    await until(() => store.waiters("users") === 1);
    clock = 1_002_000; // the grant is recorded when the answer is sent, not when the request came
    store.publish(usersTable({ epoch: 8 }));
    const woken = await pending;
    expect(woken.status).toBe(200);
    expect(woken.headers[LEASE_HEADER]).toBe("8000");
    expect([...store.leaseGrants().lastGrantByZone]).toEqual([
      ["hz-a", 1_002_000],
      ["hz-b", 1_000_500],
    ]);
  });

  it("grants no lease to a caller that names no zone (it could not be fenced), and none on errors", async () => {
    const store = published();
    const base = await start(store);
    const r = await request(`${base}/v1/rules/users/table`);
    expect(r.status).toBe(200);
    expect(r.headers[LEASE_HEADER]).toBeUndefined();
    const unknown = await request(`${base}/v1/rules/orders/table?zone=hz-a`);
    expect(unknown.status).toBe(404);
    expect(unknown.headers[LEASE_HEADER]).toBeUndefined();
    expect(store.leaseGrants().lastGrantByZone.size).toBe(0);
  });

  it("refuses a malformed zone or sidecar id naming the field, and bounds the zones it grants to", async () => {
    const store = published();
    const base = await start(store, { maxLeaseZones: 2 });
    for (const [q, field] of [
      ["zone=HZ_A", "zone"],
      ["zone=a&zone=b", "zone"],
      [`zone=${"a".repeat(300)}`, "zone"],
      ["zone=hz-a&sidecar=", "sidecar"],
      ["zone=hz-a&sidecar=%00x", "sidecar"],
    ] as const) {
      const r = await request(`${base}/v1/rules/users/table?${q}`);
      expect(r.status, q).toBe(400);
      expect(r.json().field, q).toBe(field);
    }
    for (const z of ["z1", "z2", "z3"]) await request(`${base}/v1/rules/users/table?zone=${z}`);
    const r = await request(`${base}/v1/rules/users/table?zone=z4`);
    expect(r.status).toBe(200);
    expect(r.headers[LEASE_HEADER]).toBeUndefined();
    expect([...store.leaseGrants().lastGrantByZone.keys()]).toEqual(["z1", "z2"]);
    // A zone already granted to keeps being renewed.
    expect((await request(`${base}/v1/rules/users/table?zone=z1`)).headers[LEASE_HEADER]).toBe(
      String(DEFAULT_LEASE_MS),
    );
  });

  it("never grants longer than the store's lease, which fencing computes with", () => {
    const store = published({ leaseMs: 5000 });
    expect(() => createRoutingApi(store, { leaseMs: 6000 })).toThrow(/store's lease \(5000\)/);
    expect(() => createRoutingApi(store, { leaseMs: 4000 })).not.toThrow();
    expect(() => new MemoryTableStore({ leaseMs: 0 })).toThrow(/leaseMs/);
  });

  it("a new lease term forgets the grants and starts the bound at its time", () => {
    let clock = 100;
    const store = new MemoryTableStore({ now: () => clock });
    expect(store.leaseGrants()).toMatchObject({ sinceMs: 100, leaseMs: DEFAULT_LEASE_MS });
    store.recordLeaseGrant("hz-a", 500);
    store.recordLeaseGrant("hz-a", 400); // out of order: the later grant stays
    expect(store.leaseGrants().lastGrantByZone.get("hz-a")).toBe(500);
    clock = 900;
    store.beginLeaseTerm();
    expect(store.leaseGrants().sinceMs).toBe(900);
    expect(store.leaseGrants().lastGrantByZone.size).toBe(0);
    expect(fencedAt("hz-a", store.leaseGrants())).toBe(900 + DEFAULT_LEASE_MS * 1.01 + 1000);
  });

  it("a new lease term restarts ack collection: a standby that leads after minutes has heard no sidecar", () => {
    let clock = 1000;
    const store = new MemoryTableStore({ now: () => clock });
    store.recordAck({ rule: "users", sidecar: "p", cell: "rz01", zone: "hz-a", epoch: 7 });
    clock = 200_000; // the standby ran for minutes before it took the lead
    store.beginLeaseTerm();
    // The barrier's warm-up (ACK_WARMUP_MS) counts from here, and no ack of an earlier term counts.
    expect(store.collectingSince()).toBe(200_000);
    expect(store.acks("users", 1e9)).toEqual([]);
  });
});

describe("routing API: a replica that does not lead", () => {
  it("answers 503 + Retry-After on every /v1 endpoint, grants nothing, and serves once it leads", async () => {
    let leading = false;
    const store = published();
    const base = await start(store, { isLeader: () => leading });
    const calls: [string, string][] = [
      ["GET", "/v1/rules"],
      ["GET", "/v1/rules/users/table?zone=hz-a"],
      ["GET", "/v1/rules/users/table?zone=hz-a&waitForEpochAfter=7&timeoutSeconds=60"],
      ["GET", "/v1/rules/users/lookup?key=2088001234"],
      ["GET", "/v1/rules/users/convergence"],
      ["POST", "/v1/rules/users/acks"],
      ["GET", "/v1/nope"],
    ];
    for (const [method, path] of calls) {
      const r = await request(`${base}${path}`, {
        method,
        headers: { authorization: "Bearer tok", "content-type": "application/json" },
        body: method === "POST" ? JSON.stringify({ sidecar: "p", cell: "rz01", zone: "hz-a", epoch: 7 }) : undefined,
      });
      expect(r.status, path).toBe(503);
      expect(r.headers["retry-after"], path).toBe("1");
      expect(r.headers.connection, path).toBe("close");
      expect(r.json(), path).toEqual({
        error: "this replica is not the leader",
        fix: "retry: the Service sends the next request to another replica",
      });
    }
    expect(store.acks("users")).toEqual([]);
    expect(store.leaseGrants().lastGrantByZone.size).toBe(0);
    leading = true;
    expect((await request(`${base}/v1/rules`)).status).toBe(200);
  });

  it("a long-poll that outlives the lead is answered 503, not with a lease", async () => {
    let leading = true;
    const store = published();
    const base = await start(store, { isLeader: () => leading });
    const pending = request(`${base}/v1/rules/users/table?zone=hz-a&waitForEpochAfter=7&timeoutSeconds=60`);
    await until(() => store.waiters("users") === 1);
    leading = false;
    store.publish(usersTable({ epoch: 8 }));
    const r = await pending;
    expect(r.status).toBe(503);
    expect(r.headers[LEASE_HEADER]).toBeUndefined();
    expect(store.leaseGrants().lastGrantByZone.size).toBe(0);
  });
});

describe("relayFencedAt", () => {
  it("is the last renewal sent + commit bound + lease * (1 + 1 %)^2 + 1 s, by default", () => {
    expect(relayFencedAt(50_000, { leaseMs: 10_000, commitBoundMs: 2000 })).toBeCloseTo(
      50_000 + 2000 + 10_000 * 1.01 * 1.01 + 1000,
      6,
    );
  });

  it("takes stated bounds; negative ones are treated as 0, never fencing earlier than the lease", () => {
    expect(relayFencedAt(0, { leaseMs: 2000, commitBoundMs: 500, clockRate: 0, marginMs: 0 })).toBe(2500);
    expect(relayFencedAt(0, { leaseMs: 2000, commitBoundMs: -500, clockRate: -1, marginMs: -5000 })).toBe(2000);
  });
});

describe("routing API: grantableLeaseMs (a relay grants what is left of its own lease)", () => {
  it("grants min(leaseMs, what is grantable), whole ms; nothing (and records nothing) when it is undefined or below 1 ms", async () => {
    let grantable: number | undefined = 4321.9;
    const store = published();
    const base = await start(store, { grantableLeaseMs: () => grantable });
    const url = `${base}/v1/rules/users/table?zone=hz-a&sidecar=s1`;
    expect((await request(url)).headers[LEASE_HEADER]).toBe("4321");
    grantable = 99_999;
    expect((await request(url)).headers[LEASE_HEADER]).toBe(String(DEFAULT_LEASE_MS));
    store.beginLeaseTerm(0);
    for (const g of [undefined, 0.5, 0, -1, Number.NaN]) {
      grantable = g;
      const a = await request(url);
      expect(a.status).toBe(200);
      expect(a.headers[LEASE_HEADER]).toBeUndefined();
    }
    expect(store.leaseGrants().lastGrantByZone.size).toBe(0);
  });
});
