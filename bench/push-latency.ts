// Push latency: time from MemoryTableStore.publish to every one of N running
// sidecars holding the new epoch, through the routing API's long-poll.
//
//   node bench/push-latency.ts [--sidecars 50] [--procs 5] [--publishes 30]
//
// The store and the routing API (express, as the operator mounts it) run in
// this process; the sidecars run in --procs child processes (N/procs each,
// in-process sidecars sharing that child's event loop), as sidecars in real
// pods do not share the operator's CPU time. Each child reports every table
// swap with a wall-clock timestamp (performance.timeOrigin + now(), same clock
// across processes on one machine); the publish is stamped the same way.
// Reports p50/p99 over the publishes of the time until ALL sidecars hold the
// epoch, and of the per-sidecar delivery time. One JSON line; nothing asserted.

import { fork, type ChildProcess } from "node:child_process";
import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import os from "node:os";
import express from "express";
import { MemoryTableStore, bearerTokenAuthenticator, createRoutingApi } from "../src/routing-api/index.ts";
import type { CellInfo, RoutingTable } from "../src/routing/index.ts";
import { buildTable } from "../src/routing/index.ts";
import type { Sidecar } from "../src/sidecar/index.ts";
import { sidecarConfig, startSidecar } from "../src/sidecar/index.ts";

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 ? (process.argv[i + 1] ?? def) : def;
}

const now = (): number => performance.timeOrigin + performance.now();

const CELLS: CellInfo[] = Array.from({ length: 10 }, (_, i) => ({
  name: `rz${String(i).padStart(2, "0")}`,
  type: "Regional" as const,
  zone: ["hz-a", "hz-b", "sh-a"][i % 3]!,
  region: i % 3 === 2 ? "shanghai" : "hangzhou",
}));

/** Epoch e: shards in blocks of 10 per cell, with block (e mod 10) frozen, so every epoch differs. */
function table(epoch: number): RoutingTable {
  return buildTable({
    ruleName: "users",
    shards: 100,
    function: { type: "Digits", from: -3, to: -1 },
    key: [{ type: "Header", name: "x-user-id" }],
    assignments: CELLS.map((c, i) => ({ cell: c.name, shards: `${i * 10}-${i * 10 + 9}` })),
    cells: CELLS,
    frozenShards: `${(epoch % 10) * 10}-${(epoch % 10) * 10 + 9}`,
    epoch,
  });
}

/** Child: `count` sidecars long-polling `api`; reports swaps over IPC. */
async function runChild(api: string, count: number, offset: number): Promise<void> {
  const sidecars: Sidecar[] = [];
  for (let i = 0; i < count; i++) {
    const cell = CELLS[(offset + i) % CELLS.length]!;
    const id = offset + i;
    sidecars.push(
      await startSidecar(
        sidecarConfig({
          appUrl: "http://127.0.0.1:9",
          rule: "users",
          cell: cell.name,
          zone: cell.zone,
          region: cell.region,
          routingApi: api,
          routingToken: "bench",
          sidecarId: `bench-${id}`,
          ackIntervalSeconds: 3600,
        }),
        { onTableSwap: (t) => process.send!({ id, epoch: t.epoch, t: now() }) },
      ),
    );
  }
  process.send!({ ready: count });
  process.on("message", (m) => {
    if ((m as { stop?: boolean }).stop) void Promise.all(sidecars.map((s) => s.close())).then(() => process.exit(0));
  });
}

function pct(xs: number[], p: number): number {
  const s = xs.slice().sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
}
const ms = (x: number): number => Math.round(x * 100) / 100;

async function main(): Promise<void> {
  if (arg("--role", "") === "child") {
    return runChild(arg("--api", ""), Number(arg("--count", "10")), Number(arg("--offset", "0")));
  }
  const total = Number(arg("--sidecars", "50"));
  const procs = Math.min(total, Number(arg("--procs", "5")));
  const publishes = Number(arg("--publishes", "30"));

  const store = new MemoryTableStore();
  store.publish(table(1));
  const app = express();
  app.use(createRoutingApi(store, { authenticate: bearerTokenAuthenticator(["bench"]) }));
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, "127.0.0.1", () => resolve(s));
  });
  const api = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  // swaps[epoch] = id -> time the sidecar took it
  const swaps = new Map<number, Map<number, number>>();
  let notify: (() => void) | undefined;
  const children: ChildProcess[] = [];
  let ready = 0;
  const per = Math.ceil(total / procs);
  for (let p = 0; p < procs; p++) {
    const count = Math.min(per, total - p * per);
    if (count <= 0) break;
    const c = fork(
      import.meta.filename,
      ["--role", "child", "--api", api, "--count", String(count), "--offset", String(p * per)],
      {
        stdio: ["ignore", "inherit", "inherit", "ipc"],
      },
    );
    c.on("message", (m) => {
      const msg = m as { ready?: number; id?: number; epoch?: number; t?: number };
      if (msg.ready !== undefined) ready += msg.ready;
      else {
        let e = swaps.get(msg.epoch!);
        if (e === undefined) swaps.set(msg.epoch!, (e = new Map()));
        e.set(msg.id!, msg.t!);
      }
      notify?.();
    });
    children.push(c);
  }
  const until = async (cond: () => boolean): Promise<void> => {
    // Woken by a child's message, or every 2 ms (the store's waiter count changes without one).
    while (!cond()) {
      await new Promise<void>((r) => {
        notify = r;
        setTimeout(r, 2);
      });
    }
    notify = undefined;
  };
  try {
    await until(() => ready === total && (swaps.get(1)?.size ?? 0) === total);
    const allMs: number[] = [];
    const eachMs: number[] = [];
    for (let i = 0; i < publishes; i++) {
      const epoch = 2 + i;
      // Let every sidecar re-issue its long-poll first (a steady state, as in production).
      await until(() => store.waiters("users") === total);
      const t0 = now();
      store.publish(table(epoch));
      await until(() => (swaps.get(epoch)?.size ?? 0) === total);
      const times = [...swaps.get(epoch)!.values()].map((t) => t - t0);
      allMs.push(Math.max(...times));
      eachMs.push(...times);
      await new Promise((r) => setTimeout(r, 50));
    }
    const report = {
      bench: "push-latency",
      node: process.version,
      cpu: os.cpus()[0]?.model ?? "unknown",
      cpus: os.cpus().length,
      loadavg: os.loadavg().map((l) => Number(l.toFixed(2))),
      sidecars: total,
      processes: children.length,
      publishes,
      allSidecarsMs: { p50: ms(pct(allMs, 50)), p99: ms(pct(allMs, 99)), max: ms(Math.max(...allMs)) },
      perSidecarMs: { p50: ms(pct(eachMs, 50)), p99: ms(pct(eachMs, 99)) },
      summary: {
        allP50Ms: ms(pct(allMs, 50)),
        allP99Ms: ms(pct(allMs, 99)),
        perSidecarP50Ms: ms(pct(eachMs, 50)),
        perSidecarP99Ms: ms(pct(eachMs, 99)),
      },
    };
    process.stdout.write(`${JSON.stringify(report)}\n`);
  } finally {
    for (const c of children) c.send({ stop: true });
    await Promise.all(children.map((c) => new Promise((r) => c.once("exit", r))));
    server.closeAllConnections();
    server.close();
  }
}

await main();
