// The operator's own kubeconfig loader (docs/adr/0006-own-controller-runtime.md):
// every supported way to authenticate, and a message naming the fix for the others.
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { stringify } from "yaml";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import {
  KubeconfigError,
  connectionFromFile,
  connectionFromKubeconfig,
  inClusterConnection,
} from "../../../src/runtime/kubeconfig.ts";

const b64 = (s: string) => Buffer.from(s).toString("base64");

/** A kubeconfig with one cluster "c" and, per user, a context of the same name. */
function kubeconfig(users: Record<string, Record<string, unknown>>, cluster: Record<string, unknown> = {}): string {
  const names = Object.keys(users);
  return stringify({
    "current-context": names[0],
    clusters: [{ name: "c", cluster: { server: "https://127.0.0.1:6443", ...cluster } }],
    users: names.map((name) => ({ name, user: users[name] })),
    contexts: names.map((name) => ({ name, context: { cluster: "c", user: name } })),
  });
}

describe("connectionFromKubeconfig", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "ldc-kubeconfig-"));
  afterEach(() => {
    vi.unstubAllEnvs();
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("reads the current context's server, CA and client certificate (data inline or files beside it)", async () => {
    writeFileSync(path.join(dir, "ca.crt"), "CA FROM FILE");
    const text = kubeconfig(
      {
        admin: { "client-certificate-data": b64("CERT"), "client-key-data": b64("KEY") },
        files: { "client-certificate": "ca.crt", "client-key": path.join(dir, "ca.crt") },
      },
      { "certificate-authority-data": b64("CA"), "tls-server-name": "kubernetes" },
    );
    const c = connectionFromKubeconfig(text, { source: "test.kubeconfig", baseDir: dir });
    expect(c.server).toBe("https://127.0.0.1:6443");
    expect(c.source).toBe("test.kubeconfig (context admin)");
    expect(String(c.tls.ca)).toBe("CA");
    expect(String(c.tls.cert)).toBe("CERT");
    expect(String(c.tls.key)).toBe("KEY");
    expect(c.tls.servername).toBe("kubernetes");
    expect(c.tls.rejectUnauthorized).toBeUndefined();
    expect(await c.headers()).toEqual({});
    expect(c.dynamic).toBe(false);
    // a named context; relative file paths are relative to the kubeconfig's directory
    const named = connectionFromKubeconfig(text, { baseDir: dir, context: "files" });
    expect(String(named.tls.cert)).toBe("CA FROM FILE");
    expect(String(named.tls.key)).toBe("CA FROM FILE");
  });

  it("authenticates with a token, basic auth, or skips TLS verification when told to", async () => {
    const text = kubeconfig(
      { token: { token: "t0k" }, basic: { username: "u", password: "p" } },
      {
        "insecure-skip-tls-verify": true,
      },
    );
    const token = connectionFromKubeconfig(text);
    expect(await token.headers()).toEqual({ Authorization: "Bearer t0k" });
    expect(token.tls.rejectUnauthorized).toBe(false);
    const basic = connectionFromKubeconfig(text, { context: "basic" });
    expect(await basic.headers()).toEqual({ Authorization: `Basic ${b64("u:p")}` });
  });

  it("reads a tokenFile (a projected token that rotates) and asks for it per request", async () => {
    writeFileSync(path.join(dir, "token"), "first\n");
    const c = connectionFromKubeconfig(kubeconfig({ sa: { tokenFile: "token" } }), { baseDir: dir });
    expect(c.dynamic).toBe(true);
    expect(await c.headers()).toEqual({ Authorization: "Bearer first" });
  });

  it("runs an exec credential plugin for a token, with its env, and caches the token until it expires", async () => {
    const plugin = path.join(dir, "plugin.sh");
    const calls = path.join(dir, "plugin-calls");
    writeFileSync(calls, "");
    writeFileSync(
      plugin,
      `#!/bin/sh\necho x >> "${calls}"\nprintf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s","expirationTimestamp":"2999-01-01T00:00:00Z"}}' "$PLUGIN_TOKEN"\n`,
    );
    chmodSync(plugin, 0o755);
    const c = connectionFromKubeconfig(
      kubeconfig({
        exec: {
          exec: {
            apiVersion: "client.authentication.k8s.io/v1",
            command: "./plugin.sh",
            env: [{ name: "PLUGIN_TOKEN", value: "from-exec" }],
          },
        },
      }),
      { baseDir: dir },
    );
    expect(c.dynamic).toBe(true);
    expect(await c.headers()).toEqual({ Authorization: "Bearer from-exec" });
    expect(await c.headers()).toEqual({ Authorization: "Bearer from-exec" });
    expect(readFileSync(calls, "utf8").trim().split("\n")).toHaveLength(1);
  });

  it("names the fix for what it cannot do: an exec plugin returning a client certificate, an auth-provider", async () => {
    const plugin = path.join(dir, "cert-plugin.sh");
    writeFileSync(plugin, `#!/bin/sh\necho '{"status":{"clientCertificateData":"x","clientKeyData":"y"}}'\n`);
    chmodSync(plugin, 0o755);
    const c = connectionFromKubeconfig(kubeconfig({ exec: { exec: { command: plugin } } }));
    await expect(c.headers()).rejects.toThrow(
      /returned no token \(client certificates from exec plugins are not supported: use a token-based plugin\)/,
    );
    expect(() => connectionFromKubeconfig(kubeconfig({ oidc: { "auth-provider": { name: "oidc" } } }))).toThrow(
      /user "oidc" uses an auth-provider, which is not supported: use an exec plugin or a token/,
    );
  });

  it("says what is missing in a broken kubeconfig", () => {
    expect(() => connectionFromKubeconfig("clusters: [")).toThrow(KubeconfigError);
    expect(() => connectionFromKubeconfig(stringify({ contexts: [] }), { source: "k" })).toThrow(
      "k has no current-context: set one (kubectl config use-context NAME)",
    );
    expect(() => connectionFromKubeconfig(kubeconfig({ a: {} }), { source: "k", context: "nope" })).toThrow(
      'k: context "nope" is not defined under contexts',
    );
    expect(() =>
      connectionFromKubeconfig(
        stringify({
          "current-context": "a",
          clusters: [{ name: "c", cluster: {} }],
          contexts: [{ name: "a", context: { cluster: "c" } }],
        }),
        { source: "k" },
      ),
    ).toThrow('k: cluster "c" (context a) has no server');
    expect(() => connectionFromFile(path.join(dir, "missing"))).toThrow(/cannot read kubeconfig .*missing/);
  });

  it("in a pod: the ServiceAccount's CA and token, the API server from the environment", async () => {
    writeFileSync(path.join(dir, "ca.crt"), "SA CA");
    writeFileSync(path.join(dir, "token"), "sa-token");
    vi.stubEnv("KUBERNETES_SERVICE_HOST", "fd00::1");
    vi.stubEnv("KUBERNETES_SERVICE_PORT", "6443");
    const c = inClusterConnection(dir);
    expect(c.server).toBe("https://[fd00::1]:6443");
    expect(String(c.tls.ca)).toBe("SA CA");
    expect(await c.headers()).toEqual({ Authorization: "Bearer sa-token" });
    vi.stubEnv("KUBERNETES_SERVICE_HOST", "");
    expect(() => inClusterConnection(dir)).toThrow(/not running in a pod/);
  });
});
