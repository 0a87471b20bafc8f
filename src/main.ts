#!/usr/bin/env node
// ldc-operator: the operator process. Flags win over environment variables.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { POD_SECURITY_LEVELS, type PodSecurityLevel } from "./api/pod-security.ts";
import { startOperator } from "./operator.ts";

const USAGE = `usage: ldc-operator [flags]

  --kubeconfig PATH        kubeconfig of the operator's own cluster      (env KUBECONFIG; default: in-cluster)
  --namespace NS           namespace of the operator's own objects:      (env LDC_NAMESPACE, default ldc-system)
                           leader-election Lease, member-cluster kubeconfig Secrets
  --leader-elect           run only while holding the Lease              (env LDC_LEADER_ELECT=true)
  --http-address HOST:PORT health (/healthz, /readyz), /metrics, routing API (env LDC_HTTP_ADDRESS, default 0.0.0.0:8080)
  --log-level LEVEL        trace|debug|info|warn|error                   (env LDC_LOG_LEVEL, default info)
  --sidecar-image IMAGE    the cell-router sidecar injected into apps    (env LDC_SIDECAR_IMAGE)
  --routing-api-url URL    how sidecars reach this operator's routing API (env LDC_ROUTING_API_URL)
  --member-routing-api-url URL  the same from member clusters; without,     (env LDC_MEMBER_ROUTING_API_URL)
                           their sidecars follow the mounted table and hold no routing lease (docs/fencing.md)
  --relay                  per-zone relays (docs/fencing.md): publish tables (env LDC_RELAY=true)
                           into the relay namespace of every zone's cluster, renew the routing
                           Lease there, and give sidecars their zone's relay as routing API
  --relay-namespace NS     the relays' namespace in every zone's cluster  (env LDC_RELAY_NAMESPACE, default --namespace)
  --relay-port N           the relays' Service port                      (env LDC_RELAY_PORT, default 8080)
  --routing-token-file F   file of bearer tokens (one per line) allowed  (env LDC_ROUTING_TOKEN_FILE)
                           to use the routing API (sidecars' reads and acks); without: every /v1 request gets 401
  --tls-cert-file F        serve the HTTP port as HTTPS with this       (env LDC_TLS_CERT_FILE)
  --tls-key-file F         certificate and key (PEM; re-read when they  (env LDC_TLS_KEY_FILE)
                           change); without: plain HTTP
  --privileged-namespaces NS,...  namespaces whose CellApps may go beyond (env LDC_PRIVILEGED_NAMESPACES)
                           Pod Security baseline (docs/adr/0011); elsewhere such a CellApp is not applied
  --member-namespace-pod-security LEVEL  Pod Security level of the namespaces (env LDC_MEMBER_NAMESPACE_POD_SECURITY,
                           created in member clusters: privileged|baseline|restricted, default baseline)
  --qps N --burst N        client rate limit per cluster                 (env LDC_QPS, LDC_BURST; default 50, 100)
  -h, --help
`;

function fail(message: string): never {
  process.stderr.write(`ldc-operator: ${message}\n\n${USAGE}`);
  process.exit(2);
}

function positiveInt(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined || value === "") return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) fail(`${name} must be a positive integer, got "${value}"`);
  return n;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      kubeconfig: { type: "string" },
      namespace: { type: "string" },
      "leader-elect": { type: "boolean" },
      "http-address": { type: "string" },
      "log-level": { type: "string" },
      "sidecar-image": { type: "string" },
      "routing-api-url": { type: "string" },
      "member-routing-api-url": { type: "string" },
      "routing-token-file": { type: "string" },
      "tls-cert-file": { type: "string" },
      "tls-key-file": { type: "string" },
      relay: { type: "boolean" },
      "relay-namespace": { type: "string" },
      "relay-port": { type: "string" },
      "privileged-namespaces": { type: "string" },
      "member-namespace-pod-security": { type: "string" },
      qps: { type: "string" },
      burst: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const env = process.env;
  const address = values["http-address"] ?? env.LDC_HTTP_ADDRESS ?? "0.0.0.0:8080";
  const m = /^(.*):(\d+)$/.exec(address);
  if (!m) fail(`--http-address must be HOST:PORT (e.g. 0.0.0.0:8080), got "${address}"`);
  const logLevel = values["log-level"] ?? env.LDC_LOG_LEVEL ?? "info";
  if (!["trace", "debug", "info", "warn", "error", "fatal"].includes(logLevel))
    fail(`--log-level must be one of trace, debug, info, warn, error; got "${logLevel}"`);
  const kubeconfig = values.kubeconfig ?? env.KUBECONFIG;
  const routingApiUrl = values["routing-api-url"] ?? env.LDC_ROUTING_API_URL;
  const memberRoutingApiUrl = values["member-routing-api-url"] ?? env.LDC_MEMBER_ROUTING_API_URL;
  const tokenFile = values["routing-token-file"] ?? env.LDC_ROUTING_TOKEN_FILE;
  let routingTokens: string[] = [];
  if (tokenFile) {
    try {
      routingTokens = readFileSync(tokenFile, "utf8")
        .split("\n")
        .map((l) => l.trim())
        .filter(Boolean);
    } catch (err) {
      fail(
        `--routing-token-file ${tokenFile} cannot be read (${(err as Error).message}): mount the token Secret there or drop the flag`,
      );
    }
  }

  const tlsCert = values["tls-cert-file"] ?? env.LDC_TLS_CERT_FILE;
  const tlsKey = values["tls-key-file"] ?? env.LDC_TLS_KEY_FILE;
  if (!tlsCert !== !tlsKey) fail("--tls-cert-file and --tls-key-file go together: give both (HTTPS) or neither (HTTP)");

  const relay = values.relay ?? env.LDC_RELAY === "true";
  const relayNamespace = values["relay-namespace"] ?? env.LDC_RELAY_NAMESPACE;
  if (relayNamespace !== undefined && !/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(relayNamespace))
    fail(`--relay-namespace must be a namespace name, got "${relayNamespace}"`);
  const relayPort = positiveInt("--relay-port", values["relay-port"] ?? env.LDC_RELAY_PORT, 8080);
  if (relayPort > 65535) fail(`--relay-port must be a port (1-65535), got ${relayPort}`);

  const privilegedNamespaces = (values["privileged-namespaces"] ?? env.LDC_PRIVILEGED_NAMESPACES ?? "")
    .split(",")
    .map((n) => n.trim())
    .filter(Boolean);
  for (const n of privilegedNamespaces)
    if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(n))
      fail(`--privileged-namespaces must be comma-separated namespace names, got "${n}"`);
  const memberLevel = values["member-namespace-pod-security"] ?? env.LDC_MEMBER_NAMESPACE_POD_SECURITY ?? "baseline";
  if (!(POD_SECURITY_LEVELS as readonly string[]).includes(memberLevel))
    fail(`--member-namespace-pod-security must be one of ${POD_SECURITY_LEVELS.join(", ")}, got "${memberLevel}"`);

  const operator = await startOperator({
    ...(kubeconfig ? { kubeconfigPath: kubeconfig } : {}),
    namespace: values.namespace ?? env.LDC_NAMESPACE ?? "ldc-system",
    leaderElection: values["leader-elect"] ?? env.LDC_LEADER_ELECT === "true",
    httpHost: m[1] || "0.0.0.0",
    httpPort: Number(m[2]),
    logLevel,
    sidecarImage: values["sidecar-image"] ?? env.LDC_SIDECAR_IMAGE ?? "ghcr.io/ldc-operator/ldc-sidecar:0.1.0",
    ...(routingApiUrl ? { routingApiUrl } : {}),
    ...(memberRoutingApiUrl ? { memberRoutingApiUrl } : {}),
    routingTokens,
    ...(tlsCert && tlsKey ? { tls: { certFile: tlsCert, keyFile: tlsKey } } : {}),
    relay,
    ...(relayNamespace ? { relayNamespace } : {}),
    relayPort,
    podSecurity: { privilegedNamespaces, memberNamespaceLevel: memberLevel as PodSecurityLevel },
    qps: positiveInt("--qps", values.qps ?? env.LDC_QPS, 50),
    burst: positiveInt("--burst", values.burst ?? env.LDC_BURST, 100),
  });

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`ldc-operator: ${signal}: draining work queues and stopping\n`);
    operator.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));
}

main().catch((err: unknown) => {
  process.stderr.write(`ldc-operator: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
