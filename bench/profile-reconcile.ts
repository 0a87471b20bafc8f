// Where the operator's CPU goes under churn: runs bench/reconcile-latency.ts
// with the operator process under `--cpu-prof`, keeps the .cpuprofile and
// prints the functions with the most self time (and the files, summed).
//
//   node_modules/.bin/node bench/profile-reconcile.ts [--top 30] [--out DIR]
//       [any reconcile-latency.ts flag: --seconds 30 --rate 50 ...]
//   node_modules/.bin/node bench/profile-reconcile.ts --analyze FILE.cpuprofile
//
// The profile lands in DIR (default .ldc/profiles/); open it in Chrome
// DevTools (Performance > Load profile) or VS Code for the call tree. Not run
// by `npm run bench` (it is the latency benchmark again, slowed by the profiler).
import { spawn } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { arg, log, nodeBinary, numArg, REPO_DIR, runBench } from "./lib/common.ts";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface SelfTime {
  name: string;
  ms: number;
  share: number;
}

function shortUrl(url: string): string {
  const rel = url.startsWith("file://") ? path.relative(REPO_DIR, new URL(url).pathname) : url;
  return rel || "(native)";
}

/** Self time per function (name + file:line) and per file, from a V8 .cpuprofile. */
export function selfTimes(profile: CpuProfile): { functions: SelfTime[]; files: SelfTime[]; totalMs: number } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const fns = new Map<string, number>();
  const files = new Map<string, number>();
  let total = 0;
  for (const [id, us] of selfUs) {
    const f = byId.get(id)!.callFrame;
    const file = shortUrl(f.url);
    const name = `${f.functionName || "(anonymous)"} ${file}${f.url ? `:${f.lineNumber + 1}` : ""}`;
    fns.set(name, (fns.get(name) ?? 0) + us);
    files.set(file, (files.get(file) ?? 0) + us);
    total += us;
  }
  const rank = (m: Map<string, number>): SelfTime[] =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .map(([name, us]) => ({ name, ms: Math.round(us / 1000), share: Math.round((1000 * us) / total) / 10 }));
  return { functions: rank(fns), files: rank(files), totalMs: Math.round(total / 1000) };
}

function print(file: string, top: number): void {
  const r = selfTimes(JSON.parse(readFileSync(file, "utf8")) as CpuProfile);
  const idle = r.functions.find((f) => f.name.startsWith("(idle)"));
  log(`${file}: ${r.totalMs} ms sampled, idle ${idle?.share ?? 0} %`);
  log(`top ${top} functions by self time:`);
  for (const f of r.functions.slice(0, top)) log(`  ${String(f.share).padStart(5)} %  ${f.ms} ms  ${f.name}`);
  log(`top ${Math.min(top, 15)} files by self time:`);
  for (const f of r.files.slice(0, Math.min(top, 15))) log(`  ${String(f.share).padStart(5)} %  ${f.ms} ms  ${f.name}`);
}

async function main(): Promise<void> {
  const top = numArg("--top", 30);
  const only = arg("--analyze");
  if (only) return print(only, top);
  const out = path.resolve(arg("--out") ?? path.join(REPO_DIR, ".ldc", "profiles"));
  mkdirSync(out, { recursive: true });
  const before = new Set(readdirSync(out));
  const passOn: string[] = [];
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--top" || argv[i] === "--out") i++;
    else passOn.push(argv[i]!);
  }
  const child = spawn(
    nodeBinary(),
    [path.join(REPO_DIR, "bench", "reconcile-latency.ts"), ...passOn, "--cpu-prof-dir", out],
    { cwd: REPO_DIR, stdio: ["ignore", "inherit", "inherit"] },
  );
  const code = await new Promise<number | null>((r) => child.once("exit", r));
  if (code !== 0) throw new Error(`reconcile-latency exited with ${code}`);
  const fresh = readdirSync(out)
    .filter((f) => f.endsWith(".cpuprofile") && !before.has(f))
    .map((f) => path.join(out, f))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  if (fresh.length === 0) throw new Error(`no .cpuprofile written to ${out}`);
  print(fresh[0]!, top);
}

runBench(main);
