// ldc-relay's configuration: flags win over the environment. An invalid
// configuration is a RelayConfigError naming the flag, its variable and the fix.
import { parseArgs } from "node:util";
import { DEFAULT_LEASE_MS } from "../routing-api/index.ts";
import { RELAY_LEASE_NAME, RELAY_PORT } from "./relay.ts";

export const RELAY_USAGE = `usage: ldc-relay [flags]

Serves the zone's sidecars the routing API's table endpoints from the routing
ConfigMaps in its namespace, and routing leases while the operator renews the
Lease ${RELAY_LEASE_NAME} there. Reads only its own cluster's API server.

  --kubeconfig PATH        kubeconfig of this zone's cluster             (env KUBECONFIG; default: in-cluster)
  --namespace NS           namespace of the routing ConfigMaps and Lease (env LDC_RELAY_NAMESPACE, else POD_NAMESPACE, default ldc-system)
  --listen HOST:PORT       routing API, /healthz, /readyz, /metrics      (env LDC_RELAY_LISTEN, default 0.0.0.0:${RELAY_PORT})
  --lease-name NAME        the Lease the operator renews                 (env LDC_RELAY_LEASE_NAME, default ${RELAY_LEASE_NAME})
  --poll-interval-ms N     period of the Lease GETs                      (env LDC_RELAY_POLL_INTERVAL_MS, default 1000)
  --max-lease-ms N         longest lease taken and granted               (env LDC_RELAY_MAX_LEASE_MS, default 15000)
  --pod-name NAME          this relay's pod: acks go to ConfigMap ldc-acks-<NAME> (env POD_NAME, default: the host name)
  --log-level LEVEL        trace|debug|info|warn|error                   (env LDC_LOG_LEVEL, default info)
  --tls-cert-file F        serve HTTPS with this certificate and key     (env LDC_TLS_CERT_FILE)
  --tls-key-file F         (PEM; re-read when they change); without: HTTP (env LDC_TLS_KEY_FILE)

Reads and acks are authenticated with a TokenReview (audience ldc-relay) of the
pod-bound token each sidecar sends; env POD_UID (downward API) makes the ack ConfigMap
owned by the relay's pod, so it goes with it.
  -h, --help
`;

export class RelayConfigError extends Error {}

export interface RelayConfig {
  kubeconfig: string | undefined;
  namespace: string;
  host: string;
  port: number;
  leaseName: string;
  pollIntervalMs: number;
  maxLeaseMs: number;
  logLevel: string;
  pod: string | undefined;
  podUid: string | undefined;
  tls: { certFile: string; keyFile: string } | undefined;
}

const NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

function int(flag: string, env: string, v: string | undefined, def: number, min: number, max: number): number {
  if (v === undefined || v === "") return def;
  const n = Number(v);
  if (!/^[0-9]+$/.test(v) || n < min || n > max) {
    throw new RelayConfigError(
      `${flag} (${env}) must be a whole number from ${min} to ${max}, got ${JSON.stringify(v)}`,
    );
  }
  return n;
}

/** The configuration from `argv` (without node and the script) and `env`, or "help". */
export function parseRelayConfig(argv: string[], env: NodeJS.ProcessEnv): RelayConfig | "help" {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        kubeconfig: { type: "string" },
        namespace: { type: "string" },
        listen: { type: "string" },
        "lease-name": { type: "string" },
        "poll-interval-ms": { type: "string" },
        "max-lease-ms": { type: "string" },
        "log-level": { type: "string" },
        "pod-name": { type: "string" },
        "tls-cert-file": { type: "string" },
        "tls-key-file": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (e) {
    throw new RelayConfigError(`${(e as Error).message}: see --help for the flags`);
  }
  if (values.help) return "help";
  const namespace = values.namespace ?? env.LDC_RELAY_NAMESPACE ?? env.POD_NAMESPACE ?? "ldc-system";
  if (!NAME.test(namespace)) {
    throw new RelayConfigError(
      `--namespace (LDC_RELAY_NAMESPACE) must be a namespace name, got ${JSON.stringify(namespace)}`,
    );
  }
  const leaseName = values["lease-name"] ?? env.LDC_RELAY_LEASE_NAME ?? RELAY_LEASE_NAME;
  if (!NAME.test(leaseName)) {
    throw new RelayConfigError(
      `--lease-name (LDC_RELAY_LEASE_NAME) must be an object name, got ${JSON.stringify(leaseName)}`,
    );
  }
  const listen = values.listen ?? env.LDC_RELAY_LISTEN ?? `0.0.0.0:${RELAY_PORT}`;
  const m = /^(.*):([0-9]{1,5})$/.exec(listen);
  if (!m || Number(m[2]) > 65535) {
    throw new RelayConfigError(
      `--listen (LDC_RELAY_LISTEN) must be HOST:PORT, e.g. 0.0.0.0:${RELAY_PORT}; got ${JSON.stringify(listen)}`,
    );
  }
  const pod = values["pod-name"] ?? (env.POD_NAME || undefined);
  if (pod !== undefined && !/^[a-z0-9]([-a-z0-9.]{0,242}[a-z0-9])?$/.test(pod)) {
    throw new RelayConfigError(`--pod-name (POD_NAME) must be a pod name, got ${JSON.stringify(pod.slice(0, 64))}`);
  }
  const logLevel = values["log-level"] ?? env.LDC_LOG_LEVEL ?? "info";
  if (!["trace", "debug", "info", "warn", "error", "fatal"].includes(logLevel)) {
    throw new RelayConfigError(
      `--log-level (LDC_LOG_LEVEL) must be one of trace, debug, info, warn, error; got ${JSON.stringify(logLevel)}`,
    );
  }
  const certFile = values["tls-cert-file"] ?? (env.LDC_TLS_CERT_FILE || undefined);
  const keyFile = values["tls-key-file"] ?? (env.LDC_TLS_KEY_FILE || undefined);
  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw new RelayConfigError(
      "--tls-cert-file (LDC_TLS_CERT_FILE) and --tls-key-file (LDC_TLS_KEY_FILE) go together: give both (HTTPS) or neither (HTTP)",
    );
  }
  return {
    tls: certFile !== undefined && keyFile !== undefined ? { certFile, keyFile } : undefined,
    kubeconfig: values.kubeconfig ?? (env.KUBECONFIG || undefined),
    namespace,
    host: m[1] || "0.0.0.0",
    port: Number(m[2]),
    leaseName,
    pollIntervalMs: int(
      "--poll-interval-ms",
      "LDC_RELAY_POLL_INTERVAL_MS",
      values["poll-interval-ms"] ?? env.LDC_RELAY_POLL_INTERVAL_MS,
      1000,
      100,
      5000,
    ),
    maxLeaseMs: int(
      "--max-lease-ms",
      "LDC_RELAY_MAX_LEASE_MS",
      values["max-lease-ms"] ?? env.LDC_RELAY_MAX_LEASE_MS,
      DEFAULT_LEASE_MS,
      1000,
      60_000,
    ),
    logLevel,
    pod,
    podUid: env.POD_UID || undefined,
  };
}
