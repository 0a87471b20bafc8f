#!/usr/bin/env node
// ldc-relay: the per-zone relay as a process (src/relay/relay.ts). Exit codes:
// 0 after SIGTERM/SIGINT or --help, 1 on a startup failure, 2 on an invalid configuration.
import { pino } from "pino";
import { connectionFromFile, defaultConnection, KubeClient } from "../runtime/index.ts";
import { parseRelayConfig, RELAY_USAGE, RelayConfigError } from "./config.ts";
import { startRelay } from "./relay.ts";

async function main(): Promise<void> {
  let config;
  try {
    config = parseRelayConfig(process.argv.slice(2), process.env);
  } catch (e) {
    if (e instanceof RelayConfigError) {
      process.stderr.write(`ldc-relay: invalid configuration: ${e.message}\n(ldc-relay --help lists every setting)\n`);
      process.exit(2);
    }
    throw e;
  }
  if (config === "help") {
    process.stdout.write(RELAY_USAGE);
    process.exit(0);
  }
  const logger = pino({ name: "ldc-relay", level: config.logLevel, timestamp: pino.stdTimeFunctions.isoTime });
  let relay;
  try {
    const connection = config.kubeconfig ? connectionFromFile(config.kubeconfig) : defaultConnection();
    const client = await KubeClient.fromConnection(connection, { userAgent: "ldc-relay" });
    // A Lease GET that hangs must not hold up the next one for long: the lease runs out meanwhile anyway.
    const leaseClient = await KubeClient.fromConnection(connection, { timeoutMs: 2000, userAgent: "ldc-relay/lease" });
    relay = await startRelay({
      client,
      leaseClient,
      namespace: config.namespace,
      host: config.host,
      port: config.port,
      leaseName: config.leaseName,
      pollIntervalMs: config.pollIntervalMs,
      maxLeaseMs: config.maxLeaseMs,
      ...(config.pod ? { pod: config.pod } : {}),
      ...(config.podUid ? { podUid: config.podUid } : {}),
      ...(config.tls ? { tls: config.tls } : {}),
      logger,
    });
  } catch (e) {
    logger.fatal({ err: e }, "ldc-relay failed to start");
    process.exit(1);
  }
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) process.exit(1);
    stopping = true;
    logger.info({ signal }, "shutting down");
    void relay.stop().then(() => process.exit(0));
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

void main();
