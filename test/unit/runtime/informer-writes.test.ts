// Informer.recordWrite: reading one's own writes from the cache, with handlers
// still getting every watch event. A fake client serves the list and a watch
// the test feeds event by event.
import { describe, expect, it } from "vitest";
import type { KubeClient } from "../../../src/runtime/client.ts";
import { ApiError } from "../../../src/runtime/errors.ts";
import { Informer } from "../../../src/runtime/informer.ts";
import { Resources } from "../../../src/runtime/resources.ts";
import type { KubeObject, WatchEvent } from "../../../src/runtime/types.ts";

interface ConfigMap extends KubeObject {
  data?: Record<string, string>;
}

const cm = (name: string, rv: string, v?: string): ConfigMap => ({
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: { name, namespace: "ns", resourceVersion: rv },
  ...(v !== undefined ? { data: { v } } : {}),
});

/** A client whose list returns `items` at `listRv` and whose watch yields what `send` is given. */
function fakeClient(items: ConfigMap[], listRv: string) {
  const queue: WatchEvent<ConfigMap>[] = [];
  let wake: (() => void) | undefined;
  let delivered = 0;
  const drained: (() => void)[] = [];
  const client = {
    listAll: async () => ({ metadata: { resourceVersion: listRv }, items: structuredClone(items) }),
    async *watch(_res: unknown, opts: { onOpen?: () => void }, signal?: AbortSignal) {
      opts.onOpen?.();
      while (!signal?.aborted) {
        const ev = queue.shift();
        if (ev?.type === "ERROR") {
          for (const d of drained.splice(0)) d();
          throw new ApiError(410, "watch: too old resource version");
        }
        if (ev) {
          yield ev;
          delivered++;
          if (queue.length === 0) for (const d of drained.splice(0)) d();
          continue;
        }
        await new Promise<void>((resolve) => {
          wake = resolve;
          signal?.addEventListener("abort", () => resolve(), { once: true });
        });
      }
      throw signal?.reason;
    },
  };
  return {
    client: client as unknown as KubeClient,
    /** Feed watch events and resolve once the informer has handled them. */
    send: (...events: WatchEvent<ConfigMap>[]) =>
      new Promise<void>((resolve) => {
        queue.push(...events.map((e) => structuredClone(e)));
        drained.push(resolve);
        wake?.();
      }).then(() => delivered),
  };
}

async function started(items: ConfigMap[], listRv = "10") {
  const fake = fakeClient(items, listRv);
  const inf = new Informer<ConfigMap>(fake.client, Resources.ConfigMap, { namespace: "ns" });
  const log: string[] = [];
  const v = (o: ConfigMap) => `${o.metadata?.name}@${o.metadata?.resourceVersion}`;
  inf.on({
    add: (o) => log.push(`add ${v(o)}`),
    update: (old, o) => log.push(`update ${v(old)} -> ${v(o)}`),
    delete: (o) => log.push(`delete ${v(o)}`),
  });
  inf.start();
  await inf.waitForSync();
  return { inf, log, send: fake.send };
}

const data = (inf: Informer<ConfigMap>, name: string) => inf.store.getByName(name, "ns")?.data?.v;

describe("Informer.recordWrite", () => {
  it("caches a newer write at once; its watch event still reaches handlers as an update from what they last got", async () => {
    const { inf, log, send } = await started([cm("a", "5", "old")]);
    const written = cm("a", "12", "mine");
    expect(inf.recordWrite(written)).toBe(written);
    expect(data(inf, "a")).toBe("mine");
    expect(log).toEqual(["add a@5"]);
    await send({ type: "MODIFIED", object: cm("a", "12", "mine") });
    expect(log).toEqual(["add a@5", "update a@5 -> a@12"]);
    expect(data(inf, "a")).toBe("mine");
    await send({ type: "MODIFIED", object: cm("a", "13", "later") });
    expect(log.at(-1)).toBe("update a@12 -> a@13");
    expect(data(inf, "a")).toBe("later");
    await inf.stop();
  });

  it("does not move the cache back for an older event in between, but delivers it", async () => {
    const { inf, log, send } = await started([cm("a", "5", "old")]);
    inf.recordWrite(cm("a", "12", "mine"));
    await send({ type: "MODIFIED", object: cm("a", "11", "theirs") });
    expect(data(inf, "a")).toBe("mine");
    expect(log.at(-1)).toBe("update a@5 -> a@11");
    await send({ type: "MODIFIED", object: cm("a", "12", "mine") });
    expect(log.at(-1)).toBe("update a@11 -> a@12");
    await inf.stop();
  });

  it("ignores a write that is not newer, or whose resourceVersion is not an integer", async () => {
    const { inf } = await started([cm("a", "5", "old"), cm("b", "x7", "opaque")]);
    inf.recordWrite(cm("a", "5", "same version"));
    inf.recordWrite(cm("a", "4", "older"));
    inf.recordWrite(cm("a", "v9", "not a revision"));
    expect(data(inf, "a")).toBe("old");
    inf.recordWrite(cm("b", "99", "newer but cached is opaque"));
    expect(data(inf, "b")).toBe("opaque");
    inf.recordWrite(cm("c", "abc", "created, not a revision"));
    expect(inf.store.getByName("c", "ns")).toBeUndefined();
    await inf.stop();
  });

  it("compares revisions as integers, not strings", async () => {
    const { inf } = await started([cm("a", "9", "old")]);
    inf.recordWrite(cm("a", "10", "mine"));
    expect(data(inf, "a")).toBe("mine");
    await inf.stop();
  });

  it("caches a created object; handlers get its add from the watch", async () => {
    const { inf, log, send } = await started([]);
    inf.recordWrite(cm("new", "20", "mine"));
    expect(data(inf, "new")).toBe("mine");
    expect(log).toEqual([]);
    await send({ type: "ADDED", object: cm("new", "20", "mine") });
    expect(log).toEqual(["add new@20"]);
    await send({ type: "DELETED", object: cm("new", "21", "mine") });
    expect(log).toEqual(["add new@20", "delete new@20"]);
    expect(inf.store.getByName("new", "ns")).toBeUndefined();
    await inf.stop();
  });

  it("ignores objects outside the informer's namespace", async () => {
    const { inf } = await started([]);
    inf.recordWrite({ ...cm("a", "20"), metadata: { name: "a", namespace: "other", resourceVersion: "20" } });
    expect(inf.store.size).toBe(0);
    await inf.stop();
  });

  it("a relist keeps writes newer than the list and drops a recorded object the list no longer has", async () => {
    const { inf, log, send } = await started([cm("a", "5", "old")], "10");
    inf.recordWrite(cm("a", "12", "mine"));
    inf.recordWrite(cm("new", "20", "mine"));
    inf.recordWrite(cm("gone", "8", "deleted before the list"));
    // 410 Gone: the informer relists; the list (at rv 10) still has only a@5
    await send({ type: "ERROR", object: cm("status", "0") });
    await until(() => inf.status().lists === 2);
    expect(data(inf, "a")).toBe("mine");
    expect(data(inf, "new")).toBe("mine");
    expect(inf.store.getByName("gone", "ns")).toBeUndefined();
    expect(log).toEqual(["add a@5"]);
    await send({ type: "MODIFIED", object: cm("a", "12", "mine") });
    expect(log.at(-1)).toBe("update a@5 -> a@12");
    await inf.stop();
  });
});

async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setImmediate(r));
}
