// The sidecar's logger writes what pino wrote for the same calls (log
// pipelines parse these lines), and only at or above its level.
import { Writable } from "node:stream";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { jsonLogger, type LogLevel, type SidecarLogger } from "../../../src/sidecar/log.ts";

function both(level: LogLevel) {
  const mine: Record<string, unknown>[] = [];
  const theirs: Record<string, unknown>[] = [];
  const base = { hostname: "pod-1", cell: "rz01", zone: "hz-a" };
  const a = jsonLogger({ name: "ldc-sidecar", level, base, write: (l) => void mine.push(JSON.parse(l)) });
  const sink = new Writable({
    write(chunk: Buffer, _e, cb) {
      for (const l of chunk.toString().split("\n").filter(Boolean)) theirs.push(JSON.parse(l));
      cb();
    },
  });
  const b = pino(
    { name: "ldc-sidecar", level, base: { pid: process.pid, ...base }, timestamp: pino.stdTimeFunctions.isoTime },
    sink,
  );
  return { mine, theirs, loggers: [a, b] as SidecarLogger[] };
}

describe("jsonLogger", () => {
  it("writes the fields pino writes, errors serialized as pino does", () => {
    const { mine, theirs, loggers } = both("debug");
    const err = Object.assign(new Error("listen EADDRINUSE"), { code: "EADDRINUSE" });
    for (const l of loggers) {
      l.info({ epoch: 3, source: "file" }, "routing table taken");
      l.warn("lease expired");
      l.debug({ result: { ok: true } }, "table file read");
      l.fatal({ err }, "ldc sidecar failed to start");
    }
    const strip = (r: Record<string, unknown>) => {
      const { time, ...rest } = r;
      expect(typeof time).toBe("string");
      return rest;
    };
    expect(mine.map(strip)).toEqual(theirs.map(strip));
    expect(mine[3]!.err).toMatchObject({ type: "Error", message: "listen EADDRINUSE", code: "EADDRINUSE" });
  });

  it("drops what is below its level; silent says nothing", () => {
    const warn = both("warn");
    for (const l of warn.loggers) {
      l.info("hidden");
      l.debug({ a: 1 }, "hidden");
      l.error({ a: 1 }, "shown");
    }
    expect(warn.mine.map((r) => r.msg)).toEqual(["shown"]);
    expect(warn.theirs.map((r) => r.msg)).toEqual(["shown"]);
    const silent = both("silent");
    silent.loggers[0]!.fatal("nothing");
    expect(silent.mine).toEqual([]);
  });
});
