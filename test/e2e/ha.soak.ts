// The soak of the high-availability drill verifier (npm run e2e:soak, not in
// CI): on the topology of ha.test.ts (lib/ha-world.ts), repeats randomized
// scenarios for LDC_SOAK_MINUTES (default 10): drills and Emergency failovers
// of random cells, drills whose leader is SIGKILLed at a random step,
// partitions of a random member zone, sidecars that stop hearing the routing
// API during a failover, a zone's relay SIGKILLed and restarted during a
// failover. After each run: the invariants over everything
// recorded so far and the convergence check. A run fails when its scenario
// did not end as expected, the sidecars did not converge, or a new invariant
// violation appeared. Prints the runs by kind and the violations, and last
// `N passed, M failed`. Everything listens on and talks to 127.0.0.1.
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { REPO_DIR } from "../../hack/lib/tools.ts";
import type { Cell, Failover } from "../../src/api/index.ts";
import { HaWorld, KILL_POINTS, MEMBER_ZONES, RELAY_RESTART_POINTS, killPointLabel } from "./lib/ha-world.ts";

const minutes = Number(process.env.LDC_SOAK_MINUTES ?? 10);
if (!Number.isFinite(minutes) || minutes <= 0)
  throw new Error(`LDC_SOAK_MINUTES must be a positive number of minutes, got "${process.env.LDC_SOAK_MINUTES}"`);
const stateDir = path.join(REPO_DIR, ".ldc", `e2e-soak-${process.pid}`);
const t0 = Date.now();
const say = (m: string) => process.stderr.write(`[soak ${((Date.now() - t0) / 1000).toFixed(1).padStart(7)}s] ${m}\n`);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(Math.random() * xs.length)]!;

let world: HaWorld;

beforeAll(async () => {
  world = await HaWorld.start({ stateDir, say, rate: 100 });
}, 300_000);

afterAll(async () => {
  await world?.stop();
}, 120_000);

type Kind = "drill" | "failover" | "drill+leader-kill" | "partition" | "stalled-sidecar" | "relay-restart";
const KINDS: readonly Kind[] = [
  "drill",
  "failover",
  "drill+leader-kill",
  "partition",
  "stalled-sidecar",
  "relay-restart",
];

/**
 * The evidence of a run that found a violation, kept in `.ldc/soak-evidence/`
 * (the world's state directory goes with the process): every table seen
 * (epoch, when, each cell's zone, the frozen shards) and the Cells and
 * Failovers as they are now.
 */
async function keepEvidence(n: number, violations: readonly string[]): Promise<string> {
  const dir = path.join(REPO_DIR, ".ldc", "soak-evidence");
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${new Date(t0).toISOString().replace(/[:.]/g, "-")}-run-${n}.json`);
  const tables = world.tables.epochs().map((epoch) => {
    const t = world.tables.byEpoch.get(epoch)!;
    const frozen = Array.from({ length: t.shards }, (_, shard) => shard).filter((shard) => t.isFrozen(shard));
    return {
      epoch,
      firstSeen: new Date(world.tables.firstSeen.get(epoch)!).toISOString(),
      cells: Object.fromEntries(t.cells.map((c) => [c.name, c.zone])),
      frozenShards: frozen,
    };
  });
  const [cells, failovers] = await Promise.all([world.list<Cell>("Cell"), world.list<Failover>("Failover")]);
  const strip = (o: Cell | Failover) => ({ name: o.metadata.name, spec: o.spec, status: o.status });
  writeFileSync(
    file,
    JSON.stringify({ run: n, violations, tables, cells: cells.map(strip), failovers: failovers.map(strip) }, null, 1),
  );
  return file;
}

/** One scenario; returns what went wrong with its outcome (undefined: as expected). */
async function run(kind: Kind): Promise<string | undefined> {
  const cells = (await world.list<Cell>("Cell")).filter((c) => c.spec.type === "Regional").map((c) => c.metadata.name);
  const cell = pick(cells);
  const ok = (phase: string | undefined, message: string | undefined) =>
    phase === "Succeeded" ? undefined : `ended ${phase}: ${message}`;
  switch (kind) {
    case "drill": {
      const name = await world.createFailover("soak-drill", {
        type: "Drill",
        target: { cells: [cell] },
        drill: { duration: "3s" },
        writeFreeze: "1s",
        reason: "soak",
      });
      say(`  drill ${name} of ${cell}`);
      const fo = await world.finished(name, 240_000);
      return ok(fo.status?.phase, fo.status?.message);
    }
    case "failover": {
      const name = await world.createFailover("soak-failover", {
        type: "Emergency",
        target: { cells: [cell] },
        writeFreeze: "1s",
        reason: "soak",
      });
      say(`  Emergency failover ${name} of ${cell}`);
      const fo = await world.finished(name, 240_000);
      return ok(fo.status?.phase, fo.status?.message);
    }
    case "drill+leader-kill": {
      const point = pick(KILL_POINTS);
      say(`  drill of ${cell}, leader killed at ${killPointLabel(point)}`);
      const r = await world.drillWithLeaderKill(cell, point);
      say(`  new leader after ${r.toNewLeaderMs} ms, served after ${r.toServingMs} ms, drill ${r.totalMs} ms`);
      return ok(r.failover.status?.phase, r.failover.status?.message);
    }
    case "partition": {
      const zone = pick(MEMBER_ZONES);
      say(`  partition of ${zone}`);
      const { failover: fo } = await world.partition(zone);
      return fo ? ok(fo.status?.phase, fo.status?.message) : undefined;
    }
    case "stalled-sidecar": {
      const pod = pick([...world.podRouting.keys()]);
      say(`  sidecar ${pod} stalled during an Emergency failover of ${cell}`);
      const r = await world.failoverWithStalledSidecar(pod, cell);
      return ok(r.failover.status?.phase, r.failover.status?.message);
    }
    case "relay-restart": {
      const point = pick(RELAY_RESTART_POINTS);
      say(`  Emergency failover of ${cell}, the ${point.side} zone's relay killed at ${point.step}`);
      const r = await world.failoverWithRelayRestart(cell, point);
      say(`  relay of ${r.zone} back after ${r.readyAt - r.killedAt} ms, failover ended +${r.endAt - r.killedAt} ms`);
      return ok(r.failover.status?.phase, r.failover.status?.message);
    }
  }
}

it(`soak: randomized high-availability scenarios for ${minutes} minute(s)`, async () => {
  const deadline = Date.now() + minutes * 60_000;
  const byKind = new Map<Kind, { passed: number; failed: number }>();
  const seen = new Set<string>();
  const failures: string[] = [];
  let passed = 0;
  let failed = 0;
  while (Date.now() < deadline) {
    const kind = pick(KINDS);
    const n = passed + failed + 1;
    say(`run ${n}: ${kind}`);
    let problem: string | undefined;
    try {
      problem = await run(kind);
      await world.converged(90_000);
    } catch (e) {
      problem = (e as Error).message;
    }
    const fresh: string[] = [];
    for (const { name, list } of world.violations())
      for (const v of list) {
        if (!seen.has(v)) fresh.push(`${name}: ${v}`);
        seen.add(v);
      }
    if (fresh.length) {
      problem = `${problem ? `${problem}; ` : ""}${fresh.length} new violation(s): ${fresh.slice(0, 5).join(" | ")}`;
      problem += `; evidence in ${await keepEvidence(n, fresh).catch((e: Error) => `(not kept: ${e.message})`)}`;
    }
    const k = byKind.get(kind) ?? { passed: 0, failed: 0 };
    if (problem) {
      failed++;
      k.failed++;
      failures.push(`run ${n} (${kind}): ${problem}`);
      say(`run ${n} FAILED: ${problem}`);
    } else {
      passed++;
      k.passed++;
    }
    byKind.set(kind, k);
  }
  say(`${passed + failed} runs in ${((Date.now() - t0) / 60_000).toFixed(1)} min`);
  for (const [kind, k] of byKind) say(`  ${kind}: ${k.passed} passed, ${k.failed} failed`);
  say(`violations: ${seen.size}`);
  for (const f of failures) say(`  ${f}`);
  process.stderr.write(`${passed} passed, ${failed} failed\n`);
  expect(failures).toEqual([]);
});
