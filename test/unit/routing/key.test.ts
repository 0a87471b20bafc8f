import { IncomingMessage } from "node:http";
import { Socket } from "node:net";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { KeySource, RequestLike } from "../../../src/routing/index.ts";
import {
  compileKeyPattern,
  encodeKeyHeader,
  extractKey,
  KEY_CONFLICT,
  KEY_MALFORMED,
  KEY_MISSING,
  MAX_COOKIE_HEADER_BYTES,
  newKeyReport,
  normalizeKeySpec,
} from "../../../src/routing/index.ts";
import { requestArb } from "./arbitraries.ts";

const header: KeySource = { type: "Header", name: "x-user-id" };
const query: KeySource = { type: "Query", name: "uid" };
const cookie: KeySource = { type: "Cookie", name: "uid" };
const all = [header, query, cookie];

const req = (url: string, headers: RequestLike["headers"] = {}): RequestLike => ({ method: "GET", url, headers });

describe("extractKey", () => {
  it("reads a header, a query parameter or a cookie", () => {
    expect(extractKey([header], req("/", { "x-user-id": "1234" }))).toBe("1234");
    expect(extractKey([query], req("/pay?a=1&uid=1234&b=2"))).toBe("1234");
    expect(extractKey([cookie], req("/", { cookie: "sid=abc; uid=1234; theme=dark" }))).toBe("1234");
  });

  it("reads every source: one value wherever it is, the same value in several places, or a refusal", () => {
    expect(extractKey(all, req("/?uid=222"))).toBe("222");
    expect(extractKey(all, req("/", { cookie: "uid=333" }))).toBe("333");
    expect(extractKey(all, req("/?uid=111", { "x-user-id": "111", cookie: "uid=111" }))).toBe("111");
    // Header and query naming different users: refused, naming both, whatever the order.
    const r = req("/?uid=222", { "x-user-id": "111", cookie: "uid=333" });
    for (const order of [all, [query, header, cookie], [cookie, query, header]]) {
      expect(extractKey(order, r)).toBe(KEY_CONFLICT);
    }
    const report = newKeyReport();
    expect(extractKey(all, req("/?uid=222", { "x-user-id": "111" }), report)).toBe(KEY_CONFLICT);
    expect(report).toEqual({ key: KEY_CONFLICT, source: 0, other: 1, reason: "" });
    // A present but malformed value refuses the key even if another source is fine.
    expect(extractKey(all, req("/?uid=222", { "x-user-id": "1".repeat(300) }), report)).toBe(KEY_MALFORMED);
    expect(report).toMatchObject({ key: KEY_MALFORMED, source: 0, reason: "is longer than 256 characters" });
    expect(extractKey(all, req("/?uid=%zz", { "x-user-id": "222" }), report)).toBe(KEY_MALFORMED);
    expect(report).toMatchObject({ source: 1 });
    expect(extractKey(all, req("/?uid=9", { cookie: "uid=9" }), report)).toBe("9");
    expect(report).toEqual({ key: "9", source: 1, other: -1, reason: "" });
  });

  it("matches query parameter names as URLSearchParams decodes them; refuses spellings other apps read as the name", () => {
    const same = (url: string) => {
      const k = extractKey([query], req(url));
      const p = new URLSearchParams(url.slice(url.indexOf("?") + 1)).getAll("uid");
      expect(p.length, url).toBeGreaterThan(0);
      expect(k, url).toBe(p[0]);
    };
    same("/?u%69d=12");
    same("/?%75%69%64=12");
    same("/?u%69d=1%2B2");
    same("/?uid=a+b");
    // A percent-encoded name naming another user than the plain one: the router sees both.
    expect(extractKey([query], req("/?uid=1&u%69d=2"))).toBe(KEY_CONFLICT);
    expect(extractKey([header, query], req("/?u%69d=2", { "x-user-id": "1" }))).toBe(KEY_CONFLICT);
    // Other case (ASP.NET), brackets (PHP, qs), after ';' (Rack 2, old Python): ambiguous, refused.
    for (const url of [
      "/?UID=3",
      "/?Uid=3",
      "/?uid[]=3",
      "/?uid%5B0%5D=3",
      "/?a=1;uid=3",
      "/?a=1;u%69d=3",
      "/?uid=3;x=1",
    ]) {
      expect(extractKey([query], req(url)), url).toBe(KEY_MALFORMED);
    }
    // Names that merely start alike or decode to something else do not count.
    for (const url of ["/?uidx=1", "/?xuid=1", "/?uid%3D1=2", "/?u%zzid=1", "/?u+id=1", "/?a=1;b=2"]) {
      expect(extractKey([query], req(url)), url).toBe(KEY_MISSING);
    }
  });

  it("never reads a query key that URLSearchParams reads differently (fuzz)", () => {
    const names = ["uid", "u%69d", "%75%69%64", "ui%64", "UID", "uid[]", "u%2569d", "uid+", "uidx", "x", "a=1;uid"];
    const values = ["1234", "%31%32", "1+2", "%2B1", "%zz", "%FF", "", "a;b", "5678", "%E7%94%A8"];
    const param = fc.oneof(
      fc.tuple(fc.constantFrom(...names), fc.constantFrom(...values)).map(([n, v]) => `${n}=${v}`),
      fc.constantFrom(...names),
    );
    fc.assert(
      fc.property(fc.array(param, { maxLength: 6 }), (params) => {
        const qs = params.join("&");
        const k = extractKey([query], req(`/p?${qs}`));
        const app = new URLSearchParams(qs).getAll("uid");
        if (typeof k === "string") {
          expect(app.length).toBeGreaterThan(0);
          for (const v of app) expect(v === "" || v === k, `${qs}: ${v} vs ${k}`).toBe(true);
        } else if (k === KEY_MISSING) {
          expect(
            app.every((v) => v === ""),
            qs,
          ).toBe(true);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it("refuses header and cookie spellings that servers and frameworks merge with the key", () => {
    expect(extractKey([header], req("/", { x_user_id: "5" }))).toBe(KEY_MALFORMED);
    expect(extractKey([header], req("/", { "x-user-id": "5", x_user_id: "5" }))).toBe(KEY_MALFORMED);
    expect(extractKey([header], req("/", { "x-user-id": "5,6" }))).toBe(KEY_MALFORMED);
    for (const c of ["UID=5", "u%69d=5", "uid[0]=5", "uid=%35", 'uid="5,6"']) {
      expect(extractKey([cookie], req("/", { cookie: c })), c).toBe(KEY_MALFORMED);
    }
    expect(extractKey([cookie], req("/", { cookie: "uidx=5; xuid=6" }))).toBe(KEY_MISSING);
  });

  it("treats absent and empty values as missing", () => {
    expect(extractKey(all, req("/"))).toBe(KEY_MISSING);
    expect(extractKey(all, { headers: {} })).toBe(KEY_MISSING);
    expect(extractKey(all, req("/?uid=&uid", { "x-user-id": "", cookie: 'uid=; uid=""' }))).toBe(KEY_MISSING);
    expect(extractKey(all, req("/?uidx=1&xuid=2", { cookie: "uidx=1; xuid=2" }))).toBe(KEY_MISSING);
    expect(extractKey([query], req("/path#?uid=1"))).toBe(KEY_MISSING);
    expect(extractKey([header], req("/", { "x-user-id": [] }))).toBe(KEY_MISSING);
  });

  it("percent-decodes query values (+ is a space), strictly", () => {
    expect(extractKey([query], req("/?uid=%31%32%33"))).toBe("123");
    expect(extractKey([query], req("/?uid=a+b%20c"))).toBe("a b c");
    expect(extractKey([query], req("/?uid=%E7%94%A8%E6%88%B7"))).toBe("用户");
    expect(extractKey([query], req("/?uid=12#frag"))).toBe("12");
    expect(extractKey([query], req("http://gw.example/pay?uid=12"))).toBe("12");
    expect(extractKey([query], req("/?uid=%zz"))).toBe(KEY_MALFORMED);
    expect(extractKey([query], req("/?uid=%E7%94"))).toBe(KEY_MALFORMED); // not UTF-8
    expect(extractKey([query], req("/?uid=%FF"))).toBe(KEY_MALFORMED);
  });

  it("takes repeated values only if they agree", () => {
    const report = newKeyReport();
    expect(extractKey([query], req("/?uid=1&uid=1"))).toBe("1");
    expect(extractKey([header, query], req("/?uid=1&uid=2"), report)).toBe(KEY_CONFLICT);
    expect(report).toMatchObject({ source: 1, other: 1 });
    expect(extractKey([header], req("/", { "x-user-id": ["7", "7"] }))).toBe("7");
    expect(extractKey([header], req("/", { "x-user-id": ["7", "8"] }))).toBe(KEY_CONFLICT);
    // node:http joins repeated custom headers with ", ": malformed (several values).
    expect(extractKey([header], req("/", { "x-user-id": "7, 8" }), report)).toBe(KEY_MALFORMED);
    expect(report.reason).toContain("several values");
    expect(extractKey([cookie], req("/", { cookie: "uid=1; uid=1" }))).toBe("1");
    expect(extractKey([cookie], req("/", { cookie: "uid=1; uid=2" }))).toBe(KEY_CONFLICT);
    expect(extractKey([cookie], req("/", { cookie: ["uid=1", "a=b; uid=2"] }))).toBe(KEY_CONFLICT);
    expect(extractKey([cookie], req("/", { cookie: ["a=b", "uid=2"] }))).toBe("2");
  });

  it("unquotes cookie values and trims spaces", () => {
    expect(extractKey([cookie], req("/", { cookie: 'uid="42"' }))).toBe("42");
    expect(extractKey([cookie], req("/", { cookie: "  a=1 ;  uid = 42 ; " }))).toBe("42");
  });

  it("bounds what it reads: keys over 256 bytes, cookies over 8 KiB, odd bytes are malformed", () => {
    expect(extractKey([header], req("/", { "x-user-id": "1".repeat(256) }))).toBe("1".repeat(256));
    expect(extractKey([header], req("/", { "x-user-id": "1".repeat(257) }))).toBe(KEY_MALFORMED);
    expect(extractKey([header], req("/", { "x-user-id": "é" }))).toBe(KEY_MALFORMED);
    expect(extractKey([header], req("/", { "x-user-id": "12 34" }))).toBe(KEY_MALFORMED);
    expect(extractKey([query], req(`/?uid=${"1".repeat(257)}`))).toBe(KEY_MALFORMED);
    expect(extractKey([query], req(`/?uid=${"%31".repeat(256)}`))).toBe("1".repeat(256));
    expect(extractKey([query], req(`/?uid=${"%31".repeat(257)}`))).toBe(KEY_MALFORMED);
    const big = `uid=1; pad=${"x".repeat(MAX_COOKIE_HEADER_BYTES)}`;
    expect(extractKey([cookie], req("/", { cookie: big }))).toBe(KEY_MALFORMED);
    expect(extractKey([cookie], req("/", { cookie: [big.slice(0, 5000), big.slice(5000)] }))).toBe(KEY_MALFORMED);
    expect(extractKey([cookie], req("/", { cookie: `uid=1; pad=${"x".repeat(8000)}` }))).toBe("1");
    expect(extractKey([cookie], req("/", { cookie: `uid=${"1".repeat(257)}` }))).toBe(KEY_MALFORMED);
  });

  it("works on a node:http IncomingMessage", () => {
    const m = new IncomingMessage(new Socket());
    m.method = "POST";
    m.url = "/pay?uid=99";
    m.headers = { "x-user-id": "1234", cookie: "uid=5" };
    expect(extractKey(all, m)).toBe(KEY_CONFLICT);
    expect(extractKey([header], m)).toBe("1234");
    expect(extractKey([query], m)).toBe("99");
    m.destroy();
  });

  it("never throws and returns a bounded key, MISSING, MALFORMED or CONFLICT for arbitrary requests", () => {
    fc.assert(
      fc.property(requestArb, fc.shuffledSubarray(all, { minLength: 1 }), (r, sources) => {
        const k = extractKey(sources, r as RequestLike);
        if (typeof k === "string") {
          expect(k.length).toBeGreaterThan(0);
          expect(k.length).toBeLessThanOrEqual(256);
        } else expect([KEY_MISSING, KEY_MALFORMED, KEY_CONFLICT]).toContain(k);
      }),
      { numRuns: 3000 },
    );
  });

  it("survives hostile shapes", () => {
    const odd = [
      { headers: null },
      { headers: { "x-user-id": 5 } },
      { headers: { "x-user-id": [1, 2] } },
      { headers: { cookie: [null] } },
      { url: 42, headers: {} },
      { url: "?".repeat(10_000) + "uid=1", headers: {} },
      { url: "/?" + "&".repeat(100_000), headers: {} },
      // Linear, not quadratic: many parameters without '=' or ';', many cookies without '='.
      { url: "/?" + "a&".repeat(1_000_000), headers: {} },
      { url: "/?" + "a;b&".repeat(100_000), headers: {} },
      { url: "/?" + "u;".repeat(1_000_000), headers: {} },
      { headers: { cookie: "a;".repeat(4000) } },
    ];
    for (const r of odd) expect(() => extractKey(all, r as unknown as RequestLike)).not.toThrow();
  });
});

describe("encodeKeyHeader", () => {
  it("keeps decimal ids as they are and percent-encodes anything else, so any key fits in x-ldc-key", () => {
    expect(encodeKeyHeader("2088001234")).toBe("2088001234");
    expect(encodeKeyHeader("a b/用户")).toBe("a%20b%2F%E7%94%A8%E6%88%B7");
    expect(decodeURIComponent(encodeKeyHeader("50%;x"))).toBe("50%;x");
    expect(encodeKeyHeader("\ud800")).toBe("%EF%BF%BD");
  });
});

describe("normalizeKeySpec", () => {
  it("accepts spec.key as in the API, or the bare sources list; sources keep their order", () => {
    expect(
      normalizeKeySpec({
        sources: [
          { type: "Query", name: "uid" },
          { type: "Header", name: "X-User-Id" },
        ],
        pattern: "^[0-9]{4,20}$",
        onInvalidKey: "Global",
      }).spec,
    ).toEqual({
      sources: [
        { type: "Query", name: "uid" },
        { type: "Header", name: "x-user-id" },
      ],
      pattern: "^[0-9]{4,20}$",
      onInvalidKey: "Global",
    });
    expect(normalizeKeySpec([{ type: "Cookie", name: "uid" }]).spec).toEqual({
      sources: [{ type: "Cookie", name: "uid" }],
      pattern: undefined,
      onInvalidKey: undefined,
    });
  });

  it("names the field for bad specs", () => {
    const msg = (input: unknown): string =>
      normalizeKeySpec(input)
        .issues.map((i) => `${i.path}: ${i.message}`)
        .join("; ");
    expect(msg(undefined)).toContain("spec.key: required");
    expect(msg({})).toContain("spec.key.sources: required");
    expect(msg({ sources: [] })).toContain("spec.key.sources: lists no key source");
    expect(msg({ sources: [{ type: "Body", name: "uid" }] })).toBe(
      `spec.key.sources[0].type: unknown key source "Body"; allowed values: Header, Query, Cookie`,
    );
    expect(msg({ sources: [{ type: "Header", name: "bad header" }] })).toContain(
      `spec.key.sources[0].name: "bad header" is not a valid header name`,
    );
    expect(msg({ sources: [{ type: "Query", name: "a&b" }] })).toContain("spec.key.sources[0].name");
    expect(
      msg({
        sources: [
          { type: "Header", name: "a" },
          { type: "Header", name: "A" },
        ],
      }),
    ).toContain(`spec.key.sources[1]: Header "a" is listed twice`);
    expect(msg({ sources: [{ type: "Header", name: "a" }], pattern: "([0-9]" })).toContain(
      "spec.key.pattern: not a valid regular expression",
    );
    // what RE2 cannot run in linear time is refused, naming the field, the syntax and the fix
    for (const pattern of [
      "^(a)\\1$",
      "^\\k<n>$",
      "^(?=1)[0-9]+$",
      "^(?![0])[0-9]+$",
      "(?<=u)[0-9]+",
      "(?<!u)1",
      "^(?:1{100}){100}$",
    ]) {
      const m = msg({ sources: [{ type: "Header", name: "a" }], pattern });
      expect(m).toMatch(
        /^spec\.key\.pattern: not a valid regular expression \(.*RE2 syntax, which matches in linear time/,
      );
      expect(m).toContain("rewrite it in RE2 syntax, e.g. ^[0-9]{4,20}$, or remove it");
    }
    expect(msg({ sources: [{ type: "Header", name: "a" }], onInvalidKey: "Drop" })).toContain(
      `spec.key.onInvalidKey: unknown value "Drop"; allowed values: Global, Reject`,
    );
  });
});

describe("compileKeyPattern", () => {
  it("tests unanchored, as RegExp.test does, in RE2 syntax", () => {
    expect(compileKeyPattern("[0-9]").test("a1b")).toBe(true);
    expect(compileKeyPattern("^[0-9]{4,20}$").test("a1234")).toBe(false);
    expect(compileKeyPattern("^[0-9]{4,20}$").test("1234")).toBe(true);
    expect(compileKeyPattern("^\\p{L}+$").test("用户")).toBe(true);
    expect(compileKeyPattern("(?i)^u[0-9]+$").test("U12")).toBe(true);
  });

  it("answers for a pattern that backtracks exponentially in ECMAScript, with a hostile key", () => {
    const p = compileKeyPattern("^(a+)+$");
    expect(p.test(`${"a".repeat(64)}!`)).toBe(false);
    expect(p.test("a".repeat(64))).toBe(true);
    expect(compileKeyPattern("^(.*a){12}$").test(`${"a".repeat(100)}b`)).toBe(false);
  });

  it("throws, naming the syntax, for what RE2 cannot compile", () => {
    expect(() => compileKeyPattern("(a)\\1")).toThrow(/invalid escape sequence.*\(patterns use RE2 syntax/);
  });
});
