import { z } from "zod";
import { conditions, keyedList, name, observedGeneration, resource, withRules } from "./common.ts";
import { FailoverPhase, FailoverSpecBase } from "./failover.ts";

/** Five cron fields (minute hour day-of-month month day-of-week), or a macro such as @weekly. */
export const CRON_PATTERN =
  /^(@(yearly|annually|monthly|weekly|daily|hourly)|([0-9A-Za-z*?/,-]+ ){4}[0-9A-Za-z*?/,-]+)$/;

export const DrillScheduleSpec = z
  .object({
    schedule: z
      .string()
      .max(128)
      .regex(CRON_PATTERN, "must be five cron fields (minute hour day-of-month month day-of-week), e.g. 0 3 * * 6")
      .describe(
        'When to run the drill: five cron fields (minute hour day-of-month month day-of-week), e.g. "0 3 * * 6", or @weekly, @monthly.',
      )
      .meta({ printerColumn: { name: "Schedule", order: 10 } }),
    timeZone: z
      .string()
      .max(64)
      .regex(/^[A-Za-z0-9_+\-/]+$/)
      .optional()
      .describe("IANA time zone the schedule is read in, e.g. Asia/Shanghai. Omitted: UTC."),
    template: withRules(
      FailoverSpecBase.describe("The spec of each Failover the schedule creates; its type must be Drill."),
      {
        cel: "self.type == 'Drill'",
        message: "template.type must be Drill: a schedule only runs drills",
        fieldPath: ".type",
        check: (t) => t.type === "Drill",
      },
    ),
    historyLimit: z
      .int()
      .min(0)
      .max(100)
      .default(10)
      .describe("How many finished Failovers created by this schedule to keep; older ones are deleted."),
    suspend: z
      .boolean()
      .default(false)
      .describe("Stop creating drills (a running one continues).")
      .meta({ printerColumn: { name: "Suspend", order: 20 } }),
  })
  .describe("Runs a failover drill on a schedule. A drill is never started while the previous one runs.");
export type DrillScheduleSpec = z.infer<typeof DrillScheduleSpec>;

export const DrillRun = z
  .object({
    failover: name("dns1123Subdomain", "Name of the Failover created for this run."),
    scheduledTime: z.iso.datetime({ offset: true }).describe("The schedule time the run was created for."),
    phase: FailoverPhase.optional().describe("The Failover's phase (last seen)."),
    rtoMilliseconds: z.int().min(0).optional().describe("The Failover's measured RTO."),
  })
  .describe("One drill run.");
export type DrillRun = z.infer<typeof DrillRun>;

export const DrillScheduleStatus = z
  .object({
    observedGeneration: observedGeneration(),
    lastScheduleTime: z.iso
      .datetime({ offset: true })
      .optional()
      .describe("When a drill was last started.")
      .meta({ printerColumn: { name: "Last", order: 30 } }),
    nextScheduleTime: z.iso.datetime({ offset: true }).optional().describe("When the next drill is due."),
    history: keyedList(
      DrillRun,
      ["failover"],
      100,
      "Recent runs, newest first (at most historyLimit finished ones).",
    ).optional(),
    conditions: conditions("Standard conditions: Valid (schedule and template are usable).").optional(),
  })
  .describe("Recent and next runs.");
export type DrillScheduleStatus = z.infer<typeof DrillScheduleStatus>;

export const DrillSchedule = resource("DrillSchedule", "dns1123Subdomain", DrillScheduleSpec, DrillScheduleStatus);
export type DrillSchedule = z.infer<typeof DrillSchedule>;
export type DrillScheduleInput = z.input<typeof DrillSchedule>;
