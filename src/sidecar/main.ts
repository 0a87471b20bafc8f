#!/usr/bin/env node
// ldc-sidecar: the cell-router sidecar as a process. Reads the environment
// contract (src/reconcilers/sidecar.ts) or flags; `--help` prints them.
// Exit codes: 0 after a clean shutdown (SIGTERM/SIGINT) or --help,
// 1 on a startup failure (e.g. the port is taken), 2 on an invalid configuration.

import os from "node:os";
import { ConfigError, parseConfig, usage } from "./config.ts";
import { jsonLogger, type LogLevel } from "./log.ts";
import { startSidecar } from "./sidecar.ts";

async function main(): Promise<void> {
  let config;
  try {
    config = parseConfig(process.env, process.argv.slice(2), os.hostname());
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(
        `ldc-sidecar: invalid configuration: ${e.message}\n(ldc-sidecar --help lists every setting)\n`,
      );
      process.exit(2);
    }
    throw e;
  }
  if (config === "help") {
    process.stdout.write(usage());
    process.exit(0);
  }
  const logger = jsonLogger({
    name: "ldc-sidecar",
    level: config.logLevel as LogLevel,
    base: { hostname: os.hostname(), cell: config.cell, zone: config.zone },
  });
  let sidecar;
  try {
    sidecar = await startSidecar(config, { logger });
  } catch (e) {
    logger.fatal({ err: e }, "ldc sidecar failed to start");
    process.exit(1);
  }
  let signals = 0;
  const stop = (signal: string): void => {
    signals++;
    if (signals > 1) {
      logger.warn({ signal }, "second signal: exiting now");
      process.exit(1);
    }
    logger.info({ signal, graceSeconds: config.shutdownGraceSeconds }, "shutting down: finishing in-flight requests");
    void sidecar.close().then(() => process.exit(0));
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

void main();
