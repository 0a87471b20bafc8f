import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { RequestLike, RouteContext, RouteDecision, RoutingTableInput } from "../../../src/routing/index.ts";
import {
  buildTable,
  createRouter,
  extractKey,
  isWriteRequest,
  KEY_CONFLICT,
  KEY_MALFORMED,
  KEY_MISSING,
  newKeyReport,
  route,
  routeKey,
} from "../../../src/routing/index.ts";
import { requestArb, ruleArb } from "./arbitraries.ts";
import { USERS } from "./fixtures.ts";

// USERS: Digits -3..-1; rz01 (hz-a) 0-19,50-59; rz02 (hz-b) 20-49; rz03 (sh-a) 60-99;
// gz00 global (hz-a); City cells cz-hz (hangzhou), cz-sh (shanghai).
const at = (localCell: string, extra: Partial<RouteContext> = {}): RouteContext => ({
  localCell,
  localRegion: localCell === "rz03" || localCell === "cz-sh" ? "shanghai" : "hangzhou",
  ...extra,
});
const get = (uid?: string): RequestLike => ({
  method: "GET",
  url: uid === undefined ? "/" : `/pay?uid=${uid}`,
  headers: {},
});
const post = (uid?: string): RequestLike => ({ ...get(uid), method: "POST" });

describe("route", () => {
  const t = buildTable({ ...USERS, frozenShards: "23" });

  it("serves locally what the local cell owns", () => {
    expect(route(t, get("1234"), at("rz02"))).toEqual({ kind: "Local", cell: "rz02", zone: "hz-b", via: "Owner" });
    expect(route(t, post("1254"), at("rz02"))).toEqual({ kind: "Local", cell: "rz02", zone: "hz-b", via: "Owner" });
  });

  it("forwards to the owner's active zone (unitProtection Forward)", () => {
    expect(route(t, get("1234"), at("rz01"))).toEqual({ kind: "Forward", cell: "rz02", zone: "hz-b", via: "Owner" });
    expect(route(t, post("9999"), at("rz01"))).toEqual({ kind: "Forward", cell: "rz03", zone: "sh-a", via: "Owner" });
  });

  it("rejects with 421 (reads) or 403 (writes) under unitProtection Reject", () => {
    const r = buildTable({ ...USERS, unitProtection: "Reject" });
    expect(route(r, get("1234"), at("rz01"))).toMatchObject({
      kind: "Reject",
      status: 421,
      ownerCell: "rz02",
      zone: "hz-b",
    });
    const d = route(r, post("1234"), at("rz01"));
    expect(d).toMatchObject({ kind: "Reject", status: 403, ownerCell: "rz02", zone: "hz-b", via: "Owner" });
    expect(d.kind === "Reject" && d.reason).toBe(
      "the key's shard is owned by cell rz02 in zone hz-b; unit protection refuses writes for other cells",
    );
    expect(route(r, get("1234"), at("rz02")).kind).toBe("Local");
  });

  it("never passes on a write for a frozen shard, anywhere; reads still flow", () => {
    for (const cell of ["rz01", "rz02", "rz03", "gz00"]) {
      expect(route(t, post("1234"), at(cell))).toEqual({ kind: "Frozen", status: 503, retryAfterSeconds: 1 });
      expect(route(t, { ...post("1234"), method: "DELETE" }, at(cell)).kind).toBe("Frozen");
    }
    expect(route(t, get("1234"), at("rz02")).kind).toBe("Local");
    expect(route(t, get("1234"), at("rz01")).kind).toBe("Forward");
    const slow = buildTable({ ...USERS, frozenShards: "23", frozenRetryAfterSeconds: 5 });
    expect(route(slow, post("1234"), at("rz02"))).toMatchObject({ retryAfterSeconds: 5 });
  });

  it("answers a missing key per onInvalidKey; a present but malformed or conflicting key is always refused", () => {
    const strict = buildTable({ ...USERS, onInvalidKey: "Reject" });
    expect(route(strict, get(), at("rz01"))).toEqual({ kind: "InvalidKey", status: 400, reason: "missing" });
    expect(route(strict, get("12a4"), at("rz01"))).toEqual({ kind: "InvalidKey", status: 400, reason: "malformed" });
    expect(route(strict, get("%zz"), at("rz01"))).toEqual({ kind: "InvalidKey", status: 400, reason: "malformed" });
    expect(route(strict, { ...get(), headers: { "x-user-id": "9".repeat(300) } }, at("rz01"))).toMatchObject({
      kind: "InvalidKey",
      reason: "malformed",
    });
    // Global: the global cell takes key-less traffic, and only that.
    expect(route(t, get(), at("rz01"))).toEqual({ kind: "Forward", cell: "gz00", zone: "hz-a", via: "Global" });
    expect(route(t, get(), at("gz00"))).toEqual({ kind: "Local", cell: "gz00", zone: "hz-a", via: "Global" });
    for (const table of [t, strict]) {
      // Not a decimal id for the Digits rule, a bad escape, too long: refused, never sent to the global cell.
      expect(route(table, post("12a4"), at("rz01"))).toEqual({ kind: "InvalidKey", status: 400, reason: "malformed" });
      expect(route(table, post("%zz"), at("gz00"))).toMatchObject({ kind: "InvalidKey", reason: "malformed" });
      const long = { ...post(), headers: { "x-user-id": "9".repeat(300) } };
      expect(route(table, long, at("gz00"))).toMatchObject({ kind: "InvalidKey", reason: "malformed" });
      // Header and query naming different users.
      const two = { ...post("1234"), headers: { "x-user-id": "5678" } };
      expect(route(table, two, at("rz02"))).toEqual({ kind: "InvalidKey", status: 400, reason: "conflict" });
      expect(route(table, { ...post("1234"), headers: { "x-user-id": "1234" } }, at("rz02")).kind).not.toBe(
        "InvalidKey",
      );
    }
  });

  it("keeps City-scope reads in the caller's region and sends writes to the global cell", () => {
    const city = (cell: string): RouteContext => at(cell, { scope: "City" });
    expect(route(t, get("1234"), city("rz03"))).toEqual({ kind: "Forward", cell: "cz-sh", zone: "sh-a", via: "City" });
    expect(route(t, get(), city("rz01"))).toEqual({ kind: "Forward", cell: "cz-hz", zone: "hz-b", via: "City" });
    expect(route(t, get(), city("cz-sh"))).toEqual({ kind: "Local", cell: "cz-sh", zone: "sh-a", via: "City" });
    expect(route(t, post("1234"), city("cz-sh"))).toEqual({
      kind: "Forward",
      cell: "gz00",
      zone: "hz-a",
      via: "Global",
    });
    // No City cell in the region: the global cell serves.
    expect(route(t, get(), { localCell: "rz09", localRegion: "beijing", scope: "City" })).toMatchObject({
      kind: "Forward",
      cell: "gz00",
    });
  });

  it("sends Global-scope traffic to the global cell", () => {
    const g = (cell: string): RouteContext => at(cell, { scope: "Global" });
    expect(route(t, post("1234"), g("rz02"))).toEqual({ kind: "Forward", cell: "gz00", zone: "hz-a", via: "Global" });
    expect(route(t, get(), g("gz00"))).toEqual({ kind: "Local", cell: "gz00", zone: "hz-a", via: "Global" });
    const noGlobal = buildTable({ ...USERS, globalCell: undefined, onInvalidKey: "Reject" });
    expect(route(noGlobal, get(), g("rz01"))).toMatchObject({ kind: "Unroutable", status: 503 });
    expect(route(noGlobal, get(), at("rz01"))).toEqual({ kind: "InvalidKey", status: 400, reason: "missing" });
  });

  it("does not serve in a standby zone: a cell is local only in its active zone", () => {
    // rz01 failed over to hz-b; a router still running next to the old copy in hz-a forwards.
    const failedOver = buildTable({
      ...USERS,
      cells: USERS.cells.map((c) => (c.name === "rz01" ? { ...c, zone: "hz-b" } : c)),
    });
    expect(route(failedOver, post("1054"), at("rz01", { localZone: "hz-a" }))).toEqual({
      kind: "Forward",
      cell: "rz01",
      zone: "hz-b",
      via: "Owner",
    });
    expect(route(failedOver, post("1054"), at("rz01", { localZone: "hz-b" })).kind).toBe("Local");
    const rejecting = buildTable({ ...USERS, unitProtection: "Reject" });
    expect(route(rejecting, post("1054"), at("rz01", { localZone: "hz-b" }))).toMatchObject({
      kind: "Reject",
      status: 403,
      ownerCell: "rz01",
      zone: "hz-a",
    });
  });

  it("shares frozen decision objects (allocation-light)", () => {
    const ctx = at("rz01");
    const a = route(t, get("1234"), ctx);
    const b = route(t, get("5234"), ctx);
    expect(a).toBe(b);
    expect(Object.isFrozen(a)).toBe(true);
    expect(route(t, post("1234"), ctx)).toBe(route(t, post("5234"), at("rz03")));
  });

  it("createRouter and routeKey agree with route", () => {
    const ctx = at("rz01");
    const router = createRouter(t, ctx);
    for (const r of [get("1234"), post("1234"), get("1054"), get(), get("x"), post("9999")]) {
      expect(router(r)).toBe(route(t, r, ctx));
      expect(routeKey(t, extractKey(t.key, r), r.method, ctx)).toBe(route(t, r, ctx));
    }
    expect(routeKey(t, KEY_MISSING, "GET", ctx)).toMatchObject({ kind: "Forward", via: "Global" });
    expect(routeKey(t, KEY_MALFORMED, "GET", ctx)).toMatchObject({ kind: "InvalidKey", reason: "malformed" });
    expect(routeKey(t, KEY_CONFLICT, "GET", ctx)).toMatchObject({ kind: "InvalidKey", reason: "conflict" });
  });
});

describe("route invariants (fuzz)", () => {
  const scopes = fc.constantFrom(undefined, "Regional" as const, "Global" as const, "City" as const);

  it("never throws, and only the owner in its active zone ever takes a write", () => {
    fc.assert(
      fc.property(
        ruleArb({ maxShards: 150 }),
        requestArb,
        scopes,
        fc.constantFrom(undefined, "hz-a", "hz-b", "sh-a"),
        ({ input }: { input: RoutingTableInput }, rawReq, scope, localZone) => {
          const t = buildTable(input);
          const req = rawReq as RequestLike;
          const key = extractKey(t.key, req);
          const shard = typeof key === "string" ? t.shardOf(key) : -1;
          const write = isWriteRequest(t, req);
          expect(write || !t.isWriteMethod(req.method)).toBe(true);
          const locals: RouteDecision[] = [];
          for (const cell of [...t.cells.map((c) => c.name), "nowhere"]) {
            const ctx: RouteContext = { localCell: cell, localRegion: "hangzhou", localZone, scope };
            const d = route(t, req, ctx);
            expect(createRouter(t, ctx)(req)).toBe(d);
            const report = newKeyReport();
            expect(route(t, req, ctx, report)).toBe(d);
            expect(report.key).toBe(key);
            switch (d.kind) {
              case "Local":
                expect(d.cell).toBe(cell);
                if (localZone !== undefined) expect(d.zone).toBe(localZone);
                locals.push(d);
                break;
              case "Forward":
                expect(d.cell !== cell || (localZone !== undefined && d.zone !== localZone)).toBe(true);
                expect(t.unitProtection).toBe("Forward");
                expect(t.cell(d.cell)?.zone).toBe(d.zone);
                break;
              case "Reject":
                expect(t.unitProtection).toBe("Reject");
                expect(d.status).toBe(write ? 403 : 421);
                break;
              case "Frozen":
                expect(write && shard >= 0 && t.isFrozen(shard)).toBe(true);
                break;
              case "InvalidKey":
                expect(shard).toBe(-1);
                // Only a missing key depends on onInvalidKey; a present one is always refused.
                expect(d.reason === "missing" ? t.onInvalidKey === "Reject" : key !== KEY_MISSING).toBe(true);
                break;
              case "Unroutable":
                expect(t.globalCell).toBeUndefined();
                break;
            }
            if ((scope ?? "Regional") === "Regional" && shard >= 0) {
              if (write && t.isFrozen(shard)) expect(d.kind).toBe("Frozen");
              if (d.kind === "Local" || d.kind === "Forward") expect(d.cell).toBe(t.ownerOf(shard).name);
              if (d.kind === "Reject") expect(d.ownerCell).toBe(t.ownerOf(shard).name);
            }
          }
          // At most one cell serves any request (exactly one owner, one active zone).
          expect(locals.length).toBeLessThanOrEqual(1);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it("never throws for arbitrary strings anywhere in the request", () => {
    const t = buildTable({
      ...USERS,
      key: [
        { type: "Cookie", name: "uid" },
        { type: "Header", name: "x-user-id" },
        { type: "Query", name: "uid" },
      ],
    });
    fc.assert(
      fc.property(fc.string(), fc.string(), fc.string(), fc.string(), (method, url, h, c) => {
        const d = route(t, { method, url, headers: { "x-user-id": h, cookie: c } }, at("rz01"));
        expect(["Local", "Forward", "Frozen", "InvalidKey"]).toContain(d.kind);
      }),
      { numRuns: 3000 },
    );
  });
});

describe("method override", () => {
  const t = buildTable({ ...USERS, frozenShards: "23" });
  const frozenGet = (headers: RequestLike["headers"], query = ""): RequestLike => ({
    method: "GET",
    url: `/pay?uid=1234${query}`,
    headers,
  });

  it("judges a GET or HEAD that overrides its method to a non-safe one as a write: the freeze refuses it", () => {
    for (const h of ["x-http-method-override", "x-http-method", "x-method-override"]) {
      expect(route(t, frozenGet({ [h]: "DELETE" }), at("rz02")).kind, h).toBe("Frozen");
      expect(route(t, frozenGet({ [h]: " patch " }), at("rz02")).kind, h).toBe("Frozen");
      expect(route(t, frozenGet({ [h]: ["GET", "PUT"] }), at("rz02")).kind, h).toBe("Frozen");
      expect(route(t, { ...frozenGet({ [h]: "POST" }), method: "HEAD" }, at("rz02")).kind, h).toBe("Frozen");
      expect(route(t, frozenGet({ [h]: "GET" }), at("rz02")).kind, h).toBe("Local");
    }
    for (const q of ["&_method=DELETE", "&_method=put", "&_%6Dethod=PUT", "&_METHOD=PUT", "&_method=GET&_method=PUT"]) {
      expect(route(t, frozenGet({}, q), at("rz02")).kind, q).toBe("Frozen");
    }
    expect(route(t, frozenGet({}, "&_method=GET"), at("rz02")).kind).toBe("Local");
    expect(route(t, frozenGet({}), at("rz02")).kind).toBe("Local");
    // Unit protection sees it as a write too (403, not 421).
    const rejecting = buildTable({ ...USERS, unitProtection: "Reject" });
    expect(route(rejecting, frozenGet({ "x-http-method-override": "PUT" }), at("rz01"))).toMatchObject({ status: 403 });
  });
});
