// The sidecar as a process: starts from the environment, serves, exits 0 on SIGTERM.
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { request, startBackend, uidFor, until, usersTable } from "./helpers.ts";

const MAIN = path.resolve(import.meta.dirname, "../../../src/sidecar/main.ts");

describe("ldc-sidecar process", () => {
  it("runs from the env contract and shuts down cleanly on SIGTERM", async () => {
    const b = await startBackend("rz01");
    const dir = mkdtempSync(path.join(tmpdir(), "ldc-main-"));
    writeFileSync(path.join(dir, "table.json"), usersTable().serialize());
    const child = spawn(process.execPath, [MAIN, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"], {
      env: {
        ...process.env,
        LDC_APP_URL: b.url,
        LDC_RULE: "users",
        LDC_CELL: "rz01",
        LDC_ZONE: "hz-a",
        LDC_REGION: "hangzhou",
        LDC_PEERS: "{}",
        LDC_TABLE_FILE: path.join(dir, "table.json"),
        LDC_LOG_LEVEL: "info",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString()));
    const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
    try {
      await until(() => /"url":"(http:[^"]+)"/.test(out), 20);
      const url = /"url":"(http:[^"]+)"/.exec(out)![1]!;
      const r = await request(`${url}/pay`, { headers: { "x-user-id": uidFor(3) } });
      expect(r.json()).toEqual({ served: "rz01" });
      const adminUrl = /"adminUrl":"(http:[^"]+)"/.exec(out)![1]!;
      expect((await request(`${adminUrl}/__ldc/healthz`)).json()).toMatchObject({ status: "ok" });
      child.kill("SIGTERM");
      expect(await exited).toBe(0);
      expect(out).toContain("ldc sidecar stopped");
    } finally {
      child.kill("SIGKILL");
      await b.close();
    }
  });

  it("exits 2 naming the setting when the configuration is invalid", async () => {
    const child = spawn(process.execPath, [MAIN], {
      env: { PATH: process.env.PATH },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let err = "";
    child.stderr.on("data", (c: Buffer) => (err += c.toString()));
    const code = await new Promise<number | null>((r) => child.on("exit", (c) => r(c)));
    expect(code).toBe(2);
    expect(err).toContain("LDC_APP_URL (--app-url) is required");
  });
});
