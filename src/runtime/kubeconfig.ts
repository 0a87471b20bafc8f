// A small kubeconfig loader for the operator's own clients. Importing
// @kubernetes/client-node for this alone costs ~80 MB of RSS (its config
// module pulls in every generated model), a third of the memory budget, so
// the operator's runtime reads kubeconfigs itself. Supported: the current (or
// a named) context; server, certificate-authority(-data),
// insecure-skip-tls-verify, tls-server-name; client-certificate(-data) and
// client-key(-data), token, tokenFile (re-read: projected tokens rotate),
// username/password, and exec plugins that return a token; and in-cluster
// ServiceAccount configuration. A member cluster's kubeconfig comes from a
// Secret and must not make the operator run code or read its own files: it is
// read in untrusted mode, which refuses exec plugins, auth providers, file
// paths, plain http and (unless opted in) insecure TLS.
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import path from "node:path";
import type https from "node:https";
import { promisify } from "node:util";
import { parse, YAMLParseError } from "yaml";

const execFileAsync = promisify(execFile);

export interface Connection {
  /** The API server URL. */
  server: string;
  /** Where it came from, for messages. */
  source: string;
  /** TLS settings of the connection. */
  tls: https.AgentOptions;
  /** Authorization headers; `dynamic` ones are asked for before every request (and cache themselves). */
  headers: () => Promise<Record<string, string>>;
  dynamic: boolean;
}

interface ClusterEntry {
  server?: string;
  "certificate-authority"?: string;
  "certificate-authority-data"?: string;
  "insecure-skip-tls-verify"?: boolean;
  "tls-server-name"?: string;
}

interface ExecConfig {
  command: string;
  args?: string[];
  env?: { name: string; value: string }[] | null;
  apiVersion?: string;
}

interface UserEntry {
  "client-certificate"?: string;
  "client-certificate-data"?: string;
  "client-key"?: string;
  "client-key-data"?: string;
  token?: string;
  tokenFile?: string;
  username?: string;
  password?: string;
  exec?: ExecConfig;
  "auth-provider"?: unknown;
}

export class KubeconfigError extends Error {}

const SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

/** Reads a file-or-data pair (relative paths are relative to the kubeconfig's directory). */
function material(baseDir: string, file: string | undefined, data: string | undefined): Buffer | undefined {
  if (data) return Buffer.from(data, "base64");
  if (file) return readFileSync(path.resolve(baseDir, file));
  return undefined;
}

/** A token file, re-read at most every 30 s. */
function tokenFileHeaders(file: string): () => Promise<Record<string, string>> {
  let cached: { token: string; at: number } | undefined;
  return async () => {
    if (!cached || Date.now() - cached.at > 30_000)
      cached = { token: readFileSync(file, "utf8").trim(), at: Date.now() };
    return { Authorization: `Bearer ${cached.token}` };
  };
}

/** An exec credential plugin (client.authentication.k8s.io ExecCredential), cached until it expires. */
function execHeaders(exec: ExecConfig, baseDir: string): () => Promise<Record<string, string>> {
  let cached: { token: string; expires: number } | undefined;
  return async () => {
    if (cached && Date.now() < cached.expires - 60_000) return { Authorization: `Bearer ${cached.token}` };
    const env = { ...process.env };
    for (const e of exec.env ?? []) env[e.name] = e.value;
    const command = exec.command.includes(path.sep) ? path.resolve(baseDir, exec.command) : exec.command;
    const { stdout } = await execFileAsync(command, exec.args ?? [], { env, timeout: 60_000 });
    const cred = JSON.parse(stdout) as {
      status?: { token?: string; expirationTimestamp?: string; clientCertificateData?: string };
    };
    if (!cred.status?.token) {
      throw new KubeconfigError(
        `the exec credential plugin ${exec.command} returned no token${cred.status?.clientCertificateData ? " (client certificates from exec plugins are not supported: use a token-based plugin)" : ""}`,
      );
    }
    const expires = cred.status.expirationTimestamp
      ? Date.parse(cred.status.expirationTimestamp)
      : Date.now() + 5 * 60_000;
    cached = { token: cred.status.token, expires };
    return { Authorization: `Bearer ${cached.token}` };
  };
}

/**
 * A kubeconfig from a Secret (a member cluster's): it must not make the
 * operator run a command, read one of its files (its own ServiceAccount token,
 * for one) or send credentials in clear, and a message about it never quotes it.
 */
export interface UntrustedKubeconfigPolicy {
  /** Whether clusters[].cluster.insecure-skip-tls-verify: true is allowed. */
  allowInsecureTLS: boolean;
  /** Where to opt in to insecure TLS, for the message refusing it. */
  insecureOptIn?: string;
}

/** A kubeconfig refused by UntrustedKubeconfigPolicy; `fields` are paths such as users[0].user.exec. */
export class KubeconfigRefused extends KubeconfigError {
  readonly fields: readonly string[];
  constructor(message: string, fields: readonly string[]) {
    super(message);
    this.fields = fields;
  }
}

const INLINE_CREDENTIALS =
  "put the credentials inline: users[].user.token, or users[].user.client-certificate-data and client-key-data (kubectl config set-credentials --token=... or --embed-certs)";

/** Refused user fields: why, and what to use instead. */
const REFUSED_USER_FIELDS: Readonly<Record<string, readonly [string, string]>> = {
  exec: ["runs a command inside the operator, with its environment and files", INLINE_CREDENTIALS],
  "auth-provider": ["runs an auth provider inside the operator", INLINE_CREDENTIALS],
  tokenFile: [
    "names a file the operator would read and send to the server (its own ServiceAccount token, for one)",
    "put the token itself in users[].user.token",
  ],
  "client-certificate": [
    "is a path in the operator's filesystem",
    "embed the certificate as users[].user.client-certificate-data (kubectl config set-credentials --embed-certs)",
  ],
  "client-key": [
    "is a path in the operator's filesystem",
    "embed the key as users[].user.client-key-data (kubectl config set-credentials --embed-certs)",
  ],
};
const STRING_USER_FIELDS = ["client-certificate-data", "client-key-data", "token", "username", "password"];
const STRING_CLUSTER_FIELDS = ["certificate-authority-data", "tls-server-name"];

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);

/** Every problem of an untrusted kubeconfig's cluster and user entries, as "<field> <why>: <fix>". */
function untrustedProblems(
  cluster: { at: string; entry: Record<string, unknown> },
  user: { at: string; entry: Record<string, unknown> } | undefined,
  policy: UntrustedKubeconfigPolicy,
): { fields: string[]; problems: string[] } {
  const fields: string[] = [];
  const problems: string[] = [];
  const refuse = (field: string, why: string, fix: string) => {
    fields.push(field);
    problems.push(`${field} ${why}: ${fix}`);
  };
  const c = cluster.entry;
  const server = c["server"];
  const serverField = `${cluster.at}.server`;
  if (typeof server !== "string" || !URL.canParse(server)) {
    refuse(serverField, "is not a URL", "set the API server's https:// address");
  } else {
    const url = new URL(server);
    if (url.protocol === "http:") {
      refuse(
        serverField,
        "is plain http: the credentials and every object would cross the network in clear",
        "use the API server's https:// address",
      );
    } else if (url.protocol !== "https:")
      refuse(serverField, "is not an https:// URL", "use the API server's https:// address");
    else if (url.username || url.password) {
      refuse(serverField, "carries credentials in the URL", `remove them from the URL; ${INLINE_CREDENTIALS}`);
    }
  }
  if (c["certificate-authority"] != null) {
    refuse(
      `${cluster.at}.certificate-authority`,
      "is a path in the operator's filesystem",
      "embed the CA as clusters[].cluster.certificate-authority-data (kubectl config set-cluster --embed-certs)",
    );
  }
  const insecure = c["insecure-skip-tls-verify"];
  if (insecure != null && typeof insecure !== "boolean") {
    refuse(`${cluster.at}.insecure-skip-tls-verify`, "must be true or false", "remove it (the default verifies TLS)");
  } else if (insecure === true && !policy.allowInsecureTLS) {
    refuse(
      `${cluster.at}.insecure-skip-tls-verify`,
      "turns off verification of the API server's certificate (anyone on the network path could impersonate it and read the credentials)",
      `remove it and put the API server's CA in clusters[].cluster.certificate-authority-data${policy.insecureOptIn ? `; only if that is impossible, and knowing the risk, set ${policy.insecureOptIn}` : ""}`,
    );
  }
  for (const k of STRING_CLUSTER_FIELDS) {
    if (c[k] != null && typeof c[k] !== "string") refuse(`${cluster.at}.${k}`, "must be a string", "fix its value");
  }
  if (user) {
    for (const [k, [why, fix]] of Object.entries(REFUSED_USER_FIELDS)) {
      if (user.entry[k] != null) refuse(`${user.at}.${k}`, why, fix);
    }
    for (const k of STRING_USER_FIELDS) {
      if (user.entry[k] != null && typeof user.entry[k] !== "string") {
        refuse(`${user.at}.${k}`, "must be a string", "fix its value");
      }
    }
  }
  return { fields, problems };
}

/** Why a kubeconfig is not YAML, without quoting it (the yaml package's messages quote the text). */
function yamlProblem(err: unknown): string {
  if (err instanceof YAMLParseError) {
    const at = err.linePos?.[0];
    return at ? `${err.code} at line ${at.line}, column ${at.col}` : err.code;
  }
  return "it cannot be read as YAML";
}

/** Index of the entry named `name` in a kubeconfig list (clusters, users, contexts), or -1. */
function indexOfName(list: unknown, name: unknown): number {
  return Array.isArray(list) ? list.findIndex((e) => isRecord(e) && e["name"] === name) : -1;
}

/** The `key` object of entry `i` of `list` (e.g. clusters[i].cluster), if it is one. */
function entryAt(list: unknown, i: number, key: string): Record<string, unknown> | undefined {
  const e: unknown = i >= 0 && Array.isArray(list) ? list[i] : undefined;
  return isRecord(e) && isRecord(e[key]) ? e[key] : undefined;
}

/**
 * A kubeconfig document's (current or named) context as a Connection.
 * Messages name fields by path (clusters[0].cluster.server) and never quote
 * the document's values. With `untrusted` (a kubeconfig from a Secret), what
 * UntrustedKubeconfigPolicy refuses throws KubeconfigRefused.
 */
export function connectionFromKubeconfig(
  text: string,
  opts: { source?: string; baseDir?: string; context?: string; untrusted?: UntrustedKubeconfigPolicy } = {},
): Connection {
  const source = opts.source ?? "kubeconfig";
  const baseDir = opts.baseDir ?? process.cwd();
  let doc: unknown;
  try {
    // logLevel "error": at "warn" the yaml package prints warnings that quote the text.
    doc = parse(text, { logLevel: "error" }) ?? {};
  } catch (err) {
    throw new KubeconfigError(`${source} is not valid YAML (${yamlProblem(err)}): fix the kubeconfig there`);
  }
  if (!isRecord(doc)) {
    throw new KubeconfigError(
      `${source} is not a kubeconfig: expected a YAML mapping with clusters, users and contexts`,
    );
  }
  const contextName = opts.context ?? doc["current-context"];
  if (contextName === undefined || contextName === null || contextName === "")
    throw new KubeconfigError(`${source} has no current-context: set one (kubectl config use-context NAME)`);
  const ci = indexOfName(doc["contexts"], contextName);
  if (ci < 0) {
    throw new KubeconfigError(
      opts.context
        ? `${source}: context "${opts.context}" is not defined under contexts`
        : `${source}: current-context names no entry of contexts[]: fix it or add that context`,
    );
  }
  const context = entryAt(doc["contexts"], ci, "context");
  const cli = indexOfName(doc["clusters"], context?.["cluster"]);
  const cluster = entryAt(doc["clusters"], cli, "cluster");
  if (!cluster) {
    throw new KubeconfigError(
      `${source}: contexts[${ci}].context.cluster names no entry of clusters[] with a cluster: fix it or add that cluster`,
    );
  }
  if (!cluster["server"]) {
    throw new KubeconfigError(
      `${source}: clusters[${cli}].cluster.server is missing: set the API server's https:// address`,
    );
  }
  const ui = context?.["user"] == null ? -1 : indexOfName(doc["users"], context["user"]);
  const userEntry = entryAt(doc["users"], ui, "user");
  if (opts.untrusted) {
    const { fields, problems } = untrustedProblems(
      { at: `clusters[${cli}].cluster`, entry: cluster },
      userEntry && { at: `users[${ui}].user`, entry: userEntry },
      opts.untrusted,
    );
    if (problems.length) throw new KubeconfigRefused(`${source}: ${problems.join("; ")}`, fields);
  }
  const c = cluster as ClusterEntry;
  const user = (userEntry ?? {}) as UserEntry;

  const tls: https.AgentOptions = {};
  const ca = material(baseDir, c["certificate-authority"], c["certificate-authority-data"]);
  if (ca) tls.ca = ca;
  if (c["insecure-skip-tls-verify"] === true) tls.rejectUnauthorized = false;
  if (c["tls-server-name"]) tls.servername = c["tls-server-name"];
  const cert = material(baseDir, user["client-certificate"], user["client-certificate-data"]);
  const key = material(baseDir, user["client-key"], user["client-key-data"]);
  if (cert) tls.cert = cert;
  if (key) tls.key = key;

  if (user["auth-provider"]) {
    throw new KubeconfigError(
      `${source}: users[${ui}].user.auth-provider is not supported: use an exec plugin or a token`,
    );
  }
  let headers: Connection["headers"] = async () => ({});
  let dynamic = false;
  if (user.token) {
    const h = { Authorization: `Bearer ${user.token}` };
    headers = async () => h;
  } else if (user.tokenFile) {
    headers = tokenFileHeaders(path.resolve(baseDir, user.tokenFile));
    dynamic = true;
  } else if (user.exec) {
    headers = execHeaders(user.exec, baseDir);
    dynamic = true;
  } else if (user.username !== undefined) {
    const h = { Authorization: `Basic ${Buffer.from(`${user.username}:${user.password ?? ""}`).toString("base64")}` };
    headers = async () => h;
  }
  // An untrusted document's context name is its content: not in messages.
  const described = opts.untrusted ? source : `${source} (context ${String(contextName)})`;
  return { server: cluster["server"] as string, source: described, tls, headers, dynamic };
}

export function connectionFromFile(file: string, context?: string): Connection {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new KubeconfigError(`cannot read kubeconfig ${file}: ${(err as Error).message}`);
  }
  return connectionFromKubeconfig(text, { source: file, baseDir: path.dirname(file), ...(context ? { context } : {}) });
}

/** The ServiceAccount configuration of a pod. */
export function inClusterConnection(saDir = SA_DIR): Connection {
  const host = process.env.KUBERNETES_SERVICE_HOST;
  const port = process.env.KUBERNETES_SERVICE_PORT ?? "443";
  if (!host) throw new KubeconfigError("not running in a pod (KUBERNETES_SERVICE_HOST is unset)");
  return {
    server: `https://${host.includes(":") ? `[${host}]` : host}:${port}`,
    source: "in-cluster ServiceAccount",
    tls: { ca: readFileSync(path.join(saDir, "ca.crt")) },
    headers: tokenFileHeaders(path.join(saDir, "token")),
    dynamic: true,
  };
}

/** $KUBECONFIG (its first file), in-cluster, then ~/.kube/config: as kubectl and client-go look. */
export function defaultConnection(): Connection {
  const fromEnv = process.env.KUBECONFIG?.split(path.delimiter).find(Boolean);
  if (fromEnv) return connectionFromFile(fromEnv);
  if (process.env.KUBERNETES_SERVICE_HOST) return inClusterConnection();
  const home = path.join(homedir(), ".kube", "config");
  try {
    return connectionFromFile(home);
  } catch {
    throw new KubeconfigError(
      "no kubeconfig: pass --kubeconfig, set KUBECONFIG, or run in a pod with a ServiceAccount",
    );
  }
}
