import { Gauge, Registry } from "prom-client";
import { afterEach, describe, expect, it } from "vitest";
import { RuntimeServer } from "../../../src/runtime/server.ts";

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

  it("serves the registries added to it after the runtime's, on /metrics and metrics()", async () => {
    const own = new Registry();
    new Gauge({ name: "ldc_test_gauge", help: "a test gauge", registers: [own] }).set(7);
    server = new RuntimeServer({ port: 0, host: "127.0.0.1", processMetrics: false }).addMetrics(own);
    const port = await server.listen();
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(text).toContain("# HELP workqueue_depth");
    expect(text).toContain("\nldc_test_gauge 7\n");
    expect(text.indexOf("workqueue_depth")).toBeLessThan(text.indexOf("ldc_test_gauge"));
    expect(await server.metrics()).toBe(text);
  });
});
