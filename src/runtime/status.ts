// Status is written only when it changed: compare the desired status with
// the observed one, ignoring noise that does not change meaning (key order,
// undefined/null vs absent fields, empty arrays/objects vs absent, order of
// lists keyed by `type` or `name`, such as conditions).
import type { ApplyOptions, KubeClient } from "./client.ts";
import type { KubeObject } from "./types.ts";

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
 * Apply `desired` as the object's status (server-side apply of the status
 * subresource) unless the observed status already equals it. Returns the
 * updated object, or undefined when nothing was written.
 */
export async function applyStatusIfChanged<T extends KubeObject & { status?: unknown }>(
  client: KubeClient,
  observed: T,
  desired: unknown,
  opts: Omit<ApplyOptions, "subresource"> = {},
): Promise<T | undefined> {
  if (statusEqual(desired, observed.status)) return undefined;
  const md = observed.metadata ?? {};
  return client.applyStatus<T>(
    {
      apiVersion: observed.apiVersion,
      kind: observed.kind,
      metadata: { name: md.name, ...(md.namespace ? { namespace: md.namespace } : {}) },
      status: desired,
    },
    opts,
  );
}
