// The sidecar follows the table: long-poll on the routing API, the mounted
// file as fallback, never an older epoch; and reports what it holds.
import { readFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import { Writable } from "node:stream";
import type { AddressInfo } from "node:net";
import { mkdtempSync, renameSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import express from "express";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { MemoryTableStore, bearerTokenAuthenticator, createRoutingApi } from "../../../src/routing-api/index.ts";
import type { Sidecar, SidecarConfig } from "../../../src/sidecar/index.ts";
import { TableHolder, sidecarConfig, startSidecar } from "../../../src/sidecar/index.ts";
import type { Backend } from "./helpers.ts";
import { request, startBackend, uidFor, until, usersTable } from "./helpers.ts";

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function api(store: MemoryTableStore): Promise<{ url: string; server: http.Server }> {
  const app = express();
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
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

async function sidecar(over: Partial<SidecarConfig>, cell = "rz01", zone = "hz-a"): Promise<[Sidecar, Backend]> {
  const b = await startBackend(cell);
  const s = await startSidecar(
    sidecarConfig({ appUrl: b.url, rule: "users", cell, zone, region: "hangzhou", ...over }),
    { backoffMinMs: 5, backoffMaxMs: 50 },
  );
  cleanup.push(() => b.close());
  cleanup.push(() => s.close());
  return [s, b];
}

function tableFile(content: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), "ldc-table-"));
  const file = path.join(dir, "table.json");
  writeFileSync(file, content);
  return file;
}

/** Writes like the kubelet does for a ConfigMap: a new file renamed into place. */
function replaceFile(file: string, content: string): void {
  writeFileSync(`${file}.tmp`, content);
  renameSync(`${file}.tmp`, file);
}

describe("sidecar table sources", () => {
  it("a new epoch published to the store reaches the sidecars by long-poll; an older one is refused", async () => {
    const store = new MemoryTableStore();
    store.publish(usersTable({ epoch: 1 }));
    const { url } = await api(store);
    const [a] = await sidecar({ routingApi: url, routingToken: "tok", longPollTimeoutSeconds: 30 });
    const [b] = await sidecar({ routingApi: url, routingToken: "tok", longPollTimeoutSeconds: 30 }, "rz02", "hz-b");
    await a.waitForEpoch(1);
    await b.waitForEpoch(1);
    await until(() => store.waiters("users") === 2);
    // Epoch 2 moves shard 5 from rz01 to rz02.
    store.publish(
      usersTable({
        epoch: 2,
        assignments: [
          { cell: "rz01", shards: "0-4,6-19,50-59" },
          { cell: "rz02", shards: "5,20-49" },
          { cell: "rz03", shards: "60-99" },
        ],
      }),
    );
    await a.waitForEpoch(2);
    await b.waitForEpoch(2);
    expect(a.table()!.ownerOf(5).name).toBe("rz02");
    expect(() => store.publish(usersTable({ epoch: 1 }))).toThrow(/not newer/);
    // The sidecar itself never goes back either.
    const holder = new TableHolder("users", { localCell: "rz01", localRegion: "hangzhou" });
    expect(holder.offer(usersTable({ epoch: 5 }), "api")).toBe("accepted");
    expect(holder.offer(usersTable({ epoch: 5 }), "file")).toBe("stale");
    expect(holder.offer(usersTable({ epoch: 4 }), "file")).toBe("stale");
    expect(holder.offer(usersTable({ epoch: 9, ruleName: "orders" }), "api")).toBe("wrong-rule");
    expect(holder.epoch).toBe(5);
    const m = (await request(`${a.adminUrl}/__ldc/metrics`)).body;
    expect(m).toContain("ldc_sidecar_table_epoch 2");
    expect(m).toContain("ldc_sidecar_table_swaps_total 2");
  });

  it("reports its epoch to the routing API (authenticated acks) so the store sees convergence", async () => {
    const store = new MemoryTableStore();
    store.publish(usersTable({ epoch: 4 }));
    const { url } = await api(store);
    const dir = mkdtempSync(path.join(tmpdir(), "ldc-token-"));
    writeFileSync(path.join(dir, "token"), "tok\n");
    await sidecar({ routingApi: url, routingTokenFile: path.join(dir, "token"), sidecarId: "pod-a" });
    const [wrong] = await sidecar({ routingApi: url, routingToken: "wrong", sidecarId: "pod-b" }, "rz02", "hz-b");
    await until(() => store.convergence("users").converged === 1);
    store.publish(usersTable({ epoch: 5 }));
    await until(() => store.acks("users").some((a) => a.epoch === 5));
    expect(store.acks("users").map((a) => [a.sidecar, a.cell, a.zone, a.epoch])).toEqual([
      ["pod-a", "rz01", "hz-a", 5],
    ]);
    expect(store.convergence("users")).toMatchObject({ epoch: 5, total: 1, converged: 1 });
    // A wrong token reads nothing either: no table, so no route, no lease.
    expect(wrong.currentEpoch()).toBeUndefined();
  });

  it("started while the API is down, serves from its table file, then follows the file's changes", async () => {
    const closed = await api(new MemoryTableStore());
    await new Promise<void>((r) => {
      closed.server.closeAllConnections();
      closed.server.close(() => r());
    });
    const file = tableFile(usersTable({ epoch: 3 }).serialize());
    const [s, b] = await sidecar({ routingApi: closed.url, tableFile: file, filePollSeconds: 0.02 });
    expect(s.currentEpoch()).toBe(3);
    const r = await request(`${s.url}/pay`, { headers: { "x-user-id": uidFor(7) } });
    expect(r.json()).toEqual({ served: "rz01" });
    expect(b.served.length).toBe(1);
    // A broken file and an older epoch are ignored; the last table keeps serving.
    replaceFile(file, "{ not json");
    replaceFile(file, usersTable({ epoch: 2, frozenShards: "7" }).serialize());
    replaceFile(file, usersTable({ epoch: 6, frozenShards: "7" }).serialize());
    await s.waitForEpoch(6);
    expect(s.table()!.isFrozen(7)).toBe(true);
    const w = await request(`${s.url}/pay`, { method: "POST", headers: { "x-user-id": uidFor(7) }, body: "" });
    expect(w.status).toBe(503);
    // The API never answered: no lease, so writes are refused before the frozen shard is even looked at.
    expect(w.json().error).toMatch(/^routing lease expired/);
  });

  it("reads an https:// routing API whose certificate its LDC_ROUTING_CA_FILE trusts; not one it does not", async () => {
    const tls = path.join(import.meta.dirname, "../fixtures/tls");
    const store = new MemoryTableStore();
    store.publish(usersTable({ epoch: 3 }));
    const app = express();
    app.use(createRoutingApi(store, { authenticate: bearerTokenAuthenticator(["tok"]) }));
    const server = https.createServer(
      { cert: readFileSync(path.join(tls, "server.pem")), key: readFileSync(path.join(tls, "server.key")) },
      app,
    );
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    cleanup.push(
      () =>
        new Promise<void>((r) => {
          server.closeAllConnections();
          server.close(() => r());
        }),
    );
    const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const [trusting] = await sidecar({ routingApi: url, routingToken: "tok", routingCaFile: path.join(tls, "ca.pem") });
    await trusting.waitForEpoch(3);
    expect(trusting.lease.valid()).toBe(true);

    // Without the CA (the system's trust only), the certificate is refused and logged; no table is taken.
    const logged: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        logged.push(chunk.toString());
        done();
      },
    });
    const b = await startBackend("rz02");
    cleanup.push(() => b.close());
    const untrusting = await startSidecar(
      sidecarConfig({
        appUrl: b.url,
        rule: "users",
        cell: "rz02",
        zone: "hz-b",
        region: "hangzhou",
        routingApi: url,
        routingToken: "tok",
      }),
      { backoffMinMs: 5, backoffMaxMs: 50, logger: pino({ level: "warn" }, sink) },
    );
    cleanup.push(() => untrusting.close());
    await until(() =>
      logged.some((l) => l.includes(`routing API ${url} unavailable`) && /CERT|SIGNED|VERIFY/i.test(l)),
    );
    expect(untrusting.currentEpoch()).toBeUndefined();
  });

  it("keeps serving the last table when the operator goes away", async () => {
    const store = new MemoryTableStore();
    store.publish(usersTable({ epoch: 1 }));
    const { url, server } = await api(store);
    const [s] = await sidecar({ routingApi: url, routingToken: "tok" });
    await s.waitForEpoch(1);
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    for (let i = 0; i < 5; i++) {
      const r = await request(`${s.url}/pay`, { headers: { "x-user-id": uidFor(30) } });
      expect(r.status).toBe(502); // rz02 has no address here: routed by the held table, not refused
      expect(r.json().error).toContain("rz02");
    }
    expect(s.currentEpoch()).toBe(1);
    expect((await request(`${s.adminUrl}/__ldc/healthz`)).status).toBe(200);
  });

  it("graceful close: stops accepting, finishes the request in flight", async () => {
    let release: () => void = () => {};
    let arrived = false;
    const slow = http.createServer((_req, res) => {
      arrived = true;
      release = () => res.end("done");
    });
    await new Promise<void>((r) => slow.listen(0, "127.0.0.1", r));
    cleanup.push(() => new Promise<void>((r) => slow.close(() => r())));
    const file = tableFile(usersTable({ epoch: 1 }).serialize());
    const s = await startSidecar(
      sidecarConfig({
        appUrl: `http://127.0.0.1:${(slow.address() as AddressInfo).port}`,
        rule: "users",
        cell: "rz01",
        zone: "hz-a",
        region: "hangzhou",
        tableFile: file,
      }),
    );
    const pending = request(`${s.url}/pay`, { headers: { "x-user-id": uidFor(1) } });
    await until(() => arrived);
    const closing = s.close();
    await until(async () => (await fetch(`${s.adminUrl}/__ldc/healthz?live=1`).catch(() => undefined)) === undefined);
    release();
    const r = await pending;
    expect(r.status).toBe(200);
    expect(r.body).toBe("done");
    await closing;
  });
});
