// Hostile clients against a started sidecar: a slow upload (1 byte/s) or slow
// headers are cut with 408 and never hold up other clients; when slow
// requests hold every upstream slot, others get 503 + Retry-After at once
// instead of queueing. No timings asserted beyond the test's own timeout.
import { mkdtempSync, writeFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { Sidecar } from "../../../src/sidecar/index.ts";
import { sidecarConfig, startSidecar } from "../../../src/sidecar/index.ts";
import { request, uidFor, until, usersTable } from "./helpers.ts";

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

interface App {
  url: string;
  /** Request targets whose headers arrived. */
  arrived: string[];
  /** Request targets answered (their whole body arrived). */
  served: string[];
}

/** An app that notes each request when its headers arrive and answers 200 once its body has. */
async function startApp(): Promise<App> {
  const app: App = { url: "", arrived: [], served: [] };
  const server = http.createServer((req, res) => {
    app.arrived.push(req.url ?? "");
    req.resume();
    req.on("end", () => {
      app.served.push(req.url ?? "");
      res.end("ok");
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  cleanup.push(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  app.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return app;
}

async function sidecar(maxConcurrentRequests: number): Promise<[Sidecar, App]> {
  const dir = mkdtempSync(path.join(tmpdir(), "ldc-limits-"));
  const tableFile = path.join(dir, "table.json");
  writeFileSync(tableFile, usersTable({ epoch: 1 }).serialize());
  const app = await startApp();
  const s = await startSidecar(
    sidecarConfig({
      appUrl: app.url,
      rule: "users",
      cell: "rz01",
      zone: "hz-a",
      region: "hangzhou",
      tableFile,
      headersTimeoutSeconds: 1,
      requestTimeoutSeconds: 1,
      maxConcurrentRequests,
    }),
  );
  cleanup.push(() => s.close());
  return [s, app];
}

/**
 * A client that sends `head`, then one byte of `trickle` per second, never
 * finishing; resolves with everything the server answered once it closes.
 */
function slowClient(port: number, head: string, trickle: string): { answer: Promise<string>; stop: () => void } {
  const socket = net.connect(port, "127.0.0.1");
  let out = "";
  let i = 0;
  socket.setEncoding("latin1");
  socket.on("data", (c: string) => (out += c));
  const timer = setInterval(() => {
    if (!socket.destroyed && i < trickle.length) socket.write(trickle[i++]!);
  }, 1000);
  const answer = new Promise<string>((resolve) => {
    socket.on("error", () => {});
    socket.on("close", () => {
      clearInterval(timer);
      resolve(out);
    });
  });
  socket.write(head);
  const stop = (): void => {
    clearInterval(timer);
    socket.destroy();
  };
  cleanup.push(stop);
  return { answer, stop };
}

const UID = uidFor(1); // shard 1: rz01's, served locally
const UPLOAD = `POST /upload HTTP/1.1\r\nHost: x\r\nx-user-id: ${UID}\r\ncontent-length: 1000\r\n\r\n`;

describe("slow clients", () => {
  it("an upload at 1 byte/s is cut with 408 while other clients are served", async () => {
    const [s, app] = await sidecar(8);
    const slow = slowClient(s.port, UPLOAD, "a".repeat(1000));
    await until(() => app.arrived.includes("/upload")); // streamed to the app, holding an upstream slot
    const fast = await request(`${s.url}/pay`, { headers: { "x-user-id": UID } });
    expect(fast.status).toBe(200);
    expect(fast.body).toBe("ok");
    expect(await slow.answer).toMatch(/^HTTP\/1\.1 408 /);
    // The cut upload never completed at the app.
    expect(app.served).toEqual(["/pay"]);
  });

  it("headers at 1 byte/s are cut with 408, never reaching the app", async () => {
    const [s, app] = await sidecar(8);
    const slow = slowClient(s.port, "GET /pay HTTP/1.1\r\n", `x-user-id: ${UID}\r\n`.repeat(100));
    const fast = await request(`${s.url}/pay`, { headers: { "x-user-id": UID } });
    expect(fast.status).toBe(200);
    expect(await slow.answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(app.arrived).toEqual(["/pay"]);
  });

  it("when slow requests hold every upstream slot, others get 503 + Retry-After at once, and are served after", async () => {
    const [s, app] = await sidecar(1);
    const slow = slowClient(s.port, UPLOAD, "a".repeat(1000));
    await until(() => app.arrived.includes("/upload"));
    const refused = await request(`${s.url}/pay`, { headers: { "x-user-id": UID } });
    expect(refused.status).toBe(503);
    expect(refused.headers["retry-after"]).toBe("1");
    expect(refused.json().error).toContain("LDC_MAX_CONCURRENT_REQUESTS");
    // Reads that need no upstream (the admin port) are not held up either.
    expect((await request(`${s.adminUrl}/__ldc/healthz`)).status).toBe(200);
    expect(await slow.answer).toMatch(/^HTTP\/1\.1 408 /);
    // The slot is free again once the slow upload is cut.
    await until(async () => (await request(`${s.url}/pay`, { headers: { "x-user-id": UID } })).status === 200, 20);
    const m = (await request(`${s.adminUrl}/__ldc/metrics`)).body;
    expect(m).toMatch(/ldc_sidecar_requests_total\{outcome="overloaded"\} [1-9]/);
  });
});
