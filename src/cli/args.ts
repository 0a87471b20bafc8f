// Command-line parsing of kubectl-ldc: pure, so it is unit tested. Every
// error is a UsageError (exit code 2) that names the flag and the fix.
import { parseArgs } from "node:util";
import { tryParseDuration } from "../api/index.ts";

export class UsageError extends Error {
  /** The command whose --help to point at ("" for the top level). */
  readonly command: string;
  constructor(message: string, command = "") {
    super(message);
    this.name = "UsageError";
    this.command = command;
  }
}

/** Connection flags every command takes (kubectl passes them through to plugins). */
export interface GlobalFlags {
  kubeconfig?: string;
  context?: string;
}

export type Target = { zone: string } | { cells: string[] };

export type Command =
  | { name: "help"; topic: string }
  | { name: "status"; rule?: string }
  | {
      name: "drill start";
      target: Target;
      to?: string;
      duration: string;
      freeze?: string;
      failoverName?: string;
      reason?: string;
      skipUnmovable: boolean;
      dryRun: boolean;
      wait: boolean;
    }
  | { name: "drill status"; failoverName?: string; wait: boolean }
  | { name: "drill abort"; failoverName: string }
  | {
      name: "failover";
      target: Target;
      to?: string;
      freeze?: string;
      failoverName?: string;
      reason?: string;
      skipUnmovable: boolean;
      dryRun: boolean;
      yes: boolean;
      wait: boolean;
    }
  | { name: "route"; key: string; rule?: string; method: string }
  | { name: "history"; rule: string }
  | { name: "diff"; rule: string; from: number; to: number }
  | { name: "dashboard"; port: number; open: boolean };

export interface Invocation {
  global: GlobalFlags;
  command: Command;
}

type OptionSpec = Record<string, { type: "string" | "boolean"; short?: string }>;

const GLOBAL_OPTIONS: OptionSpec = {
  kubeconfig: { type: "string" },
  context: { type: "string" },
  help: { type: "boolean", short: "h" },
};

const TARGET_OPTIONS: OptionSpec = {
  zone: { type: "string" },
  cells: { type: "string" },
  to: { type: "string" },
  freeze: { type: "string" },
  name: { type: "string" },
  reason: { type: "string" },
  "skip-unmovable": { type: "boolean" },
  "dry-run": { type: "boolean" },
  wait: { type: "boolean", short: "w" },
};

export const COMMAND_OPTIONS: Record<string, OptionSpec> = {
  status: { rule: { type: "string" } },
  "drill start": { ...TARGET_OPTIONS, duration: { type: "string" } },
  "drill status": { wait: { type: "boolean", short: "w" } },
  "drill abort": {},
  failover: { ...TARGET_OPTIONS, yes: { type: "boolean", short: "y" } },
  route: { rule: { type: "string" }, method: { type: "string", short: "X" } },
  history: {},
  diff: {},
  dashboard: { port: { type: "string" }, open: { type: "boolean" } },
};

const NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Parses argv (without node and the script) into global flags and one command. */
export function parseInvocation(argv: readonly string[]): Invocation {
  // The command words come first (flags may precede them: kubectl ldc --context x status).
  const words: string[] = [];
  for (let i = 0; i < argv.length && words.length < 2; i++) {
    const a = argv[i]!;
    if (a.startsWith("-")) {
      // skip a global flag's separate value
      if ((a === "--kubeconfig" || a === "--context") && i + 1 < argv.length) i++;
      continue;
    }
    words.push(a);
    if (words[0] !== "drill") break;
  }
  const first = words[0];
  let command: string;
  if (first === undefined || first === "help") {
    const topic = first === "help" ? argv.slice(argv.indexOf("help") + 1).filter((a) => !a.startsWith("-")) : [];
    const global = parseFlags(
      argv.filter((a) => a !== "help" && !topic.includes(a)),
      {},
      "",
    );
    return { global: global.global, command: { name: "help", topic: topic.join(" ") } };
  } else if (first === "drill") {
    const sub = words[1];
    if (sub === undefined || !["start", "status", "abort"].includes(sub)) {
      if (argv.includes("--help") || argv.includes("-h")) {
        return { global: {}, command: { name: "help", topic: "drill" } };
      }
      throw new UsageError(
        sub === undefined
          ? 'missing drill command: use "drill start", "drill status" or "drill abort"'
          : `unknown drill command "${sub}": use "drill start", "drill status" or "drill abort"`,
        "drill",
      );
    }
    command = `drill ${sub}`;
  } else if (first in COMMAND_OPTIONS) {
    command = first;
  } else {
    throw new UsageError(`unknown command "${first}": use status, drill, failover, route, history, diff or dashboard`);
  }
  const rest = removeWords(argv, command.split(" "));
  const { global, values, positionals } = parseFlags(rest, COMMAND_OPTIONS[command]!, command);
  if (values.help) return { global, command: { name: "help", topic: command } };
  return { global, command: buildCommand(command, values, positionals) };
}

function removeWords(argv: readonly string[], words: string[]): string[] {
  const out = [...argv];
  for (const w of words) {
    const i = out.indexOf(w);
    if (i >= 0) out.splice(i, 1);
  }
  return out;
}

function parseFlags(
  args: readonly string[],
  spec: OptionSpec,
  command: string,
): { global: GlobalFlags; values: Record<string, string | boolean | undefined>; positionals: string[] } {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...args],
      options: { ...GLOBAL_OPTIONS, ...spec },
      strict: true,
      allowPositionals: true,
    });
  } catch (e) {
    const msg = (e as Error).message.replace(/\.?\s*To specify a positional argument.*$/s, "");
    throw new UsageError(msg, command);
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  const global: GlobalFlags = {};
  if (typeof values.kubeconfig === "string") global.kubeconfig = values.kubeconfig;
  if (typeof values.context === "string") global.context = values.context;
  return { global, values, positionals: parsed.positionals };
}

function str(v: string | boolean | undefined): string | undefined {
  return typeof v === "string" ? v : undefined;
}

function checkDuration(flag: string, v: string | undefined, command: string, positive = false): void {
  if (v === undefined) return;
  const r = tryParseDuration(v);
  if (typeof r === "string" || (positive && r === 0)) {
    throw new UsageError(
      `--${flag} ${JSON.stringify(v)} is not a${positive ? " positive" : ""} duration: write e.g. 5s, 10m, 1h30m`,
      command,
    );
  }
}

function parseTarget(values: Record<string, string | boolean | undefined>, command: string): Target {
  const zone = str(values.zone);
  const cells = str(values.cells);
  if ((zone === undefined) === (cells === undefined)) {
    throw new UsageError("say what to move: exactly one of --zone ZONE or --cells CELL[,CELL...]", command);
  }
  if (zone !== undefined) {
    if (!NAME.test(zone))
      throw new UsageError(`--zone ${JSON.stringify(zone)} is not a zone name (e.g. hz-a)`, command);
    return { zone };
  }
  const list = cells!
    .split(",")
    .map((c) => c.trim())
    .filter((c) => c !== "");
  if (list.length === 0) throw new UsageError("--cells is empty: list cells like --cells rz00,rz01", command);
  for (const c of list) {
    if (!NAME.test(c)) throw new UsageError(`--cells: ${JSON.stringify(c)} is not a cell name (e.g. rz00)`, command);
  }
  if (new Set(list).size !== list.length) throw new UsageError("--cells lists a cell twice", command);
  return { cells: list };
}

function noPositionals(positionals: string[], command: string): void {
  if (positionals.length > 0) {
    throw new UsageError(`unexpected argument "${positionals[0]}"`, command);
  }
}

function buildCommand(
  command: string,
  values: Record<string, string | boolean | undefined>,
  positionals: string[],
): Command {
  switch (command) {
    case "status":
      noPositionals(positionals, command);
      return { name: "status", ...(str(values.rule) ? { rule: str(values.rule)! } : {}) };
    case "drill start":
    case "failover": {
      noPositionals(positionals, command);
      const target = parseTarget(values, command);
      const to = str(values.to);
      if (to !== undefined && !NAME.test(to)) {
        throw new UsageError(`--to ${JSON.stringify(to)} is not a zone name (e.g. hz-b)`, command);
      }
      if (to !== undefined && "zone" in target && target.zone === to) {
        throw new UsageError(`--to must differ from --zone: a failover moves cells out of ${to}`, command);
      }
      checkDuration("freeze", str(values.freeze), command);
      const failoverName = str(values.name);
      if (failoverName !== undefined && (!SUBDOMAIN.test(failoverName) || failoverName.length > 253)) {
        throw new UsageError(
          `--name ${JSON.stringify(failoverName)}: use lower-case letters, digits, - and .`,
          command,
        );
      }
      const common = {
        target,
        ...(to ? { to } : {}),
        ...(str(values.freeze) ? { freeze: str(values.freeze)! } : {}),
        ...(failoverName ? { failoverName } : {}),
        ...(str(values.reason) ? { reason: str(values.reason)! } : {}),
        skipUnmovable: values["skip-unmovable"] === true,
        dryRun: values["dry-run"] === true,
        wait: values.wait === true,
      };
      if (common.dryRun && common.wait)
        throw new UsageError("--dry-run creates nothing to follow: drop --wait", command);
      if (command === "failover") return { name: "failover", ...common, yes: values.yes === true };
      const duration = str(values.duration) ?? "10m";
      checkDuration("duration", duration, command, true);
      return { name: "drill start", ...common, duration };
    }
    case "drill status":
      if (positionals.length > 1) throw new UsageError(`unexpected argument "${positionals[1]}"`, command);
      return {
        name: "drill status",
        ...(positionals[0] ? { failoverName: positionals[0] } : {}),
        wait: values.wait === true,
      };
    case "drill abort":
      if (positionals.length !== 1) {
        throw new UsageError(
          positionals.length === 0
            ? "name the Failover to abort: kubectl ldc drill abort NAME"
            : `unexpected argument "${positionals[1]}"`,
          command,
        );
      }
      return { name: "drill abort", failoverName: positionals[0]! };
    case "route": {
      if (positionals.length !== 1) {
        throw new UsageError(
          positionals.length === 0
            ? "give the routing key (e.g. a user id): kubectl ldc route 20881234"
            : `unexpected argument "${positionals[1]}"`,
          command,
        );
      }
      const method = (str(values.method) ?? "GET").toUpperCase();
      if (!/^[A-Z]+$/.test(method))
        throw new UsageError(`--method ${JSON.stringify(method)} is not an HTTP method`, command);
      return { name: "route", key: positionals[0]!, method, ...(str(values.rule) ? { rule: str(values.rule)! } : {}) };
    }
    case "history":
      if (positionals.length !== 1 || !SUBDOMAIN.test(positionals[0]!))
        throw new UsageError(
          positionals.length === 0
            ? "name the ShardingRule: kubectl ldc history RULE"
            : positionals.length > 1
              ? `unexpected argument "${positionals[1]}"`
              : `${JSON.stringify(positionals[0])} is not a ShardingRule name`,
          command,
        );
      return { name: "history", rule: positionals[0]! };
    case "diff": {
      const [rule, a, b] = positionals;
      const epoch = (v: string | undefined) => (v !== undefined && /^[0-9]{1,15}$/.test(v) ? Number(v) : undefined);
      if (positionals.length !== 3 || !SUBDOMAIN.test(rule!) || epoch(a) === undefined || epoch(b) === undefined)
        throw new UsageError(
          "give the rule and two epochs: kubectl ldc diff RULE E1 E2 (kubectl ldc history RULE lists them)",
          command,
        );
      return { name: "diff", rule: rule!, from: epoch(a)!, to: epoch(b)! };
    }
    case "dashboard": {
      noPositionals(positionals, command);
      const port = str(values.port) ?? "0";
      if (!/^\d{1,5}$/.test(port) || Number(port) > 65535) {
        throw new UsageError(
          `--port ${JSON.stringify(port)} is not a port: give 1-65535, or 0 for a free one`,
          command,
        );
      }
      return { name: "dashboard", port: Number(port), open: values.open === true };
    }
  }
  throw new UsageError(`unknown command "${command}"`);
}

// ------------------------------------------------------------------ help

const CONNECTION = `Connection flags (as kubectl):
  --kubeconfig PATH   kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)
  --context NAME      kubeconfig context (default: the current context)`;

export const HELP: Record<string, string> = {
  history: `kubectl ldc history: the epochs a sharding rule published

Usage:
  kubectl ldc history RULE

Lists the epochs the operator kept (the last 50, fewer for big tables), oldest
first: when each was published, why (the Failover and its step, or a change of
the rule), and what changed from the epoch before (shards that changed owner or
zone, froze or unfroze; cells evacuated or back).

${CONNECTION}`,
  diff: `kubectl ldc diff: compare two epochs of a sharding rule

Usage:
  kubectl ldc diff RULE E1 E2

Shows, from epoch E1 to E2, the shard ranges whose owner (cell@zone) changed,
the shards frozen and unfrozen, the cells and settings that changed. Both
epochs must still be in the rule's history (kubectl ldc history RULE).

${CONNECTION}`,
  "": `kubectl ldc: cells, zones, routing and failover drills of ldc-operator

Usage:
  kubectl ldc status                       zones, cells and which zone serves which shards
  kubectl ldc route KEY [--rule R]         where a request with routing key KEY goes
  kubectl ldc drill start --zone Z         start a failover drill (fails back automatically)
  kubectl ldc drill status [NAME] [-w]     a drill's progress and report (latest if NAME omitted)
  kubectl ldc drill abort NAME             stop a failover or drill and roll back
  kubectl ldc failover --zone Z --yes      an EMERGENCY failover: moves production traffic
  kubectl ldc history RULE                 the epochs a rule published: when, why, what changed
  kubectl ldc diff RULE E1 E2              what changed between two epochs (owners, freezes, cells)
  kubectl ldc dashboard [--open]           a live web console on 127.0.0.1, with your credentials

Run "kubectl ldc COMMAND --help" for a command's flags.

${CONNECTION}

Exit codes: 0 success, 1 failure (API error, not found, a failover that did not succeed), 2 usage error.`,
  status: `kubectl ldc status: zones, cells and routing at a glance

Usage:
  kubectl ldc status [--rule RULE]

Shows every Zone (phase, region, ready nodes, active cells), every Cell (type,
home and active zone, shards, phase, the failover acting on it) and, per
ShardingRule, the published routing table: epoch and which cell@zone serves
each shard range; write-frozen ranges are marked FROZEN.

Flags:
  --rule RULE   only this sharding rule's routing

${CONNECTION}`,
  dashboard: `kubectl ldc dashboard: a live web console on 127.0.0.1

Usage:
  kubectl ldc dashboard [--port PORT] [--open]

Serves a console on http://127.0.0.1:PORT/ (prints the URL) until Ctrl-C:
zones by region, cells, the shard map of every rule with a key lookup, epochs
and convergence, failovers and drills with their step timeline (start a drill
after its dry-run plan and a typed confirmation, or abort one), and rule
history. It watches the clusters with YOUR kubeconfig and acts as you: it can
do nothing your RBAC does not allow, and says what it cannot see and why.
Member clusters are shown where you may read their Zone's kubeconfig Secret.

Flags:
  --port PORT   local port (default 0: a free one)
  --open        open the URL in a browser (xdg-open, open or start)

${CONNECTION}`,
  route: `kubectl ldc route: where a request with a routing key goes

Usage:
  kubectl ldc route KEY [--rule RULE] [--method METHOD]

Reads the rule's routing table as published to the routers (the ConfigMap
labelled ldc.io/routing-table) and prints key -> shard -> cell -> zone -> state.

Flags:
  --rule RULE         the sharding rule (needed when there are several)
  -X, --method METHOD the request's HTTP method (default GET): writes to a
                      write-frozen shard are refused with 503 + Retry-After

${CONNECTION}`,
  drill: `kubectl ldc drill: failover drills

Usage:
  kubectl ldc drill start (--zone ZONE | --cells CELL,...) [--to ZONE] [--duration 10m] [--freeze 5s] [--name NAME] [--reason TEXT] [--wait]
  kubectl ldc drill status [NAME] [--wait]
  kubectl ldc drill abort NAME

Run "kubectl ldc drill start --help" (status, abort) for details.`,
  "drill start": `kubectl ldc drill start: start a failover drill

Creates a Failover of type Drill: Regional and Global cells move to their
destination zone behind a write freeze; City cells (read copies) stay, their
region's reads served by another City cell or the global cell. After
--duration everything fails back the same way.

Usage:
  kubectl ldc drill start (--zone ZONE | --cells CELL,...) [flags]

Flags:
  --zone ZONE         drill every cell active in ZONE
  --cells A,B         drill these cells
  --to ZONE           destination (default: each cell's first healthy standby zone)
  --duration D        how long the cells stay before failing back (default 10m)
  --freeze D          how long writes to the moving shards are refused before the switch (default 5s)
  --name NAME         the Failover's name (default drill-<target>-<time>)
  --reason TEXT       why (kept in the Failover for the audit trail)
  --skip-unmovable    leave cells that cannot move where they are and move the others
                      (default: refuse the whole drill, before anything changes)
  --dry-run           print the plan (cells, destinations, shards, epochs, freeze,
                      capacity of the destinations, refusals); create and change nothing
  -w, --wait          follow the drill until it ends and print the report

${CONNECTION}`,
  "drill status": `kubectl ldc drill status: a drill's progress and report

Usage:
  kubectl ldc drill status [NAME] [--wait]

Without NAME: the most recent drill. The report lists the steps (start, end,
duration, message), the routing epochs, the RTO, how long writes were frozen
and how many requests the routers refused during the freeze (when known).

Flags:
  -w, --wait   follow: one line per step transition, then the report.
               Exit code 1 unless the failover Succeeded.

${CONNECTION}`,
  "drill abort": `kubectl ldc drill abort: stop a failover or drill and roll back

Usage:
  kubectl ldc drill abort NAME

Sets spec.abort=true. The operator stops at the current step and rolls back to
the last good routing epoch: frozen shards accept writes again and moved cells
return to the zone they came from. Abort cannot be undone.

${CONNECTION}`,
  failover: `kubectl ldc failover: an EMERGENCY failover

Moves cells (and so their users' production traffic) to another zone now, with
no automatic failback. Asks for confirmation unless --yes; without a terminal
to ask on, --yes is required.

Usage:
  kubectl ldc failover (--zone ZONE | --cells CELL,...) [flags]

Flags:
  --zone ZONE     move every cell active in ZONE
  --cells A,B     move these cells
  --to ZONE       destination (default: each cell's first healthy standby zone)
  --freeze D      write freeze before the switch (default 5s)
  --reason TEXT   why (kept in the Failover for the audit trail)
  --name NAME     the Failover's name (default failover-<target>-<time>)
  --skip-unmovable  leave cells that cannot move where they are (default: refuse)
  --dry-run       print the plan and change nothing (no confirmation needed)
  -y, --yes       do not ask for confirmation
  -w, --wait      follow the failover until it ends and print the report

${CONNECTION}`,
};

export function helpFor(topic: string): string {
  return HELP[topic] ?? HELP[topic.split(" ")[0] ?? ""] ?? HELP[""]!;
}
