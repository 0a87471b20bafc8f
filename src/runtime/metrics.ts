// Prometheus metrics of the controller runtime, named as controller-runtime
// and client-go name theirs so that existing dashboards work unchanged.
import { Counter, Gauge, Histogram, Registry } from "prom-client";

/** The registry every runtime metric lives in; `/metrics` serves it. */
export const metricsRegistry = new Registry();

const reconcileBuckets = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1, 1.25, 1.5, 1.75, 2,
  2.5, 3, 3.5, 4, 4.5, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30, 40, 50, 60,
];
// client-go: ExponentialBuckets(10e-9, 10, 12)
const queueBuckets = Array.from({ length: 12 }, (_, i) => 1e-8 * 10 ** i);

export const reconcileTotal = new Counter({
  name: "controller_runtime_reconcile_total",
  help: "Total number of reconciliations per controller",
  labelNames: ["controller", "result"] as const,
  registers: [metricsRegistry],
});
export const reconcileErrorsTotal = new Counter({
  name: "controller_runtime_reconcile_errors_total",
  help: "Total number of reconciliation errors per controller",
  labelNames: ["controller"] as const,
  registers: [metricsRegistry],
});
export const terminalReconcileErrorsTotal = new Counter({
  name: "controller_runtime_terminal_reconcile_errors_total",
  help: "Total number of terminal reconciliation errors per controller",
  labelNames: ["controller"] as const,
  registers: [metricsRegistry],
});
export const reconcileTime = new Histogram({
  name: "controller_runtime_reconcile_time_seconds",
  help: "Length of time per reconciliation per controller",
  labelNames: ["controller"] as const,
  buckets: reconcileBuckets,
  registers: [metricsRegistry],
});
export const activeWorkers = new Gauge({
  name: "controller_runtime_active_workers",
  help: "Number of currently used workers per controller",
  labelNames: ["controller"] as const,
  registers: [metricsRegistry],
});
export const maxConcurrentReconciles = new Gauge({
  name: "controller_runtime_max_concurrent_reconciles",
  help: "Maximum number of concurrent reconciles per controller",
  labelNames: ["controller"] as const,
  registers: [metricsRegistry],
});

export const workqueueDepth = new Gauge({
  name: "workqueue_depth",
  help: "Current depth of workqueue",
  labelNames: ["name"] as const,
  registers: [metricsRegistry],
});
export const workqueueAdds = new Counter({
  name: "workqueue_adds_total",
  help: "Total number of adds handled by workqueue",
  labelNames: ["name"] as const,
  registers: [metricsRegistry],
});
export const workqueueQueueDuration = new Histogram({
  name: "workqueue_queue_duration_seconds",
  help: "How long in seconds an item stays in workqueue before being requested",
  labelNames: ["name"] as const,
  buckets: queueBuckets,
  registers: [metricsRegistry],
});
export const workqueueWorkDuration = new Histogram({
  name: "workqueue_work_duration_seconds",
  help: "How long in seconds processing an item from workqueue takes",
  labelNames: ["name"] as const,
  buckets: queueBuckets,
  registers: [metricsRegistry],
});
export const workqueueRetries = new Counter({
  name: "workqueue_retries_total",
  help: "Total number of retries handled by workqueue",
  labelNames: ["name"] as const,
  registers: [metricsRegistry],
});

/** What the two "in flight" gauges need from a queue, computed at scrape time. */
export interface InFlightSource {
  readonly name: string;
  /** Start times (ms since epoch) of the items being processed now. */
  processingStartTimes(): number[];
}
const inFlightSources = new Set<InFlightSource>();
/** Report a queue's in-flight work in the unfinished/longest-running gauges. */
export function trackInFlight(source: InFlightSource): () => void {
  inFlightSources.add(source);
  return () => {
    inFlightSources.delete(source);
  };
}
export const workqueueUnfinishedWork = new Gauge({
  name: "workqueue_unfinished_work_seconds",
  help: "How many seconds of work has been done that is in progress and hasn't been observed by work_duration",
  labelNames: ["name"] as const,
  registers: [metricsRegistry],
  collect() {
    this.reset();
    const now = Date.now();
    for (const s of inFlightSources) {
      const total = s.processingStartTimes().reduce((acc, t) => acc + (now - t) / 1000, 0);
      this.set({ name: s.name }, total);
    }
  },
});
export const workqueueLongestRunning = new Gauge({
  name: "workqueue_longest_running_processor_seconds",
  help: "How many seconds has the longest running processor for workqueue been running",
  labelNames: ["name"] as const,
  registers: [metricsRegistry],
  collect() {
    this.reset();
    const now = Date.now();
    for (const s of inFlightSources) {
      const oldest = Math.min(...s.processingStartTimes());
      this.set({ name: s.name }, Number.isFinite(oldest) ? (now - oldest) / 1000 : 0);
    }
  },
});

export const restClientRequests = new Counter({
  name: "rest_client_requests_total",
  help: "Number of HTTP requests, partitioned by status code, method, and host",
  labelNames: ["code", "method", "host"] as const,
  registers: [metricsRegistry],
});
export const restClientRequestDuration = new Histogram({
  name: "rest_client_request_duration_seconds",
  help: "Request latency in seconds, broken down by verb and host",
  labelNames: ["verb", "host"] as const,
  buckets: [0.005, 0.025, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60],
  registers: [metricsRegistry],
});
export const restClientRateLimiterDuration = new Histogram({
  name: "rest_client_rate_limiter_duration_seconds",
  help: "Client side rate limiter latency in seconds, broken down by verb and host",
  labelNames: ["verb", "host"] as const,
  buckets: [0.005, 0.025, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60],
  registers: [metricsRegistry],
});

export const informerWatchRestarts = new Counter({
  name: "ldc_informer_watch_restarts_total",
  help: "Watch restarts per informer, by reason (error, gone, stale, relist)",
  labelNames: ["cluster", "resource", "reason"] as const,
  registers: [metricsRegistry],
});
export const informerSynced = new Gauge({
  name: "ldc_informer_synced",
  help: "1 when the informer's cache has synced and its watch is alive",
  labelNames: ["cluster", "resource"] as const,
  registers: [metricsRegistry],
});
export const clusterReachable = new Gauge({
  name: "ldc_cluster_reachable",
  help: "1 when the cluster's API server answered its last probe",
  labelNames: ["cluster"] as const,
  registers: [metricsRegistry],
});
export const leaderElectionMaster = new Gauge({
  name: "leader_election_master_status",
  help: "1 when this process holds the lease",
  labelNames: ["name"] as const,
  registers: [metricsRegistry],
});
