// Several sidecars, one recording backend per cell: every request reaches
// exactly the cell that owns its key, and nothing else does.
import fc from "fast-check";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { RoutingTable } from "../../../src/routing/index.ts";
import type { Sidecar, SidecarConfig } from "../../../src/sidecar/index.ts";
import { createPeerResolver, sidecarConfig, startSidecar } from "../../../src/sidecar/index.ts";
import type { Backend } from "./helpers.ts";
import { rawRequest, request, startBackend, uidFor, usersTable } from "./helpers.ts";
import { CELLS } from "../routing/fixtures.ts";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

interface Cluster {
  backends: Map<string, Backend>;
  sidecars: Map<string, Sidecar>;
  close(): Promise<void>;
}

/** A sidecar + backend per cell of the fixture, each in its active zone; peers by an in-memory map. */
async function cluster(table: RoutingTable, over: Partial<SidecarConfig> = {}): Promise<Cluster> {
  const dir = mkdtempSync(path.join(tmpdir(), "ldc-sidecar-"));
  const file = path.join(dir, "table.json");
  writeFileSync(file, table.serialize());
  const backends = new Map<string, Backend>();
  const sidecars = new Map<string, Sidecar>();
  const peerUrls: Record<string, string> = {};
  const resolveFromMap = createPeerResolver({ peers: peerUrls, app: undefined, namespace: undefined, peerPort: 0 });
  for (const c of CELLS) {
    const b = await startBackend(c.name);
    backends.set(c.name, b);
    const s = await startSidecar(
      sidecarConfig({
        appUrl: b.url,
        rule: "users",
        cell: c.name,
        cellType: c.type,
        zone: c.zone,
        region: c.region,
        tableFile: file,
        ...over,
      }),
      // The peer map is filled once every sidecar listens; the resolver caches, so resolve late.
      { peers: (cell, zone) => (peerUrls[`${cell}@${zone}`] ? resolveFromMap(cell, zone) : undefined) },
    );
    sidecars.set(c.name, s);
    peerUrls[`${c.name}@${c.zone}`] = s.url;
  }
  return {
    backends,
    sidecars,
    close: async () => {
      await Promise.all([...sidecars.values()].map((s) => s.close()));
      await Promise.all([...backends.values()].map((b) => b.close()));
    },
  };
}

const served = (c: Cluster) =>
  Object.fromEntries([...c.backends].map(([name, b]) => [name, b.served.length]).filter(([, n]) => n !== 0));
const reset = (c: Cluster) => c.backends.forEach((b) => (b.served.length = 0));

describe("sidecar routing (Forward)", () => {
  let c: Cluster;
  beforeAll(async () => {
    c = await cluster(usersTable({ epoch: 7, frozenShards: "20-24" }));
  });
  afterAll(() => c.close());
  afterEach(() => reset(c));

  it("sends every shard's requests, from any sidecar, to exactly the owning cell's backend", async () => {
    const t = c.sidecars.get("rz01")!.table()!;
    for (let shard = 0; shard < 100; shard++) {
      const owner = t.ownerOf(shard).name;
      for (const entry of ["rz01", "rz02", "rz03"]) {
        reset(c);
        const via = c.sidecars.get(entry)!;
        const r = await request(`${via.url}/pay?x=1`, { headers: { "x-user-id": uidFor(shard) } });
        expect(r.status, `shard ${shard} via ${entry}`).toBe(200);
        expect(r.json()).toEqual({ served: owner });
        expect(served(c)).toEqual({ [owner]: 1 });
        const got = c.backends.get(owner)!.served[0]!;
        expect(got.url).toBe("/pay?x=1");
        expect(got.headers["x-ldc-epoch"]).toBe("7");
        expect(got.headers["x-ldc-key"]).toBe(uidFor(shard));
        // The owner's sidecar cannot tell a peer's marker from a client's: the app never sees one.
        expect(got.headers["x-ldc-hops"]).toBeUndefined();
        expect(got.headers["x-ldc-forwarded-by"]).toBeUndefined();
      }
    }
  });

  it("passes bodies, methods and the query key through", async () => {
    const r = await request(`${c.sidecars.get("rz01")!.url}/orders?uid=${uidFor(65)}`, {
      method: "PUT",
      headers: { "content-type": "text/plain" },
      body: "hello",
    });
    expect(r.json()).toEqual({ served: "rz03" });
    expect(c.backends.get("rz03")!.served[0]).toMatchObject({ method: "PUT", body: "hello" });
  });

  it("refuses writes to frozen shards (503 + Retry-After, never passed on) and lets reads through", async () => {
    for (const entry of ["rz01", "rz02"]) {
      const url = c.sidecars.get(entry)!.url;
      const w = await request(`${url}/pay`, { method: "POST", headers: { "x-user-id": uidFor(22) }, body: "{}" });
      expect(w.status).toBe(503);
      expect(w.headers["retry-after"]).toBe("1");
      expect(w.json().error).toContain("frozen");
      expect(served(c)).toEqual({});
      const rd = await request(`${url}/pay`, { headers: { "x-user-id": uidFor(22) } });
      expect(rd.status).toBe(200);
      expect(rd.json()).toEqual({ served: "rz02" });
      reset(c);
    }
  });

  it("only a missing key goes to the global cell (onInvalidKey Global); a malformed one is refused naming the source", async () => {
    const url = c.sidecars.get("rz03")!.url;
    const missing = await request(`${url}/x`, { method: "POST", body: "" });
    expect(missing.json()).toEqual({ served: "gz00" });
    expect(c.backends.get("gz00")!.served[0]!.headers["x-ldc-key"]).toBeUndefined();
    reset(c);
    const r = await request(`${url}/x`, { method: "POST", headers: { "x-user-id": "abc" }, body: "" });
    expect(r.status).toBe(400);
    expect(r.json()).toMatchObject({
      error: "the routing key in header x-user-id is malformed: it is not 1 to 256 decimal digits (0-9)",
      source: "header x-user-id",
    });
    expect(r.json().fix).toContain("header x-user-id, query uid");
    const long = await request(`${url}/x?uid=${"9".repeat(5000)}`, { method: "POST", body: "" });
    expect(long.status).toBe(400);
    expect(long.body.length).toBeLessThan(1000); // never echoes the value
    expect(served(c)).toEqual({});
  });

  it("refuses a key given twice with different values (400 naming both), however it is spelled", async () => {
    const url = c.sidecars.get("rz02")!.url;
    // A write for a frozen user (shard 22) hidden behind a header naming an unfrozen one (shard 30), and the reverse.
    const cases: [string, Record<string, string>, string][] = [
      [`/pay?uid=${uidFor(22)}`, { "x-user-id": uidFor(30) }, "header x-user-id and query uid"],
      [`/pay?uid=${uidFor(30)}`, { "x-user-id": uidFor(22) }, "header x-user-id and query uid"],
      [`/pay?u%69d=${uidFor(22)}`, { "x-user-id": uidFor(30) }, "header x-user-id and query uid"],
      [`/pay?uid=${uidFor(30)}&uid=${uidFor(22)}`, {}, "query uid (more than once)"],
      [`/pay?uid=${uidFor(30)}&u%69d=${uidFor(22)}`, {}, "query uid (more than once)"],
    ];
    for (const [path, headers, both] of cases) {
      const r = await request(`${url}${path}`, { method: "POST", headers, body: "{}" });
      expect(r.status, path).toBe(400);
      expect(r.json()).toMatchObject({
        error: `the routing key is given twice and differs: ${both}`,
        fix: "send the key once, or the same value in every place",
      });
    }
    // The same user in both places is fine.
    const ok = await request(`${url}/pay?uid=${uidFor(30)}`, { headers: { "x-user-id": uidFor(30) } });
    expect(ok.json()).toEqual({ served: "rz02" });
    reset(c);
    // A percent-encoded parameter name is the parameter: a write for a frozen user stays frozen.
    const encoded = await request(`${url}/pay?u%69d=${uidFor(22)}`, { method: "POST", body: "{}" });
    expect(encoded.status).toBe(503);
    // Repeated header lines with different users (raw, as a client can send them).
    const raw = await rawRequest(
      c.sidecars.get("rz02")!.port,
      `POST /pay HTTP/1.1\r\nHost: t\r\nConnection: close\r\nx-user-id: ${uidFor(30)}\r\nx-user-id: ${uidFor(22)}\r\nContent-Length: 0\r\n\r\n`,
    );
    expect(raw).toMatch(/^HTTP\/1\.1 400 /);
    expect(raw).toContain("several values");
    // Another spelling some apps read as the key (x_user_id, UID, uid[]) is refused, not routed to the global cell.
    for (const [path, headers] of [
      ["/pay", { x_user_id: uidFor(22) }],
      [`/pay?UID=${uidFor(22)}`, {}],
      [`/pay?uid[]=${uidFor(22)}`, {}],
    ] as [string, Record<string, string>][]) {
      expect((await request(`${url}${path}`, { method: "POST", headers, body: "" })).status, path).toBe(400);
    }
    expect(served(c)).toEqual({});
  });

  it("fuzz: whatever reaches an app names one user, the one the router routed and froze by", async () => {
    const t = c.sidecars.get("rz01")!.table()!;
    const uid = fc.oneof(fc.constantFrom(20, 22, 24), fc.integer({ min: 0, max: 99 })).map(uidFor);
    const param = fc.tuple(
      fc.constantFrom("uid", "u%69d", "UID", "uid[]", "a=1;uid", "x"),
      fc.oneof(uid, fc.constantFrom("", "%zz", "1+2")),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom("rz01", "rz02", "rz03"), // Regional-scope sidecars: the key decides
        fc.constantFrom("GET", "POST", "GET-override"),
        fc.option(fc.oneof(uid, fc.constantFrom("abc", ""))),
        fc.option(uid),
        fc.array(param, { maxLength: 3 }),
        async (entry, m, header, alias, params) => {
          reset(c);
          const headers: Record<string, string> = {};
          if (header !== null) headers["x-user-id"] = header;
          if (alias !== null) headers["x_user_id"] = alias;
          if (m === "GET-override") headers["x-http-method-override"] = "DELETE";
          const qs = params.map(([n, v]) => `${n}=${v}`).join("&");
          const method = m === "POST" ? "POST" : "GET";
          const r = await request(`${c.sidecars.get(entry)!.url}/pay?${qs}`, { method, headers, body: "" });
          const got = [...c.backends].flatMap(([cell, b]) => b.served.map((x) => ({ cell, ...x })));
          if (r.status !== 200) {
            expect(got).toEqual([]);
            return;
          }
          expect(got.length).toBe(1);
          const served = got[0]!;
          const sent = served.headers["x-ldc-key"] as string | undefined;
          const key = sent === undefined ? undefined : decodeURIComponent(sent);
          // Every way an app might read the user gives that key (or nothing).
          for (const v of [
            served.headers["x-user-id"],
            served.headers["x_user_id"],
            ...new URLSearchParams(served.url.slice(served.url.indexOf("?") + 1)).getAll("uid"),
          ]) {
            if (v !== undefined && v !== "") expect(v).toBe(key);
          }
          if (key === undefined) {
            expect(served.cell).toBe("gz00");
            return;
          }
          const shard = t.shardOf(key);
          expect(served.cell).toBe(t.ownerOf(shard).name);
          if (m !== "GET") expect(t.isFrozen(shard)).toBe(false);
        },
      ),
      { numRuns: 150 },
    );
  });

  it("judges GET with a method override to a write as a write: refused for a frozen shard", async () => {
    const url = c.sidecars.get("rz02")!.url;
    for (const [path, headers] of [
      ["/pay", { "x-http-method-override": "DELETE" }],
      ["/pay", { "x-http-method": "PUT" }],
      ["/pay", { "x-method-override": "PATCH" }],
      ["/pay?_method=DELETE", {}],
    ] as [string, Record<string, string>][]) {
      const r = await request(`${url}${path}`, { headers: { ...headers, "x-user-id": uidFor(22) } });
      expect(r.status, JSON.stringify(headers) + path).toBe(503);
    }
    expect(served(c)).toEqual({});
  });

  it("never passes on client-set x-ldc-* headers: the app gets the sidecar's own key and epoch", async () => {
    const url = c.sidecars.get("rz01")!.url;
    const r = await request(`${url}/pay`, {
      headers: {
        "x-user-id": uidFor(5),
        "x-ldc-key": uidFor(22),
        "x-ldc-epoch": "999",
        "x-ldc-whatever": "1",
      },
    });
    expect(r.json()).toEqual({ served: "rz01" });
    const got = c.backends.get("rz01")!.served[0]!.headers;
    expect(got["x-ldc-key"]).toBe(uidFor(5));
    expect(got["x-ldc-epoch"]).toBe("7");
    expect(got["x-ldc-whatever"]).toBeUndefined();
    reset(c);
    // A forged forward marker is only a restriction: still served by its owner only, and not passed on.
    const forged = await request(`${url}/pay`, {
      headers: { "x-user-id": uidFor(6), "x-ldc-hops": "1", "x-ldc-forwarded-by": "rz02@hz-b" },
    });
    expect(forged.json()).toEqual({ served: "rz01" });
    const h = c.backends.get("rz01")!.served[0]!.headers;
    expect(h["x-ldc-hops"]).toBeUndefined();
    expect(h["x-ldc-forwarded-by"]).toBeUndefined();
  });

  it("Global-scope sidecars send to the global cell; City-scope reads stay in the region, writes go global", async () => {
    const gz = await request(`${c.sidecars.get("gz00")!.url}/config`);
    expect(gz.json()).toEqual({ served: "gz00" });
    const czRead = await request(`${c.sidecars.get("cz-sh")!.url}/catalog`);
    expect(czRead.json()).toEqual({ served: "cz-sh" });
    const czWrite = await request(`${c.sidecars.get("cz-sh")!.url}/catalog`, { method: "POST", body: "x" });
    expect(czWrite.json()).toEqual({ served: "gz00" });
  });

  it("loop protection: a forwarded request is served only by its owner, else 421, never forwarded twice", async () => {
    const rz01 = c.sidecars.get("rz01")!.url;
    const mine = await request(`${rz01}/pay`, { headers: { "x-user-id": uidFor(5), "x-ldc-hops": "1" } });
    expect(mine.json()).toEqual({ served: "rz01" });
    reset(c);
    const notMine = await request(`${rz01}/pay`, {
      headers: { "x-user-id": uidFor(70), "x-ldc-forwarded-by": "rz02@hz-b" },
    });
    expect(notMine.status).toBe(421);
    expect(notMine.json()).toMatchObject({ ownerCell: "rz03", zone: "sh-a", epoch: 7 });
    expect(notMine.json().error).toContain("not forwarded twice");
    expect(served(c)).toEqual({});
  });

  it("answers health and metrics; 431 for huge headers; 502 when the app is down; nothing crashes", async () => {
    const s = c.sidecars.get("rz01")!;
    expect((await request(`${s.adminUrl}/__ldc/healthz`)).json()).toMatchObject({ status: "ok", epoch: 7 });
    await request(`${s.url}/pay`, { headers: { "x-user-id": uidFor(1) } });
    const m = (await request(`${s.adminUrl}/__ldc/metrics`)).body;
    expect(m).toContain('ldc_sidecar_requests_total{outcome="local"}');
    expect(m).toContain("ldc_sidecar_table_epoch 7");
    expect(m).toContain("ldc_sidecar_request_duration_seconds_bucket");
    expect((await request(`${s.adminUrl}/__ldc/nope`)).status).toBe(404);
    // The traffic port (what the Service targets) never serves the admin endpoints, nor passes them to the app.
    const before = served(c);
    for (const path of ["/__ldc/table", "/__ldc/metrics", "/__ldc/healthz", "/__ldc"]) {
      const r = await request(`${s.url}${path}`, { headers: { "x-user-id": uidFor(1) } });
      expect(r.status, path).toBe(404);
      expect(r.json().error).toContain("not served on the sidecar's traffic port");
    }
    expect(served(c)).toEqual(before);
    const big = await rawRequest(s.port, `GET /pay HTTP/1.1\r\nHost: x\r\nx-big: ${"a".repeat(40_000)}\r\n\r\n`);
    expect(big).toMatch(/^HTTP\/1\.1 431 /);
    expect((await request(`${s.adminUrl}/__ldc/healthz`)).status).toBe(200);
  });

  it("fuzz: random methods, paths and headers never crash a sidecar", async () => {
    const s = c.sidecars.get("rz02")!;
    const token = fc.stringMatching(/^[a-z][a-z0-9-]{0,15}$/);
    const visible = fc.string({ maxLength: 80 }).map((v) => v.replace(/[^\x20-\x7e]/g, "").trim());
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "FOO"),
        fc.string({ maxLength: 60 }).map((p) => `/${p.replace(/[^\x21-\x7e]/g, "")}`),
        fc.array(fc.tuple(token, visible), { maxLength: 6 }),
        fc.option(fc.oneof(fc.integer({ min: 0, max: 99 }).map(uidFor), visible)),
        async (method, p, headers, uid) => {
          const lines = headers
            .filter(([n]) => !["content-length", "transfer-encoding", "host", "connection", "expect"].includes(n))
            .map(([n, v]) => `${n}: ${v}\r\n`)
            .join("");
          const key = uid === null ? "" : `x-user-id: ${uid}\r\n`;
          const raw = `${method} ${p} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n${key}${lines}\r\n`;
          const r = await rawRequest(s.port, raw);
          expect(r).toMatch(/^HTTP\/1\.1 [1-5][0-9][0-9] /);
        },
      ),
      { numRuns: 200 },
    );
    expect((await request(`${s.adminUrl}/__ldc/healthz`)).status).toBe(200);
  });
});

describe("sidecar routing (Reject)", () => {
  let c: Cluster;
  beforeAll(async () => {
    c = await cluster(usersTable({ epoch: 3, unitProtection: "Reject", onInvalidKey: "Reject" }));
  });
  afterAll(() => c.close());
  afterEach(() => reset(c));

  it("serves its own shards and rejects others naming the owner: 421 for reads, 403 for writes", async () => {
    const url = c.sidecars.get("rz01")!.url;
    expect((await request(`${url}/pay`, { headers: { "x-user-id": uidFor(10) } })).json()).toEqual({ served: "rz01" });
    reset(c);
    const read = await request(`${url}/pay`, { headers: { "x-user-id": uidFor(30) } });
    expect(read.status).toBe(421);
    expect(read.json()).toMatchObject({ ownerCell: "rz02", zone: "hz-b", epoch: 3 });
    expect(read.headers["x-ldc-owner-cell"]).toBe("rz02");
    const write = await request(`${url}/pay`, { method: "POST", headers: { "x-user-id": uidFor(30) }, body: "" });
    expect(write.status).toBe(403);
    expect(write.json().error).toContain("owned by cell rz02 in zone hz-b");
    expect(served(c)).toEqual({});
  });

  it("answers 400 for a missing or malformed key (onInvalidKey Reject)", async () => {
    const url = c.sidecars.get("rz01")!.url;
    const missing = await request(`${url}/pay`);
    expect(missing.status).toBe(400);
    expect(missing.json().error).toBe("the routing key is missing");
    expect(missing.json().fix).toContain("header x-user-id, query uid");
    const bad = await request(`${url}/pay`, { headers: { "x-user-id": "12 34" } });
    expect(bad.json().error).toBe(
      "the routing key in header x-user-id is malformed: it has characters outside visible ASCII",
    );
    expect(served(c)).toEqual({});
  });
});

describe("sidecar edge cases", () => {
  it("without a table answers 503 'no routing table yet' except for health", async () => {
    const b = await startBackend("rz01");
    const s = await startSidecar(
      sidecarConfig({
        appUrl: b.url,
        rule: "users",
        cell: "rz01",
        zone: "hz-a",
        region: "hangzhou",
        tableFile: path.join(tmpdir(), "does-not-exist", "table.json"),
      }),
    );
    try {
      const r = await request(`${s.url}/pay`, { headers: { "x-user-id": "1234" } });
      expect(r.status).toBe(503);
      expect(r.json().error).toBe("no routing table yet");
      expect((await request(`${s.adminUrl}/__ldc/healthz`)).status).toBe(503);
      expect((await request(`${s.adminUrl}/__ldc/healthz?live=1`)).status).toBe(200);
      expect(b.served).toEqual([]);
    } finally {
      await s.close();
      await b.close();
    }
  });

  it("a forward to an unreachable cell or a dead app is a 502 naming it", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "ldc-sidecar-"));
    writeFileSync(path.join(dir, "table.json"), usersTable().serialize());
    const s = await startSidecar(
      sidecarConfig({
        appUrl: "http://127.0.0.1:1",
        rule: "users",
        cell: "rz01",
        zone: "hz-a",
        region: "hangzhou",
        tableFile: path.join(dir, "table.json"),
        peers: { rz02: "http://127.0.0.1:1" },
      }),
    );
    try {
      const local = await request(`${s.url}/pay`, { headers: { "x-user-id": uidFor(1) } });
      expect(local.status).toBe(502);
      expect(local.json().error).toContain("the local app at http://127.0.0.1:1: unreachable (ECONNREFUSED)");
      const fwd = await request(`${s.url}/pay`, { headers: { "x-user-id": uidFor(21) } });
      expect(fwd.status).toBe(502);
      expect(fwd.json().error).toContain("cell rz02");
      const none = await request(`${s.url}/pay`, { headers: { "x-user-id": uidFor(61) } });
      expect(none.status).toBe(502);
      expect(none.json().error).toContain("no address for cell rz03 in zone sh-a");
      const m = (await request(`${s.adminUrl}/__ldc/metrics`)).body;
      expect(m).toContain('ldc_sidecar_requests_total{outcome="error"} 3');
    } finally {
      await s.close();
    }
  });

  it("a forward carries the sidecar's own key, epoch and marker, never the client's", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "ldc-sidecar-"));
    writeFileSync(path.join(dir, "table.json"), usersTable().serialize());
    const peer = await startBackend("rz02");
    const s = await startSidecar(
      sidecarConfig({
        appUrl: "http://127.0.0.1:1",
        rule: "users",
        cell: "rz01",
        zone: "hz-a",
        region: "hangzhou",
        tableFile: path.join(dir, "table.json"),
        peers: { rz02: peer.url },
      }),
    );
    try {
      const r = await request(`${s.url}/pay?uid=${uidFor(21)}`, {
        headers: { "x-ldc-key": "1", "x-ldc-epoch": "999", "x-ldc-forwarded-by": "evil" },
      });
      // The client's marker makes the sidecar refuse the forward (421), not pass it as a sidecar's.
      expect(r.status).toBe(421);
      expect(r.body).not.toContain("evil");
      const ok = await request(`${s.url}/pay?uid=${uidFor(21)}`, { headers: { "x-ldc-key": "1" } });
      expect(ok.json()).toEqual({ served: "rz02" });
      expect(peer.served.map((x) => x.headers)).toEqual([
        expect.objectContaining({
          "x-ldc-key": uidFor(21),
          "x-ldc-epoch": "7",
          "x-ldc-hops": "1",
          "x-ldc-forwarded-by": "rz01@hz-a",
        }),
      ]);
    } finally {
      await s.close();
      await peer.close();
    }
  });

  it("the default peer resolver names the cell's Service in its zone; LDC_PEERS overrides by cell@zone, then cell", () => {
    const r = createPeerResolver({
      peers: { "rz02@hz-b": "http://127.0.0.1:9002/", rz03: "http://127.0.0.1:9003/base" },
      app: "account",
      namespace: "payments",
      peerPort: 8080,
    });
    expect(r("rz01", "hz-a")).toMatchObject({ host: "account-rz01-hz-a.payments.svc", port: 8080, basePath: "" });
    expect(r("rz02", "hz-b")).toMatchObject({ host: "127.0.0.1", port: 9002, basePath: "" });
    expect(r("rz02", "hz-a")?.host).toBe("account-rz02-hz-a.payments.svc");
    expect(r("rz03", "sh-a")).toMatchObject({ port: 9003, basePath: "/base" });
  });
});
