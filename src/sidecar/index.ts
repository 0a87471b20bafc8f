// The cell-router sidecar (ldc-sidecar) as a library: config parsing, the
// table sources, the proxy, and startSidecar. main.ts is the process.

export type { CellType, SidecarConfig } from "./config.ts";
export { ConfigError, OPTIONS, parseConfig, sidecarConfig, usage } from "./config.ts";
export { Lease, parseLeaseMs } from "./lease.ts";
export type { LogFn, LogLevel, SidecarLogger } from "./log.ts";
export { jsonLogger, silentLogger } from "./log.ts";
export type { Outcome, SidecarMetrics } from "./metrics.ts";
export { OUTCOMES, createSidecarMetrics } from "./metrics.ts";
export type { PeerResolver, PeerResolverOptions, Target } from "./peers.ts";
export { createPeerResolver, targetOf } from "./peers.ts";
export {
  ADMIN_PREFIX,
  EPOCH_HEADER,
  FORWARDED_BY_HEADER,
  HOPS_HEADER,
  INTERNAL_HEADER_PREFIX,
  KEY_HEADER,
  invalidKeyAnswer,
} from "./proxy.ts";
export type { Current, OfferResult, TableSourceName } from "./tables.ts";
export { AckReporter, ApiSource, FileSource, TableHolder } from "./tables.ts";
export type { Sidecar, StartOptions } from "./sidecar.ts";
export { startSidecar } from "./sidecar.ts";
