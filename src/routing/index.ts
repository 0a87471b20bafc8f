// The routing core: sharding rules -> routing tables -> routing decisions.
// No Kubernetes dependency: the cell-router sidecar imports this alone.
// The algorithms and formats are specified in docs/routing.md.

export type { RoutingIssue } from "./errors.ts";
export { RoutingRuleError, isRoutingRuleError } from "./errors.ts";
export type { ParseRangesResult, ShardRange } from "./ranges.ts";
export {
  SHARD_RANGES_PATTERN,
  countShards,
  describeRanges,
  expandRanges,
  formatRanges,
  normalizeRanges,
  parseRanges,
  rangesWhere,
} from "./ranges.ts";
export type { HashAlgorithm, ShardFn, ShardFunctionSpec, ShardFunctionType } from "./shard.ts";
export {
  FNV32_OFFSET_BASIS,
  FNV32_PRIME,
  HASH_ALGORITHMS,
  MAX_DIGITS_WIDTH,
  MAX_KEY_BYTES,
  SHARD_FUNCTION_TYPES,
  compileShardFunction,
  digitsShard,
  fnv1a32,
  hashShard,
  moduloShard,
  normalizeShardFunction,
} from "./shard.ts";
export type {
  KeyReader,
  KeyReport,
  KeyResult,
  KeySource,
  KeySourceType,
  KeySpec,
  KeyPattern,
  NormalizedKeySpec,
  RequestLike,
} from "./key.ts";
export {
  KEY_CONFLICT,
  KEY_MALFORMED,
  KEY_MISSING,
  KEY_PATTERN_SYNTAX,
  KEY_SOURCE_TYPES,
  MAX_COOKIE_HEADER_BYTES,
  compileKeyPattern,
  describeKeySource,
  encodeKeyHeader,
  extractKey,
  keyReader,
  newKeyReport,
  normalizeKeySpec,
} from "./key.ts";
export type { CellInfo, CellType, OnInvalidKey, SerializedTable, UnitProtection } from "./table.ts";
export { CELL_TYPES, RoutingTable, TABLE_FORMAT, cityStandIn, isNewerTable, nextEpoch } from "./table.ts";
export type { AssignmentInput, KeySpecInput, RoutingTableInput, ShardFunctionInput } from "./build.ts";
export {
  DEFAULT_FROZEN_RETRY_AFTER_SECONDS,
  DEFAULT_WRITE_METHODS,
  MAX_CELLS,
  MAX_EPOCH,
  MAX_SHARDS,
  TABLE_NAME,
  buildTable,
  describeOwnership,
  parseTable,
  tableAssignments,
  tableToInput,
} from "./build.ts";
export type { SettingsChange, ShardHome, ShardMove, TableDiff } from "./diff.ts";
export { applyDiff, diffTables, summarizeDiff } from "./diff.ts";
export type {
  AppScope,
  ForwardDecision,
  FrozenDecision,
  InvalidKeyDecision,
  LocalDecision,
  RejectDecision,
  RouteContext,
  RouteDecision,
  RouteVia,
  UnroutableDecision,
} from "./route.ts";
export { createRouter, isWriteRequest, route, routeKey } from "./route.ts";
