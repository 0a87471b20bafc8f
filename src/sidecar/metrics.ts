// The sidecar's Prometheus metrics, in its own registry (several sidecars
// can run in one process: tests, benchmarks). Written out by hand in the
// text exposition format rather than with prom-client (the operator's): the
// sidecar has six series families and runs in every pod, and prom-client
// with its dependencies is about a tenth of the sidecar's memory
// (docs/adr/0015-sidecar-footprint.md). The output is what prom-client
// wrote: labelled series appear once they count something.

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

/** The scrape side: the text exposition and its content type. */
export interface MetricsRegistry {
  readonly contentType: string;
  metrics(): Promise<string>;
}

export interface SidecarMetrics {
  readonly registry: MetricsRegistry;
  /** Counts a finished request and observes its duration (seconds). */
  request(outcome: Outcome, seconds: number): void;
  forwarded(cell: string): void;
  tableEpoch(epoch: number): void;
  tableSwap(): void;
  /** Where ldc_sidecar_lease_remaining_seconds is read from at each scrape (seconds; -1: no lease needed). */
  leaseRemaining(read: () => number): void;
}

const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

const escapeHelp = (s: string) => s.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
const escapeLabel = (s: string) => s.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
const header = (name: string, type: string, help: string) =>
  `# HELP ${name} ${escapeHelp(help)}\n# TYPE ${name} ${type}\n`;

interface Histo {
  counts: number[];
  sum: number;
  count: number;
}

function histogramLines(name: string, label: string, value: string, h: Histo): string {
  const l = `${label}="${escapeLabel(value)}"`;
  let out = "";
  let acc = 0;
  BUCKETS.forEach((le, i) => {
    acc += h.counts[i]!;
    out += `${name}_bucket{le="${le}",${l}} ${acc}\n`;
  });
  out += `${name}_bucket{le="+Inf",${l}} ${h.count}\n${name}_sum{${l}} ${h.sum}\n${name}_count{${l}} ${h.count}\n`;
  return out;
}

export function createSidecarMetrics(): SidecarMetrics {
  const requests = new Map<Outcome, number>();
  const durations = new Map<Outcome, Histo>();
  const forwarded = new Map<string, number>();
  let epoch = -1;
  let swaps = 0;
  let readLease = (): number => -1;
  const registry: MetricsRegistry = {
    contentType: "text/plain; version=0.0.4; charset=utf-8",
    metrics() {
      let t = header(
        "ldc_sidecar_requests_total",
        "counter",
        "Requests handled by the sidecar, by outcome: local, forwarded, rejected (unit protection, loop), frozen (write to a write-frozen shard), invalid_key, lease_expired (write refused: no valid routing lease), overloaded (503: LDC_MAX_CONCURRENT_REQUESTS requests already passed on), error (no table, unroutable, upstream failure)",
      );
      for (const [o, n] of requests) t += `ldc_sidecar_requests_total{outcome="${o}"} ${n}\n`;
      t += `\n${header("ldc_sidecar_forwarded_total", "counter", "Requests forwarded to another cell, by cell")}`;
      for (const [c, n] of forwarded) t += `ldc_sidecar_forwarded_total{cell="${escapeLabel(c)}"} ${n}\n`;
      t += `\n${header("ldc_sidecar_table_epoch", "gauge", "Epoch of the routing table the sidecar holds (-1: none)")}`;
      t += `ldc_sidecar_table_epoch ${epoch}\n`;
      t += `\n${header("ldc_sidecar_table_swaps_total", "counter", "Routing tables taken (each a newer epoch)")}`;
      t += `ldc_sidecar_table_swaps_total ${swaps}\n`;
      t += `\n${header("ldc_sidecar_request_duration_seconds", "histogram", "Time from the request's arrival to the end of its response, by outcome")}`;
      for (const [o, h] of durations) t += histogramLines("ldc_sidecar_request_duration_seconds", "outcome", o, h);
      t += `\n${header(
        "ldc_sidecar_lease_remaining_seconds",
        "gauge",
        "Time left on the routing lease; 0: expired or never granted, writes are refused (-1: no routing API configured, no lease needed)",
      )}`;
      t += `ldc_sidecar_lease_remaining_seconds ${readLease()}\n`;
      return Promise.resolve(t);
    },
  };
  return {
    registry,
    request(outcome, seconds) {
      requests.set(outcome, (requests.get(outcome) ?? 0) + 1);
      let h = durations.get(outcome);
      if (h === undefined) {
        h = { counts: BUCKETS.map(() => 0), sum: 0, count: 0 };
        durations.set(outcome, h);
      }
      // Counted in the first bucket that holds it; the lines add them up.
      let i = 0;
      while (i < BUCKETS.length && seconds > BUCKETS[i]!) i++;
      if (i < BUCKETS.length) h.counts[i]!++;
      h.sum += seconds;
      h.count++;
    },
    forwarded(cell) {
      forwarded.set(cell, (forwarded.get(cell) ?? 0) + 1);
    },
    tableEpoch(e) {
      epoch = e;
    },
    tableSwap() {
      swaps++;
    },
    leaseRemaining(read) {
      readLease = read;
    },
  };
}
