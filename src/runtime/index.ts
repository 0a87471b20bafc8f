// The controller runtime: import from here.
export * from "./types.ts";
export * from "./errors.ts";
export * from "./resources.ts";
export * from "./ratelimit.ts";
export * from "./client.ts";
export * from "./kubeconfig.ts";
export * from "./informer.ts";
export * from "./workqueue.ts";
export * from "./conditions.ts";
export * from "./status.ts";
export * from "./events.ts";
export * from "./leader.ts";
export * from "./controller.ts";
export * from "./manager.ts";
export * from "./server.ts";
export * from "./clusters.ts";
export * from "./logger.ts";
export { metricsRegistry } from "./metrics.ts";
