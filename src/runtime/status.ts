// The status writer, one for every controller. Status is written only when it
// changed: compare the desired status with the observed one, ignoring noise
// that does not change meaning (key order, undefined/null vs absent fields,
// empty arrays/objects vs absent, order of lists keyed by `type` or `name`,
// such as conditions). Changes only in condition messages can be coalesced.
// A conflict asks for a requeue. What was written is recorded in the
// informer's cache, so the next reconcile reads it.
import type { KubeClient } from "./client.ts";
import type { ReconcileResult } from "./controller.ts";
import { isConflict } from "./errors.ts";
import type { Informer } from "./informer.ts";
import { resourceFor, type Resource } from "./resources.ts";
import { keyOf, type KubeObject } from "./types.ts";

function normalize(v: unknown): unknown {
  if (v === null || v === undefined) return undefined;
  if (v instanceof Date) return v.toISOString().replace(/\.000Z$/, "Z");
  if (Array.isArray(v)) {
    const items = v.map(normalize);
    if (items.length === 0) return undefined;
    const keyOf = (x: unknown): string | undefined => {
      if (typeof x !== "object" || x === null) return undefined;
      const o = x as Record<string, unknown>;
      return typeof o.type === "string" ? o.type : typeof o.name === "string" ? o.name : undefined;
    };
    const keys = items.map(keyOf);
    if (keys.every((k) => k !== undefined) && new Set(keys).size === keys.length) {
      return items
        .map((item, i) => [keys[i]!, item] as const)
        .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
        .map(([, item]) => item);
    }
    return items;
  }
  if (typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v as object).sort()) {
      const n = normalize((v as Record<string, unknown>)[k]);
      if (n !== undefined) out[k] = n;
    }
    return Object.keys(out).length === 0 ? undefined : out;
  }
  return v;
}

/** True when the two statuses mean the same (see the file comment for what is ignored). */
export function statusEqual(desired: unknown, observed: unknown): boolean {
  return JSON.stringify(normalize(desired)) === JSON.stringify(normalize(observed));
}

/**
 * How a status is written:
 * - "apply": server-side apply of the status subresource under the field
 *   manager: the fields set are the ones it owns (forced: never a conflict);
 * - "update": PUT of the status subresource with the observed object's
 *   resourceVersion as a precondition: a conflict when the object changed
 *   since it was read (for state machines whose steps must not be lost or
 *   repeated). `desired` is then the whole status.
 */
export type StatusWriteMethod = "apply" | "update";

export interface StatusWriteOptions {
  method: StatusWriteMethod;
  /** Default: the client's. */
  fieldManager?: string;
  /** The cache `observed` came from: a written object is recorded in it (Informer.recordWrite). */
  informer?: Pick<Informer, "recordWrite">;
  /**
   * Compare (and coalesce) only these top-level status fields: the others
   * belong to other field managers. Applied as given.
   */
  owned?: readonly string[];
  /** Coalesce changes that are only in condition messages (see MessageCoalescer). */
  coalescer?: MessageCoalescer;
  /** The REST resource; default: resolved from the object's apiVersion and kind. */
  resource?: Resource;
}

/**
 * What writeStatus did: "unchanged" (nothing to write), "written" (with the
 * object the API server returned), "conflict" ("update" only: the object
 * changed since it was read; reconcile again with the fresh object) or
 * "deferred" (a message-only change coalesced: look again after retryAfterMs).
 */
export type StatusWrite<T> =
  | { outcome: "unchanged" }
  | { outcome: "written"; object: T }
  | { outcome: "conflict" }
  | { outcome: "deferred"; retryAfterMs: number };

/**
 * Write `desired` as the status of `observed` unless it already means the
 * same (statusEqual, over `owned` fields when given).
 */
export async function writeStatus<T extends KubeObject & { status?: unknown }>(
  client: KubeClient,
  observed: T,
  desired: object,
  opts: StatusWriteOptions,
): Promise<StatusWrite<T>> {
  const ownedOnly = (s: unknown): Record<string, unknown> => {
    const all = (s ?? {}) as Record<string, unknown>;
    return opts.owned ? Object.fromEntries(opts.owned.map((k) => [k, all[k]])) : all;
  };
  const want = ownedOnly(desired);
  const have = ownedOnly(observed.status);
  if (statusEqual(want, have)) return { outcome: "unchanged" };
  const key = keyOf(observed);
  const wait = opts.coalescer?.delay(key, want, have);
  if (wait !== undefined) return { outcome: "deferred", retryAfterMs: wait };
  const md = observed.metadata ?? {};
  const fieldManager = opts.fieldManager ?? client.fieldManager;
  let object: T;
  if (opts.method === "apply") {
    object = await client.applyStatus<T>(
      {
        apiVersion: observed.apiVersion,
        kind: observed.kind,
        metadata: { name: md.name, ...(md.namespace ? { namespace: md.namespace } : {}) },
        status: desired,
      },
      { fieldManager, ...(opts.resource ? { resource: opts.resource } : {}) },
    );
  } else {
    const resource = opts.resource ?? resourceFor(observed.apiVersion, observed.kind);
    try {
      object = await client.update<T>(
        resource,
        { ...observed, status: desired },
        { subresource: "status", fieldManager },
      );
    } catch (err) {
      if (isConflict(err)) return { outcome: "conflict" };
      throw err;
    }
  }
  opts.coalescer?.wrote(key);
  opts.informer?.recordWrite(object);
  return { outcome: "written", object };
}

/** What a reconcile returns after a status write: a conflict requeues, a deferred write looks again later. */
export function requeueAfterStatus(w: StatusWrite<unknown>): ReconcileResult | undefined {
  if (w.outcome === "conflict") return { requeue: true };
  if (w.outcome === "deferred") return { requeueAfter: w.retryAfterMs };
  return undefined;
}

/**
 * A controller's status writer: writeStatus with the controller's settings
 * and its own coalescing state (one per controller instance, so an operator
 * started again in the same process starts fresh).
 */
export class StatusWriter {
  readonly #client: KubeClient;
  readonly #opts: StatusWriteOptions;

  /** `coalesceMessagesMs` > 0: condition-message-only changes at most once per object per interval. */
  constructor(client: KubeClient, opts: Omit<StatusWriteOptions, "coalescer"> & { coalesceMessagesMs?: number }) {
    const { coalesceMessagesMs, ...rest } = opts;
    this.#client = client;
    this.#opts = { ...rest, ...(coalesceMessagesMs ? { coalescer: new MessageCoalescer(coalesceMessagesMs) } : {}) };
  }

  write<T extends KubeObject & { status?: unknown }>(observed: T, desired: object): Promise<StatusWrite<T>> {
    return writeStatus(this.#client, observed, desired, this.#opts);
  }

  /** Drop what is kept about a deleted object. */
  forget(key: string): void {
    this.#opts.coalescer?.forget(key);
  }
}

/**
 * Status writes whose only change is a message (e.g. a condition's "7/20 apps
 * ready" while an app rolls out; see onlyMessagesDiffer) are coalesced: at most one per object every
 * `intervalMs`. Anything significant (a phase, a condition's status or
 * reason, any other field) is written at once.
 */
export class MessageCoalescer {
  readonly #lastWrite = new Map<string, number>();
  readonly #intervalMs: number;

  constructor(intervalMs = 10_000) {
    this.#intervalMs = intervalMs;
  }

  /** undefined: write now; else wait this many ms (and look again then). */
  delay(key: string, desired: Record<string, unknown>, observed: unknown, now = Date.now()): number | undefined {
    if (!onlyMessagesDiffer(desired, observed)) return undefined;
    const last = this.#lastWrite.get(key);
    if (last === undefined || now - last >= this.#intervalMs) return undefined;
    return this.#intervalMs - (now - last);
  }

  wrote(key: string, now = Date.now()): void {
    this.#lastWrite.set(key, now);
  }

  forget(key: string): void {
    this.#lastWrite.delete(key);
  }
}

function withoutMessages(status: unknown): unknown {
  if (!status || typeof status !== "object") return status;
  const { message: _message, ...s } = status as Record<string, unknown>;
  if (Array.isArray(s.conditions)) {
    s.conditions = (s.conditions as Record<string, unknown>[]).map(
      ({ message: _m, lastTransitionTime: _t, ...rest }) => rest,
    );
  }
  return s;
}

/**
 * True when the two statuses differ, but only in messages: the conditions'
 * (and their timestamps) and a top-level `message` (a progress line).
 */
export function onlyMessagesDiffer(desired: Record<string, unknown>, observed: unknown): boolean {
  return !statusEqual(desired, observed) && statusEqual(withoutMessages(desired), withoutMessages(observed));
}
