// ldc-relay's flags and environment (src/relay/config.ts).
import { describe, expect, it } from "vitest";
import { parseRelayConfig } from "../../../src/relay/index.ts";
import { DEFAULT_LEASE_MS } from "../../../src/routing-api/index.ts";

describe("parseRelayConfig", () => {
  it("defaults: in-cluster, the pod's namespace, port 8080, Lease ldc-routing, 1 s polls, leases of DEFAULT_LEASE_MS", () => {
    expect(parseRelayConfig([], { POD_NAMESPACE: "ops" })).toEqual({
      kubeconfig: undefined,
      namespace: "ops",
      host: "0.0.0.0",
      port: 8080,
      leaseName: "ldc-routing",
      pollIntervalMs: 1000,
      maxLeaseMs: DEFAULT_LEASE_MS,
      logLevel: "info",
    });
    expect(parseRelayConfig([], {})).toMatchObject({ namespace: "ldc-system" });
  });

  it("flags win over the environment; --help", () => {
    const env = { LDC_RELAY_NAMESPACE: "a", LDC_RELAY_LISTEN: "127.0.0.1:9000", KUBECONFIG: "/k" };
    expect(parseRelayConfig(["--namespace", "b", "--listen=127.0.0.1:0"], env)).toMatchObject({
      namespace: "b",
      host: "127.0.0.1",
      port: 0,
      kubeconfig: "/k",
    });
    expect(parseRelayConfig(["--help"], {})).toBe("help");
    expect(parseRelayConfig(["--tls-key-file", "/tls/tls.key"], { LDC_TLS_CERT_FILE: "/tls/tls.crt" })).toMatchObject({
      tls: { certFile: "/tls/tls.crt", keyFile: "/tls/tls.key" },
    });
  });

  it("an invalid setting names the flag, its variable and what is expected", () => {
    expect(() => parseRelayConfig(["--namespace", "Bad_NS"], {})).toThrow(/--namespace \(LDC_RELAY_NAMESPACE\)/);
    expect(() => parseRelayConfig([], { LDC_RELAY_LISTEN: "8080" })).toThrow(
      /--listen \(LDC_RELAY_LISTEN\) must be HOST:PORT/,
    );
    expect(() => parseRelayConfig(["--poll-interval-ms", "10"], {})).toThrow(/from 100 to 5000, got "10"/);
    expect(() => parseRelayConfig([], { LDC_RELAY_MAX_LEASE_MS: "1e4" })).toThrow(/LDC_RELAY_MAX_LEASE_MS/);
    expect(() => parseRelayConfig(["--bogus"], {})).toThrow(/see --help/);
    expect(() => parseRelayConfig(["--log-level", "loud"], {})).toThrow(/--log-level/);
    expect(() => parseRelayConfig(["--tls-cert-file", "/tls/tls.crt"], {})).toThrow(
      /--tls-cert-file \(LDC_TLS_CERT_FILE\) and --tls-key-file \(LDC_TLS_KEY_FILE\) go together/,
    );
  });
});
