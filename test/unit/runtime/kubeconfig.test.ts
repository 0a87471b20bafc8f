// The operator's own kubeconfig loader (docs/adr/0006-own-controller-runtime.md):
// every supported way to authenticate, and a message naming the fix for the others.
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { stringify } from "yaml";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import {
  KubeconfigError,
  KubeconfigRefused,
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
      "users[0].user.auth-provider is not supported: use an exec plugin or a token",
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
    ).toThrow("k: clusters[0].cluster.server is missing: set the API server's https:// address");
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

describe("connectionFromKubeconfig, untrusted (a member cluster's kubeconfig from a Secret)", () => {
  const strict = { allowInsecureTLS: false, insecureOptIn: "spec.cluster.insecureSkipTLSVerify: true on the Zone" };
  /** The refusal's message and fields, or a failure if it was not refused. */
  function refusal(text: string, policy = strict): KubeconfigRefused {
    try {
      connectionFromKubeconfig(text, { source: "Secret s", untrusted: policy });
    } catch (err) {
      if (err instanceof KubeconfigRefused) return err;
      throw err;
    }
    throw new Error("the kubeconfig was accepted");
  }
  /** The second user is the one in use: paths must carry the entry's index. */
  const withUser = (user: Record<string, unknown>, cluster: Record<string, unknown> = {}) =>
    stringify({
      "current-context": "ctx",
      clusters: [{ name: "c", cluster: { server: "https://10.0.0.1:6443", ...cluster } }],
      users: [
        { name: "other", user: { token: "unused" } },
        { name: "u", user },
      ],
      contexts: [{ name: "ctx", context: { cluster: "c", user: "u" } }],
    });

  it("accepts inline credentials over https, with the CA inline", async () => {
    const c = connectionFromKubeconfig(
      withUser({ token: "t0k" }, { "certificate-authority-data": b64("CA"), "tls-server-name": "kubernetes" }),
      { untrusted: strict },
    );
    expect(await c.headers()).toEqual({ Authorization: "Bearer t0k" });
    expect(String(c.tls.ca)).toBe("CA");
    const cert = connectionFromKubeconfig(
      withUser({ "client-certificate-data": b64("CERT"), "client-key-data": b64("KEY") }),
      { untrusted: strict },
    );
    expect(String(cert.tls.cert)).toBe("CERT");
    expect(cert.tls.rejectUnauthorized).toBeUndefined();
  });

  it.each([
    ["exec", { command: "sh", args: ["-c", "id"] }, "runs a command inside the operator", "users[].user.token"],
    ["auth-provider", { name: "oidc" }, "runs an auth provider inside the operator", "users[].user.token"],
    [
      "tokenFile",
      "/var/run/secrets/kubernetes.io/serviceaccount/token",
      "names a file the operator would read and send to the server",
      "put the token itself in users[].user.token",
    ],
    [
      "client-certificate",
      "/etc/ssl/private/x.crt",
      "is a path in the operator's filesystem",
      "client-certificate-data",
    ],
    ["client-key", "/etc/ssl/private/x.key", "is a path in the operator's filesystem", "client-key-data"],
  ])("refuses users[].user.%s, naming the field and what to use instead", (field, value, why, fix) => {
    const err = refusal(withUser({ token: "t", [field]: value }));
    expect(err.fields).toEqual([`users[1].user.${field}`]);
    expect(err.message).toContain(`Secret s: users[1].user.${field} ${why}`);
    expect(err.message).toContain(fix);
  });

  it("refuses a CA file path, plain http, other schemes and credentials in the server URL", () => {
    const ca = refusal(withUser({ token: "t" }, { "certificate-authority": "/etc/kubernetes/pki/ca.crt" }));
    expect(ca.fields).toEqual(["clusters[0].cluster.certificate-authority"]);
    expect(ca.message).toContain("embed the CA as clusters[].cluster.certificate-authority-data");
    const http = refusal(withUser({ token: "t" }, { server: "http://10.0.0.1:8080" }));
    expect(http.fields).toEqual(["clusters[0].cluster.server"]);
    expect(http.message).toContain("clusters[0].cluster.server is plain http");
    expect(http.message).toContain("use the API server's https:// address");
    expect(refusal(withUser({ token: "t" }, { server: "unix:///run/k8s.sock" })).message).toContain(
      "clusters[0].cluster.server is not an https:// URL",
    );
    expect(refusal(withUser({ token: "t" }, { server: "not a url" })).message).toContain(
      "clusters[0].cluster.server is not a URL",
    );
    const userinfo = refusal(withUser({}, { server: "https://admin:hunter2@10.0.0.1" }));
    expect(userinfo.message).toContain("clusters[0].cluster.server carries credentials in the URL");
    expect(userinfo.message).not.toContain("hunter2");
  });

  it("lists every refused field at once", () => {
    const err = refusal(withUser({ exec: { command: "x" }, tokenFile: "/t" }, { server: "http://h" }));
    expect(err.fields).toEqual(["clusters[0].cluster.server", "users[1].user.exec", "users[1].user.tokenFile"]);
  });

  it("allows insecure-skip-tls-verify only with the opt-in, and says where to opt in", () => {
    const text = withUser({ token: "t" }, { "insecure-skip-tls-verify": true });
    const err = refusal(text);
    expect(err.fields).toEqual(["clusters[0].cluster.insecure-skip-tls-verify"]);
    expect(err.message).toContain("put the API server's CA in clusters[].cluster.certificate-authority-data");
    expect(err.message).toContain("set spec.cluster.insecureSkipTLSVerify: true on the Zone");
    const c = connectionFromKubeconfig(text, { untrusted: { allowInsecureTLS: true } });
    expect(c.tls.rejectUnauthorized).toBe(false);
    // the opt-in allows it, it does not turn verification off by itself
    const verified = connectionFromKubeconfig(withUser({ token: "t" }), { untrusted: { allowInsecureTLS: true } });
    expect(verified.tls.rejectUnauthorized).toBeUndefined();
  });

  it("refuses values of the wrong type without quoting them", () => {
    const err = refusal(withUser({ token: { secret: "s3cr3t-value" } }, { "certificate-authority-data": 12345 }));
    expect(err.fields).toEqual(["clusters[0].cluster.certificate-authority-data", "users[1].user.token"]);
    expect(err.message).not.toMatch(/s3cr3t-value|12345/);
  });

  it("never quotes the Secret's content: YAML errors give a position, lookups give paths", () => {
    const secret = "s3cr3t-t0ken-value";
    const problems: string[] = [];
    const attempt = (text: string) => {
      try {
        connectionFromKubeconfig(text, { source: "Secret s", untrusted: strict });
        problems.push("accepted");
      } catch (err) {
        expect(err).toBeInstanceOf(KubeconfigError);
        problems.push((err as Error).message);
      }
    };
    attempt(`users:\n- name: u\n  user:\n    token: ${secret}\n  bad: [\n`); // not YAML
    attempt(`users:\n- name: u\n  user: {token: ${secret}}\n- name: u\n  user: {token: ${secret}}\nusers: []\n`); // duplicate key
    attempt(`token: *${secret}\n`); // unresolved alias
    attempt(`current-context: ${secret}\ncontexts: []\n`); // names no context
    attempt(stringify({ "current-context": "x", contexts: [{ name: "x", context: { cluster: secret } }] }));
    attempt(`- ${secret}\n`); // not a mapping
    const warnings = vi.spyOn(process, "emitWarning");
    attempt(`token: !${secret} x\n`); // the yaml package would print an unknown tag, with the line, as a warning
    expect(warnings).not.toHaveBeenCalled();
    warnings.mockRestore();
    expect(problems[0]).toMatch(/^Secret s is not valid YAML \(BAD_INDENT at line \d+, column \d+\)/);
    expect(problems[1]).toMatch(/^Secret s is not valid YAML \(DUPLICATE_KEY at line 6, column 1\)/);
    expect(problems[3]).toBe("Secret s: current-context names no entry of contexts[]: fix it or add that context");
    for (const p of problems) {
      expect(p).not.toContain(secret);
      expect(p).not.toBe("accepted");
    }
  });
});
