// pino structured logs. Controllers log with child loggers carrying
// controller, kind, namespace, name and reconcileID.
import { pino, type Logger } from "pino";

export type { Logger };

export function createLogger(opts: { level?: string; name?: string } = {}): Logger {
  return pino({
    name: opts.name ?? "ldc-operator",
    level: opts.level ?? process.env.LOG_LEVEL ?? "info",
    base: undefined,
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}

/** A logger that drops everything (tests, defaults). */
export const silentLogger: Logger = pino({ level: "silent" });
