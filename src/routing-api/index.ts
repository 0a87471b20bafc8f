// The operator's HTTP routing API (tables, long-poll, lookups, sidecar acks)
// and the table store it serves. No Kubernetes dependency.

export type { ApiError, AuthRefusal, AuthResult, RoutingApiOptions } from "./api.ts";
export { bearerToken, bearerTokenAuthenticator, createRoutingApi } from "./api.ts";
export type { FencingBounds, LeaseGrants, RelayFencingBounds } from "./fencing.ts";
export {
  DEFAULT_CLOCK_RATE,
  DEFAULT_FENCING_MARGIN_MS,
  DEFAULT_LEASE_MS,
  LEASE_HEADER,
  fencedAt,
  relayFencedAt,
} from "./fencing.ts";
export type {
  Convergence,
  MemoryTableStoreOptions,
  PublishErrorCode,
  RecordedAck,
  RuleSummary,
  SidecarAck,
  TableStore,
} from "./store.ts";
export { MemoryTableStore, TablePublishError, isTablePublishError } from "./store.ts";
