// A small kubeconfig loader for the operator's own clients. Importing
// @kubernetes/client-node for this alone costs ~80 MB of RSS (its config
// module pulls in every generated model), a third of the memory budget, so
// the operator's runtime reads kubeconfigs itself. Supported: the current (or
// a named) context; server, certificate-authority(-data),
// insecure-skip-tls-verify, tls-server-name; client-certificate(-data) and
// client-key(-data), token, tokenFile (re-read: projected tokens rotate),
// username/password, and exec plugins that return a token; and in-cluster
// ServiceAccount configuration.
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import path from "node:path";
import type https from "node:https";
import { promisify } from "node:util";
import { parse } from "yaml";

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

interface NamedEntry<T> {
  name: string;
  [key: string]: unknown;
  cluster?: T;
  user?: T;
  context?: T;
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

interface ContextEntry {
  cluster: string;
  user?: string;
}

interface KubeconfigFile {
  "current-context"?: string;
  clusters?: NamedEntry<ClusterEntry>[];
  users?: NamedEntry<UserEntry>[];
  contexts?: NamedEntry<ContextEntry>[];
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

/** A kubeconfig document's (current or named) context as a Connection. */
export function connectionFromKubeconfig(
  text: string,
  opts: { source?: string; baseDir?: string; context?: string } = {},
): Connection {
  const source = opts.source ?? "kubeconfig";
  const baseDir = opts.baseDir ?? process.cwd();
  let doc: KubeconfigFile;
  try {
    doc = (parse(text) ?? {}) as KubeconfigFile;
  } catch (err) {
    throw new KubeconfigError(`${source} is not valid YAML: ${(err as Error).message}`);
  }
  const contextName = opts.context ?? doc["current-context"];
  if (!contextName)
    throw new KubeconfigError(`${source} has no current-context: set one (kubectl config use-context NAME)`);
  const context = doc.contexts?.find((c) => c.name === contextName)?.context;
  if (!context) throw new KubeconfigError(`${source}: context "${contextName}" is not defined under contexts`);
  const cluster = doc.clusters?.find((c) => c.name === context.cluster)?.cluster;
  if (!cluster?.server)
    throw new KubeconfigError(`${source}: cluster "${context.cluster}" (context ${contextName}) has no server`);
  const user = (context.user ? doc.users?.find((u) => u.name === context.user)?.user : undefined) ?? {};

  const tls: https.AgentOptions = {};
  const ca = material(baseDir, cluster["certificate-authority"], cluster["certificate-authority-data"]);
  if (ca) tls.ca = ca;
  if (cluster["insecure-skip-tls-verify"]) tls.rejectUnauthorized = false;
  if (cluster["tls-server-name"]) tls.servername = cluster["tls-server-name"];
  const cert = material(baseDir, user["client-certificate"], user["client-certificate-data"]);
  const key = material(baseDir, user["client-key"], user["client-key-data"]);
  if (cert) tls.cert = cert;
  if (key) tls.key = key;

  if (user["auth-provider"]) {
    throw new KubeconfigError(
      `${source}: user "${context.user}" uses an auth-provider, which is not supported: use an exec plugin or a token`,
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
  return { server: cluster.server, source: `${source} (context ${contextName})`, tls, headers, dynamic };
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
