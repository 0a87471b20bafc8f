// The per-zone relay (docs/fencing.md, docs/sidecar.md): import from here.
export { RELAY_LEASE_NAME, RELAY_PORT, RELAY_SERVICE, startRelay } from "./relay.ts";
export type { RelayOptions, RunningRelay } from "./relay.ts";
export { RelayLease, RENEWAL_ANNOTATION, renewalOf } from "./lease.ts";
export type { Renewal } from "./lease.ts";
export { RelayTables, ROUTING_TABLE_SELECTOR } from "./tables.ts";
export { parseRelayConfig } from "./config.ts";
export { ACKS_LABEL, ACKS_SELECTOR, AckConfigMapWriter, AckMap, ackConfigMapName } from "./acks.ts";
export type { AckEntry, AckMapOptions } from "./acks.ts";
export {
  POD_NAME_EXTRA,
  RELAY_AUDIENCE,
  TokenReviewCache,
  podOfReview,
  podTokenAuthenticator,
  tokenReviewer,
} from "./auth.ts";
export type { ReviewOutcome } from "./auth.ts";
