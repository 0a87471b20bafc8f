// The sidecar's hand-written exposition says what prom-client says for the
// same events (the sidecar left prom-client for its footprint; dashboards,
// alerts and scrapers must not see a difference).
import fc from "fast-check";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { createSidecarMetrics, OUTCOMES, type Outcome } from "../../../src/sidecar/metrics.ts";

const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** The sidecar's metrics as they were declared with prom-client. */
function promClientReference() {
  const registry = new Registry();
  const requests = new Counter({
    name: "ldc_sidecar_requests_total",
    help: "Requests handled by the sidecar, by outcome: local, forwarded, rejected (unit protection, loop), frozen (write to a write-frozen shard), invalid_key, lease_expired (write refused: no valid routing lease), overloaded (503: LDC_MAX_CONCURRENT_REQUESTS requests already passed on), error (no table, unroutable, upstream failure)",
    labelNames: ["outcome"],
    registers: [registry],
  });
  const forwarded = new Counter({
    name: "ldc_sidecar_forwarded_total",
    help: "Requests forwarded to another cell, by cell",
    labelNames: ["cell"],
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
    labelNames: ["outcome"],
    buckets: BUCKETS,
    registers: [registry],
  });
  let lease = -1;
  new Gauge({
    name: "ldc_sidecar_lease_remaining_seconds",
    help: "Time left on the routing lease; 0: expired or never granted, writes are refused (-1: no routing API configured, no lease needed)",
    registers: [registry],
    collect() {
      this.set(lease);
    },
  });
  epoch.set(-1);
  return {
    registry,
    request: (o: Outcome, s: number) => {
      requests.inc({ outcome: o });
      duration.observe({ outcome: o }, s);
    },
    forwarded: (cell: string) => forwarded.inc({ cell }),
    tableEpoch: (e: number) => epoch.set(e),
    tableSwap: () => swaps.inc(),
    lease: (s: number) => (lease = s),
  };
}

type Event =
  | { t: "request"; outcome: Outcome; seconds: number }
  | { t: "forwarded"; cell: string }
  | { t: "epoch"; epoch: number }
  | { t: "swap" }
  | { t: "lease"; seconds: number };

const event: fc.Arbitrary<Event> = fc.oneof(
  fc.record({
    t: fc.constant("request" as const),
    outcome: fc.constantFrom(...OUTCOMES),
    // Bucket bounds themselves included (le is inclusive).
    seconds: fc.oneof(fc.constantFrom(...BUCKETS, 0, 61), fc.double({ min: 0, max: 70, noNaN: true })),
  }),
  fc.record({ t: fc.constant("forwarded" as const), cell: fc.constantFrom("rz01", "rz02", 'we"ird\\cell') }),
  fc.record({ t: fc.constant("epoch" as const), epoch: fc.integer({ min: -1, max: 1_000_000 }) }),
  fc.record({ t: fc.constant("swap" as const) }),
  fc.record({ t: fc.constant("lease" as const), seconds: fc.constantFrom(-1, 0, 4.25, 15) }),
);

describe("sidecar metrics", () => {
  it("the exposition equals prom-client's for the same events", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(event, { maxLength: 60 }), async (events) => {
        const mine = createSidecarMetrics();
        const ref = promClientReference();
        let lease = -1;
        mine.leaseRemaining(() => lease);
        for (const e of events) {
          if (e.t === "request") {
            mine.request(e.outcome, e.seconds);
            ref.request(e.outcome, e.seconds);
          } else if (e.t === "forwarded") {
            mine.forwarded(e.cell);
            ref.forwarded(e.cell);
          } else if (e.t === "epoch") {
            mine.tableEpoch(e.epoch);
            ref.tableEpoch(e.epoch);
          } else if (e.t === "swap") {
            mine.tableSwap();
            ref.tableSwap();
          } else {
            lease = e.seconds;
            ref.lease(e.seconds);
          }
        }
        expect(await mine.registry.metrics()).toBe(await ref.registry.metrics());
        expect(mine.registry.contentType).toBe(ref.registry.contentType);
      }),
      { numRuns: 100 },
    );
  });
});
