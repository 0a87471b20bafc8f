// Test backends and helpers for the sidecar and routing API tests: real
// HTTP servers on 127.0.0.1 with ephemeral ports that record what they served.

import http from "node:http";
import net from "node:net";
import type { AddressInfo } from "node:net";
import type { RoutingTable, RoutingTableInput } from "../../../src/routing/index.ts";
import { buildTable } from "../../../src/routing/index.ts";
import { USERS } from "../routing/fixtures.ts";

export interface Served {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface Backend {
  name: string;
  url: string;
  served: Served[];
  close(): Promise<void>;
}

/** An app that answers 200 `{served: name}` and records every request. */
export async function startBackend(name: string): Promise<Backend> {
  const served: Served[] = [];
  const server = http.createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (c: string) => (body += c));
    req.on("end", () => {
      served.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, body });
      const data = JSON.stringify({ served: name });
      res.writeHead(200, { "content-type": "application/json", "x-served-by": name });
      res.end(data);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  return {
    name,
    url: `http://127.0.0.1:${port}`,
    served,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** The USERS rule of the routing tests, with overrides. */
export function usersTable(over: Partial<RoutingTableInput> = {}): RoutingTable {
  return buildTable({ ...USERS, ...over });
}

/** A uid whose Digits(-3,-1) shard is `shard` (0-99). */
export function uidFor(shard: number): string {
  return `9${String(shard).padStart(2, "0")}9`;
}

/** Polls `cond` until it holds (the test's own timeout bounds it). */
export async function until(cond: () => boolean | Promise<boolean>, everyMs = 5): Promise<void> {
  while (!(await cond())) await new Promise((r) => setTimeout(r, everyMs));
}

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  json: () => Record<string, unknown>;
}

/** `request` with `Authorization: Bearer <token>` on reads (GET), unless the caller sets its own: the routing API's reads need it. */
export function readsWith(token: string): typeof request {
  return (url, opts = {}) =>
    request(
      url,
      (opts.method ?? "GET") === "GET"
        ? { ...opts, headers: { authorization: `Bearer ${token}`, ...opts.headers } }
        : opts,
    );
}

/** One request with node:http (no connection reuse: every test request is independent). */
export function request(
  url: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: opts.method ?? "GET", headers: opts.headers, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body,
          json: () => JSON.parse(body) as Record<string, unknown>,
        }),
      );
    });
    req.on("error", reject);
    req.end(opts.body);
  });
}

/** Sends raw bytes and returns the raw answer (up to the connection's end). */
export function rawRequest(port: number, data: string | Buffer): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, "127.0.0.1");
    let out = "";
    s.setEncoding("latin1");
    s.on("data", (c: string) => {
      out += c;
      // One answer is enough: close once the head and a declared body arrived.
      const head = out.indexOf("\r\n\r\n");
      const m = /content-length: *([0-9]+)/i.exec(out);
      if (head >= 0 && m && out.length >= head + 4 + Number(m[1])) s.destroy();
    });
    s.on("error", () => resolve(out));
    s.on("close", () => resolve(out));
    s.write(data);
  });
}
