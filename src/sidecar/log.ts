// The sidecar's logger: JSON lines on stdout in pino's shape (level number,
// ISO time, name, the base fields, the object's fields, msg; an `err` as
// {type, message, stack}), without pino: it runs in every pod, and pino with
// its dependencies costs it ~8 MB of RSS (docs/adr/0015-sidecar-footprint.md).
// The library (startSidecar) takes any logger of this shape, pino's included.

/** One level's method: pino's call shapes the sidecar uses. */
export interface LogFn {
  (obj: object, msg?: string): void;
  (msg: string): void;
}

export interface SidecarLogger {
  fatal: LogFn;
  error: LogFn;
  warn: LogFn;
  info: LogFn;
  debug: LogFn;
}

const LEVELS = { fatal: 60, error: 50, warn: 40, info: 30, debug: 20, trace: 10 } as const;
export type LogLevel = keyof typeof LEVELS | "silent";

const noop: LogFn = () => {};
/** Says nothing (the library's default). */
export const silentLogger: SidecarLogger = { fatal: noop, error: noop, warn: noop, info: noop, debug: noop };

function serialize(key: string, value: unknown): unknown {
  if (value instanceof Error) {
    const e = value as Error & { code?: unknown };
    return { type: e.name, message: e.message, stack: e.stack, ...(e.code !== undefined ? { code: e.code } : {}) };
  }
  return key === "err" && value !== null && typeof value === "object" ? { ...value } : value;
}

/** A JSON-lines logger writing `level` and above to `write` (default: stdout). */
export function jsonLogger(o: {
  name: string;
  level: LogLevel;
  base?: Record<string, unknown>;
  write?: (line: string) => void;
}): SidecarLogger {
  const write = o.write ?? ((line: string) => void process.stdout.write(line));
  const min = o.level === "silent" ? Infinity : LEVELS[o.level];
  const make = (level: keyof typeof LEVELS): LogFn => {
    if (LEVELS[level] < min) return noop;
    const n = LEVELS[level];
    return (a: object | string, msg?: string) => {
      const fields = typeof a === "string" ? {} : a;
      const text = typeof a === "string" ? a : msg;
      const rec = {
        level: n,
        time: new Date().toISOString(),
        pid: process.pid,
        name: o.name,
        ...o.base,
        ...fields,
        ...(text !== undefined ? { msg: text } : {}),
      };
      let line: string;
      try {
        line = JSON.stringify(rec, serialize);
      } catch {
        line = JSON.stringify({ level: n, time: rec.time, name: o.name, msg: text, unserializable: true });
      }
      write(`${line}\n`);
    };
  };
  return { fatal: make("fatal"), error: make("error"), warn: make("warn"), info: make("info"), debug: make("debug") };
}
