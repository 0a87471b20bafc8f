// The sidecar's configuration: the environment contract of
// src/reconcilers/sidecar.ts (LDC_*), or the equivalent flags. Flags win over
// the environment. An invalid configuration is a ConfigError naming the
// variable or flag and the fix (main.ts exits 2 with it).

import type { AppScope } from "../routing/index.ts";

export type CellType = AppScope;

export interface SidecarConfig {
  /** Where to listen for app traffic (LDC_LISTEN "host:port"). */
  readonly listenHost: string;
  readonly listenPort: number;
  /** Where /__ldc/* (health, metrics, table) is served (LDC_ADMIN_LISTEN), never on the traffic port. */
  readonly adminHost: string;
  readonly adminPort: number;
  /** The app container, e.g. http://127.0.0.1:8080 (LDC_APP_URL). */
  readonly appUrl: string;
  readonly rule: string;
  readonly cell: string;
  /** The sidecar's cell type, which is also the scope of the traffic it routes. */
  readonly cellType: CellType;
  readonly zone: string;
  readonly region: string;
  /** The app's name and namespace: the default peer URL is http://<app>-<cell>-<zone>.<namespace>.svc:<peerPort>. */
  readonly app: string | undefined;
  readonly namespace: string | undefined;
  /** The mounted routing table (LDC_TABLE_FILE). */
  readonly tableFile: string | undefined;
  /** Base URL of the operator's routing API (LDC_ROUTING_API). */
  readonly routingApi: string | undefined;
  /** Bearer token for acks (LDC_ROUTING_TOKEN), or a file holding it, re-read before every ack (LDC_ROUTING_TOKEN_FILE). */
  readonly routingToken: string | undefined;
  readonly routingTokenFile: string | undefined;
  /** Peer base URLs by "cell@zone" or "cell" (LDC_PEERS, JSON). */
  readonly peers: Readonly<Record<string, string>>;
  /** Port of the per-cell Services in the default peer URL (LDC_PEER_PORT; default the listen port). */
  readonly peerPort: number;
  /** This sidecar's id in acks: "<LDC_NAMESPACE>/<LDC_SIDECAR_ID>" (default id: POD_NAME, else hostname:port). */
  readonly sidecarId: string;
  readonly ackIntervalSeconds: number;
  readonly longPollTimeoutSeconds: number;
  /** How often the table file's mtime is checked. */
  readonly filePollSeconds: number;
  /** Time to finish in-flight requests on SIGTERM before closing connections. */
  readonly shutdownGraceSeconds: number;
  /** Time a proxied request may take. */
  readonly upstreamTimeoutSeconds: number;
  /** Time a client may take to send a request's headers (node's headersTimeout). */
  readonly headersTimeoutSeconds: number;
  /** Time a client may take to send a whole request, body included (node's requestTimeout; 0: none). 408 after. */
  readonly requestTimeoutSeconds: number;
  /** Most requests passed on (to the app or a peer) at once; more get 503 + Retry-After. */
  readonly maxConcurrentRequests: number;
  /** The routing API's CA bundle (PEM) for an https:// LDC_ROUTING_API (LDC_ROUTING_CA_FILE); default: the system's. */
  readonly routingCaFile: string | undefined;
  readonly logLevel: string;
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

interface Option {
  readonly env: string;
  readonly flag: string;
  readonly arg: string;
  readonly help: string;
  readonly def?: string;
}

/** Every setting: env name, flag, help. The order is the usage's. */
export const OPTIONS: readonly Option[] = [
  {
    env: "LDC_LISTEN",
    flag: "--listen",
    arg: "HOST:PORT",
    help: "address to listen on for app traffic",
    def: "0.0.0.0:15001",
  },
  {
    env: "LDC_ADMIN_LISTEN",
    flag: "--admin-listen",
    arg: "HOST:PORT",
    help: "address of /__ldc/healthz, /__ldc/metrics, /__ldc/table (probes, Prometheus)",
    def: "0.0.0.0:15002",
  },
  {
    env: "LDC_APP_URL",
    flag: "--app-url",
    arg: "URL",
    help: "the app container (required), e.g. http://127.0.0.1:8080",
  },
  { env: "LDC_RULE", flag: "--rule", arg: "NAME", help: "the ShardingRule whose table routes requests (required)" },
  { env: "LDC_CELL", flag: "--cell", arg: "NAME", help: "the cell this sidecar runs in (required)" },
  {
    env: "LDC_CELL_TYPE",
    flag: "--cell-type",
    arg: "TYPE",
    help: "Regional | Global | City: the cell's type, also the scope of its traffic",
    def: "Regional",
  },
  { env: "LDC_ZONE", flag: "--zone", arg: "NAME", help: "the zone this sidecar runs in (required)" },
  { env: "LDC_REGION", flag: "--region", arg: "NAME", help: "the region (city) of that zone (required)" },
  { env: "LDC_APP", flag: "--app", arg: "NAME", help: "the CellApp (for peer Service names)" },
  { env: "LDC_NAMESPACE", flag: "--namespace", arg: "NAME", help: "the CellApp's namespace (for peer Service names)" },
  { env: "LDC_TABLE_FILE", flag: "--table-file", arg: "PATH", help: "the mounted routing table (table.json)" },
  {
    env: "LDC_ROUTING_API",
    flag: "--routing-api",
    arg: "URL",
    help: "the routing API (the zone's relay or the operator), for long-poll and acks: http:// or https://",
  },
  {
    env: "LDC_ROUTING_TOKEN",
    flag: "",
    arg: "TOKEN",
    help: "bearer token for the routing API's reads and acks (environment only)",
  },
  {
    env: "LDC_ROUTING_TOKEN_FILE",
    flag: "--routing-token-file",
    arg: "PATH",
    help: "file holding that token (re-read before each request)",
  },
  {
    env: "LDC_ROUTING_CA_FILE",
    flag: "--routing-ca-file",
    arg: "PATH",
    help: "CA bundle (PEM) an https:// routing API's certificate is checked against (default: the system's)",
  },
  {
    env: "LDC_PEERS",
    flag: "--peers",
    arg: "JSON",
    help: 'peer base URLs: {"rz01@hz-a": "http://127.0.0.1:9001", "rz02": "http://…"}',
  },
  {
    env: "LDC_PEER_PORT",
    flag: "--peer-port",
    arg: "PORT",
    help: "port of the per-cell Services (default: listen port)",
  },
  { env: "LDC_SIDECAR_ID", flag: "--sidecar-id", arg: "ID", help: "id in acks (default: POD_NAME, else host:port)" },
  { env: "LDC_ACK_INTERVAL_SECONDS", flag: "--ack-interval", arg: "SECONDS", help: "ack period", def: "10" },
  {
    env: "LDC_LONG_POLL_TIMEOUT_SECONDS",
    flag: "--long-poll-timeout",
    arg: "SECONDS",
    help: "long-poll timeout asked of the API",
    def: "30",
  },
  {
    env: "LDC_FILE_POLL_SECONDS",
    flag: "--file-poll",
    arg: "SECONDS",
    help: "table file mtime check period",
    def: "1",
  },
  {
    env: "LDC_SHUTDOWN_GRACE_SECONDS",
    flag: "--shutdown-grace",
    arg: "SECONDS",
    help: "time to finish in-flight requests on SIGTERM",
    def: "20",
  },
  {
    env: "LDC_UPSTREAM_TIMEOUT_SECONDS",
    flag: "--upstream-timeout",
    arg: "SECONDS",
    help: "time a proxied request may take (504 after)",
    def: "60",
  },
  {
    env: "LDC_HEADERS_TIMEOUT_SECONDS",
    flag: "--headers-timeout",
    arg: "SECONDS",
    help: "time a client may take to send a request's headers (408 after)",
    def: "10",
  },
  {
    env: "LDC_REQUEST_TIMEOUT_SECONDS",
    flag: "--request-timeout",
    arg: "SECONDS",
    help: "time a client may take to send a whole request, body included (408 after; 0: no limit)",
    def: "30",
  },
  {
    env: "LDC_MAX_CONCURRENT_REQUESTS",
    flag: "--max-concurrent-requests",
    arg: "N",
    help: "most requests passed on to the app or peers at once (503 + Retry-After beyond)",
    def: "1024",
  },
  { env: "LDC_LOG_LEVEL", flag: "--log-level", arg: "LEVEL", help: "trace|debug|info|warn|error|silent", def: "info" },
];

export function usage(): string {
  const lines = [
    "ldc-sidecar: the LDC cell router. Routes each request by its routing key to the cell that owns it:",
    "served by the local app, forwarded to the owning cell, or rejected (unit protection).",
    "",
    "usage: ldc-sidecar [flags]      (every flag has an environment variable; flags win)",
    "",
  ];
  for (const o of OPTIONS) {
    const flag = o.flag ? `${o.flag} ${o.arg}` : "";
    lines.push(`  ${flag.padEnd(32)} ${o.env.padEnd(30)} ${o.help}${o.def ? ` (default ${o.def})` : ""}`);
  }
  lines.push(`  ${"--help".padEnd(32)} ${"".padEnd(30)} print this and exit`);
  lines.push(
    "",
    "At least one of LDC_TABLE_FILE and LDC_ROUTING_API is required. Admin endpoints, on LDC_ADMIN_LISTEN only:",
    "/__ldc/healthz (?live=1), /__ldc/metrics, /__ldc/table (the traffic port answers 404 for /__ldc/*).",
    "Exit codes: 0 done, 2 invalid configuration.",
  );
  return `${lines.join("\n")}\n`;
}

const NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

/** The settings as given: env, overridden by flags. Returns "help" for --help. */
function collect(
  env: Readonly<Record<string, string | undefined>>,
  argv: readonly string[],
): Map<string, string> | "help" {
  const values = new Map<string, string>();
  for (const o of OPTIONS) {
    const v = env[o.env];
    if (v !== undefined && v !== "") values.set(o.env, v);
  }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--help" || a === "-h") return "help";
    const eq = a.indexOf("=");
    const flag = eq >= 0 ? a.slice(0, eq) : a;
    const o = flag.startsWith("--") ? OPTIONS.find((x) => x.flag === flag) : undefined;
    if (o === undefined) {
      throw new ConfigError(`unknown argument ${JSON.stringify(a)}: see --help for the flags`);
    }
    let v: string | undefined;
    if (eq >= 0) v = a.slice(eq + 1);
    else {
      v = argv[i + 1];
      i++;
    }
    if (v === undefined) throw new ConfigError(`${o.flag} needs a value (${o.arg})`);
    values.set(o.env, v);
  }
  return values;
}

function who(env: string): string {
  const o = OPTIONS.find((x) => x.env === env)!;
  return o.flag ? `${env} (${o.flag})` : env;
}

function parseSeconds(values: Map<string, string>, env: string, min: number, max: number): number {
  const o = OPTIONS.find((x) => x.env === env)!;
  const raw = values.get(env) ?? o.def!;
  const n = Number(raw);
  if (!/^[0-9]+(\.[0-9]+)?$/.test(raw) || n < min || n > max) {
    throw new ConfigError(`${who(env)}: ${JSON.stringify(raw)} is not a number of seconds from ${min} to ${max}`);
  }
  return n;
}

/** A HOST:PORT setting ("[::1]:80", ":80" and "80" too). */
function parseListen(values: Map<string, string>, env: string): [string, number] {
  const def = OPTIONS.find((x) => x.env === env)!.def!;
  const raw = values.get(env) ?? def;
  const m = /^(?:(.*):)?([0-9]+)$/.exec(raw);
  if (!m) throw new ConfigError(`${who(env)}: ${JSON.stringify(raw)} is not HOST:PORT, e.g. ${def}`);
  let host = m[1] ?? "0.0.0.0";
  if (host.startsWith("[") && host.endsWith("]")) host = host.slice(1, -1);
  if (host === "") host = "0.0.0.0";
  return [host, parsePort(m[2]!, who(env))];
}

function parsePort(raw: string, what: string): number {
  const n = Number(raw);
  if (!/^[0-9]{1,5}$/.test(raw) || n > 65535) {
    throw new ConfigError(`${what}: port ${JSON.stringify(raw)} is not a number from 0 to 65535`);
  }
  return n;
}

/** Checks an http:// (or, with `https`, https://) base URL; returns it without a trailing slash. */
export function checkBaseUrl(raw: string, what: string, https = false): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new ConfigError(`${what}: ${JSON.stringify(raw)} is not a URL; use e.g. http://127.0.0.1:8080`);
  }
  if (u.protocol !== "http:" && !(https && u.protocol === "https:")) {
    throw new ConfigError(
      https
        ? `${what}: ${JSON.stringify(raw)} must be an http:// or https:// URL`
        : `${what}: ${JSON.stringify(raw)} must be an http:// URL (the sidecar speaks plain HTTP/1.1 to the app and its peers)`,
    );
  }
  if (u.search || u.hash || u.username || u.password) {
    throw new ConfigError(`${what}: ${JSON.stringify(raw)} must have no query, fragment or credentials`);
  }
  return raw.replace(/\/+$/, "");
}

/**
 * Reads the configuration from `env` and `argv` (flags). Returns "help" for
 * --help; throws ConfigError naming the setting and the fix.
 */
export function parseConfig(
  env: Readonly<Record<string, string | undefined>> = process.env,
  argv: readonly string[] = process.argv.slice(2),
  hostname = "localhost",
): SidecarConfig | "help" {
  const values = collect(env, argv);
  if (values === "help") return "help";
  const required = (name: string, fix: string): string => {
    const v = values.get(name);
    if (v === undefined) throw new ConfigError(`${who(name)} is required: ${fix}`);
    return v;
  };
  const name = (envName: string, fix: string, optional = false): string | undefined => {
    const v = optional ? values.get(envName) : required(envName, fix);
    if (v !== undefined && !NAME.test(v)) {
      throw new ConfigError(
        `${who(envName)}: ${JSON.stringify(v)} is not a DNS name (lower-case letters, digits, - and .)`,
      );
    }
    return v;
  };

  const [listenHost, listenPort] = parseListen(values, "LDC_LISTEN");
  const [adminHost, adminPort] = parseListen(values, "LDC_ADMIN_LISTEN");
  if (adminPort !== 0 && adminPort === listenPort) {
    throw new ConfigError(
      `${who("LDC_ADMIN_LISTEN")}: port ${adminPort} is also LDC_LISTEN's: the admin endpoints need their own port, so app traffic can never reach them`,
    );
  }

  const appUrl = checkBaseUrl(
    required("LDC_APP_URL", "set it to the app container's URL, e.g. http://127.0.0.1:8080"),
    who("LDC_APP_URL"),
  );
  const rule = name("LDC_RULE", "set it to the ShardingRule's name")!;
  const cell = name("LDC_CELL", "set it to the cell's name")!;
  const cellType = values.get("LDC_CELL_TYPE") ?? "Regional";
  if (cellType !== "Regional" && cellType !== "Global" && cellType !== "City") {
    throw new ConfigError(`${who("LDC_CELL_TYPE")}: ${JSON.stringify(cellType)} is not one of Regional, Global, City`);
  }
  const zone = name("LDC_ZONE", "set it to the zone's name")!;
  const region = name("LDC_REGION", "set it to the zone's region")!;
  const app = name("LDC_APP", "", true);
  const namespace = name("LDC_NAMESPACE", "", true);

  const tableFile = values.get("LDC_TABLE_FILE");
  const routingApiRaw = values.get("LDC_ROUTING_API");
  const routingApi =
    routingApiRaw === undefined ? undefined : checkBaseUrl(routingApiRaw, who("LDC_ROUTING_API"), true);
  if (tableFile === undefined && routingApi === undefined) {
    throw new ConfigError(
      "no routing table source: set LDC_TABLE_FILE (--table-file, the mounted ConfigMap's table.json) and/or LDC_ROUTING_API (--routing-api, the operator's URL)",
    );
  }

  const peers: Record<string, string> = {};
  const peersRaw = values.get("LDC_PEERS");
  if (peersRaw !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(peersRaw);
    } catch (e) {
      throw new ConfigError(
        `${who("LDC_PEERS")}: not JSON (${(e as Error).message}); expected {"cell@zone": "http://…"}`,
      );
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
      throw new ConfigError(
        `${who("LDC_PEERS")}: expected a JSON object {"cell@zone": "http://host:port", "cell": "…"}`,
      );
    }
    for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) {
      if (!/^[a-z0-9][-a-z0-9.]*(@[a-z0-9][-a-z0-9.]*)?$/.test(k)) {
        throw new ConfigError(`${who("LDC_PEERS")}: key ${JSON.stringify(k)} is not "cell@zone" or "cell"`);
      }
      if (typeof v !== "string")
        throw new ConfigError(`${who("LDC_PEERS")}: ${JSON.stringify(k)} must map to a URL string`);
      peers[k] = checkBaseUrl(v, `${who("LDC_PEERS")}[${JSON.stringify(k)}]`);
    }
  }
  if (peersRaw === undefined && (app === undefined || namespace === undefined)) {
    throw new ConfigError(
      "LDC_APP (--app) and LDC_NAMESPACE (--namespace) are required to name peer Services; or give LDC_PEERS (--peers)",
    );
  }
  const peerPortRaw = values.get("LDC_PEER_PORT");
  const peerPort = peerPortRaw === undefined ? listenPort : parsePort(peerPortRaw, who("LDC_PEER_PORT"));

  const logLevel = values.get("LDC_LOG_LEVEL") ?? "info";
  if (!["trace", "debug", "info", "warn", "error", "fatal", "silent"].includes(logLevel)) {
    throw new ConfigError(
      `${who("LDC_LOG_LEVEL")}: ${JSON.stringify(logLevel)} is not trace|debug|info|warn|error|silent`,
    );
  }
  // "<namespace>/<pod>", as the operator lists its pods (the Failover barrier's expected set) and as
  // the relay names a pod from its token; an id already holding a "/" is taken as is.
  const rawId = values.get("LDC_SIDECAR_ID") ?? env.POD_NAME ?? `${hostname}:${listenPort}`;
  const sidecarId = namespace !== undefined && !rawId.includes("/") ? `${namespace}/${rawId}` : rawId;
  const headersTimeoutSeconds = parseSeconds(values, "LDC_HEADERS_TIMEOUT_SECONDS", 1, 3600);
  const requestTimeoutSeconds = parseSeconds(values, "LDC_REQUEST_TIMEOUT_SECONDS", 0, 86400);
  if (requestTimeoutSeconds > 0 && requestTimeoutSeconds < headersTimeoutSeconds) {
    throw new ConfigError(
      `${who("LDC_REQUEST_TIMEOUT_SECONDS")}: ${requestTimeoutSeconds} is shorter than LDC_HEADERS_TIMEOUT_SECONDS (${headersTimeoutSeconds}): the whole request includes its headers; raise it or lower the other`,
    );
  }
  const maxRaw = values.get("LDC_MAX_CONCURRENT_REQUESTS") ?? "1024";
  if (!/^[1-9][0-9]{0,5}$/.test(maxRaw)) {
    throw new ConfigError(
      `${who("LDC_MAX_CONCURRENT_REQUESTS")}: ${JSON.stringify(maxRaw)} is not a whole number from 1 to 999999`,
    );
  }
  const routingCaFile = values.get("LDC_ROUTING_CA_FILE");
  if (routingCaFile !== undefined && !routingApi?.startsWith("https:")) {
    throw new ConfigError(
      `${who("LDC_ROUTING_CA_FILE")} is set but LDC_ROUTING_API is not an https:// URL: drop it, or use https://`,
    );
  }

  return {
    listenHost,
    listenPort,
    adminHost,
    adminPort,
    appUrl,
    rule,
    cell,
    cellType,
    zone,
    region,
    app,
    namespace,
    tableFile,
    routingApi,
    routingToken: values.get("LDC_ROUTING_TOKEN"),
    routingTokenFile: values.get("LDC_ROUTING_TOKEN_FILE"),
    peers,
    peerPort,
    sidecarId,
    ackIntervalSeconds: parseSeconds(values, "LDC_ACK_INTERVAL_SECONDS", 0.01, 3600),
    longPollTimeoutSeconds: parseSeconds(values, "LDC_LONG_POLL_TIMEOUT_SECONDS", 0, 300),
    filePollSeconds: parseSeconds(values, "LDC_FILE_POLL_SECONDS", 0.01, 3600),
    shutdownGraceSeconds: parseSeconds(values, "LDC_SHUTDOWN_GRACE_SECONDS", 0, 3600),
    upstreamTimeoutSeconds: parseSeconds(values, "LDC_UPSTREAM_TIMEOUT_SECONDS", 0.01, 86400),
    headersTimeoutSeconds,
    requestTimeoutSeconds,
    maxConcurrentRequests: Number(maxRaw),
    routingCaFile,
    logLevel,
  };
}

/** A config for tests and embedding: defaults for everything not given. */
export function sidecarConfig(
  c: Pick<SidecarConfig, "appUrl" | "rule" | "cell" | "zone" | "region"> & Partial<SidecarConfig>,
): SidecarConfig {
  return {
    listenHost: "127.0.0.1",
    listenPort: 0,
    adminHost: "127.0.0.1",
    adminPort: 0,
    cellType: "Regional",
    app: undefined,
    namespace: undefined,
    tableFile: undefined,
    routingApi: undefined,
    routingToken: undefined,
    routingTokenFile: undefined,
    peers: {},
    peerPort: 0,
    sidecarId: `${c.cell}@${c.zone}`,
    ackIntervalSeconds: 10,
    longPollTimeoutSeconds: 30,
    filePollSeconds: 1,
    shutdownGraceSeconds: 20,
    upstreamTimeoutSeconds: 60,
    headersTimeoutSeconds: 10,
    requestTimeoutSeconds: 30,
    maxConcurrentRequests: 1024,
    routingCaFile: undefined,
    logLevel: "silent",
    ...c,
  };
}
