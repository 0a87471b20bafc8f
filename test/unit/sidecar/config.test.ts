import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig, usage, type SidecarConfig } from "../../../src/sidecar/index.ts";
import {
  relayUrl,
  sidecarContainer,
  sidecarEnv,
  sidecarPodAnnotations,
  sidecarVolumes,
  ROUTING_TOKEN_FILE,
} from "../../../src/reconcilers/sidecar.ts";

const placement = {
  app: "account",
  namespace: "payments",
  rule: "users",
  cell: "rz01",
  cellType: "Regional" as const,
  zone: "hz-a",
  region: "hangzhou",
  port: 15001,
  adminPort: 15002,
  appPort: 8080,
  servicePort: 80,
  memberCluster: false,
};

/** What the kubelet hands the container: literal values; valueFrom ones resolved here as a pod would. */
function envOf(list: { name: string; value?: string; valueFrom?: unknown }[]): Record<string, string> {
  return Object.fromEntries(list.filter((e) => e.value !== undefined).map((e) => [e.name, e.value as string]));
}

function error(env: Record<string, string>, argv: string[] = []): string {
  try {
    parseConfig(env, argv);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error("expected a ConfigError");
}

describe("sidecar configuration", () => {
  it("reads exactly the environment the operator injects", () => {
    const env = envOf(sidecarEnv(placement, { image: "x", routingApiUrl: "http://ldc-operator.ldc-system.svc:8080" }));
    const c = parseConfig(
      { ...env, LDC_SIDECAR_ID: "account-rz01-hz-a-abc", LDC_ROUTING_TOKEN: "from-the-secret" },
      [],
    );
    expect(c).toMatchObject({
      listenHost: "0.0.0.0",
      listenPort: 15001,
      adminHost: "0.0.0.0",
      adminPort: 15002,
      appUrl: "http://127.0.0.1:8080",
      rule: "users",
      cell: "rz01",
      cellType: "Regional",
      zone: "hz-a",
      region: "hangzhou",
      app: "account",
      namespace: "payments",
      tableFile: "/etc/ldc/routing/table.json",
      routingApi: "http://ldc-operator.ldc-system.svc:8080",
      // The pod as the operator lists it (the barrier's expected set) and the relay names it.
      sidecarId: "payments/account-rz01-hz-a-abc",
      peerPort: 80,
      ackIntervalSeconds: 10,
    });
  });

  it("probes and Prometheus use the admin port; the traffic port is the only one a Service targets", () => {
    const c = sidecarContainer(placement, { image: "x" }) as {
      ports: unknown[];
      readinessProbe: { httpGet: unknown };
      livenessProbe: { httpGet: unknown };
    };
    expect(c.ports).toEqual([
      { name: "ldc-router", containerPort: 15001, protocol: "TCP" },
      { name: "ldc-admin", containerPort: 15002, protocol: "TCP" },
    ]);
    expect(c.readinessProbe.httpGet).toEqual({ path: "/__ldc/healthz", port: "ldc-admin" });
    expect(c.livenessProbe.httpGet).toEqual({ path: "/__ldc/healthz?live=1", port: "ldc-admin" });
    expect(sidecarPodAnnotations(15002, undefined)).toEqual({
      "prometheus.io/scrape": "true",
      "prometheus.io/port": "15002",
      "prometheus.io/path": "/__ldc/metrics",
    });
    // An app that claims prometheus.io/* for its own metrics keeps them.
    expect(sidecarPodAnnotations(15002, { "prometheus.io/port": "9090" })).toEqual({});
  });

  it("gives member-cluster sidecars only the routing API set for member clusters (the Service does not resolve there)", () => {
    const settings = { image: "x", routingApiUrl: "http://ldc-operator.ldc-system.svc:8080" };
    const member = { ...placement, memberCluster: true };
    expect(envOf(sidecarEnv(member, settings)).LDC_ROUTING_API).toBeUndefined();
    expect(
      envOf(sidecarEnv(member, { ...settings, memberRoutingApiUrl: "https://ldc.example.com" })).LDC_ROUTING_API,
    ).toBe("https://ldc.example.com");
    expect(envOf(sidecarEnv(placement, settings)).LDC_ROUTING_API).toBe("http://ldc-operator.ldc-system.svc:8080");
  });

  it("relays on: every zone's sidecars, home cluster or member, get their zone's relay, never the operator's Service", () => {
    const settings = {
      image: "x",
      routingApiUrl: "http://ldc-operator.ldc-system.svc:8080",
      memberRoutingApiUrl: "https://ldc.example.com",
      relayUrl: relayUrl("ldc-system", 8080),
    };
    expect(settings.relayUrl).toBe("http://ldc-relay.ldc-system.svc:8080");
    for (const memberCluster of [false, true]) {
      const env = envOf(sidecarEnv({ ...placement, memberCluster }, settings));
      expect(env.LDC_ROUTING_API).toBe("http://ldc-relay.ldc-system.svc:8080");
      // The sidecar takes it as its routing API (tables, leases) as from the operator.
      expect((parseConfig(env, []) as SidecarConfig).routingApi).toBe("http://ldc-relay.ldc-system.svc:8080");
    }
  });

  it("relays on: acks carry a projected ServiceAccount token (audience ldc-relay, 1 h, bound to the pod), never the shared Secret", () => {
    const settings = { image: "x", relayUrl: relayUrl("ldc-system", 8080) };
    const list = sidecarEnv(placement, settings);
    expect(list.find((e) => e.name === "LDC_ROUTING_TOKEN")).toBeUndefined();
    const env = envOf(list);
    expect(env.LDC_ROUTING_TOKEN_FILE).toBe("/var/run/secrets/ldc.io/routing/token");
    expect((parseConfig(env, []) as SidecarConfig).routingTokenFile).toBe(ROUTING_TOKEN_FILE);
    const volumes = sidecarVolumes("users", settings);
    expect(volumes).toContainEqual({
      name: "ldc-routing-token",
      projected: {
        sources: [{ serviceAccountToken: { audience: "ldc-relay", expirationSeconds: 3600, path: "token" } }],
      },
    });
    const mounts = (sidecarContainer(placement, settings) as { volumeMounts: { name: string }[] }).volumeMounts;
    expect(mounts).toContainEqual({
      name: "ldc-routing-token",
      mountPath: "/var/run/secrets/ldc.io/routing",
      readOnly: true,
    });
    // Each mount has its volume.
    for (const m of mounts) expect(volumes.map((v) => v.name)).toContain(m.name);
    // Relays off: the optional Secret, as before, and no token volume.
    expect(sidecarEnv(placement, { image: "x" }).find((e) => e.name === "LDC_ROUTING_TOKEN")?.valueFrom).toEqual({
      secretKeyRef: { name: "ldc-routing-token", key: "token", optional: true },
    });
    expect(sidecarVolumes("users", { image: "x" }).map((v) => v.name)).toEqual(["ldc-routing"]);
  });

  it("flags win over the environment; --help", () => {
    const env = envOf(sidecarEnv(placement, { image: "x" }));
    const c = parseConfig(env, [
      "--cell",
      "rz02",
      "--listen=127.0.0.1:0",
      "--peers",
      '{"rz03@sh-a":"http://127.0.0.1:9003"}',
    ]);
    expect(c).toMatchObject({
      cell: "rz02",
      listenHost: "127.0.0.1",
      listenPort: 0,
      peers: { "rz03@sh-a": "http://127.0.0.1:9003" },
    });
    expect(parseConfig({}, ["--help"])).toBe("help");
    expect(usage()).toContain("LDC_ROUTING_TOKEN_FILE");
  });

  it("names the setting and the fix for invalid values", () => {
    const env = envOf(sidecarEnv(placement, { image: "x" }));
    expect(error({ ...env, LDC_APP_URL: "" })).toContain("LDC_APP_URL (--app-url) is required");
    expect(error({ ...env, LDC_APP_URL: "https://x" })).toContain("must be an http:// URL");
    expect(error({ ...env, LDC_LISTEN: "nope" })).toContain("LDC_LISTEN (--listen)");
    expect(error({ ...env, LDC_ADMIN_LISTEN: "0.0.0.0:15001" })).toContain(
      "LDC_ADMIN_LISTEN (--admin-listen): port 15001 is also LDC_LISTEN's",
    );
    expect(error({ ...env, LDC_ROUTING_API: "ftp://x" })).toContain("must be an http:// or https:// URL");
    expect(error({ ...env, LDC_ROUTING_CA_FILE: "/ca.pem" })).toContain("LDC_ROUTING_API is not an https:// URL");
    expect(error({ ...env, LDC_REQUEST_TIMEOUT_SECONDS: "5" })).toContain(
      "LDC_REQUEST_TIMEOUT_SECONDS (--request-timeout): 5 is shorter than LDC_HEADERS_TIMEOUT_SECONDS (10)",
    );
    expect(error({ ...env, LDC_MAX_CONCURRENT_REQUESTS: "0" })).toContain("LDC_MAX_CONCURRENT_REQUESTS");
    expect(error({ ...env, LDC_CELL_TYPE: "Zonal" })).toContain("not one of Regional, Global, City");
    expect(error({ ...env, LDC_CELL: "RZ01" })).toContain("LDC_CELL (--cell)");
    expect(error({ ...env, LDC_TABLE_FILE: "" })).toContain("no routing table source");
    expect(error({ ...env, LDC_PEERS: "[1]" })).toContain("LDC_PEERS (--peers): expected a JSON object");
    expect(error({ ...env, LDC_PEERS: '{"rz01":"ftp://x"}' })).toContain('LDC_PEERS (--peers)["rz01"]');
    expect(error({ ...env, LDC_ACK_INTERVAL_SECONDS: "0" })).toContain("LDC_ACK_INTERVAL_SECONDS (--ack-interval)");
    const { LDC_APP: _a, ...noApp } = env;
    expect(error(noApp)).toContain("LDC_APP (--app) and LDC_NAMESPACE (--namespace) are required");
    expect(error(env, ["--bogus"])).toContain('unknown argument "--bogus"');
    expect(error(env, ["--cell"])).toContain("--cell needs a value");
  });
});
