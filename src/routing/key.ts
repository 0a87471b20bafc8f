// Routing-key extraction from an HTTP request: header, query parameter or
// cookie, tried in the rule's order. Reads are bounded and nothing throws:
// every input yields a key, KEY_MISSING or KEY_MALFORMED.

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
/** The first source that carried the key carried an unusable value. */
export const KEY_MALFORMED = 1;
export type KeyResult = string | typeof KEY_MISSING | typeof KEY_MALFORMED;

/** A Cookie header (all of them together) longer than this makes a cookie key malformed. */
export const MAX_COOKIE_HEADER_BYTES = 8192;
/** A percent-encoded query value longer than this cannot decode to MAX_KEY_BYTES bytes. */
const MAX_RAW_QUERY_VALUE = 3 * MAX_KEY_BYTES;

/** Header and cookie keys are visible ASCII (0x21-0x7e): HTTP field bytes have no defined encoding. */
function isVisibleAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

function checkFieldValue(v: string): KeyResult {
  if (v.length === 0) return KEY_MISSING;
  if (v.length > MAX_KEY_BYTES || !isVisibleAscii(v)) return KEY_MALFORMED;
  return v;
}

function fromHeader(headers: RequestLike["headers"], name: string): KeyResult {
  const v: unknown = headers[name];
  if (typeof v === "string") return checkFieldValue(v);
  if (!Array.isArray(v)) return KEY_MISSING;
  // Repeated header: one distinct non-empty value is fine, two are ambiguous.
  let found: string | undefined;
  for (const item of v as unknown[]) {
    if (typeof item !== "string") return KEY_MALFORMED;
    if (item === "") continue;
    if (found === undefined) found = item;
    else if (found !== item) return KEY_MALFORMED;
  }
  return found === undefined ? KEY_MISSING : checkFieldValue(found);
}

function decodeQueryValue(raw: string): KeyResult {
  if (raw.length === 0) return KEY_MISSING;
  if (raw.length > MAX_RAW_QUERY_VALUE) return KEY_MALFORMED;
  let v = raw;
  if (raw.indexOf("%") >= 0 || raw.indexOf("+") >= 0) {
    try {
      v = decodeURIComponent(raw.indexOf("+") >= 0 ? raw.replaceAll("+", " ") : raw);
    } catch {
      return KEY_MALFORMED; // bad escape or not UTF-8
    }
  }
  if (v.length === 0) return KEY_MISSING;
  return v.length > MAX_KEY_BYTES ? KEY_MALFORMED : v;
}

function fromQuery(url: unknown, name: string): KeyResult {
  if (typeof url !== "string") return KEY_MISSING;
  const q = url.indexOf("?");
  if (q < 0) return KEY_MISSING;
  const hash = url.indexOf("#");
  if (hash >= 0 && hash < q) return KEY_MISSING; // "?" inside the fragment
  const end = hash < 0 ? url.length : hash;
  const nlen = name.length;
  let found: KeyResult = KEY_MISSING;
  let pos = q + 1;
  while (pos < end) {
    let amp = url.indexOf("&", pos);
    if (amp < 0 || amp > end) amp = end;
    if (amp - pos >= nlen && url.startsWith(name, pos)) {
      const after = pos + nlen;
      if (after === amp || url.charCodeAt(after) === 61 /* = */) {
        const value = decodeQueryValue(after === amp ? "" : url.slice(after + 1, amp));
        if (value === KEY_MALFORMED) return KEY_MALFORMED;
        if (value !== KEY_MISSING) {
          if (found !== KEY_MISSING && found !== value) return KEY_MALFORMED; // two different ids
          found = value;
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
  const nlen = name.length;
  let pos = 0;
  while (pos < len) {
    let semi = header.indexOf(";", pos);
    if (semi < 0) semi = len;
    let s = pos;
    while (s < semi && isOws(header.charCodeAt(s))) s++;
    if (semi - s > nlen && header.startsWith(name, s)) {
      let e = s + nlen;
      while (e < semi && isOws(header.charCodeAt(e))) e++;
      if (header.charCodeAt(e) === 61 /* = */) {
        let vs = e + 1;
        let ve = semi;
        while (vs < ve && isOws(header.charCodeAt(vs))) vs++;
        while (ve > vs && isOws(header.charCodeAt(ve - 1))) ve--;
        if (ve - vs >= 2 && header.charCodeAt(vs) === 34 && header.charCodeAt(ve - 1) === 34) {
          vs++;
          ve--;
        }
        const value = checkFieldValue(header.slice(vs, ve));
        if (value === KEY_MALFORMED) return KEY_MALFORMED;
        if (value !== KEY_MISSING) {
          if (found !== KEY_MISSING && found !== value) return KEY_MALFORMED;
          found = value;
        }
      }
    }
    pos = semi + 1;
  }
  return found;
}

function fromCookie(headers: RequestLike["headers"], name: string): KeyResult {
  const v: unknown = headers["cookie"];
  if (typeof v === "string") {
    if (v.length > MAX_COOKIE_HEADER_BYTES) return KEY_MALFORMED;
    return scanCookieHeader(v, name, KEY_MISSING);
  }
  if (!Array.isArray(v)) return KEY_MISSING;
  let total = 0;
  for (const item of v as unknown[]) {
    if (typeof item !== "string") return KEY_MALFORMED;
    total += item.length;
  }
  if (total > MAX_COOKIE_HEADER_BYTES) return KEY_MALFORMED;
  let found: KeyResult = KEY_MISSING;
  for (const item of v as string[]) {
    found = scanCookieHeader(item, name, found);
    if (found === KEY_MALFORMED) return KEY_MALFORMED;
  }
  return found;
}

/**
 * The routing key of `req`: the first source (in order) that carries a
 * non-empty value decides. Its value is the key, or KEY_MALFORMED if it is
 * unusable (over MAX_KEY_BYTES, non-visible-ASCII in a header or cookie, a bad
 * percent escape, two different values, a Cookie header over
 * MAX_COOKIE_HEADER_BYTES). KEY_MISSING if no source carries one.
 */
export function extractKey(sources: readonly KeySource[], req: RequestLike): KeyResult {
  const h = req.headers;
  const headers = h !== null && typeof h === "object" ? h : NO_HEADERS;
  for (let i = 0; i < sources.length; i++) {
    const s = sources[i]!;
    const r =
      s.type === "Header"
        ? fromHeader(headers, s.name)
        : s.type === "Query"
          ? fromQuery(req.url, s.name)
          : fromCookie(headers, s.name);
    if (r !== KEY_MISSING) return r;
  }
  return KEY_MISSING;
}

// ---------------------------------------------------------------------------
// Spec normalisation

/** HTTP token (RFC 9110): header, query parameter and cookie names. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** `spec.key`, as in the ShardingRule API. */
export interface KeySpec {
  readonly sources: readonly KeySource[];
  /** A regular expression (ECMAScript, compiled with the `u` flag) a key must match to be valid. */
  readonly pattern?: string | undefined;
  readonly onInvalidKey?: "Global" | "Reject" | undefined;
}

export interface NormalizedKeySpec {
  readonly sources: readonly KeySource[];
  readonly pattern: string | undefined;
  readonly onInvalidKey: "Global" | "Reject" | undefined;
}

/** Compiles a key pattern as the API validates it; throws SyntaxError. */
export const compileKeyPattern = (pattern: string): RegExp => new RegExp(pattern, "u");

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
            message: `not a valid regular expression (${(e as Error).message}): fix it or remove it`,
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
