import { readFileSync } from "node:fs";
import https from "node:https";
import path from "node:path";
import { Gauge, Registry } from "prom-client";
import { afterEach, describe, expect, it } from "vitest";
import { RuntimeServer } from "../../../src/runtime/server.ts";

const TLS_DIR = path.join(import.meta.dirname, "../fixtures/tls");

/** GET over HTTPS, trusting only `ca`: the status, or the TLS error's code. */
function httpsGet(url: string, ca: string | undefined): Promise<number | string> {
  return new Promise((resolve) => {
    https
      .get(url, { ...(ca ? { ca } : {}), agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      })
      .on("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
}

describe("RuntimeServer", () => {
  let server: RuntimeServer | undefined;
  afterEach(async () => {
    await server?.close();
  });

  it("serves healthz, readyz naming the failing check, metrics and caller routes", async () => {
    let ready = false;
    server = new RuntimeServer({ port: 0, host: "127.0.0.1", processMetrics: false });
    server.addReadinessCheck(() => [
      { name: "informer:local/zones", ok: ready, message: "cache not synced" },
      { name: "informer:local/cells", ok: true },
    ]);
    server.app.get("/api/v1/ping", (_req, res) => {
      res.json({ pong: true });
    });
    const port = await server.listen();
    const base = `http://127.0.0.1:${port}`;
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const notReady = await fetch(`${base}/readyz`);
    expect(notReady.status).toBe(503);
    expect(await notReady.text()).toContain("[-]informer:local/zones failed: cache not synced");
    ready = true;
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toContain("# HELP workqueue_depth");
    expect(metrics).toContain("# HELP rest_client_requests_total");
    expect(await (await fetch(`${base}/api/v1/ping`)).json()).toEqual({ pong: true });
  });

  it("serves HTTPS when given a certificate and key; a client that does not trust its CA is refused", async () => {
    server = new RuntimeServer({
      port: 0,
      host: "127.0.0.1",
      processMetrics: false,
      tls: { certFile: path.join(TLS_DIR, "server.pem"), keyFile: path.join(TLS_DIR, "server.key") },
    });
    const port = await server.listen();
    expect(server.tls).toBe(true);
    const ca = readFileSync(path.join(TLS_DIR, "ca.pem"), "utf8");
    expect(await httpsGet(`https://127.0.0.1:${port}/healthz`, ca)).toBe(200);
    expect(await httpsGet(`https://127.0.0.1:${port}/healthz`, undefined)).toMatch(/CERT|SIGNED|VERIFY/);
    await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
  });

  it("refuses to start with a missing certificate, naming the file", async () => {
    server = new RuntimeServer({
      port: 0,
      processMetrics: false,
      tls: { certFile: "/nonexistent/tls.crt", keyFile: "/nonexistent/tls.key" },
    });
    expect(() => server!.listen()).toThrow(/nonexistent\/tls\.crt/);
  });

  it("serves the registries added to it after the runtime's, on /metrics and metrics()", async () => {
    const own = new Registry();
    new Gauge({ name: "ldc_test_gauge", help: "a test gauge", registers: [own] }).set(7);
    server = new RuntimeServer({ port: 0, host: "127.0.0.1", processMetrics: false }).addMetrics(own);
    const port = await server.listen();
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(text).toContain("# HELP workqueue_depth");
    expect(text).toContain("\nldc_test_gauge 7\n");
    expect(text.indexOf("workqueue_depth")).toBeLessThan(text.indexOf("ldc_test_gauge"));
    // The same exposition (process metrics, if another test registered them, move between scrapes).
    expect(await server.metrics()).toContain("\nldc_test_gauge 7\n");
  });
});
