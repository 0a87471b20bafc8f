import { z } from "zod";
import {
  QUALIFIED_NAME,
  name,
  cellName,
  conditions,
  duration,
  keyedList,
  nameSet,
  observedGeneration,
  positiveDuration,
  resource,
  withRules,
  withTransitionRule,
  zoneName,
} from "./common.ts";

/** The longest Failover status message (status.message and each step's) the CRD accepts. */
export const FAILOVER_MESSAGE_MAX_LENGTH = 4096;
/** The longest spec.reason of a Failover the CRD accepts. */
export const FAILOVER_REASON_MAX_LENGTH = 1024;

export const FailoverType = z.enum(["Emergency", "Drill"]);
export type FailoverType = z.infer<typeof FailoverType>;

export const FailoverPhase = z.enum(["Pending", "Running", "Succeeded", "Failed", "RolledBack", "Aborted", "Planned"]);
export type FailoverPhase = z.infer<typeof FailoverPhase>;

/** The failover state machine's steps, in order (see docs/ldc-model: "What the operator does"). */
export const FailoverStep = z.enum([
  "Preflight",
  "ScaleUpStandby",
  "Freeze",
  "WaitReplication",
  "Switch",
  "WaitAcknowledge",
  "ScaleDownOld",
  "DrillWait",
  "Failback",
  "Done",
]);
export type FailoverStep = z.infer<typeof FailoverStep>;

export const StepPhase = z.enum(["Pending", "Running", "Succeeded", "Failed", "Skipped"]);
export type StepPhase = z.infer<typeof StepPhase>;

export const FailoverTarget = withRules(
  z
    .object({
      zone: zoneName("Move every cell active in this zone.").optional(),
      cells: nameSet(cellName("A Cell name."), 64, "Move these cells.").min(1).optional(),
    })
    .describe("What to move: every cell active in a zone, or a list of cells. Exactly one of zone or cells."),
  {
    cel: "has(self.zone) != has(self.cells)",
    message: "set exactly one of target.zone or target.cells",
    check: (t) => (t.zone !== undefined) !== (t.cells !== undefined),
  },
);
export type FailoverTarget = z.infer<typeof FailoverTarget>;

export const FailoverDestination = z
  .object({
    zone: zoneName("Move every target cell to this zone; it should be one of each cell's standbyZones.").optional(),
  })
  .describe("Where to move the cells. Omitted: each cell's first healthy, uncordoned standby zone.");

export const ReplicationGate = z
  .object({
    annotation: z
      .string()
      .max(317)
      .regex(QUALIFIED_NAME)
      .optional()
      .describe(
        "An annotation key, on each moving Cell, whose value the data layer keeps set to the replication lag (a Go duration) towards the destination zone.",
      ),
    maxLag: duration("The gate opens when the reported lag is at most this.").optional(),
    timeout: positiveDuration(
      "Give up (and roll back) if the gate has not opened after this long. Omitted: timeouts.step.",
    ).optional(),
  })
  .describe("Wait, while writes are frozen, until the destination's data has caught up.");

const httpUrl = (description: string) =>
  z
    .string()
    .max(2048)
    .regex(/^https?:\/\/[^\s/?#]+[^\s]*$/, "must be an http:// or https:// URL")
    .describe(description);

export const AbortCheck = z
  .object({
    name: name("dns1123Label", "The check's name, in status and the report."),
    http: z
      .object({
        url: httpUrl("Fails when it does not answer 2xx within the timeout."),
      })
      .optional()
      .describe("An HTTP probe (GET)."),
    prometheus: z
      .object({
        url: httpUrl("The Prometheus server, e.g. http://prometheus.monitoring:9090."),
        query: z.string().min(1).max(4096).describe("A PromQL instant query (/api/v1/query)."),
        above: z.number().optional().describe("Fails when any sample is above this."),
        below: z.number().optional().describe("Fails when any sample is below this."),
      })
      .optional()
      .describe("A Prometheus query with a threshold; no sample at all fails it too (the drill cannot be shown safe)."),
    interval: positiveDuration("How often it runs.").default("10s"),
    timeout: positiveDuration("How long one run may take.").default("5s"),
    failureThreshold: z.int().min(1).max(100).default(1).describe("Consecutive failures that abort the drill."),
  })
  .describe("A check that aborts the failover (rolling back, or failing back) when it fails during it.");
export type AbortCheck = z.infer<typeof AbortCheck>;

const FailoverTypeField = FailoverType.describe(
  "Emergency: a zone is lost or must be drained now. Drill: planned, fails back automatically after drill.duration.",
);

/** The spec's fields; `type` carries the printer column only in the Failover kind itself (not in templates). */
function failoverSpecFields(printerHints: boolean) {
  return {
    target: FailoverTarget,
    destination: FailoverDestination.optional(),
    type: printerHints
      ? FailoverTypeField.meta({ printerColumn: { name: "Type", order: 5 }, selectableField: true })
      : FailoverTypeField,
    drill: z
      .object({
        duration: positiveDuration("How long the cells stay in the destination before failing back."),
      })
      .optional()
      .describe("Drill settings; required when type is Drill."),
    writeFreeze: duration(
      "How long writes to the moving shards are refused (503 + Retry-After) before the switch, so in-flight writes drain and replicate.",
    ).default("5s"),
    replicationGate: ReplicationGate.optional(),
    fencedZones: z
      .array(zoneName("A zone declared unable to accept writes."))
      .max(64)
      .optional()
      .describe(
        "Zones you declare unable to accept writes (powered off, or cut off from their users too), whose sidecars hold no routing lease: the switch does not wait for them to be fenced. Needed only for an unreachable zone whose sidecars have no routing API (docs/fencing.md); a wrong declaration can let two cells write the same user's data.",
      ),
    timeouts: z
      .object({
        step: positiveDuration(
          "Maximum time for one step; a step that takes longer fails the failover, which rolls back.",
        ).default("2m"),
      })
      .prefault({})
      .describe("Time limits."),
    abortChecks: keyedList(
      withRules(AbortCheck, {
        cel: "has(self.http) != has(self.prometheus) && (!has(self.prometheus) || has(self.prometheus.above) || has(self.prometheus.below))",
        message: "set exactly one of http or prometheus, and prometheus needs above or below",
        check: (c) =>
          (c.http !== undefined) !== (c.prometheus !== undefined) &&
          (c.prometheus === undefined || c.prometheus.above !== undefined || c.prometheus.below !== undefined),
      }),
      ["name"],
      16,
      "Checks run while the failover runs (until a drill fails back): one that fails aborts it, with its reason in status.abortedBy and the report. Meant for drills.",
    ).optional(),
    onUnmovable: z
      .enum(["Refuse", "Skip"])
      .optional()
      .describe(
        "Default Refuse. A target cell that cannot move (no healthy destination; a City cell with no other City cell or global cell to serve its reads): Refuse fails the failover at Preflight, before anything changes; Skip leaves that cell where it is (listed in status.skipped) and moves the others.",
      ),
    dryRun: z
      .boolean()
      .optional()
      .describe(
        "Plan only: the operator writes the plan (status.plan: cells, destinations, shards, epochs, freeze, capacity, refusals) and phase Planned, and changes nothing else.",
      ),
    abort: z
      .boolean()
      .default(false)
      .describe(
        "Set to true to stop the failover and roll back to the last good epoch. The only field that may change after creation.",
      ),
    reason: z
      .string()
      .max(FAILOVER_REASON_MAX_LENGTH)
      .optional()
      .describe("Why this failover was started (free text, for the audit trail)."),
  };
}

function failoverSpecSchema(printerHints: boolean) {
  return withRules(
    z
      .object(failoverSpecFields(printerHints))
      .describe("A failover or failover drill: move cells from one zone to another."),
    {
      cel: "(self.type == 'Drill') == has(self.drill)",
      message: "type Drill requires drill.duration, and drill applies only to type Drill",
      fieldPath: ".drill",
      check: (s) => (s.type === "Drill") === (s.drill !== undefined),
    },
    {
      cel: "!has(self.destination) || !has(self.destination.zone) || !has(self.target.zone) || self.destination.zone != self.target.zone",
      message: "destination.zone must differ from target.zone: a failover moves cells out of the target zone",
      fieldPath: ".destination.zone",
      check: (s) =>
        s.destination?.zone === undefined || s.target.zone === undefined || s.destination.zone !== s.target.zone,
    },
  );
}

/** The Failover spec without its immutability rules or printer hints: a DrillSchedule's template. */
export const FailoverSpecBase = failoverSpecSchema(false);
export type FailoverSpec = z.infer<typeof FailoverSpecBase>;

/** CEL: every spec field except abort keeps its value (and its presence) across updates. */
export const FAILOVER_IMMUTABLE_RULE = Object.keys(failoverSpecFields(false))
  .filter((k) => k !== "abort")
  .map((k) => `(has(self.${k}) == has(oldSelf.${k}) && (!has(self.${k}) || self.${k} == oldSelf.${k}))`)
  .join(" && ");

export const FailoverSpec = withTransitionRule(
  failoverSpecSchema(true),
  FAILOVER_IMMUTABLE_RULE,
  "spec is immutable except spec.abort: to change a failover, abort it and create a new one",
).meta({
  "x-kubernetes-validations": [
    { rule: "!oldSelf.abort || self.abort", message: "abort cannot be undone: once true it stays true" },
  ],
});

export const FailoverStepStatus = z
  .object({
    name: FailoverStep.describe("The step."),
    phase: StepPhase.describe("Pending, Running, Succeeded, Failed or Skipped."),
    startTime: z.iso.datetime({ offset: true }).optional().describe("When the step started."),
    endTime: z.iso.datetime({ offset: true }).optional().describe("When the step ended."),
    message: z.string().max(FAILOVER_MESSAGE_MAX_LENGTH).optional().describe("What the step did or why it failed."),
  })
  .describe("One step of the failover.");
export type FailoverStepStatus = z.infer<typeof FailoverStepStatus>;

export const FailoverCellStatus = z
  .object({
    cell: cellName("The Cell."),
    from: zoneName("The zone the cell was active in before the failover."),
    to: zoneName(
      "The zone the cell moves to (a City cell's own zone: it does not move, its reads are served elsewhere).",
    ),
    evacuate: z
      .boolean()
      .optional()
      .describe(
        "City cells: true, the cell's region's City-scope reads go to its stand-in (another region's City cell, or the global cell) from the switch on, without a write freeze; false, they come back to it.",
      ),
  })
  .describe("One moving cell.");
export type FailoverCellStatus = z.infer<typeof FailoverCellStatus>;

const epoch = (description: string) => z.int().min(0).optional().describe(description);

const planText = (description: string) => z.string().max(FAILOVER_MESSAGE_MAX_LENGTH).describe(description);

/** What a Failover would do, written by a dry run (spec.dryRun) and printed by `kubectl ldc ... --dry-run`. */
export const FailoverPlan = z
  .object({
    cells: z
      .array(
        z
          .object({
            cell: cellName("The Cell."),
            type: z.enum(["Regional", "Global", "City"]).describe("The cell's type."),
            from: zoneName("The zone it is active in now."),
            to: zoneName("Where it moves (a City cell: its own zone, it does not move).").optional(),
            servedBy: z
              .string()
              .max(1024)
              .optional()
              .describe("A City cell: who serves its region's City-scope reads while evacuated, per rule."),
            shards: z
              .array(
                z
                  .object({
                    rule: z.string().max(253).describe("The ShardingRule."),
                    ranges: planText("The shards the cell owns in that rule."),
                    count: z.int().min(0).describe("How many."),
                    percent: z.number().min(0).max(100).describe("Their share of the rule's key space, in percent."),
                  })
                  .describe("The cell's shards in one rule."),
              )
              .max(64)
              .optional()
              .describe("The shards that move with the cell (Regional cells)."),
          })
          .describe("One cell the failover would move."),
      )
      .max(4096)
      .meta({ "x-kubernetes-list-type": "atomic" })
      .optional()
      .describe("The cells it would move, and where."),
    rules: z
      .array(
        z
          .object({
            rule: z.string().max(253).describe("The ShardingRule."),
            epochs: z
              .array(z.int().min(0))
              .max(8)
              .describe("The epochs it would publish, in order, if nothing else changes meanwhile."),
            frozenShards: planText("The shards whose writes the freeze refuses.").optional(),
          })
          .describe("One rule whose tables the failover changes."),
      )
      .max(256)
      .meta({ "x-kubernetes-list-type": "atomic" })
      .optional()
      .describe("The routing tables it would change."),
    freeze: planText("The write freeze it would impose at each switch.").optional(),
    capacity: z
      .array(
        z
          .object({
            zone: zoneName("A destination zone."),
            fits: z.boolean().optional().describe("The scaled-up replicas fit its nodes; absent: not checked."),
            message: planText("Requests needed against what its zone-labelled nodes have free."),
          })
          .describe("Capacity of one destination zone."),
      )
      .max(64)
      .meta({ "x-kubernetes-list-type": "atomic" })
      .optional()
      .describe("Whether each destination zone can take the scaled-up replicas."),
    refusals: z
      .array(planText("A reason."))
      .max(256)
      .optional()
      .describe("Every reason the failover would be refused or could not complete, each with its fix."),
    unmovable: z
      .array(
        z
          .object({ cell: cellName("The Cell."), reason: planText("Why it cannot move, and the fix.") })
          .describe("A target cell that cannot move."),
      )
      .max(4096)
      .meta({ "x-kubernetes-list-type": "atomic" })
      .optional()
      .describe("Target cells that cannot move: refused (spec.onUnmovable Refuse) or left where they are (Skip)."),
    waiting: z
      .array(planText("What."))
      .max(256)
      .optional()
      .describe("What Preflight would wait for (not yet observed), not a refusal."),
  })
  .describe("The plan of a dry run: what would move where, the epochs, the freeze, the capacity, the refusals.");
export type FailoverPlan = z.infer<typeof FailoverPlan>;

export const FailoverStatus = z
  .object({
    observedGeneration: observedGeneration(),
    phase: FailoverPhase.optional()
      .describe("Pending, Running, Succeeded, Failed, RolledBack, Aborted, or Planned (a dry run: status.plan).")
      .meta({ printerColumn: { name: "Phase", order: 10 } }),
    step: FailoverStep.optional()
      .describe("The step running now (Done when finished).")
      .meta({ printerColumn: { name: "Step", order: 20 } }),
    steps: z
      .array(FailoverStepStatus)
      .max(64)
      .meta({ "x-kubernetes-list-type": "atomic" })
      .optional()
      .describe("Every step taken so far, in order (a drill's failback adds steps after DrillWait)."),
    cells: keyedList(FailoverCellStatus, ["cell"], 4096, "The cells being moved, resolved at Preflight.").optional(),
    abortedBy: z
      .object({
        check: z.string().max(63).describe("The check."),
        reason: planText("What it saw."),
        time: z.iso.datetime({ offset: true }).describe("When it tripped."),
      })
      .optional()
      .describe("The abort check that stopped the failover."),
    skipped: z
      .array(
        z
          .object({ cell: cellName("The Cell."), reason: planText("Why it cannot move.") })
          .describe("A target cell left where it is."),
      )
      .max(4096)
      .meta({ "x-kubernetes-list-type": "atomic" })
      .optional()
      .describe("Target cells that could not move, left where they are (spec.onUnmovable: Skip)."),
    plan: FailoverPlan.optional(),
    epochs: z
      .object({
        before: epoch("Routing table epoch before the failover."),
        freeze: epoch("Epoch that write-froze the moving shards."),
        switch: epoch("Epoch that moved the shards to the destination."),
        failbackFreeze: epoch("Drill: epoch that write-froze the shards for the failback."),
        failbackSwitch: epoch("Drill: epoch that moved the shards back."),
      })
      .optional()
      .describe("Routing table epochs published by the failover."),
    rtoMilliseconds: z
      .int()
      .min(0)
      .optional()
      .describe("Measured RTO: from the start of the failover until every router acknowledged the switch epoch.")
      .meta({ printerColumn: { name: "RTO(ms)", order: 30 } }),
    freezeMilliseconds: z.int().min(0).optional().describe("How long writes to the moving shards were frozen."),
    startTime: z.iso.datetime({ offset: true }).optional().describe("When the failover started."),
    completionTime: z.iso.datetime({ offset: true }).optional().describe("When the failover finished."),
    message: z
      .string()
      .max(FAILOVER_MESSAGE_MAX_LENGTH)
      .optional()
      .describe("A human-readable summary of the current state."),
    conditions: conditions("Standard conditions: Valid (references resolve, preflight passed), Ready.").optional(),
  })
  .describe("Progress of the failover, persisted step by step so an operator restart resumes it.");
export type FailoverStatus = z.infer<typeof FailoverStatus>;

export const Failover = resource("Failover", "dns1123Subdomain", FailoverSpec, FailoverStatus);
export type Failover = z.infer<typeof Failover>;
export type FailoverInput = z.input<typeof Failover>;
