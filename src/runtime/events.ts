// Kubernetes Events (core/v1) for what an SRE should see. Repeats of one
// event (same object, type, reason and message) are aggregated as
// client-go's recorder does: the existing Event's count and lastTimestamp
// are bumped instead of creating a new Event.
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { Logger } from "pino";
import { clampMessage, EVENT_MESSAGE_MAX_LENGTH } from "../api/common.ts";
import type { KubeClient } from "./client.ts";
import { rfc3339 } from "./conditions.ts";
import { isNotFound } from "./errors.ts";
import { silentLogger } from "./logger.ts";
import { Resources } from "./resources.ts";
import type { KubeObject } from "./types.ts";

export type EventType = "Normal" | "Warning";

export interface CoreEvent extends KubeObject {
  involvedObject: {
    apiVersion?: string;
    kind?: string;
    name?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
  };
  reason: string;
  message: string;
  type: EventType;
  count?: number;
  firstTimestamp?: string;
  lastTimestamp?: string;
  source?: { component?: string; host?: string };
  reportingComponent?: string;
  reportingInstance?: string;
}

export interface EventRecorderOptions {
  client: KubeClient;
  /** reportingController / source.component, e.g. "ldc-operator/zone". */
  reportingController: string;
  /** Default hostname. */
  reportingInstance?: string;
  /** Namespace for events of cluster-scoped objects. Default "default". */
  clusterScopedNamespace?: string;
  logger?: Logger;
  /** Aggregation cache size. Default 4096 entries. */
  cacheSize?: number;
}

interface Seen {
  name: string;
  namespace: string;
  count: number;
}

export class EventRecorder {
  readonly #o: EventRecorderOptions;
  readonly #log: Logger;
  readonly #seen = new Map<string, Seen>();
  readonly #instance: string;
  readonly #chain = new Map<string, Promise<void>>();

  constructor(opts: EventRecorderOptions) {
    this.#o = opts;
    this.#log = opts.logger ?? silentLogger;
    this.#instance = opts.reportingInstance ?? hostname();
  }

  normal(obj: KubeObject, reason: string, message: string): Promise<void> {
    return this.record(obj, "Normal", reason, message);
  }

  warning(obj: KubeObject, reason: string, message: string): Promise<void> {
    return this.record(obj, "Warning", reason, message);
  }

  /**
   * Record an event about `obj`. Never rejects: failures are logged (events
   * are best effort and must not fail a reconcile).
   */
  record(obj: KubeObject, type: EventType, reason: string, message: string): Promise<void> {
    const md = obj.metadata ?? {};
    const key = [obj.apiVersion, obj.kind, md.namespace ?? "", md.name, md.uid ?? "", type, reason, message].join(
      "\u0000",
    );
    // one at a time per key, so concurrent repeats aggregate too
    const p = (this.#chain.get(key) ?? Promise.resolve()).then(() => this.#record(key, obj, type, reason, message));
    this.#chain.set(key, p);
    void p.finally(() => {
      if (this.#chain.get(key) === p) this.#chain.delete(key);
    });
    return p;
  }

  async #record(key: string, obj: KubeObject, type: EventType, reason: string, message: string): Promise<void> {
    const md = obj.metadata ?? {};
    const namespace = md.namespace || this.#o.clusterScopedNamespace || "default";
    const now = rfc3339();
    try {
      const seen = this.#seen.get(key);
      if (seen) {
        try {
          await this.#o.client.mergePatch(Resources.Event, seen.name, seen.namespace, {
            count: seen.count + 1,
            lastTimestamp: now,
          });
          seen.count++;
          this.#touch(key, seen);
          return;
        } catch (err) {
          if (!isNotFound(err)) throw err;
          this.#seen.delete(key); // expired (events have a TTL): create anew
        }
      }
      const name = `${md.name ?? "unknown"}.${Date.now().toString(16)}${randomBytes(2).toString("hex")}`;
      await this.#o.client.create<CoreEvent>(Resources.Event, {
        metadata: { name, namespace },
        involvedObject: {
          apiVersion: obj.apiVersion,
          kind: obj.kind,
          name: md.name,
          ...(md.namespace ? { namespace: md.namespace } : {}),
          ...(md.uid ? { uid: md.uid } : {}),
          ...(md.resourceVersion ? { resourceVersion: md.resourceVersion } : {}),
        },
        reason,
        message: clampMessage(message, EVENT_MESSAGE_MAX_LENGTH),
        type,
        count: 1,
        firstTimestamp: now,
        lastTimestamp: now,
        source: { component: this.#o.reportingController, host: this.#instance },
        reportingComponent: this.#o.reportingController,
        reportingInstance: this.#instance,
      });
      this.#touch(key, { name, namespace, count: 1 });
    } catch (err) {
      this.#log.warn({ err: err instanceof Error ? err.message : String(err), reason }, "recording event failed");
    }
  }

  #touch(key: string, seen: Seen): void {
    this.#seen.delete(key);
    this.#seen.set(key, seen);
    const max = this.#o.cacheSize ?? 4096;
    while (this.#seen.size > max) {
      const oldest = this.#seen.keys().next().value;
      if (oldest === undefined) break;
      this.#seen.delete(oldest);
    }
  }
}
