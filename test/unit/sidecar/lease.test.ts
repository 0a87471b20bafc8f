// Fencing by lease, the sidecar's half: the lease is measured from when the
// request was sent; when it runs out, writes get 503 and reads are served;
// the next answer renews it; a table from the mounted file alone grants none.
// Time is a fake clock the test moves: nothing sleeps.
import type http from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import express from "express";
import { afterEach, describe, expect, it } from "vitest";
import {
  DEFAULT_LEASE_MS,
  MemoryTableStore,
  bearerTokenAuthenticator,
  createRoutingApi,
} from "../../../src/routing-api/index.ts";
import type { Sidecar, SidecarConfig } from "../../../src/sidecar/index.ts";
import { Lease, parseLeaseMs, sidecarConfig, startSidecar } from "../../../src/sidecar/index.ts";
import type { Backend } from "./helpers.ts";
import { request, startBackend, uidFor, until, usersTable } from "./helpers.ts";

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

/** The routing API behind a switch: while `cut`, every new connection is dropped (a partition). */
async function api(store: MemoryTableStore): Promise<{ url: string; urls: string[]; cut: (on: boolean) => void }> {
  const app = express();
  let cut = false;
  const urls: string[] = [];
  app.use((req, _res, next) => {
    if (cut) return req.socket.destroy();
    urls.push(req.url);
    next();
  });
  app.use(createRoutingApi(store, { authenticate: bearerTokenAuthenticator(["tok"]) }));
  const server = await new Promise<http.Server>((resolve) => {
    const s = app.listen(0, "127.0.0.1", () => resolve(s));
  });
  cleanup.push(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    urls,
    cut: (on) => {
      cut = on;
      if (on) server.closeIdleConnections();
    },
  };
}

async function sidecar(over: Partial<SidecarConfig>, now: () => number): Promise<[Sidecar, Backend]> {
  const b = await startBackend("rz01");
  const s = await startSidecar(
    sidecarConfig({
      appUrl: b.url,
      rule: "users",
      cell: "rz01",
      zone: "hz-a",
      region: "hangzhou",
      routingToken: "tok",
      ...over,
    }),
    { backoffMinMs: 5, backoffMaxMs: 20, now },
  );
  cleanup.push(() => b.close());
  cleanup.push(() => s.close());
  return [s, b];
}

const write = (s: Sidecar) =>
  request(`${s.url}/pay`, { method: "POST", headers: { "x-user-id": uidFor(7) }, body: "{}" });
const read = (s: Sidecar) => request(`${s.url}/pay`, { headers: { "x-user-id": uidFor(7) } });

describe("sidecar lease", () => {
  it("Lease: the deadline is the send time + the lease, never the receipt; not required without a routing API", () => {
    let t = 0;
    const lease = new Lease("http://api", () => t);
    expect(lease.valid()).toBe(false); // none yet
    const sentAt = lease.now();
    t = 9000; // the answer took 9 s to arrive
    lease.grant(sentAt, 10_000);
    expect(lease.remainingMs()).toBe(1000);
    t = 9999;
    expect(lease.valid()).toBe(true);
    t = 10_000;
    expect(lease.valid()).toBe(false);
    expect(lease.silentMs()).toBe(10_000);
    lease.grant(9000, 10_000);
    lease.grant(5000, 10_000); // an older answer never shortens it
    expect(lease.remainingMs()).toBe(9000);
    // Long-poll timeout: at most a quarter of the lease, at least 1 s.
    expect(lease.pollTimeoutSeconds(30)).toBe(2.5);
    expect(lease.pollTimeoutSeconds(2)).toBe(2);
    lease.grant(t, 2000);
    expect(lease.pollTimeoutSeconds(30)).toBe(1);
    const none = new Lease(undefined, () => t);
    expect([none.required, none.valid(), none.remainingMs()]).toEqual([false, true, Infinity]);
    // The header as the API sends it; anything else grants nothing.
    expect([parseLeaseMs("10000"), parseLeaseMs("0"), parseLeaseMs("-5"), parseLeaseMs("1e4")]).toEqual([
      10_000,
      undefined,
      undefined,
      undefined,
    ]);
    expect([parseLeaseMs("99999999"), parseLeaseMs(null), parseLeaseMs(" 10")]).toEqual([
      undefined,
      undefined,
      undefined,
    ]);
  });

  it("a delayed answer does not extend the lease; expired: writes 503 + Retry-After, reads served; renewed: writes pass", async () => {
    let t = 0;
    const store = new MemoryTableStore();
    store.publish(usersTable({ epoch: 1 }));
    const a = await api(store);
    const [s, backend] = await sidecar({ routingApi: a.url, sidecarId: "pod-a", longPollTimeoutSeconds: 30 }, () => t);
    await s.waitForEpoch(1);
    await until(() => s.lease.valid());
    expect((await write(s)).status).toBe(200);
    // It asks with its zone and id, and for at most a quarter of the lease.
    await until(() => store.waiters("users") === 1);
    expect(a.urls.at(-1)).toBe(
      `/v1/rules/users/table?zone=hz-a&sidecar=pod-a&waitForEpochAfter=1&timeoutSeconds=${DEFAULT_LEASE_MS / 4000}`,
    );
    expect(store.leaseGrants().lastGrantByZone.has("hz-a")).toBe(true);

    // The zone is cut off; the pending long-poll (sent at t=0) is answered only after the lease ran out.
    a.cut(true);
    t = DEFAULT_LEASE_MS + 1;
    store.publish(usersTable({ epoch: 2 }));
    await s.waitForEpoch(2);
    expect(s.lease.valid()).toBe(false);
    const before = backend.served.length;
    const w = await write(s);
    expect(w.status).toBe(503);
    expect(w.headers["retry-after"]).toBe("1");
    expect(w.json().error).toMatch(
      new RegExp(
        `^routing lease expired: this sidecar has not heard from the routing API for ${DEFAULT_LEASE_MS + 1} ms; writes are refused until it does`,
      ),
    );
    expect(w.json().fix).toContain(a.url);
    expect(backend.served.length).toBe(before); // never reached the app
    expect((await read(s)).status).toBe(200); // reads go on with the table held
    const health = await request(`${s.adminUrl}/__ldc/healthz`);
    expect(health.status).toBe(200); // a partition does not take the pod out of its Service
    expect(health.json().writes).toBe("refused: routing lease expired");
    const m = (await request(`${s.adminUrl}/__ldc/metrics`)).body;
    expect(m).toContain('ldc_sidecar_requests_total{outcome="lease_expired"} 1');
    expect(m).toContain("ldc_sidecar_lease_remaining_seconds 0");

    // Healed: the next answer renews the lease from its send time.
    a.cut(false);
    await until(() => store.waiters("users") === 1);
    store.publish(usersTable({ epoch: 3 }));
    await until(() => s.lease.valid());
    expect(s.lease.remainingMs()).toBe(DEFAULT_LEASE_MS);
    expect((await write(s)).status).toBe(200);
    expect((await request(`${s.adminUrl}/__ldc/metrics`)).body).toContain(
      `ldc_sidecar_lease_remaining_seconds ${DEFAULT_LEASE_MS / 1000}`,
    );
  });

  it("a table from the mounted file alone grants no lease once a routing API is configured; without one, writes pass", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "ldc-table-"));
    const file = path.join(dir, "table.json");
    writeFileSync(file, usersTable({ epoch: 3 }).serialize());
    const down = await api(new MemoryTableStore()); // serves no table: 404 to every poll
    const [withApi] = await sidecar({ routingApi: down.url, tableFile: file }, () => 0);
    expect(withApi.currentEpoch()).toBe(3);
    expect((await read(withApi)).status).toBe(200);
    const w = await write(withApi);
    expect(w.status).toBe(503);
    expect(w.json().error).toMatch(/^routing lease expired/);

    const [fileOnly, b] = await sidecar({ tableFile: file }, () => 0);
    expect((await write(fileOnly)).status).toBe(200);
    expect(b.served.map((r) => r.method)).toEqual(["POST"]);
    expect((await request(`${fileOnly.adminUrl}/__ldc/metrics`)).body).toContain(
      "ldc_sidecar_lease_remaining_seconds -1",
    );
  });
});
