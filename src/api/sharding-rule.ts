import { z } from "zod";
import {
  cellName,
  conditions,
  immutable,
  keyedList,
  nameSet,
  observedGeneration,
  resource,
  withRules,
  zoneName,
} from "./common.ts";
import { MAX_DIGITS_WIDTH, MAX_KEY_BYTES } from "../routing/index.ts";
import { MAX_SHARDS, SHARD_RANGES_MAX_LENGTH, SHARD_RANGES_PATTERN } from "./shards.ts";

/** HTTP token characters (RFC 9110): header, query parameter and cookie names. */
const TOKEN = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;

export const KeySourceType = z.enum(["Header", "Query", "Cookie"]);
export type KeySourceType = z.infer<typeof KeySourceType>;

export const KeySource = z
  .object({
    type: KeySourceType.describe("Where the key is read from: a request Header, a Query parameter or a Cookie."),
    name: z
      .string()
      .min(1)
      .max(256)
      .regex(TOKEN)
      .describe("Header, query parameter or cookie name, e.g. x-user-id or uid."),
  })
  .describe("One place in a request the routing key is read from.");
export type KeySource = z.infer<typeof KeySource>;

export const RoutingKey = z
  .object({
    sources: withRules(
      z
        .array(KeySource)
        .min(1)
        .max(8)
        .describe("Where to read the routing key, in order: the first source present in a request wins."),
      {
        cel: "self.all(s, self.exists_one(t, t.type == s.type && t.name == s.name))",
        message: "sources must not list the same type and name twice",
        check: (xs) => new Set(xs.map((x) => `${x.type}/${x.name}`)).size === xs.length,
      },
    ),
    pattern: z
      .string()
      .max(256)
      .optional()
      .describe(
        "A regular expression (RE2 syntax, matched in linear time; unanchored: use ^...$) the key must match to be valid, e.g. ^[0-9]{4,20}$. Back-references and look-around are refused.",
      ),
    onInvalidKey: z
      .enum(["Global", "Reject"])
      .default("Reject")
      .describe(
        "What happens to a request that carries no key: Global routes it to spec.globalCell, Reject answers 400. A key that is present but invalid, ambiguous, or given twice with different values is always answered 400, whatever this says.",
      ),
  })
  .describe("How a request's routing key (usually the user id) is found.");
export type RoutingKey = z.infer<typeof RoutingKey>;

export const ShardFunctionType = z.enum(["Digits", "Modulo", "Hash"]);
export type ShardFunctionType = z.infer<typeof ShardFunctionType>;

// The routing core's limits: Digits takes at most MAX_DIGITS_WIDTH digits,
// a routing key has at most MAX_KEY_BYTES bytes.
export { MAX_DIGITS_WIDTH, MAX_KEY_BYTES };

export const ShardFunction = immutable(
  withRules(
    z
      .object({
        type: ShardFunctionType.describe(
          "Digits: a slice of the key's decimal digits read as a number, modulo shards (the classic LDC rule). Modulo: the decimal key as an integer, modulo shards. Hash: a stable hash of the key, modulo shards.",
        ),
        from: z
          .int()
          .min(-MAX_KEY_BYTES)
          .max(MAX_KEY_BYTES)
          .optional()
          .describe(
            "Digits: start of the slice (Python slice semantics): negative counts from the end of the key (-3 is the 3rd-to-last digit), non-negative from the start. A key shorter than the slice is left-padded with zeros.",
          ),
        to: z
          .int()
          .min(-MAX_KEY_BYTES)
          .max(MAX_KEY_BYTES)
          .optional()
          .describe(
            "Digits: end of the slice (exclusive). With a negative from: negative, or omitted for the end of the key (from -3, to -1: uid 1234 gives shard 23). With a non-negative from: required.",
          ),
        algorithm: z
          .enum(["FNV1a32"])
          .optional()
          .describe("Hash: the hash function. Omitted: FNV1a32 (32-bit FNV-1a of the key's UTF-8 bytes)."),
      })
      .describe(
        "How a key becomes a shard number. Immutable: changing it would move keys to other shards; create a new ShardingRule instead.",
      ),
    {
      cel: "self.type != 'Digits' || has(self.from)",
      message: "from is required for type Digits, e.g. from: -3, to: -1 takes the 3rd- and 2nd-to-last digits",
      fieldPath: ".from",
      check: (f) => f.type !== "Digits" || f.from !== undefined,
    },
    {
      cel: "self.type == 'Digits' || (!has(self.from) && !has(self.to))",
      message: "from and to apply only to type Digits: remove them",
      check: (f) => f.type === "Digits" || (f.from === undefined && f.to === undefined),
    },
    {
      cel: "!has(self.from) || self.from >= 0 || !has(self.to) || self.to < 0",
      message:
        "with a negative from, to must be negative or omitted (omitted: up to the last digit; a Python slice -3:0 is empty)",
      fieldPath: ".to",
      check: (f) => f.from === undefined || f.from >= 0 || f.to === undefined || f.to < 0,
    },
    {
      cel: "!has(self.from) || self.from < 0 || has(self.to)",
      message: "with a non-negative from, to is required: the position after the last digit to take",
      fieldPath: ".to",
      check: (f) => f.from === undefined || f.from < 0 || f.to !== undefined,
    },
    {
      cel: "!has(self.from) || !has(self.to) || self.from < self.to",
      message: "to must be greater than from: the slice takes the digits from..to-1 (from -3, to -1 takes two digits)",
      fieldPath: ".to",
      check: (f) => f.from === undefined || f.to === undefined || f.from < f.to,
    },
    {
      cel: `!has(self.from) || (has(self.to) ? self.to : 0) - self.from <= ${MAX_DIGITS_WIDTH}`,
      message: `the Digits slice takes at most ${MAX_DIGITS_WIDTH} digits: use type Modulo for whole ids`,
      check: (f) => f.from === undefined || (f.to ?? 0) - f.from <= MAX_DIGITS_WIDTH,
    },
    {
      cel: "self.type == 'Hash' || !has(self.algorithm)",
      message: "algorithm applies only to type Hash: remove it",
      fieldPath: ".algorithm",
      check: (f) => f.type === "Hash" || f.algorithm === undefined,
    },
  ),
  "function is immutable: changing it would move keys to other shards; create a new ShardingRule instead",
);
export type ShardFunction = z.infer<typeof ShardFunction>;

/** Number of digits a Digits function takes. */
export function digitsTaken(f: ShardFunction): number {
  return f.type === "Digits" && f.from !== undefined ? (f.to ?? 0) - f.from : 0;
}

export const ShardAssignment = z
  .object({
    cell: cellName("A Regional Cell that owns the shards."),
    shards: withRules(
      z
        .string()
        .min(1)
        .max(SHARD_RANGES_MAX_LENGTH)
        .regex(SHARD_RANGES_PATTERN, 'must be shard numbers or low-high ranges separated by commas, e.g. "0-19,40-49"')
        .describe(
          'Shards the cell owns: numbers or low-high ranges separated by commas, without spaces, e.g. "0-19,40-49".',
        ),
      {
        // "0-19,40-49" -> ["0", "-19", "40", "-49"]: a negative entry ends the
        // range the entry before it starts. The one-element outer list binds
        // the split list to `l` (CEL has no let), keeping the cost estimate
        // linear: per-element work is constant.
        cel: "[self.replace('-', ',-').split(',')].all(l, l.all(i, v, !v.startsWith('-') || (i > 0 && int(l[i - 1]) <= -int(v))))",
        message: 'each range must be written low-high, e.g. "20-39" not "39-20"',
        check: (s) =>
          s.split(",").every((r) => {
            const [a, b] = r.split("-");
            return b === undefined || Number(a) <= Number(b);
          }),
      },
    ),
  })
  .describe("Shards owned by one cell.");
export type ShardAssignment = z.infer<typeof ShardAssignment>;

export const HttpMethod = z.enum(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"]);
export type HttpMethod = z.infer<typeof HttpMethod>;

const DIGITS_RULE_MESSAGE =
  "the Digits slice takes too few digits for spec.shards: it must take at least as many digits as the largest shard number (shards - 1) has, e.g. 2 digits for 100 shards";

export const ShardingRuleSpec = withRules(
  z
    .object({
      key: RoutingKey,
      shards: immutable(
        z
          .int()
          .min(1)
          .max(MAX_SHARDS)
          .describe(`Number of shards N; shards are numbered 0..N-1. 1..${MAX_SHARDS}. Immutable.`),
        "shards is immutable: changing it would move keys to other shards; create a new ShardingRule instead",
      ).meta({ printerColumn: { name: "Shards", order: 10 } }),
      function: ShardFunction,
      assignments: keyedList(
        ShardAssignment,
        ["cell"],
        128,
        "Which cell owns which shards, one entry per cell. Every shard 0..N-1 must be owned by exactly one cell (checked by the operator: condition Valid).",
      ).min(1),
      globalCell: cellName(
        "The Global cell: it serves requests without a key when key.onInvalidKey is Global, Global-scope traffic and City-scope writes.",
      ).optional(),
      unitProtection: z
        .enum(["Forward", "Reject"])
        .default("Forward")
        .describe(
          "What a sidecar does with a request for a shard its cell does not own: Forward it to the owning cell, or Reject it (421).",
        ),
      writeMethods: nameSet(
        HttpMethod.describe("An HTTP method."),
        9,
        "HTTP methods that write: refused (503 + Retry-After) for write-frozen shards during a failover.",
      ).default(["POST", "PUT", "PATCH", "DELETE"]),
    })
    .describe("How requests map to shards, and which cell owns each shard."),
  {
    cel: "self.key.onInvalidKey != 'Global' || has(self.globalCell)",
    message:
      "globalCell is required when key.onInvalidKey is Global: name the Global cell, or set onInvalidKey: Reject",
    fieldPath: ".globalCell",
    check: (s) => s.key.onInvalidKey !== "Global" || s.globalCell !== undefined,
  },
  {
    cel: "self.function.type != 'Digits' || !has(self.function.from) || (self.function.from >= 0 && !has(self.function.to)) || (has(self.function.to) && self.function.to <= self.function.from) || (has(self.function.to) ? self.function.to : 0) - self.function.from >= string(self.shards - 1).size()",
    message: DIGITS_RULE_MESSAGE,
    fieldPath: ".function",
    check: (s) =>
      s.function.type !== "Digits" ||
      s.function.from === undefined ||
      (s.function.from >= 0 && s.function.to === undefined) ||
      (s.function.to !== undefined && s.function.to <= s.function.from) ||
      digitsTaken(s.function) >= String(s.shards - 1).length,
  },
  {
    cel: "self.assignments.all(a, a.shards.replace('-', ',').split(',').all(n, int(n) < self.shards))",
    message: "every shard in assignments must be less than spec.shards: shards are numbered 0..shards-1",
    fieldPath: ".assignments",
    check: (s) => s.assignments.every((a) => !SHARD_RANGES_PATTERN.test(a.shards) || numbersBelow(a.shards, s.shards)),
  },
);
export type ShardingRuleSpec = z.infer<typeof ShardingRuleSpec>;

/** The CEL rule above, as written (not the grammar: that is the routing core's parseRanges). */
function numbersBelow(text: string, shards: number): boolean {
  return text.split(/[,-]/).every((n) => Number(n) < shards);
}

export const ShardingRuleStatus = z
  .object({
    observedGeneration: observedGeneration(),
    epoch: z
      .int()
      .min(0)
      .optional()
      .describe("Epoch of the routing table last published for this rule; strictly increasing.")
      .meta({ printerColumn: { name: "Epoch", order: 20 } }),
    tableHash: z.string().max(128).optional().describe("Hash of the published routing table's content."),
    publishedZones: nameSet(zoneName("A Zone name."), 64, "Zones the current epoch has been published to.").optional(),
    sidecars: z
      .object({
        total: z
          .int()
          .min(0)
          .describe("Sidecars that report to the operator.")
          .meta({ printerColumn: { name: "Sidecars", order: 40, priority: 1 } }),
        converged: z
          .int()
          .min(0)
          .describe("Sidecars that hold the current epoch.")
          .meta({ printerColumn: { name: "Converged", order: 30 } }),
      })
      .optional()
      .describe("How many sidecars hold the current epoch."),
    conditions: conditions(
      "Standard conditions: Valid (every shard owned by exactly one existing Regional cell), Published (the current epoch reached every zone).",
    ).optional(),
  })
  .describe("The routing table published for this rule.");
export type ShardingRuleStatus = z.infer<typeof ShardingRuleStatus>;

export const ShardingRule = resource("ShardingRule", "dns1123Label", ShardingRuleSpec, ShardingRuleStatus);
export type ShardingRule = z.infer<typeof ShardingRule>;
export type ShardingRuleInput = z.input<typeof ShardingRule>;
