// The operator's domain metrics, for the people on call (docs/runbooks.md,
// the chart's PrometheusRule and dashboard). In a Registry of their own per
// operator (the runtime's registry is shared by every operator in a process).
//
// Gauges are computed from the caches at scrape time, by every replica
// (followers' caches are as fresh as the leader's: alerts take max/min by
// their labels), except the sidecars per epoch: only the leader hears the
// acknowledgements. Counters and histograms are observed by the replica that
// writes a Failover's status, once per written transition; a leader that
// dies between its write and the next scrape loses that observation (the
// status keeps the truth: kubectl ldc drill status, the drill gauges).
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { Failover, ShardingRule, Zone } from "../api/index.ts";
import {
  FAILOVER_RESULTS,
  drillSamples,
  failoverProgress,
  ruleEpochSamples,
  ruleSidecarSamples,
  runningFailoverSamples,
  zoneCreatedSamples,
  zonePhaseSamples,
  type RuleSidecars,
  type Sample,
} from "../reconcilers/metrics.ts";
import { FailoverType } from "../api/index.ts";
import type { TableStore } from "../routing-api/index.ts";
import { clusterOfZone, type OperatorContext } from "./context.ts";
import { deployedSidecars } from "./sidecar-pods.ts";

/** What the gauges read at each scrape. */
export interface DomainMetricsSource {
  zones(): readonly Zone[];
  rules(): readonly ShardingRule[];
  failovers(): readonly Failover[];
  /** The sidecars per rule; undefined where this replica does not hear their acknowledgements (a follower). */
  sidecars(): readonly RuleSidecars[] | undefined;
}

export interface DomainMetrics {
  readonly registry: Registry;
  /** A Failover's status was written (`after`) over `fo`: count what this write completed. */
  failoverWritten(fo: Failover, after: NonNullable<Failover["status"]>): void;
}

const STEP_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200];
const RTO_BUCKETS = [0.25, 0.5, 1, 2, 3, 5, 10, 15, 30, 60, 120, 300];
const FREEZE_BUCKETS = [0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300];

export function createDomainMetrics(source: DomainMetricsSource): DomainMetrics {
  const registry = new Registry();
  const gauge = <L extends string>(
    name: string,
    help: string,
    labelNames: readonly L[],
    samples: () => readonly Sample<L>[] | undefined,
  ) =>
    new Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        this.reset();
        for (const s of samples() ?? []) this.set(s.labels as Partial<Record<L, string>>, s.value);
      },
    });

  gauge(
    "ldc_zone_phase",
    "1 for the zone's phase (Pending, Ready, Degraded, Unreachable), 0 for the others",
    ["zone", "phase"],
    () => zonePhaseSamples(source.zones()),
  );
  gauge(
    "ldc_zone_created_timestamp_seconds",
    "When the Zone was created (unix seconds): the clock of a zone never drilled",
    ["zone"],
    () => zoneCreatedSamples(source.zones()),
  );
  gauge(
    "ldc_zone_last_successful_drill_timestamp_seconds",
    "When the last successful drill evacuating the zone finished (unix seconds), among the Drill Failovers kept",
    ["zone"],
    () => drillSamples(source.failovers()).lastSuccess,
  );
  gauge(
    "ldc_zone_last_drill_succeeded",
    "1 when the zone's last drill that ran to an end succeeded, 0 when it failed or rolled back (aborted drills do not count)",
    ["zone"],
    () => drillSamples(source.failovers()).lastSucceeded,
  );
  gauge("ldc_rule_epoch", "Epoch of the routing table last published for the rule", ["rule"], () =>
    ruleEpochSamples(source.rules()),
  );
  gauge(
    "ldc_rule_sidecars",
    "Sidecars the operator deployed for the rule, per zone and state: current (hold the rule's epoch), behind (acknowledged an older one), silent (no acknowledgement within the ack window). Exported by the leader only",
    ["rule", "zone", "state"],
    () => {
      const rules = source.sidecars();
      return rules && ruleSidecarSamples(rules);
    },
  );
  gauge(
    "ldc_failovers_running",
    "Unfinished Failovers per type and current step (not started yet: Preflight)",
    ["type", "step"],
    () => runningFailoverSamples(source.failovers()).running,
  );
  gauge(
    "ldc_failover_step_deadline_timestamp_seconds",
    "The earliest time (unix seconds) by which an unfinished Failover of this type must have left this step: its start plus the step's timeout (DrillWait: the drill duration). Past it, nobody is driving the Failover",
    ["type", "step"],
    () => runningFailoverSamples(source.failovers()).deadlines,
  );

  const failovers = new Counter({
    name: "ldc_failovers_total",
    help: "Failovers this process finished, by type and result (Succeeded, Failed, RolledBack, Aborted)",
    labelNames: ["type", "result"] as const,
    registers: [registry],
  });
  // Present from the start at 0: increase() sees the first failure.
  for (const type of FailoverType.options) for (const result of FAILOVER_RESULTS) failovers.inc({ type, result }, 0);
  const stepDuration = new Histogram({
    name: "ldc_failover_step_duration_seconds",
    help: "Duration of each failover step that succeeded (a drill's failback leg counts its steps again)",
    labelNames: ["step"] as const,
    buckets: STEP_BUCKETS,
    registers: [registry],
  });
  const rto = new Histogram({
    name: "ldc_failover_rto_seconds",
    help: "Measured RTO: from the failover decision until every router acknowledged the switch epoch",
    labelNames: ["type"] as const,
    buckets: RTO_BUCKETS,
    registers: [registry],
  });
  const freeze = new Histogram({
    name: "ldc_failover_write_freeze_seconds",
    help: "How long writes to the moving shards were refused, from the freeze to the switch",
    labelNames: ["type"] as const,
    buckets: FREEZE_BUCKETS,
    registers: [registry],
  });

  return {
    registry,
    failoverWritten(fo, after) {
      const p = failoverProgress(fo, after);
      for (const s of p.steps) stepDuration.observe({ step: s.step }, s.seconds);
      if (p.rtoSeconds !== undefined) rto.observe({ type: p.type }, p.rtoSeconds);
      if (p.freezeSeconds !== undefined) freeze.observe({ type: p.type }, p.freezeSeconds);
      if (p.finished) failovers.inc({ type: p.type, result: p.finished });
    },
  };
}

/** The operator's caches and routing tables as a DomainMetricsSource; the sidecars only while `isLeader()`. */
export function domainMetricsSource(
  ctx: OperatorContext,
  tables: TableStore,
  isLeader: () => boolean,
): DomainMetricsSource {
  return {
    zones: () => ctx.ldc.zones.store.list(),
    rules: () => ctx.ldc.rules.store.list(),
    failovers: () => ctx.ldc.failovers.store.list(),
    sidecars: () => {
      if (!isLeader()) return undefined;
      const deployed = deployedSidecars(ctx.ldc.zones.store.list(), (z) => clusterOfZone(ctx, z));
      return ctx.ldc.rules.store.list().map((r) => ({
        rule: r.metadata.name,
        epoch: tables.get(r.metadata.name)?.epoch,
        expected: deployed.byRule.get(r.metadata.name) ?? [],
        acks: tables.acks(r.metadata.name),
      }));
    },
  };
}
