import { z } from "zod";
import {
  conditions,
  duration,
  immutable,
  name,
  nameSet,
  observedGeneration,
  resource,
  withRules,
  zoneName,
} from "./common.ts";
import { SHARD_RANGES_MAX_LENGTH, SHARD_RANGES_PATTERN } from "./shards.ts";

export const CellType = z.enum(["Regional", "Global", "City"]);
export type CellType = z.infer<typeof CellType>;

export const CellPhase = z.enum(["Pending", "Ready", "Degraded", "FailingOver", "Unavailable"]);
export type CellPhase = z.infer<typeof CellPhase>;

export const FailoverMode = z.enum(["Manual", "Automatic"]);
export type FailoverMode = z.infer<typeof FailoverMode>;

export const CellFailoverPolicy = z
  .object({
    mode: FailoverMode.default("Manual").describe(
      "Manual: only a Failover object moves the cell. Automatic: when the active zone is Unreachable for the zone's failureThreshold, the operator creates an Emergency Failover to the first healthy standby zone.",
    ),
    cooldown: duration("Minimum time between two automatic failovers of this cell (prevents flapping).").default("10m"),
  })
  .describe("How the cell fails over.");

export const CellSpec = withRules(
  z
    .object({
      type: immutable(
        CellType.describe(
          "Regional (RZone: owns user shards), Global (GZone: data that cannot be split by user, one active copy) or City (CZone: a per-region read copy of global data). Immutable.",
        ),
        "type is immutable: create a new Cell instead",
      ).meta({ printerColumn: { name: "Type", order: 10 }, selectableField: true }),
      zone: zoneName("The home zone: where the cell is active when no failover is in effect.").meta({
        printerColumn: { name: "Home", order: 15, priority: 1 },
        selectableField: true,
      }),
      standbyZones: nameSet(
        zoneName("A Zone name."),
        8,
        "Zones the cell can fail over to, in order of preference; a warm standby of every app runs in each. Must not contain the home zone.",
      ).optional(),
      failover: CellFailoverPolicy.prefault({}),
      standbyReplicas: z
        .int()
        .min(0)
        .max(1000)
        .optional()
        .describe(
          "Replicas of every app's standby in each standby zone, overriding the CellApps' spec.standbyReplicas. Omitted: each CellApp decides (default 1).",
        ),
    })
    .describe("A cell (unit): a logical unit of capacity, active in one zone, with standby zones to fail over to."),
  {
    cel: "!has(self.standbyZones) || !(self.zone in self.standbyZones)",
    message: "standbyZones must not contain the home zone (spec.zone): list only other zones to fail over to",
    fieldPath: ".standbyZones",
    check: (s) => !(s.standbyZones ?? []).includes(s.zone),
  },
);
export type CellSpec = z.infer<typeof CellSpec>;

export const CellStatus = z
  .object({
    observedGeneration: observedGeneration(),
    activeZone: zoneName(
      "The zone the cell serves from: spec.zone, or a standby zone after a failover. Recorded once the switch is acknowledged by the routers; while a Failover runs, failoverRef names it and `kubectl ldc status` shows the cell's effective zone and write freeze.",
    )
      .optional()
      .meta({ printerColumn: { name: "Active", order: 20 }, selectableField: true }),
    phase: CellPhase.optional()
      .describe("Pending, Ready, Degraded (some apps not ready), FailingOver (a Failover is moving it) or Unavailable.")
      .meta({ printerColumn: { name: "Phase", order: 40 } }),
    shards: z
      .string()
      .max(SHARD_RANGES_MAX_LENGTH)
      .regex(SHARD_RANGES_PATTERN)
      .optional()
      .describe('Shards the cell owns in the current routing table, as ranges like "0-19,40-44" (Regional cells).')
      .meta({ printerColumn: { name: "Shards", order: 30 } }),
    shardCount: z.int().min(0).optional().describe("Number of shards the cell owns."),
    failoverRef: name("dns1123Subdomain", "The Failover acting on the cell now: at most one at a time.")
      .optional()
      .meta({ printerColumn: { name: "Failover", order: 60 } }),
    evacuated: z
      .boolean()
      .optional()
      .describe(
        "City cells: a failover evacuated the cell's zone, so the cell serves nothing and its region's City-scope reads go to another region's City cell or the global cell (docs/routing.md). Recorded when the switch is over; cleared by the drill's failback, or by a failover targeting the cell.",
      ),
    lastFailoverTime: z.iso
      .datetime({ offset: true })
      .optional()
      .describe("When the cell last switched zones (the automatic failover cooldown counts from here)."),
    conditions: conditions("Standard conditions: Valid (spec references resolve), Ready.").optional(),
  })
  .describe(
    "Where the cell is active and what it owns. activeZone is the durable record of where the cell lives, written when a failover's switch is over; while a Failover runs, its status is the record (failoverRef names it, kubectl ldc status shows the cell's effective zone and write freeze).",
  );
export type CellStatus = z.infer<typeof CellStatus>;

export const Cell = resource("Cell", "dns1123Label", CellSpec, CellStatus);
export type Cell = z.infer<typeof Cell>;
export type CellInput = z.input<typeof Cell>;
