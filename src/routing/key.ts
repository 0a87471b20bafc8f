// Routing-key extraction from an HTTP request: header, query parameter or
// cookie. Every source of the rule is read, so that a router and the app
// behind it cannot read two different users from one request: values that
// disagree, a present but unusable value, or a spelling that apps decode in
// different ways (a case variant, `uid[]`, `;uid=`, `x_user_id`) refuse the
// key. Reads are bounded (linear in the URL and the headers read, no regular
// expressions) and nothing throws: every input yields a key, KEY_MISSING,
// KEY_MALFORMED or KEY_CONFLICT.

import { createRequire } from "node:module";
import type * as Re2js from "re2js";
import type { RE2JS } from "re2js";
import type { RoutingIssue } from "./errors.ts";
import { MAX_KEY_BYTES } from "./shard.ts";

export type KeySourceType = "Header" | "Query" | "Cookie";
export const KEY_SOURCE_TYPES: readonly KeySourceType[] = ["Header", "Query", "Cookie"];

/**
 * Where to find the routing key (ShardingRule `spec.key.sources[]`):
 * `{type: "Header", name: "x-user-id"}`. Header names are matched lower-case.
 */
export interface KeySource {
  readonly type: KeySourceType;
  readonly name: string;
}

/**
 * The least of an HTTP request the router reads; node:http's IncomingMessage
 * fits. Header names must be lower-case (as node:http gives them).
 */
export interface RequestLike {
  readonly method?: string | undefined;
  /** The request target: path and query ("/pay?uid=1234"); absolute-form also works. */
  readonly url?: string | undefined;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
}

/** No source carried the key. */
export const KEY_MISSING = 0;
/** A source carried an unusable or ambiguous value. */
export const KEY_MALFORMED = 1;
/** Two sources (or two occurrences of one) carried different values. */
export const KEY_CONFLICT = 2;
export type KeyResult = string | typeof KEY_MISSING | typeof KEY_MALFORMED | typeof KEY_CONFLICT;

/**
 * What extractKey read, for messages and for the canonical key header: filled
 * when passed in (see newKeyReport). Sources are indices into the rule's
 * sources; reasons are fixed texts that never echo the request.
 */
export interface KeyReport {
  /** The result extractKey returned. */
  key: KeyResult;
  /** The source that carried the key, the unusable value or the first of two different values; -1 if none. */
  source: number;
  /** KEY_CONFLICT: the source of the second value (equal to `source` when one source repeats); else -1. */
  other: number;
  /** KEY_MALFORMED: why the value is unusable; else "". */
  reason: string;
}

export const newKeyReport = (): KeyReport => ({ key: KEY_MISSING, source: -1, other: -1, reason: "" });

/** A Cookie header (all of them together) longer than this makes a cookie key malformed. */
export const MAX_COOKIE_HEADER_BYTES = 8192;
/** A percent-encoded query value longer than this cannot decode to MAX_KEY_BYTES bytes. */
const MAX_RAW_QUERY_VALUE = 3 * MAX_KEY_BYTES;

const R_LONG = `is longer than ${MAX_KEY_BYTES} characters`;
const R_BYTES = "has characters outside visible ASCII";
const R_LIST = "has several values (a comma, or the header sent more than once)";
const R_ESCAPE = "has a bad percent-escape or is not UTF-8 once decoded";
const R_SEMICOLON = "has a ';' (some apps split queries on ';' too)";
const R_PERCENT_COOKIE = "has a '%' (some apps percent-decode cookies)";
const R_COOKIE_LONG = `is in Cookie headers longer than ${MAX_COOKIE_HEADER_BYTES} characters`;
const R_NAME =
  "is ambiguous: a parameter spelled like its name is present (another case, '[...]' after it, or after ';')";
const R_COOKIE_NAME =
  "is ambiguous: a cookie spelled like its name is present (another case, percent-encoded, or '[...]' after it)";
const R_HEADER_ALIAS =
  "is ambiguous: a header of the same name with '_' for '-' is present (some servers read both as one)";

/** Why the last reader returned KEY_MALFORMED, to follow "it" (module scratch: extraction is synchronous). */
let why = "";
const malformed = (reason: string): typeof KEY_MALFORMED => {
  why = reason;
  return KEY_MALFORMED;
};

/** Header and cookie keys are visible ASCII (0x21-0x7e) without ','; HTTP field bytes have no defined encoding. */
function checkFieldValue(v: string): KeyResult {
  const n = v.length;
  if (n === 0) return KEY_MISSING;
  if (n > MAX_KEY_BYTES) return malformed(R_LONG);
  for (let i = 0; i < n; i++) {
    const c = v.charCodeAt(i);
    if (c === 44 /* , */) return malformed(R_LIST);
    if (c < 0x21 || c > 0x7e) return malformed(v.indexOf(",") >= 0 ? R_LIST : R_BYTES);
  }
  return v;
}

/** `x-user-id` -> `x_user_id`: the header CGI-style servers read as the same one; null without '-'. */
const headerAlias = (name: string): string | null => (name.indexOf("-") >= 0 ? name.replaceAll("-", "_") : null);

function fromHeader(headers: RequestLike["headers"], name: string, alias: string | null): KeyResult {
  if (alias !== null && headers[alias] !== undefined) return malformed(R_HEADER_ALIAS);
  const v: unknown = headers[name];
  if (typeof v === "string") return checkFieldValue(v);
  if (!Array.isArray(v)) return KEY_MISSING; // absent (other types only from hand-made requests)
  // Repeated header (not joined): one distinct non-empty value is fine, two conflict.
  let found: KeyResult = KEY_MISSING;
  for (const item of v as unknown[]) {
    if (typeof item !== "string") return malformed(R_BYTES);
    const r = checkFieldValue(item);
    if (r === KEY_MISSING) continue;
    if (r === KEY_MALFORMED) return r;
    if (found !== KEY_MISSING && found !== r) return KEY_CONFLICT;
    found = r;
  }
  return found;
}

function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const l = c | 0x20;
  return l >= 97 && l <= 102 ? l - 87 : -1;
}

/** The byte of a valid `%XX` at s[p], or -1. */
function percentByte(s: string, p: number, end: number): number {
  if (p + 2 >= end) return -1;
  const h = hexDigit(s.charCodeAt(p + 1));
  const l = hexDigit(s.charCodeAt(p + 2));
  return h < 0 || l < 0 ? -1 : (h << 4) | l;
}

const M_NONE = 0;
/** The name as written. */
const M_EXACT = 1;
/** The name once percent-decoded (and '+' read as a space), as WHATWG URLSearchParams decodes it. */
const M_DECODED = 2;
/** Another spelling some app reads as the name: another case, or `name[...]` (PHP, qs). */
const M_AMBIGUOUS = 3;

/**
 * Compares the raw name s[start, end) with `name`, decoding `%XX` as WHATWG
 * URLSearchParams does (a bad escape stays literal). Bounded by name.length.
 */
function matchName(s: string, start: number, end: number, name: string): number {
  const n = name.length;
  let p = start;
  let decoded = false;
  let caseOnly = false;
  for (let i = 0; i < n; i++) {
    if (p >= end) return M_NONE;
    let c = s.charCodeAt(p);
    if (c === 37 /* % */) {
      const b = percentByte(s, p, end);
      if (b >= 0) {
        c = b;
        p += 3;
        decoded = true;
      } else p++;
    } else p++;
    const e = name.charCodeAt(i);
    if (c !== e) {
      const l = c | 0x20;
      if (l === (e | 0x20) && l >= 97 && l <= 122) caseOnly = true;
      else return M_NONE;
    }
  }
  if (p < end) {
    const c = s.charCodeAt(p);
    return c === 91 /* [ */ || (c === 37 && percentByte(s, p, end) === 91) ? M_AMBIGUOUS : M_NONE;
  }
  return caseOnly ? M_AMBIGUOUS : decoded ? M_DECODED : M_EXACT;
}

function decodeQueryValue(url: string, start: number, end: number): KeyResult {
  if (start >= end) return KEY_MISSING;
  if (end - start > MAX_RAW_QUERY_VALUE) return malformed(R_LONG);
  let v = url.slice(start, end);
  if (v.indexOf(";") >= 0) return malformed(R_SEMICOLON);
  if (v.indexOf("%") >= 0 || v.indexOf("+") >= 0) {
    try {
      v = decodeURIComponent(v.indexOf("+") >= 0 ? v.replaceAll("+", " ") : v);
    } catch {
      return malformed(R_ESCAPE); // URLSearchParams would keep it literal or use U+FFFD: refuse rather than guess
    }
  }
  if (v.length === 0) return KEY_MISSING;
  return v.length > MAX_KEY_BYTES ? malformed(R_LONG) : v;
}

/**
 * The query parameter `name`: the query is read as WHATWG URLSearchParams
 * reads it (split on '&', name and value percent-decoded, '+' a space), and
 * every parameter whose decoded name is `name` counts. Linear in the URL: the
 * next '=' and ';' are found once each and reused while the scan moves on.
 */
function fromQuery(url: unknown, name: string): KeyResult {
  if (typeof url !== "string") return KEY_MISSING;
  const q = url.indexOf("?");
  if (q < 0) return KEY_MISSING;
  const hash = url.indexOf("#");
  if (hash >= 0 && hash < q) return KEY_MISSING; // "?" inside the fragment
  const end = hash < 0 ? url.length : hash;
  let found: KeyResult = KEY_MISSING;
  let nextEq = q; // the first '=' at or after the scan position (-1: none left); q: not looked for yet
  let nextSemi = q;
  let pos = q + 1;
  while (pos < end) {
    let amp = url.indexOf("&", pos);
    if (amp < 0 || amp > end) amp = end;
    if (amp > pos) {
      if (nextEq >= 0 && nextEq < pos) nextEq = url.indexOf("=", pos);
      const eq = nextEq < 0 || nextEq > amp ? amp : nextEq;
      const m = matchName(url, pos, eq, name);
      if (m === M_AMBIGUOUS) return malformed(R_NAME);
      if (m !== M_NONE) {
        const value = decodeQueryValue(url, eq + 1, amp);
        if (value === KEY_MALFORMED) return KEY_MALFORMED;
        if (value !== KEY_MISSING) {
          if (found !== KEY_MISSING && found !== value) return KEY_CONFLICT;
          found = value;
        }
      } else {
        // Parsers that also split on ';' (Rack 2, old Python) would see a parameter after each ';'.
        if (nextSemi >= 0 && nextSemi < pos) nextSemi = url.indexOf(";", pos);
        while (nextSemi >= 0 && nextSemi < amp) {
          const k = nextSemi + 1;
          nextSemi = url.indexOf(";", k);
          if (nextEq >= 0 && nextEq < k) nextEq = url.indexOf("=", k);
          let e = nextEq < 0 || nextEq > amp ? amp : nextEq;
          if (nextSemi >= 0 && nextSemi < e) e = nextSemi;
          if (matchName(url, k, e, name) !== M_NONE) return malformed(R_NAME);
        }
      }
    }
    pos = amp + 1;
  }
  return found;
}

const NO_HEADERS: RequestLike["headers"] = Object.freeze({});

const isOws = (c: number): boolean => c === 32 || c === 9;

/** Finds cookie `name` in one Cookie header; `found` is the value seen so far. */
function scanCookieHeader(header: string, name: string, found: KeyResult): KeyResult {
  const len = header.length;
  let nextEq = -2; // the first '=' at or after the scan position, found once and reused (-1: none left, -2: not looked for)
  let pos = 0;
  while (pos < len) {
    let semi = header.indexOf(";", pos);
    if (semi < 0) semi = len;
    let s = pos;
    while (s < semi && isOws(header.charCodeAt(s))) s++;
    if (nextEq !== -1 && nextEq < s) nextEq = header.indexOf("=", s);
    const eq = nextEq < 0 || nextEq > semi ? semi : nextEq;
    let ne = eq;
    while (ne > s && isOws(header.charCodeAt(ne - 1))) ne--;
    const m = ne > s ? matchName(header, s, ne, name) : M_NONE;
    if (m === M_DECODED || m === M_AMBIGUOUS) return malformed(R_COOKIE_NAME);
    if (m === M_EXACT && eq < semi) {
      let vs = eq + 1;
      let ve = semi;
      while (vs < ve && isOws(header.charCodeAt(vs))) vs++;
      while (ve > vs && isOws(header.charCodeAt(ve - 1))) ve--;
      if (ve - vs >= 2 && header.charCodeAt(vs) === 34 && header.charCodeAt(ve - 1) === 34) {
        vs++;
        ve--;
      }
      const raw = header.slice(vs, ve);
      const value = checkFieldValue(raw);
      if (value === KEY_MALFORMED) return KEY_MALFORMED;
      if (value !== KEY_MISSING) {
        if (raw.indexOf("%") >= 0) return malformed(R_PERCENT_COOKIE);
        if (found !== KEY_MISSING && found !== value) return KEY_CONFLICT;
        found = value;
      }
    }
    pos = semi + 1;
  }
  return found;
}

function fromCookie(headers: RequestLike["headers"], name: string): KeyResult {
  const v: unknown = headers["cookie"];
  if (typeof v === "string") {
    if (v.length > MAX_COOKIE_HEADER_BYTES) return malformed(R_COOKIE_LONG);
    return scanCookieHeader(v, name, KEY_MISSING);
  }
  if (!Array.isArray(v)) return KEY_MISSING;
  let total = 0;
  for (const item of v as unknown[]) {
    if (typeof item !== "string") return malformed(R_BYTES);
    total += item.length;
  }
  if (total > MAX_COOKIE_HEADER_BYTES) return malformed(R_COOKIE_LONG);
  let found: KeyResult = KEY_MISSING;
  for (const item of v as string[]) {
    found = scanCookieHeader(item, name, found);
    if (found === KEY_MALFORMED || found === KEY_CONFLICT) return found;
  }
  return found;
}

function readSource(s: KeySource, alias: string | null, headers: RequestLike["headers"], url: unknown): KeyResult {
  return s.type === "Header"
    ? fromHeader(headers, s.name, alias)
    : s.type === "Query"
      ? fromQuery(url, s.name)
      : fromCookie(headers, s.name);
}

function done(report: KeyReport | undefined, key: KeyResult, source: number, other: number): KeyResult {
  if (report !== undefined) {
    report.key = key;
    report.source = source;
    report.other = other;
    report.reason = key === KEY_MALFORMED ? why : "";
  }
  return key;
}

/** Reads the routing key of a request with one rule's sources (see extractKey). */
export type KeyReader = (req: RequestLike, report?: KeyReport) => KeyResult;

/** A reader for `sources`, with what can be worked out once (header aliases) worked out: routers keep one per table. */
export function keyReader(sources: readonly KeySource[]): KeyReader {
  const list = sources.slice();
  const aliases = list.map((s) => (s.type === "Header" ? headerAlias(s.name) : null));
  const n = list.length;
  return (req, report) => {
    const h = req.headers;
    const headers = h !== null && typeof h === "object" ? h : NO_HEADERS;
    const url = req.url;
    let key: string | undefined;
    let at = -1;
    for (let i = 0; i < n; i++) {
      const r = readSource(list[i]!, aliases[i]!, headers, url);
      if (r === KEY_MISSING) continue;
      if (r === KEY_MALFORMED) return done(report, r, i, -1);
      if (r === KEY_CONFLICT) return done(report, r, i, i);
      if (key === undefined) {
        key = r;
        at = i;
      } else if (key !== r) return done(report, KEY_CONFLICT, at, i);
    }
    return key === undefined ? done(report, KEY_MISSING, -1, -1) : done(report, key, at, -1);
  };
}

const readers = new WeakMap<readonly KeySource[], KeyReader>();

/**
 * The routing key of `req`. Every source is read: the key is the value they
 * carry, KEY_MISSING if none carries one, KEY_CONFLICT if two carry different
 * values (or one carries two), KEY_MALFORMED if any carries an unusable or
 * ambiguous value (docs/routing.md section 1 lists each case). With `report`,
 * also says which source and why. The reader is made once per sources array
 * (keep the array, or use keyReader).
 */
export function extractKey(sources: readonly KeySource[], req: RequestLike, report?: KeyReport): KeyResult {
  let r = readers.get(sources);
  if (r === undefined) {
    r = keyReader(sources);
    readers.set(sources, r);
  }
  return r(req, report);
}

/** "header x-user-id", "query uid", "cookie uid". */
export const describeKeySource = (s: KeySource): string => `${s.type.toLowerCase()} ${s.name}`;

/**
 * The key as sent to the app in `x-ldc-key`: percent-encoded UTF-8
 * (encodeURIComponent), so any key fits in a header; a decimal id is itself.
 */
export function encodeKeyHeader(key: string): string {
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || ((c | 0x20) >= 97 && (c | 0x20) <= 122) || c === 45 || c === 95 || c === 46)) {
      return encodeURIComponent(key.toWellFormed());
    }
  }
  return key;
}

// ---------------------------------------------------------------------------
// Spec normalisation

/** HTTP token (RFC 9110): header, query parameter and cookie names. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** `spec.key`, as in the ShardingRule API. */
export interface KeySpec {
  readonly sources: readonly KeySource[];
  /** A regular expression (RE2 syntax: compileKeyPattern) a key must match to be valid. */
  readonly pattern?: string | undefined;
  readonly onInvalidKey?: "Global" | "Reject" | undefined;
}

export interface NormalizedKeySpec {
  readonly sources: readonly KeySource[];
  readonly pattern: string | undefined;
  readonly onInvalidKey: "Global" | "Reject" | undefined;
}

/** A compiled `spec.key.pattern`: `test` says whether it matches anywhere in the key (anchor it with ^...$). */
export interface KeyPattern {
  test(key: string): boolean;
}

/** What a key pattern may be, for messages. */
export const KEY_PATTERN_SYNTAX =
  "RE2 syntax, which matches in linear time: no back-references (\\1, \\k<name>) or look-around ((?=, (?!, (?<=, (?<!), repeat counts up to 1000";

/** re2js on first use: most rules have no pattern, and every sidecar would carry it (~3 MB, ADR 0015). */
let re2js: typeof RE2JS | undefined;
function re2(): typeof RE2JS {
  re2js ??= (createRequire(import.meta.url)("re2js") as typeof Re2js).RE2JS;
  return re2js;
}

/**
 * Compiles a key pattern with RE2 (re2js): matching takes time linear in the
 * key, whatever the pattern, so no pattern can stall the operator or a
 * sidecar (`^(a+)+$` backtracks exponentially in ECMAScript RegExp). The API
 * validates patterns with this same function. Throws an Error naming
 * KEY_PATTERN_SYNTAX when RE2 cannot compile the pattern.
 */
export function compileKeyPattern(pattern: string): KeyPattern {
  try {
    return re2().compile(pattern);
  } catch (e) {
    throw new Error(`${(e as Error).message} (patterns use ${KEY_PATTERN_SYNTAX})`, { cause: e });
  }
}

/**
 * Validates `spec.key`: `{sources: [{type: Header, name: x-user-id}, {type:
 * Query, name: uid}], pattern?, onInvalidKey?}`, or just the sources list.
 * Sources are tried in the order listed.
 */
export function normalizeKeySpec(
  input: unknown,
  path = "spec.key",
): { spec?: NormalizedKeySpec; issues: RoutingIssue[] } {
  const issues: RoutingIssue[] = [];
  const example = "e.g. {sources: [{type: Header, name: x-user-id}, {type: Query, name: uid}]}";
  let list: unknown = input;
  let sourcesPath = path;
  let pattern: string | undefined;
  let onInvalidKey: "Global" | "Reject" | undefined;
  if (input !== null && typeof input === "object" && !Array.isArray(input)) {
    const o = input as Record<string, unknown>;
    list = o["sources"];
    sourcesPath = `${path}.sources`;
    const p = o["pattern"];
    if (p !== undefined && p !== null && p !== "") {
      if (typeof p !== "string") issues.push({ path: `${path}.pattern`, message: "must be a string" });
      else if (p.length > 256) issues.push({ path: `${path}.pattern`, message: "longer than 256 characters" });
      else {
        try {
          compileKeyPattern(p);
          pattern = p;
        } catch (e) {
          issues.push({
            path: `${path}.pattern`,
            message: `not a valid regular expression (${(e as Error).message}): rewrite it in RE2 syntax, e.g. ^[0-9]{4,20}$, or remove it`,
          });
        }
      }
    }
    const oik = o["onInvalidKey"];
    if (oik !== undefined && oik !== null) {
      if (oik === "Global" || oik === "Reject") onInvalidKey = oik;
      else {
        issues.push({
          path: `${path}.onInvalidKey`,
          message: `unknown value ${JSON.stringify(oik)}; allowed values: Global, Reject`,
        });
      }
    }
  }
  if (!Array.isArray(list)) {
    issues.push({ path: sourcesPath, message: `required: where the routing key is, in order, ${example}` });
    return { issues };
  }
  const sources: KeySource[] = [];
  (list as unknown[]).forEach((item, i) => {
    const p = `${sourcesPath}[${i}]`;
    if (item === null || typeof item !== "object" || Array.isArray(item)) {
      issues.push({ path: p, message: `expected {type, name}, ${example}` });
      return;
    }
    const { type, name } = item as Record<string, unknown>;
    if (typeof type !== "string" || !(KEY_SOURCE_TYPES as readonly string[]).includes(type)) {
      issues.push({
        path: `${p}.type`,
        message: `unknown key source ${JSON.stringify(type)}; allowed values: ${KEY_SOURCE_TYPES.join(", ")}`,
      });
      return;
    }
    if (typeof name !== "string" || name === "" || name.length > 256 || !TOKEN.test(name)) {
      issues.push({
        path: `${p}.name`,
        message: `${JSON.stringify(name)} is not a valid ${type.toLowerCase()} name (an HTTP token of 1-256 characters)`,
      });
      return;
    }
    if (type === "Query" && /[&=#?%+]/.test(name)) {
      issues.push({
        path: `${p}.name`,
        message: `query parameter name ${JSON.stringify(name)} must not contain & = # ? % or + (they delimit or encode the query)`,
      });
      return;
    }
    const n = type === "Header" ? name.toLowerCase() : name;
    if (sources.some((s) => s.type === type && s.name === n)) {
      issues.push({ path: p, message: `${type} ${JSON.stringify(n)} is listed twice` });
      return;
    }
    sources.push(Object.freeze({ type: type as KeySourceType, name: n }));
  });
  if (sources.length === 0 && issues.length === 0) {
    issues.push({ path: sourcesPath, message: `lists no key source, ${example}` });
  }
  if (issues.length > 0) return { issues };
  return { spec: { sources, pattern, onInvalidKey }, issues };
}
