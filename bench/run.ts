// Runs every benchmark (bench/*.ts except this file), each in its own child
// process on the pinned Node (node_modules/.bin/node), collects the JSON line
// each prints, and prints a summary table, then the JSON lines.
//
//   npm run bench                   all benchmarks
//   npm run bench -- sidecar push   only those whose name contains "sidecar" or "push"
//
// Benchmarks report figures; nothing here passes or fails on a figure. The
// exit code is 1 only if a benchmark crashed or printed no JSON line.

import { spawn } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "..");
const benchDir = path.join(root, "bench");
const pinnedNode = path.join(root, "node_modules", ".bin", "node");
const nodeBin = existsSync(pinnedNode) ? pinnedNode : process.execPath;

const filters = process.argv.slice(2).filter((a) => !a.startsWith("-"));
const benches = readdirSync(benchDir)
  // profile-*.ts re-run a benchmark under a profiler: run by hand.
  .filter((f) => f.endsWith(".ts") && f !== "run.ts" && !f.startsWith(".") && !f.startsWith("profile-"))
  .map((f) => f.slice(0, -3))
  .filter((name) => filters.length === 0 || filters.some((f) => name.includes(f)))
  .sort();

if (benches.length === 0) {
  console.error(`no benchmark matches ${filters.join(", ")}; available: ${readdirSync(benchDir).join(", ")}`);
  process.exit(2);
}

interface Outcome {
  name: string;
  ok: boolean;
  seconds: number;
  result?: Record<string, unknown>;
  error?: string;
}

function runOne(name: string): Promise<Outcome> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const child = spawn(nodeBin, [path.join(benchDir, `${name}.ts`)], {
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString()));
    child.stderr.on("data", (c: Buffer) => {
      err += c.toString();
      process.stderr.write(c);
    });
    child.on("close", (code) => {
      const seconds = Math.round((performance.now() - t0) / 100) / 10;
      let result: Record<string, unknown> | undefined;
      for (const line of out.trim().split("\n").reverse()) {
        try {
          const v = JSON.parse(line) as unknown;
          if (typeof v === "object" && v !== null && !Array.isArray(v)) {
            result = v as Record<string, unknown>;
            break;
          }
        } catch {
          // not the JSON line
        }
      }
      if (code === 0 && result !== undefined) resolve({ name, ok: true, seconds, result });
      else {
        const why = result === undefined ? "printed no JSON line" : `exited with ${code}`;
        resolve({
          name,
          ok: false,
          seconds,
          error: `${why}${err ? `: ${err.trim().split("\n").slice(-3).join(" | ")}` : ""}`,
        });
      }
    });
  });
}

/** The headline figures: the bench's `summary`, else its numeric leaves that look like figures. */
function headline(r: Record<string, unknown>): string {
  const summary = r.summary;
  const pairs: [string, unknown][] = [];
  if (typeof summary === "object" && summary !== null) pairs.push(...Object.entries(summary));
  else {
    const walk = (o: unknown, prefix: string, depth: number): void => {
      if (typeof o !== "object" || o === null || depth > 3) return;
      for (const [k, v] of Object.entries(o)) {
        const key = prefix ? `${prefix}.${k}` : k;
        if (typeof v === "number" && /opsPerSec|p50|p99|Us$|Ms$|rate/i.test(k)) pairs.push([key, v]);
        else if (typeof v === "boolean" && prefix.startsWith("meets")) pairs.push([key, v]);
        else walk(v, key, depth + 1);
      }
    };
    walk(r, "", 0);
  }
  return pairs
    .slice(0, 12)
    .map(([k, v]) => `${k}=${typeof v === "number" ? Number(v.toPrecision(4)) : String(v)}`)
    .join("  ");
}

const outcomes: Outcome[] = [];
for (const name of benches) {
  process.stderr.write(`bench: ${name} …\n`);
  outcomes.push(await runOne(name));
}

const rows = outcomes.map((o) => [
  o.name,
  o.ok ? "ok" : "FAILED",
  `${o.seconds}s`,
  o.ok ? headline(o.result!) : o.error!,
]);
const widths = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i]!.length), ["bench", "status", "time"][i]!.length));
const line = (cells: string[]): string => cells.map((c, i) => (i < 3 ? c.padEnd(widths[i]!) : c)).join("  ");
console.log(line(["bench", "status", "time", "figures"]));
for (const r of rows) console.log(line(r));
console.log("");
for (const o of outcomes) if (o.ok) console.log(JSON.stringify(o.result));
process.exit(outcomes.every((o) => o.ok) ? 0 : 1);
