import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import express from "express";
import fc from "fast-check";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { MemoryTableStore, bearerTokenAuthenticator, createRoutingApi } from "../../../src/routing-api/index.ts";
import type { RoutingApiOptions } from "../../../src/routing-api/index.ts";
import { parseTable } from "../../../src/routing/index.ts";
import { rawRequest, readsWith, uidFor, until, usersTable } from "../sidecar/helpers.ts";

const TOKEN = "s3cret-token";
/** Reads carry the token: the routing API answers no anonymous request. */
const request = readsWith(TOKEN);

let server: Server | undefined;
let store: MemoryTableStore;
let base: string;
let port: number;

async function start(opts: RoutingApiOptions = {}): Promise<void> {
  const app = express();
  app.use(createRoutingApi(store, { authenticate: bearerTokenAuthenticator([TOKEN]), ...opts }));
  server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, "127.0.0.1", () => resolve(s));
  });
  port = (server.address() as AddressInfo).port;
  base = `http://127.0.0.1:${port}`;
}

beforeEach(async () => {
  store = new MemoryTableStore();
  store.publish(usersTable({ epoch: 7, frozenShards: "20-24" }));
  await start();
});
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
});

describe("routing API: tables", () => {
  it("lists the rules", async () => {
    const r = await request(`${base}/v1/rules`);
    expect(r.status).toBe(200);
    expect(r.json()).toEqual({ rules: store.rules() });
  });

  it("serves the table with its ETag and answers 304 to If-None-Match", async () => {
    const t = store.get("users")!;
    const r = await request(`${base}/v1/rules/users/table`);
    expect(r.status).toBe(200);
    expect(r.headers.etag).toBe(t.etag);
    expect(r.body).toBe(t.serialize());
    expect(parseTable(r.body).contentHash).toBe(t.contentHash);
    const again = await request(`${base}/v1/rules/users/table`, { headers: { "if-none-match": t.etag } });
    expect(again.status).toBe(304);
    expect(again.body).toBe("");
    const other = await request(`${base}/v1/rules/users/table`, { headers: { "if-none-match": '"6-abc"' } });
    expect(other.status).toBe(200);
  });

  it("long-poll: answers at once when the epoch is newer, 304 at the timeout", async () => {
    const now = await request(`${base}/v1/rules/users/table?waitForEpochAfter=6`);
    expect(now.status).toBe(200);
    expect(now.headers["x-ldc-epoch"]).toBe("7");
    const timeout = await request(`${base}/v1/rules/users/table?waitForEpochAfter=7&timeoutSeconds=0`);
    expect(timeout.status).toBe(304);
    expect(timeout.headers.etag).toBe(store.get("users")!.etag);
    expect(store.waiters("users")).toBe(0);
  });

  it("long-poll: a publish wakes the waiting request with the new table", async () => {
    const pending = request(`${base}/v1/rules/users/table?waitForEpochAfter=7&timeoutSeconds=60`);
    await until(() => store.waiters("users") === 1);
    store.publish(usersTable({ epoch: 8 }));
    const r = await pending;
    expect(r.status).toBe(200);
    expect(parseTable(r.body).epoch).toBe(8);
  });

  it("a deleted rule's table is unpublished: its long-polls and reads get 404 saying so", async () => {
    const pending = request(`${base}/v1/rules/users/table?waitForEpochAfter=7&timeoutSeconds=60`);
    await until(() => store.waiters("users") === 1);
    store.unpublish("users");
    const r = await pending;
    expect(r.status).toBe(404);
    expect(r.json()).toMatchObject({ field: "rule", error: expect.stringMatching(/^rule users was deleted/) });
    expect(store.waiters("users")).toBe(0);
    const read = await request(`${base}/v1/rules/users/table`);
    expect(read.status).toBe(404);
    expect((await request(`${base}/v1/rules`)).json()).toEqual({ rules: [] });
  });

  it("long-poll: a client that goes away frees its waiter", async () => {
    const ac = new AbortController();
    const pending = fetch(`${base}/v1/rules/users/table?waitForEpochAfter=7&timeoutSeconds=60`, {
      signal: ac.signal,
      headers: { authorization: `Bearer ${TOKEN}` },
    }).catch((e: unknown) => e);
    await until(() => store.waiters("users") === 1);
    ac.abort();
    await pending;
    await until(() => store.waiters("users") === 0);
  });

  it("long-poll: bounds the waiters per rule (503 + Retry-After)", async () => {
    await new Promise((r) => server?.close(r));
    await start({ maxWaitersPerRule: 1 });
    const first = request(`${base}/v1/rules/users/table?waitForEpochAfter=7&timeoutSeconds=60`);
    await until(() => store.waiters("users") === 1);
    const second = await request(`${base}/v1/rules/users/table?waitForEpochAfter=7&timeoutSeconds=60`);
    expect(second.status).toBe(503);
    expect(second.headers["retry-after"]).toBe("5");
    expect(second.json().error).toContain("too many long-polls");
    store.publish(usersTable({ epoch: 8 }));
    expect((await first).status).toBe(200);
  });

  it("answers no anonymous or wrongly authenticated read (401), on every /v1 endpoint", async () => {
    for (const path of [
      "/v1/rules",
      "/v1/rules/users/table",
      "/v1/rules/users/lookup?key=1",
      "/v1/rules/users/convergence",
      "/v1/nope",
    ]) {
      const anon = await request(`${base}${path}`, { headers: { authorization: "" } });
      expect(anon.status, path).toBe(401);
      expect(anon.headers["www-authenticate"], path).toContain("Bearer");
      expect(anon.json().error, path).toContain("reads and writes need a bearer token");
      expect((await request(`${base}${path}`, { headers: { authorization: "Bearer nope" } })).status, path).toBe(401);
    }
    expect(store.waiters("users")).toBe(0);
  });

  it("long-poll: one client gets its share (429 + Retry-After beyond it), others still get theirs", async () => {
    await new Promise((r) => server?.close(r));
    await start({ maxWaitersPerClient: 2 });
    const poll = (sidecar: string) =>
      request(`${base}/v1/rules/users/table?zone=hz-a&sidecar=${sidecar}&waitForEpochAfter=7&timeoutSeconds=60`);
    const mine = [poll("greedy"), poll("greedy")];
    await until(() => store.waiters("users") === 2);
    const third = await poll("greedy");
    expect(third.status).toBe(429);
    expect(third.headers["retry-after"]).toBe("5");
    expect(third.json().error).toContain("at most 2 per client");
    const other = poll("polite");
    await until(() => store.waiters("users") === 3);
    store.publish(usersTable({ epoch: 8 }));
    expect((await Promise.all([...mine, other])).map((r) => r.status)).toEqual([200, 200, 200]);
    // Its slots are free again once answered.
    expect((await poll("greedy")).status).toBe(200);
  });

  it("long-poll: with per-pod identities the client is the principal, whatever sidecar id it names", async () => {
    await new Promise((r) => server?.close(r));
    await start({ authenticate: () => "shop/pod-1", ackIdentity: "principal", maxWaitersPerClient: 1 });
    const first = request(`${base}/v1/rules/users/table?zone=hz-a&sidecar=a&waitForEpochAfter=7&timeoutSeconds=60`);
    await until(() => store.waiters("users") === 1);
    const second = await request(
      `${base}/v1/rules/users/table?zone=hz-a&sidecar=b&waitForEpochAfter=7&timeoutSeconds=60`,
    );
    expect(second.status).toBe(429);
    store.publish(usersTable({ epoch: 8 }));
    expect((await first).status).toBe(200);
  });

  it("long-poll: bounds the waiters in all (503 + Retry-After)", async () => {
    await new Promise((r) => server?.close(r));
    await start({ maxWaiters: 1 });
    const first = request(`${base}/v1/rules/users/table?sidecar=a&waitForEpochAfter=7&timeoutSeconds=60`);
    await until(() => store.waiters("users") === 1);
    const second = await request(`${base}/v1/rules/users/table?sidecar=b&waitForEpochAfter=7&timeoutSeconds=60`);
    expect(second.status).toBe(503);
    expect(second.json().error).toContain("too many long-polls waiting (1)");
    store.publish(usersTable({ epoch: 8 }));
    expect((await first).status).toBe(200);
  });

  it("caps the timeout and rejects malformed parameters with the field and the fix", async () => {
    await new Promise((r) => server?.close(r));
    await start({ maxTimeoutSeconds: 0 });
    expect((await request(`${base}/v1/rules/users/table?waitForEpochAfter=7&timeoutSeconds=99999`)).status).toBe(304);
    const cases: [string, string][] = [
      ["waitForEpochAfter=-1", "waitForEpochAfter"],
      ["waitForEpochAfter=abc", "waitForEpochAfter"],
      ["waitForEpochAfter=1.5", "waitForEpochAfter"],
      ["waitForEpochAfter=1&waitForEpochAfter=2", "waitForEpochAfter"],
      ["waitForEpochAfter=1&timeoutSeconds=-3", "timeoutSeconds"],
      ["waitForEpochAfter=1&timeoutSeconds=1e3", "timeoutSeconds"],
      ["timeoutSeconds=3", "timeoutSeconds"],
    ];
    for (const [q, field] of cases) {
      const r = await request(`${base}/v1/rules/users/table?${q}`);
      expect(r.status, q).toBe(400);
      expect(r.json().field, q).toBe(field);
      expect(typeof r.json().error).toBe("string");
    }
  });

  it("unknown rule: 404 naming the known rules", async () => {
    for (const path of ["table", "table?waitForEpochAfter=1", "lookup?key=1234", "convergence"]) {
      const r = await request(`${base}/v1/rules/orders/${path}`);
      expect(r.status).toBe(404);
      expect(r.json()).toMatchObject({ field: "rule", error: 'no routing table for rule "orders"' });
      expect(r.json().fix).toContain("known rules: users");
    }
    const other = await request(`${base}/v1/nothing`);
    expect(other.status).toBe(404);
    expect(other.json().fix).toContain("GET /v1/rules");
  });

  it("keeps serving the last good table after the store refuses a bad one", async () => {
    expect(() => store.publish(usersTable({ epoch: 3 }))).toThrow(/not newer/);
    expect(() => store.publishSerialized("{}")).toThrow(/invalid routing table/);
    const r = await request(`${base}/v1/rules/users/table`);
    expect(r.status).toBe(200);
    expect(parseTable(r.body).epoch).toBe(7);
  });
});

describe("routing API: lookup", () => {
  it("maps a key to shard, cell, zone and frozen", async () => {
    const r = await request(`${base}/v1/rules/users/lookup?key=2088001234`);
    expect(r.status).toBe(200);
    expect(r.json()).toEqual({
      rule: "users",
      epoch: 7,
      key: "2088001234",
      shard: 23,
      cell: "rz02",
      zone: "hz-b",
      region: "hangzhou",
      frozen: true,
    });
    expect((await request(`${base}/v1/rules/users/lookup?key=${uidFor(60)}`)).json()).toMatchObject({
      shard: 60,
      cell: "rz03",
      frozen: false,
    });
  });

  it("names the problem of an invalid key", async () => {
    const missing = await request(`${base}/v1/rules/users/lookup`);
    expect(missing.status).toBe(400);
    expect(missing.json()).toMatchObject({ field: "key", error: "query parameter key is required" });
    const bad = await request(`${base}/v1/rules/users/lookup?key=12a4`);
    expect(bad.status).toBe(400);
    expect(bad.json().error).toContain("not a decimal id: the Digits shard function takes 1 to 256 ASCII digits");
    const long = await request(`${base}/v1/rules/users/lookup?key=${"1".repeat(300)}`);
    expect(long.json().error).toContain("longer than 256 UTF-8 bytes");
    const twice = await request(`${base}/v1/rules/users/lookup?key=1&key=2`);
    expect(twice.json().error).toContain("more than once");
  });

  it("fuzz: any key or rule gives 200, 400 or 404 with a JSON body, and the server stays up", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.string({ maxLength: 300 }),
        fc.constantFrom("users", "orders", "USERS", "u%2Fsers"),
        async (key, rule) => {
          const r = await fetch(`${base}/v1/rules/${rule}/lookup?key=${encodeURIComponent(key)}`, {
            headers: { authorization: `Bearer ${TOKEN}` },
          });
          const body = (await r.json()) as Record<string, unknown>;
          expect([200, 400, 404]).toContain(r.status);
          if (r.status !== 200) expect(typeof body.error).toBe("string");
          else expect(typeof body.cell).toBe("string");
        },
      ),
      { numRuns: 150 },
    );
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 200 }), async (rawQuery) => {
        const q = rawQuery.replace(/[^\x21-\x7e]/g, "").replace(/#/g, "");
        const r = await rawRequest(
          port,
          `GET /v1/rules/users/lookup?${q} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nConnection: close\r\n\r\n`,
        );
        expect(r).toMatch(/^HTTP\/1\.1 (200|400|404) /);
      }),
      { numRuns: 150 },
    );
    expect((await request(`${base}/v1/rules`)).status).toBe(200);
  });
});

describe("routing API: acks", () => {
  const hash7 = () => store.get("users")!.contentHash;
  const ackOf = () => ({
    sidecar: "account-rz01-hz-a-7d9f-abcde",
    cell: "rz01",
    zone: "hz-a",
    epoch: 7,
    hash: hash7(),
  });
  const post = (body: string, headers: Record<string, string> = {}) =>
    request(`${base}/v1/rules/users/acks`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body,
    });
  const auth = { authorization: `Bearer ${TOKEN}` };

  it("refuses anonymous and wrongly authenticated writes with 401 and a clear message", async () => {
    const ack = ackOf();
    const anon = await post(JSON.stringify(ack));
    expect(anon.status).toBe(401);
    expect(anon.headers["www-authenticate"]).toContain("Bearer");
    expect(anon.json().error).toContain("authentication required");
    expect(anon.json().fix).toContain("Authorization: Bearer");
    const wrong = await post(JSON.stringify(ack), { authorization: "Bearer nope" });
    expect(wrong.status).toBe(401);
    expect(wrong.json().error).toBe("invalid bearer token");
    expect(store.acks("users")).toEqual([]);
  });

  it("refuses every request when no authenticator is configured", async () => {
    const ack = ackOf();
    await new Promise((r) => server?.close(r));
    await start({ authenticate: undefined });
    const r = await post(JSON.stringify(ack), auth);
    expect(r.status).toBe(401);
    expect(r.json().error).toContain("no authenticator");
    expect((await request(`${base}/v1/rules`)).status).toBe(401);
  });

  it("records an authenticated ack and reports convergence", async () => {
    const ack = ackOf();
    const r = await post(JSON.stringify(ack), auth);
    expect(r.status).toBe(200);
    expect(r.json()).toEqual({ rule: "users", epoch: 7, current: true });
    expect(store.acks("users")).toMatchObject([{ ...ack, rule: "users", principal: "sidecar" }]);
    await post(JSON.stringify({ ...ack, sidecar: "other", epoch: 6 }), auth);
    const c = await request(`${base}/v1/rules/users/convergence`);
    expect(c.json()).toEqual({ rule: "users", epoch: 7, total: 2, converged: 1, oldestEpoch: 6, windowSeconds: 30 });
  });

  it("keys an ack by the authenticated principal with ackIdentity principal, and answers an authenticator's refusal", async () => {
    await new Promise((r) => server?.close(r));
    await start({
      authenticate: (req) =>
        req.headers.authorization === `Bearer ${TOKEN}` ? "shop/app-1" : { refused: "token not bound", fix: "bind it" },
      ackIdentity: "principal",
    });
    const ack = ackOf();
    expect((await post(JSON.stringify({ ...ack, sidecar: "someone-else" }), auth)).status).toBe(200);
    expect(store.acks("users")).toMatchObject([{ sidecar: "shop/app-1", principal: "shop/app-1" }]);
    const refused = await post(JSON.stringify(ack), { authorization: "Bearer other" });
    expect(refused.status).toBe(401);
    expect(refused.json()).toEqual({ error: "token not bound", field: "Authorization", fix: "bind it" });
  });

  it("answers 503 + Retry-After when the authenticator cannot check the credentials now", async () => {
    await new Promise((r) => server?.close(r));
    await start({ authenticate: () => ({ refused: "TokenReview failed", fix: "retry", unavailable: true }) });
    const r = await post(JSON.stringify(ackOf()), auth);
    expect(r.status).toBe(503);
    expect(r.headers["retry-after"]).toBe("1");
    expect(r.json()).toEqual({ error: "TokenReview failed", field: "Authorization", fix: "retry" });
    expect(store.acks("users")).toEqual([]);
  });

  it("never records an ack of an epoch not published, or of other content at the published epoch (409)", async () => {
    const ack = ackOf();
    const ahead = await post(JSON.stringify({ ...ack, epoch: 8 }), auth);
    expect(ahead.status).toBe(409);
    expect(ahead.json()).toMatchObject({ field: "epoch", error: expect.stringMatching(/epoch 8 .* never published/) });
    const forged = await post(JSON.stringify({ ...ack, hash: "0".repeat(64) }), auth);
    expect(forged.status).toBe(409);
    expect(forged.json()).toMatchObject({ field: "hash" });
    expect(store.acks("users")).toEqual([]);
    // Behind is fine (its hash cannot be checked: only the current table is kept), and counts as behind.
    expect((await post(JSON.stringify({ ...ack, epoch: 6, hash: "1".repeat(64) }), auth)).status).toBe(200);
  });

  it("rejects bad bodies by field, malformed JSON, and huge bodies with 413", async () => {
    const ack = ackOf();
    const bad: [unknown, string][] = [
      [{ ...ack, epoch: -1 }, "epoch"],
      [{ ...ack, epoch: "7" }, "epoch"],
      [{ ...ack, cell: "" }, "cell"],
      [{ ...ack, zone: "a b" }, "zone"],
      [{ ...ack, sidecar: "x".repeat(300) }, "sidecar"],
      [{ ...ack, hash: undefined }, "hash"],
      [{ ...ack, hash: "ABC" }, "hash"],
      [[ack], "body"],
    ];
    for (const [body, field] of bad) {
      const r = await post(JSON.stringify(body), auth);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.json().field).toBe(field);
    }
    const malformed = await post("{nope", auth);
    expect(malformed.status).toBe(400);
    expect(malformed.json()).toMatchObject({ field: "body" });
    expect(malformed.json().error).toContain("not valid JSON");
    const noType = await request(`${base}/v1/rules/users/acks`, { method: "POST", headers: auth, body: "x" });
    expect(noType.status).toBe(400);
    const huge = await post(JSON.stringify({ ...ack, pad: "x".repeat(100_000) }), auth);
    expect(huge.status).toBe(413);
    expect(huge.json()).toMatchObject({ field: "body" });
    expect(huge.json().error).toContain("too large");
    expect(store.acks("users")).toEqual([]);
  });

  it("404 for an ack to an unknown rule (after authentication)", async () => {
    const ack = ackOf();
    const r = await request(`${base}/v1/rules/orders/acks`, {
      method: "POST",
      headers: { "content-type": "application/json", ...auth },
      body: JSON.stringify(ack),
    });
    expect(r.status).toBe(404);
  });
});
