#!/usr/bin/env node
// kubectl-ldc: the kubectl plugin for SREs (`kubectl ldc ...`): status of
// zones, cells and routing; start, follow and abort failover drills; start an
// emergency failover; look up where a routing key goes. Configuration as
// kubectl (--kubeconfig, --context, $KUBECONFIG); requests through the
// operator's runtime client. Exit codes: 0 ok, 1 failure, 2 usage error.
import { spawn } from "node:child_process";
import { realpathSync } from "node:fs";
import { createInterface } from "node:readline/promises";
import { pathToFileURL } from "node:url";
import { KubeConfig } from "@kubernetes/client-node";
import { LdcResources } from "../ldc-resources.ts";
import { parseResource, type Cell, type CellApp, type Failover, type ShardingRule, type Zone } from "../api/index.ts";
import type { CapacityNode, CapacityPod } from "../reconcilers/capacity.ts";
import { zoneNodeSelector } from "../reconcilers/cellapp.ts";
import { planFailover } from "../reconcilers/failover-plan.ts";
import { Labels, MANAGED_BY, routingTableName } from "../reconcilers/naming.ts";
import { ROUTING_TABLE_KEY } from "../reconcilers/sidecar.ts";
import { diffTables, parseTable } from "../routing/index.ts";
import { historyConfigMapName, readHistory, type HistoryEntry } from "../reconcilers/rule-history.ts";
import { ApiError, KubeClient, Resources, type KubeObject } from "../runtime/index.ts";
import { UsageError, helpFor, parseInvocation, type Command, type GlobalFlags, type Target } from "./args.ts";
import {
  describeTarget,
  formatFailoverReport,
  formatHistory,
  formatPlan,
  formatTableDiff,
  formatRoute,
  formatStatus,
  isFinished,
  progressLines,
  type PublishedTable,
} from "./format.ts";

export interface CliIO {
  stdout: { write(s: string): unknown; isTTY?: boolean };
  stderr: { write(s: string): unknown };
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  env: Record<string, string | undefined>;
  /** Poll interval of --wait (ms). */
  pollMs?: number;
}

/** A failure to report with exit code 1; the message says what to do. */
export class CliError extends Error {}

const R = LdcResources;

type ConfigMap = KubeObject & { data?: Record<string, string> };

export async function main(argv: readonly string[], io: CliIO): Promise<number> {
  let inv;
  try {
    inv = parseInvocation(argv);
  } catch (e) {
    if (e instanceof UsageError) {
      io.stderr.write(`error: ${e.message}\nRun "kubectl ldc ${e.command ? `${e.command} ` : ""}--help" for usage.\n`);
      return 2;
    }
    throw e;
  }
  if (inv.command.name === "help") {
    io.stdout.write(helpFor(inv.command.topic) + "\n");
    return 0;
  }
  let client: KubeClient | undefined;
  try {
    client = await connect(inv.global, io);
    return await run(client, inv.command, io);
  } catch (e) {
    io.stderr.write(`error: ${explain(e, client)}\n`);
    return e instanceof UsageError ? 2 : 1;
  } finally {
    client?.close();
  }
}

async function connect(g: GlobalFlags, io: CliIO): Promise<KubeClient> {
  const kc = new KubeConfig();
  try {
    if (g.kubeconfig) kc.loadFromFile(g.kubeconfig);
    else if (io.env.KUBECONFIG) {
      // loadFromDefault reads process.env; honour the io's env for tests too
      const files = io.env.KUBECONFIG.split(process.platform === "win32" ? ";" : ":").filter(Boolean);
      kc.loadFromFile(files[0]!);
    } else kc.loadFromDefault();
  } catch (e) {
    throw new CliError(
      `cannot read the kubeconfig${g.kubeconfig ? ` ${g.kubeconfig}` : ""}: ${(e as Error).message}: pass --kubeconfig PATH or set KUBECONFIG`,
    );
  }
  if (g.context) {
    if (!kc.getContexts().some((c) => c.name === g.context)) {
      throw new CliError(
        `no context "${g.context}" in the kubeconfig: use one of ${
          kc
            .getContexts()
            .map((c) => c.name)
            .join(", ") || "(none)"
        }`,
      );
    }
    kc.setCurrentContext(g.context);
  }
  if (!kc.getCurrentCluster()) {
    throw new CliError("the kubeconfig has no current cluster: pass --context NAME or --kubeconfig PATH");
  }
  return KubeClient.fromKubeConfig(kc, { fieldManager: "kubectl-ldc", userAgent: "kubectl-ldc", qps: 0 });
}

function explain(e: unknown, client: KubeClient | undefined): string {
  if (e instanceof CliError || e instanceof UsageError) return e.message;
  if (e instanceof ApiError) {
    const server = client?.server ?? "the API server";
    if (e.code === 0)
      return `cannot reach ${server}: ${e.message}: check --kubeconfig/--context and that the cluster is up`;
    if (e.code === 401) return `${server} did not accept the credentials (401): renew them in the kubeconfig`;
    if (e.code === 403)
      return `forbidden (403): ${e.status?.message ?? e.message}: ask for RBAC access to ldc.io resources`;
    if (
      e.code === 404 &&
      /\/apis\/ldc\.io\//.test(e.message) &&
      !/\/[^/]+\/[^/]+$/.test(e.message.split(" ")[1] ?? "")
    ) {
      return `the ldc.io CRDs are not installed in this cluster: kubectl apply -f crds/ (or install the chart)`;
    }
    if (e.code === 422) return `the API server rejected it: ${e.status?.message ?? e.message}`;
    return e.message;
  }
  const err = e as NodeJS.ErrnoException;
  if (err?.code === "ECONNREFUSED" || err?.code === "ENOTFOUND" || err?.code === "ECONNRESET") {
    return `cannot reach ${client?.server ?? "the API server"} (${err.code}): check --kubeconfig/--context and that the cluster is up`;
  }
  return err?.message ?? String(e);
}

const useColor = (io: CliIO) => Boolean(io.stdout.isTTY) && io.env.NO_COLOR === undefined && io.env.TERM !== "dumb";

async function run(client: KubeClient, cmd: Command, io: CliIO): Promise<number> {
  switch (cmd.name) {
    case "status":
      return status(client, cmd.rule, io);
    case "route":
      return route(client, cmd.key, cmd.rule, cmd.method, io);
    case "drill start":
      return startFailover(client, cmd, io);
    case "failover":
      return startFailover(client, cmd, io);
    case "drill status":
      return drillStatus(client, cmd.failoverName, cmd.wait, io);
    case "drill abort":
      return abort(client, cmd.failoverName, io);
    case "history":
      return history(client, cmd.rule, io);
    case "diff":
      return diff(client, cmd.rule, cmd.from, cmd.to, io);
    case "dashboard":
      return dashboard(client, cmd, io);
    case "help":
      return 0;
  }
}

// ------------------------------------------------------------------ dashboard

async function dashboard(client: KubeClient, cmd: Extract<Command, { name: "dashboard" }>, io: CliIO): Promise<number> {
  const { startConsole } = await import("../console/server.ts");
  const running = await startConsole({ client, port: cmd.port });
  io.stdout.write(
    `ldc console on ${running.url} (watching ${client.server} with your kubeconfig's credentials); Ctrl-C stops it\n`,
  );
  if (cmd.open) {
    const opener = process.platform === "darwin" ? "open" : process.platform === "win32" ? "explorer" : "xdg-open";
    spawn(opener, [running.url], { stdio: "ignore", detached: true })
      .on("error", (e) =>
        io.stderr.write(`cannot open a browser (${opener}: ${e.message}): open ${running.url} yourself\n`),
      )
      .unref();
  }
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  await running.close();
  return 0;
}

// ------------------------------------------------------------------ status, route

/** The newest routing table published per rule (ConfigMaps labelled ldc.io/routing-table, any namespace). */
async function publishedTables(client: KubeClient, io: CliIO, rule?: string): Promise<Map<string, PublishedTable>> {
  const selector = rule ? `${Labels.routingTable},${Labels.rule}=${rule}` : Labels.routingTable;
  const cms = (await client.listAll<ConfigMap>(Resources.ConfigMap, { labelSelector: selector })).items;
  const out = new Map<string, PublishedTable>();
  for (const cm of cms) {
    const data = cm.data?.[ROUTING_TABLE_KEY];
    const source = `${cm.metadata?.namespace}/${cm.metadata?.name}`;
    if (!data) continue;
    try {
      const table = parseTable(data);
      if (rule && cm.metadata?.name !== routingTableName(rule)) continue;
      const prev = out.get(table.ruleName);
      if (!prev || prev.table.epoch < table.epoch) out.set(table.ruleName, { table, source });
    } catch (e) {
      io.stderr.write(`warning: ConfigMap ${source} holds no valid routing table (${(e as Error).message}); ignored\n`);
    }
  }
  return out;
}

async function status(client: KubeClient, rule: string | undefined, io: CliIO): Promise<number> {
  const [zones, cells, failovers, rules, tables] = await Promise.all([
    client.listAll<Zone & KubeObject>(R.Zone),
    client.listAll<Cell & KubeObject>(R.Cell),
    client.listAll<Failover & KubeObject>(R.Failover),
    client.listAll<ShardingRule & KubeObject>(R.ShardingRule),
    publishedTables(client, io, rule),
  ]);
  io.stdout.write(
    formatStatus(
      {
        zones: zones.items,
        cells: cells.items,
        failovers: failovers.items,
        rules: rules.items,
        tables,
        ...(rule ? { rule } : {}),
      },
      useColor(io),
    ),
  );
  return rule && !rules.items.some((r) => r.metadata.name === rule) ? 1 : 0;
}

async function route(
  client: KubeClient,
  key: string,
  rule: string | undefined,
  method: string,
  io: CliIO,
): Promise<number> {
  const tables = await publishedTables(client, io, rule);
  if (tables.size === 0) {
    throw new CliError(
      rule
        ? `no routing table of rule ${rule} is published (ConfigMap ${routingTableName(rule)}): check the rule name (kubectl get shardingrules) and that a CellApp uses it`
        : "no routing table is published (no ConfigMap labelled ldc.io/routing-table): is the operator running, and does a CellApp use a ShardingRule?",
    );
  }
  if (!rule && tables.size > 1) {
    throw new UsageError(
      `several sharding rules publish tables: pass --rule, one of ${[...tables.keys()].sort().join(", ")}`,
      "route",
    );
  }
  const pub = [...tables.values()][0]!;
  const r = formatRoute({ key, method, table: pub.table, source: pub.source });
  if (!r.ok) throw new CliError(r.error);
  io.stdout.write(r.text);
  return 0;
}

// ------------------------------------------------------------------ history, diff

/** The epochs the operator kept for `rule` (ConfigMap ldc-history-<rule> in its namespace), oldest first. */
async function ruleHistory(client: KubeClient, rule: string): Promise<HistoryEntry[]> {
  const name = historyConfigMapName(rule);
  const cms = (await client.listAll<ConfigMap>(Resources.ConfigMap, { fieldSelector: `metadata.name=${name}` })).items;
  const cm = cms.find((c) => c.metadata?.labels?.[Labels.managedBy] === MANAGED_BY);
  if (!cm)
    throw new CliError(
      `no history of rule ${rule} (ConfigMap ${name}): check the name (kubectl get shardingrules); the operator records epochs it publishes from now on`,
    );
  return readHistory(cm.data);
}

async function history(client: KubeClient, rule: string, io: CliIO): Promise<number> {
  io.stdout.write(formatHistory(rule, await ruleHistory(client, rule), useColor(io)));
  return 0;
}

async function diff(client: KubeClient, rule: string, from: number, to: number, io: CliIO): Promise<number> {
  const entries = await ruleHistory(client, rule);
  const table = (epoch: number) => {
    const e = entries.find((x) => x.epoch === epoch);
    if (!e)
      throw new CliError(
        `epoch ${epoch} of rule ${rule} is not in its history (kept: ${entries.map((x) => x.epoch).join(", ") || "none"})`,
      );
    return parseTable(e.table);
  };
  io.stdout.write(formatTableDiff(diffTables(table(from), table(to)), useColor(io)));
  return 0;
}

// ------------------------------------------------------------------ failovers

function stamp(d: Date): string {
  const s = d.toISOString();
  return `${s.slice(0, 10).replaceAll("-", "")}-${s.slice(11, 19).replaceAll(":", "")}`;
}

export function defaultFailoverName(kind: "drill" | "failover", target: Target, now: Date): string {
  const what = ("zone" in target ? target.zone : target.cells.join("-")).slice(0, 200).replace(/-+$/, "");
  return `${kind}-${what}-${stamp(now)}`;
}

/** The Failover a `drill start` / `failover` command creates (validated like the API server would). */
export function failoverObject(cmd: Extract<Command, { name: "drill start" | "failover" }>, now: Date): Failover {
  const drill = cmd.name === "drill start";
  const obj = {
    apiVersion: "ldc.io/v1alpha1",
    kind: "Failover",
    metadata: {
      name: cmd.failoverName ?? defaultFailoverName(drill ? "drill" : "failover", cmd.target, now),
      labels: { "app.kubernetes.io/managed-by": "kubectl-ldc" },
    },
    spec: {
      type: drill ? "Drill" : "Emergency",
      target: cmd.target,
      ...(cmd.to ? { destination: { zone: cmd.to } } : {}),
      ...(drill ? { drill: { duration: cmd.duration } } : {}),
      ...(cmd.freeze ? { writeFreeze: cmd.freeze } : {}),
      ...(cmd.skipUnmovable ? { onUnmovable: "Skip" } : {}),
      reason:
        cmd.reason ??
        (drill ? "failover drill started with kubectl ldc" : "emergency failover started with kubectl ldc"),
    },
  };
  const parsed = parseResource("Failover", obj);
  if (!parsed.ok) throw new UsageError(parsed.errors.join("; "), cmd.name);
  return parsed.value;
}

async function confirm(io: CliIO, question: string): Promise<boolean> {
  const rl = createInterface({ input: io.stdin, output: io.stderr as NodeJS.WritableStream, terminal: false });
  try {
    const answer = await rl.question(question);
    return answer.trim().toLowerCase() === "yes";
  } finally {
    rl.close();
  }
}

async function startFailover(
  client: KubeClient,
  cmd: Extract<Command, { name: "drill start" | "failover" }>,
  io: CliIO,
): Promise<number> {
  const fo = failoverObject(cmd, new Date());
  const drill = cmd.name === "drill start";
  if (cmd.dryRun) return dryRun(client, fo, io);
  if (!drill && !cmd.yes) {
    const summary = `EMERGENCY failover ${fo.metadata.name}: moves the production traffic of ${describeTarget(fo)} now, with no automatic failback.`;
    if (!io.stdin.isTTY) {
      throw new UsageError(`${summary} There is no terminal to confirm on: pass --yes to start it`, "failover");
    }
    io.stderr.write(summary + "\n");
    if (!(await confirm(io, 'Type "yes" to start it: '))) {
      io.stderr.write("not confirmed: nothing was created\n");
      return 1;
    }
  }
  try {
    await client.create(R.Failover, fo as unknown as KubeObject);
  } catch (e) {
    if (e instanceof ApiError && e.code === 409) {
      throw new CliError(
        `a Failover named ${fo.metadata.name} already exists: pick another --name, or follow it with kubectl ldc drill status ${fo.metadata.name}`,
      );
    }
    throw e;
  }
  const what = drill
    ? `drill of ${describeTarget(fo)}, failing back after ${fo.spec.drill!.duration}`
    : `emergency failover of ${describeTarget(fo)}`;
  io.stdout.write(
    `failover.ldc.io/${fo.metadata.name} created: ${what}; writes to the moving shards are frozen for ${fo.spec.writeFreeze ?? "5s"} at each switch\n`,
  );
  if (cmd.wait) return follow(client, fo.metadata.name, io);
  io.stdout.write(
    `Follow it: kubectl ldc drill status ${fo.metadata.name} --wait\nAbort it:  kubectl ldc drill abort ${fo.metadata.name}\n`,
  );
  return 0;
}

/**
 * The plan, computed here with the operator's own planner from what this
 * cluster holds; nothing is created. Capacity is checked for zones of this
 * cluster: a member cluster's pods are the operator's to read (spec.dryRun).
 */
async function dryRun(client: KubeClient, fo: Failover, io: CliIO): Promise<number> {
  const [zones, cells, rules, failovers, apps, nodes, pods] = await Promise.all([
    client.listAll<Zone & KubeObject>(R.Zone),
    client.listAll<Cell & KubeObject>(R.Cell),
    client.listAll<ShardingRule & KubeObject>(R.ShardingRule),
    client.listAll<Failover & KubeObject>(R.Failover),
    client.listAll<CellApp & KubeObject>(R.CellApp),
    client.listAll<CapacityNode & KubeObject>(Resources.Node).catch(explainedAs("nodes")),
    client
      .listAll<CapacityPod & KubeObject>(Resources.Pod, {
        fieldSelector: "status.phase!=Succeeded,status.phase!=Failed",
      })
      .catch(explainedAs("pods")),
  ]);
  const plan = planFailover({
    failover: fo,
    cells: cells.items,
    zones: zones.items,
    rules: rules.items,
    failovers: failovers.items,
    apps: apps.items,
    // The operator's sidecar settings are its own: the injected sidecar's requests are not counted here.
    sidecar: { image: "sidecar" },
    capacity: (name) => {
      const zone = zones.items.find((z) => z.metadata.name === name);
      if (!zone) return "no such Zone";
      if (zone.spec.cluster)
        return "a member cluster (kubectl ldc reads this cluster only): create the Failover with spec.dryRun: true for the operator's check";
      if (typeof nodes === "string") return nodes;
      if (typeof pods === "string") return pods;
      const selector = zoneNodeSelector(zone);
      const mine = nodes.items.filter((n) => Object.entries(selector).every(([k, v]) => n.metadata?.labels?.[k] === v));
      return { nodes: mine, pods: pods.items };
    },
  });
  io.stdout.write(formatPlan(fo, plan, useColor(io)));
  return plan.refusals?.length ? 1 : 0;
}

/** A list the user may not be allowed: the capacity check says so instead of failing the dry run. */
function explainedAs(what: string): (e: unknown) => string {
  return (e) => {
    if (e instanceof ApiError && e.code === 403) return `not allowed to list ${what} (403)`;
    throw e;
  };
}

async function getFailover(client: KubeClient, name: string): Promise<Failover> {
  const fo = await client.tryGet<Failover & KubeObject>(R.Failover, name);
  if (!fo) throw new CliError(`no Failover named ${name}: list them with kubectl get failovers`);
  return fo;
}

async function drillStatus(client: KubeClient, name: string | undefined, wait: boolean, io: CliIO): Promise<number> {
  if (!name) {
    const all = (await client.listAll<Failover & KubeObject>(R.Failover)).items;
    const drills = all.filter((f) => f.spec.type === "Drill");
    const pool = drills.length ? drills : all;
    const latest = pool
      .sort(
        (a, b) =>
          (a.metadata.creationTimestamp ?? "").localeCompare(b.metadata.creationTimestamp ?? "") ||
          a.metadata.name.localeCompare(b.metadata.name),
      )
      .pop();
    if (!latest) throw new CliError("no drills or failovers found: start one with kubectl ldc drill start --zone ZONE");
    name = latest.metadata.name;
  }
  if (wait) return follow(client, name, io);
  const fo = await getFailover(client, name);
  io.stdout.write(formatFailoverReport(fo, useColor(io)));
  return 0;
}

async function follow(client: KubeClient, name: string, io: CliIO): Promise<number> {
  const startedAt = Date.now();
  let prev: Failover | undefined;
  io.stdout.write(`following Failover ${name} (Ctrl-C stops following; the failover goes on)\n`);
  for (;;) {
    const fo = await getFailover(client, name);
    for (const line of progressLines(prev, fo, startedAt, Date.now())) io.stdout.write(line + "\n");
    prev = fo;
    if (isFinished(fo)) {
      io.stdout.write("\n" + formatFailoverReport(fo, useColor(io)));
      return fo.status?.phase === "Succeeded" ? 0 : 1;
    }
    await new Promise((r) => setTimeout(r, io.pollMs ?? 1000));
  }
}

async function abort(client: KubeClient, name: string, io: CliIO): Promise<number> {
  const fo = await getFailover(client, name);
  if (isFinished(fo)) {
    throw new CliError(`Failover ${name} already finished (${fo.status?.phase}): there is nothing to abort`);
  }
  if (fo.spec.abort) {
    io.stdout.write(`Failover ${name}: abort was already requested; the operator is rolling it back\n`);
    return 0;
  }
  await client.mergePatch(R.Failover, name, undefined, { spec: { abort: true } });
  const before = fo.status?.epochs?.before;
  const cells = fo.status?.cells?.map((c) => `${c.cell} back to ${c.from}`).join(", ");
  io.stdout.write(
    `failover.ldc.io/${name} abort requested (spec.abort=true, cannot be undone).\n` +
      `The operator stops at the current step${fo.status?.step ? ` (${fo.status.step})` : ""} and rolls back to the last good routing epoch${
        before !== undefined ? ` (${before})` : ""
      }: frozen shards accept writes again${cells ? ` and ${cells}` : " and moved cells return to the zone they came from"}.\n` +
      `Follow it: kubectl ldc drill status ${name} --wait\n`,
  );
  return 0;
}

// ------------------------------------------------------------------ entry

function isEntry(): boolean {
  const argv1 = process.argv[1];
  if (!argv1) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(argv1)).href;
  } catch {
    return false;
  }
}

if (isEntry()) {
  main(process.argv.slice(2), {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    env: process.env,
  }).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`error: ${(err as Error)?.stack ?? String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
