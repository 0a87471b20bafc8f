// `kubectl ldc dashboard`: a local web console on 127.0.0.1. It watches the
// home cluster (and the member clusters whose kubeconfig Secrets the user may
// read) with the user's own credentials, streams one JSON view to the page
// with Server-Sent Events, and performs the page's actions (plan, start and
// abort a drill) as the user: it grants nothing beyond the user's RBAC.
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { KubeConfig } from "@kubernetes/client-node";
import { type Cell, type Failover, type ShardingRule, type Zone } from "../api/index.ts";
import { failoverObject } from "../cli/kubectl-ldc.ts";
import { UsageError, type Target } from "../cli/args.ts";
import { formatRoute } from "../cli/format.ts";
import { ACKS_SELECTOR } from "../relay/acks.ts";
import { parseAckConfigMap } from "../controllers/relayacks.ts";
import { LdcResources as R } from "../ldc-resources.ts";
import { isFinished, LEG } from "../reconcilers/failover.ts";
import { planMoves } from "../reconcilers/failover-moves.ts";
import { Labels } from "../reconcilers/naming.ts";
import { HISTORY_LABEL, readHistory } from "../reconcilers/rule-history.ts";
import { ROUTING_TABLE_KEY } from "../reconcilers/sidecar.ts";
import { diffTables, parseTable, type RoutingTable } from "../routing/index.ts";
import { ApiError, Informer, KubeClient, Resources, type KubeObject } from "../runtime/index.ts";
import { buildView, diffView, newestTables, type PublishedCopy, type SourceHealth } from "./view.ts";

type ConfigMap = KubeObject & { data?: Record<string, string> };
type Secret = KubeObject & { data?: Record<string, string> };

export interface ConsoleOptions {
  /** The user's client for the home cluster. */
  client: KubeClient;
  /** 127.0.0.1 unless a test says otherwise; never a public address (the page acts with the user's credentials). */
  host?: string;
  /** 0: a free port. */
  port?: number;
  /** Who the user is, for the header (the kubeconfig's user name). */
  user?: string;
  /** Tables of a rule kept for the history view (per rule, newest epochs). Default 64. */
  historyPerRule?: number;
}

export interface RunningConsole {
  url: string;
  port: number;
  close(): Promise<void>;
}

/** The page's files: next to this module in the sources, or in src/ beside dist/ when built. */
export function webDir(): string {
  const here = fileURLToPath(new URL("./web/", import.meta.url));
  if (existsSync(here)) return here;
  return fileURLToPath(new URL("../../../src/console/web/", import.meta.url));
}

const STATIC: Record<string, string> = {
  "/": "index.html",
  "/app.js": "app.js",
  "/app.css": "app.css",
};
const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
};

interface Watched {
  what: string;
  informer: Informer<KubeObject>;
}

/** A member cluster reached through its Zone's kubeconfig Secret (or why not). */
interface Member {
  zone: string;
  secret: string;
  client?: KubeClient;
  tables?: Informer<ConfigMap>;
  acks?: Informer<ConfigMap>;
  problem?: string;
}

function reasonOf(e: unknown): string {
  if (e instanceof ApiError) {
    const msg = e.status?.message ?? e.message;
    if (e.code === 403) return `forbidden (403): ${msg}`;
    if (e.code === 401) return `the credentials were not accepted (401): renew them in the kubeconfig`;
    if (e.code === 0) return `cannot reach the API server: ${msg}`;
    return `${e.code}: ${msg}`;
  }
  return (e as Error)?.message ?? String(e);
}

export async function startConsole(opts: ConsoleOptions): Promise<RunningConsole> {
  const client = opts.client;
  const token = randomBytes(24).toString("hex");
  const keep = opts.historyPerRule ?? 64;
  const dir = webDir();
  const files = new Map<string, Buffer>();
  for (const f of new Set(Object.values(STATIC))) files.set(f, readFileSync(dir + f));

  const home = (resource: typeof R.Zone, what: string, selector?: string): Watched => ({
    what,
    informer: new Informer<KubeObject>(client, resource, {
      cluster: "home",
      ...(selector ? { labelSelector: selector } : {}),
      backoffMaxMs: 10_000,
      deadAfterMs: 5_000,
    }),
  });
  const zones = home(R.Zone, "Zones");
  const cells = home(R.Cell, "Cells");
  const rules = home(R.ShardingRule, "ShardingRules");
  const failovers = home(R.Failover, "Failovers");
  const tables = home(Resources.ConfigMap, "routing tables (ConfigMaps, all namespaces)", Labels.routingTable);
  const acks = home(Resources.ConfigMap, "sidecar acks (relay ConfigMaps, all namespaces)", ACKS_SELECTOR);
  // The epochs the operator kept (ConfigMaps ldc-history-<rule>): the history view reaches back before this console.
  const histories = home(Resources.ConfigMap, "rule history (ConfigMaps, all namespaces)", HISTORY_LABEL);
  const watched = [zones, cells, rules, failovers, tables, acks, histories];
  const members = new Map<string, Member>();
  /** rule -> epoch -> table: every table this console has seen or the operator kept, for the history view. */
  const history = new Map<string, Map<number, RoutingTable>>();
  const badTables = new Map<string, string>();
  /** The kept history entries already taken ("<ConfigMap uid>#<epoch>"). */
  const keptSeen = new Set<string>();

  const clients = new Set<ServerResponse>();
  let pending: NodeJS.Timeout | undefined;
  let closed = false;

  const list = <T>(w: Watched) => w.informer.store.list() as unknown as T[];

  /** Keeps `table` (or its serialisation) for the history view: the newest `keep` epochs per rule. */
  function remember(t: RoutingTable | string): void {
    let table: RoutingTable;
    try {
      table = typeof t === "string" ? parseTable(t) : t;
    } catch {
      return; // an unreadable kept table: not history
    }
    const h = history.get(table.ruleName) ?? new Map<number, RoutingTable>();
    if (h.has(table.epoch)) return;
    h.set(table.epoch, table);
    const old = [...h.keys()].sort((a, b) => a - b);
    while (old.length > keep) h.delete(old.shift()!);
    history.set(table.ruleName, h);
  }

  function copiesOf(inf: Informer<ConfigMap>, where: string, zone: string | undefined): PublishedCopy[] {
    const out: PublishedCopy[] = [];
    for (const cm of inf.store.list()) {
      const data = cm.data?.[ROUTING_TABLE_KEY];
      const source = `${where}: ${cm.metadata?.namespace}/${cm.metadata?.name}`;
      if (!data) continue;
      try {
        const table = parseTable(data);
        out.push({ table, source, ...(zone ? { zone } : {}) });
        remember(table);
        badTables.delete(source);
      } catch (e) {
        badTables.set(source, (e as Error).message);
      }
    }
    return out;
  }

  function sources(): SourceHealth[] {
    const out: SourceHealth[] = watched.map((w) => {
      const s = w.informer.status();
      const ok = s.synced && !s.dead && !(s.lastError && !s.connected);
      return {
        what: `${w.what} in the home cluster`,
        ok,
        ...(ok ? {} : { problem: s.lastError ?? (s.synced ? "watch disconnected" : "not listed yet") }),
      };
    });
    for (const m of [...members.values()].sort((a, b) => a.zone.localeCompare(b.zone))) {
      if (m.problem) {
        out.push({ what: `member cluster of zone ${m.zone}`, ok: false, problem: m.problem });
        continue;
      }
      for (const [inf, what] of [
        [m.tables, "routing tables"],
        [m.acks, "sidecar acks"],
      ] as const) {
        const s = inf!.status();
        const ok = s.synced && !s.dead;
        out.push({
          what: `${what} in the member cluster of zone ${m.zone}`,
          ok,
          ...(ok ? {} : { problem: s.lastError ?? "not listed yet" }),
        });
      }
    }
    for (const [source, why] of badTables)
      out.push({ what: `routing table ${source}`, ok: false, problem: `not a valid table: ${why}` });
    return out;
  }

  function view() {
    const zoneList = list<Zone>(zones);
    const copies = copiesOf(tables.informer as Informer<ConfigMap>, "home cluster", undefined);
    const ackList = parseAckConfigMaps(acks.informer as Informer<ConfigMap>, (claimed) => claimed);
    for (const m of members.values()) {
      if (m.tables) copies.push(...copiesOf(m.tables, `zone ${m.zone}'s cluster`, m.zone));
      if (m.acks) ackList.push(...parseAckConfigMaps(m.acks, () => m.zone));
    }
    for (const cm of list<KubeObject & { data?: Record<string, string> }>(histories)) {
      for (const e of readHistory(cm.data)) {
        const k = `${cm.metadata?.uid}#${e.epoch}`;
        if (keptSeen.has(k)) continue; // parsed once
        keptSeen.add(k);
        remember(e.table);
      }
    }
    return buildView({
      zones: zoneList,
      cells: list<Cell>(cells),
      rules: list<ShardingRule>(rules),
      failovers: list<Failover>(failovers),
      copies,
      acks: ackList,
      sources: sources(),
      history: new Map([...history].map(([r, h]) => [r, [...h.keys()].sort((a, b) => a - b)])),
      server: client.server,
      ...(opts.user ? { user: opts.user } : {}),
      now: new Date(),
    });
  }

  function parseAckConfigMaps(inf: Informer<ConfigMap>, zoneOf: (claimed: string) => string) {
    return inf.store.list().flatMap((cm) => parseAckConfigMap(cm).map((a) => ({ ...a, countedZone: zoneOf(a.zone) })));
  }

  function broadcast(): void {
    pending = undefined;
    if (closed) return;
    if (clients.size === 0) {
      // Nobody looks: still record the tables for the history view.
      copiesOf(tables.informer as Informer<ConfigMap>, "home cluster", undefined);
      for (const m of members.values()) if (m.tables) copiesOf(m.tables, `zone ${m.zone}'s cluster`, m.zone);
      return;
    }
    const data = `event: state\ndata: ${JSON.stringify(view())}\n\n`;
    for (const res of clients) res.write(data);
  }
  const schedule = (): void => {
    syncMembers();
    pending ??= setTimeout(broadcast, 100);
  };

  /** Member clusters: one attempt per Zone's Secret reference (a new reference tries again). */
  function syncMembers(): void {
    for (const z of list<Zone>(zones)) {
      const ref = z.spec.cluster?.kubeconfigSecretRef;
      if (!ref) continue;
      const secret = `${ref.namespace}/${ref.name}`;
      const cur = members.get(z.metadata.name);
      if (cur && cur.secret === secret) continue;
      if (cur) void stopMember(cur);
      const m: Member = { zone: z.metadata.name, secret, problem: "connecting" };
      members.set(m.zone, m);
      void connectMember(m, ref.namespace ?? "default", ref.name, ref.key ?? "kubeconfig");
    }
  }

  async function connectMember(m: Member, ns: string, name: string, key: string): Promise<void> {
    try {
      const s = await client.get<Secret>(Resources.Secret, name, ns);
      const data = s.data?.[key];
      if (!data) throw new Error(`Secret ${m.secret} has no key ${key}`);
      const kc = new KubeConfig();
      kc.loadFromString(Buffer.from(data, "base64").toString("utf8"));
      m.client = await KubeClient.fromKubeConfig(kc, {
        fieldManager: "kubectl-ldc",
        userAgent: "kubectl-ldc-dashboard",
      });
      const o = { cluster: m.zone, backoffMaxMs: 10_000, deadAfterMs: 5_000 };
      m.tables = new Informer<ConfigMap>(m.client, Resources.ConfigMap, { ...o, labelSelector: Labels.routingTable });
      m.acks = new Informer<ConfigMap>(m.client, Resources.ConfigMap, { ...o, labelSelector: ACKS_SELECTOR });
      delete m.problem;
      for (const inf of [m.tables, m.acks]) {
        inf.on({ add: schedule, update: schedule, delete: schedule });
        if (!closed) inf.start();
      }
    } catch (e) {
      m.problem = `member cluster not reachable with your credentials: reading its kubeconfig Secret ${m.secret} failed: ${reasonOf(e)}`;
    }
    schedule();
  }

  async function stopMember(m: Member): Promise<void> {
    await Promise.all([m.tables?.stop(), m.acks?.stop()]);
    m.client?.close();
  }

  for (const w of watched) {
    w.informer.on({ add: schedule, update: schedule, delete: schedule });
    w.informer.start();
  }
  // Watch health (a dead watch, a 403) changes without events: re-send the view while someone looks.
  const health = setInterval(schedule, 3000);

  // ------------------------------------------------------------------ actions

  /** The Failover the page asks for, validated as the CLI does. */
  function drillObject(body: DrillRequest): Failover {
    const target: Target | undefined = body.zone
      ? { zone: body.zone }
      : body.cells?.length
        ? { cells: body.cells }
        : undefined;
    if (!target) throw new UsageError("choose a target: a zone, or cells");
    return failoverObject(
      {
        name: "drill start",
        target,
        duration: body.duration || "10m",
        wait: false,
        // The page shows its own plan first; what cannot move is refused (the CLI's default).
        skipUnmovable: false,
        dryRun: false,
        ...(body.to ? { to: body.to } : {}),
        ...(body.freeze ? { freeze: body.freeze } : {}),
        ...(body.name ? { failoverName: body.name } : {}),
        reason: body.reason || "failover drill started from the kubectl ldc dashboard",
      },
      new Date(),
    );
  }

  async function plan(body: DrillRequest) {
    const fo = drillObject(body);
    fo.metadata.labels = { ...fo.metadata.labels, "app.kubernetes.io/managed-by": "kubectl-ldc-dashboard" };
    const moves = planMoves(fo.spec, list<Cell>(cells), list<Zone>(zones));
    const busy = list<Failover>(failovers)
      .filter((f) => !isFinished(f))
      .map((f) => f.metadata.name);
    const tablesNow = newestTables(copiesOf(tables.informer as Informer<ConfigMap>, "home cluster", undefined));
    const shardsOf = (cell: string) =>
      [...tablesNow.values()]
        .map((c) => {
          const i = c.table.cellIndex(cell);
          if (i < 0) return undefined;
          let n = 0;
          for (const o of c.table.ownership().owner) if (o === i) n++;
          return n ? `${n} shards of ${c.table.ruleName}` : undefined;
        })
        .filter(Boolean)
        .join(", ");
    // The API server's own dry run: its validation and the user's RBAC, before anything is confirmed.
    let dryRun: { ok: boolean; problem?: string };
    try {
      await client.create(R.Failover, fo as unknown as KubeObject, { dryRun: true });
      dryRun = { ok: true };
    } catch (e) {
      dryRun = { ok: false, problem: reasonOf(e) };
    }
    const steps = ["Preflight", ...LEG, ...(fo.spec.type === "Drill" ? ["DrillWait", "Failback", ...LEG] : [])];
    return {
      failover: fo,
      confirmWith: fo.metadata.name,
      moves: moves.moves.map((m) => ({ ...m, shards: shardsOf(m.cell) || "no shards" })),
      problems: [
        ...moves.problems,
        ...(busy.length ? [`running now: ${busy.join(", ")} (a cell moves in one failover at a time)`] : []),
      ],
      steps,
      dryRun,
    };
  }

  async function start(body: DrillRequest & { confirm?: string }) {
    const fo = drillObject(body);
    fo.metadata.labels = { ...fo.metadata.labels, "app.kubernetes.io/managed-by": "kubectl-ldc-dashboard" };
    if (body.confirm !== fo.metadata.name) {
      throw new UsageError(`type the drill's name ${fo.metadata.name} to confirm: nothing was created`);
    }
    await client.create(R.Failover, fo as unknown as KubeObject);
    return { created: fo.metadata.name };
  }

  async function abort(name: string) {
    const fo = await client.tryGet<Failover & KubeObject>(R.Failover, name);
    if (!fo) throw new UsageError(`no Failover named ${name}`);
    if (isFinished(fo))
      throw new UsageError(`Failover ${name} already finished (${fo.status?.phase}): nothing to abort`);
    await client.mergePatch(R.Failover, name, undefined, { spec: { abort: true } });
    return { aborted: name };
  }

  function lookup(rule: string, key: string) {
    const copy = newestTables(copiesOf(tables.informer as Informer<ConfigMap>, "home cluster", undefined)).get(rule);
    if (!copy) throw new UsageError(`no routing table of rule ${rule} is published in the home cluster`);
    const t = copy.table;
    const shard = t.shardOf(key);
    if (shard < 0) {
      const r = formatRoute({ key, method: "GET", table: t, source: copy.source });
      throw new UsageError(r.ok ? "not a valid key" : r.error);
    }
    const c = t.ownerOf(shard);
    return {
      rule,
      epoch: t.epoch,
      key,
      shard,
      cell: c.name,
      zone: c.zone,
      region: c.region,
      frozen: t.isFrozen(shard),
    };
  }

  function diff(rule: string, from: number, to: number) {
    const h = history.get(rule);
    const a = h?.get(from);
    const b = h?.get(to);
    if (!a || !b) {
      throw new UsageError(
        `epoch ${!a ? from : to} of rule ${rule} is neither kept by the operator nor seen by this console (known: ${[...(h?.keys() ?? [])].sort((x, y) => x - y).join(", ") || "none"})`,
      );
    }
    return diffView(diffTables(a, b));
  }

  // ------------------------------------------------------------------ HTTP

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => send(res, 500, { error: (e as Error).message }));
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { port } = server.address() as AddressInfo;
    // DNS rebinding: a page from another origin that resolves to 127.0.0.1 still carries its own Host.
    if (req.headers.host !== `127.0.0.1:${port}` && req.headers.host !== `localhost:${port}`) {
      return send(res, 421, { error: `use http://127.0.0.1:${port}/` });
    }
    const url = new URL(req.url ?? "/", `http://127.0.0.1:${port}`);
    res.setHeader("x-content-type-options", "nosniff");
    res.setHeader("cache-control", "no-store");
    if (req.method === "GET") {
      const file = STATIC[url.pathname];
      if (file) {
        let body = files.get(file)!;
        if (file === "index.html") body = Buffer.from(body.toString("utf8").replace("%CONSOLE_TOKEN%", token));
        res.writeHead(200, {
          "content-type": TYPES[file.split(".").pop()!]!,
          "content-security-policy":
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
        });
        res.end(body);
        return;
      }
      if (url.pathname === "/api/events") {
        res.writeHead(200, { "content-type": "text/event-stream", connection: "keep-alive" });
        res.write(`event: state\ndata: ${JSON.stringify(view())}\n\n`);
        clients.add(res);
        req.on("close", () => clients.delete(res));
        return;
      }
      if (url.pathname === "/api/state") return send(res, 200, view());
      if (url.pathname === "/favicon.ico") return void res.writeHead(204).end();
      if (url.pathname === "/api/route") {
        return answer(res, () => lookup(url.searchParams.get("rule") ?? "", url.searchParams.get("key") ?? ""));
      }
      if (url.pathname === "/api/diff") {
        const p = url.searchParams;
        return answer(res, () => diff(p.get("rule") ?? "", Number(p.get("from")), Number(p.get("to"))));
      }
      return send(res, 404, { error: "not found" });
    }
    if (req.method === "POST") {
      // Cross-site requests cannot read the page, so they cannot know the token.
      if (req.headers["x-console-token"] !== token)
        return send(res, 403, { error: "missing or wrong console token: reload the page" });
      const body = readJson(req) as Promise<DrillRequest & { confirm?: string }>;
      body.catch(() => {}); // awaited (and reported) by the action
      if (url.pathname === "/api/plan") return answer(res, async () => plan(await body));
      if (url.pathname === "/api/drills") return answer(res, async () => start(await body));
      const m = /^\/api\/failovers\/([a-z0-9.-]{1,253})\/abort$/.exec(url.pathname);
      if (m) return answer(res, () => abort(m[1]!));
    }
    return send(res, 404, { error: "not found" });
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, opts.host ?? "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    port,
    async close() {
      closed = true;
      clearInterval(health);
      if (pending) clearTimeout(pending);
      for (const res of clients) res.end();
      await new Promise<void>((r) => server.close(() => r()));
      server.closeAllConnections();
      await Promise.all([...watched.map((w) => w.informer.stop()), ...[...members.values()].map(stopMember)]);
    },
  };
}

interface DrillRequest {
  zone?: string;
  cells?: string[];
  to?: string;
  duration?: string;
  freeze?: string;
  name?: string;
  reason?: string;
}

function send(res: ServerResponse, code: number, body: unknown): void {
  res.writeHead(code, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

/** Runs an action; a refusal becomes { error, status } with the API server's reason. */
async function answer(res: ServerResponse, fn: () => unknown): Promise<void> {
  try {
    send(res, 200, await fn());
  } catch (e) {
    if (e instanceof UsageError) return send(res, 400, { error: e.message });
    if (e instanceof ApiError) return send(res, e.code === 0 ? 502 : e.code, { error: reasonOf(e), status: e.code });
    throw e;
  }
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > 64 * 1024) throw new UsageError("request body too large");
    chunks.push(c);
  }
  if (!chunks.length) return {};
  try {
    const v = JSON.parse(Buffer.concat(chunks).toString("utf8")) as unknown;
    if (typeof v !== "object" || v === null || Array.isArray(v)) throw new Error("not an object");
    return v;
  } catch (e) {
    throw new UsageError(`the request body is not a JSON object: ${(e as Error).message}`);
  }
}
