// The sidecar's Prometheus metrics, in its own Registry (several sidecars
// can run in one process: tests, benchmarks).
import { Counter, Gauge, Histogram, Registry } from "prom-client";

export const OUTCOMES = [
  "local",
  "forwarded",
  "rejected",
  "frozen",
  "invalid_key",
  "lease_expired",
  "overloaded",
  "error",
] as const;
export type Outcome = (typeof OUTCOMES)[number];

export interface SidecarMetrics {
  readonly registry: Registry;
  /** Counts a finished request and observes its duration (seconds). */
  request(outcome: Outcome, seconds: number): void;
  forwarded(cell: string): void;
  tableEpoch(epoch: number): void;
  tableSwap(): void;
  /** Where ldc_sidecar_lease_remaining_seconds is read from at each scrape (seconds; -1: no lease needed). */
  leaseRemaining(read: () => number): void;
}

export function createSidecarMetrics(): SidecarMetrics {
  const registry = new Registry();
  const requests = new Counter({
    name: "ldc_sidecar_requests_total",
    help: "Requests handled by the sidecar, by outcome: local, forwarded, rejected (unit protection, loop), frozen (write to a write-frozen shard), invalid_key, lease_expired (write refused: no valid routing lease), overloaded (503: LDC_MAX_CONCURRENT_REQUESTS requests already passed on), error (no table, unroutable, upstream failure)",
    labelNames: ["outcome"] as const,
    registers: [registry],
  });
  const forwarded = new Counter({
    name: "ldc_sidecar_forwarded_total",
    help: "Requests forwarded to another cell, by cell",
    labelNames: ["cell"] as const,
    registers: [registry],
  });
  const epoch = new Gauge({
    name: "ldc_sidecar_table_epoch",
    help: "Epoch of the routing table the sidecar holds (-1: none)",
    registers: [registry],
  });
  const swaps = new Counter({
    name: "ldc_sidecar_table_swaps_total",
    help: "Routing tables taken (each a newer epoch)",
    registers: [registry],
  });
  const duration = new Histogram({
    name: "ldc_sidecar_request_duration_seconds",
    help: "Time from the request's arrival to the end of its response, by outcome",
    labelNames: ["outcome"] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [registry],
  });
  let readLease = (): number => -1;
  new Gauge({
    name: "ldc_sidecar_lease_remaining_seconds",
    help: "Time left on the routing lease; 0: expired or never granted, writes are refused (-1: no routing API configured, no lease needed)",
    registers: [registry],
    collect() {
      this.set(readLease());
    },
  });
  epoch.set(-1);
  // Pre-bound children: no label lookup on the hot path.
  const reqChild = Object.fromEntries(OUTCOMES.map((o) => [o, requests.labels({ outcome: o })])) as Record<
    Outcome,
    Counter.Internal
  >;
  const durChild = Object.fromEntries(OUTCOMES.map((o) => [o, duration.labels({ outcome: o })])) as Record<
    Outcome,
    Histogram.Internal<"outcome">
  >;
  const fwdChild = new Map<string, Counter.Internal>();
  return {
    registry,
    request(outcome, seconds) {
      reqChild[outcome].inc();
      durChild[outcome].observe(seconds);
    },
    forwarded(cell) {
      let c = fwdChild.get(cell);
      if (c === undefined) {
        c = forwarded.labels({ cell });
        fwdChild.set(cell, c);
      }
      c.inc();
    },
    tableEpoch(e) {
      epoch.set(e);
    },
    tableSwap() {
      swaps.inc();
    },
    leaseRemaining(read) {
      readLease = read;
    },
  };
}
