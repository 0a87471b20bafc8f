import { z } from "zod";
import {
  QUALIFIED_NAME,
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

export const FailoverPhase = z.enum(["Pending", "Running", "Succeeded", "Failed", "RolledBack", "Aborted"]);
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
    to: zoneName("The zone the cell moves to."),
  })
  .describe("One moving cell.");
export type FailoverCellStatus = z.infer<typeof FailoverCellStatus>;

const epoch = (description: string) => z.int().min(0).optional().describe(description);

export const FailoverStatus = z
  .object({
    observedGeneration: observedGeneration(),
    phase: FailoverPhase.optional()
      .describe("Pending, Running, Succeeded, Failed, RolledBack or Aborted.")
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
