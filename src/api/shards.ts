// Shard range lists in the API: the notation "0-19,40-44" used by
// ShardingRule.spec.assignments[].shards and Cell.status.shards. The grammar
// and the shard limit are the routing core's (the operator and the sidecar
// parse with it), so the CRD accepts exactly what they accept.

export { MAX_SHARDS, SHARD_RANGES_PATTERN } from "../routing/index.ts";

/** Longest shard range list accepted by the API (keeps CEL cost bounded). */
export const SHARD_RANGES_MAX_LENGTH = 512;
