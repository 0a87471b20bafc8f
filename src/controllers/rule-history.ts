// Keeps each rule's history (src/reconcilers/rule-history.ts) in the
// ConfigMap ldc-history-<rule> of the operator's namespace. Off the failover's
// critical path: the ShardingRule reconcile hands the new epoch over and goes
// on; writes of one rule run in order, each a merge patch (no conflicts).
import { Labels, MANAGED_BY } from "../reconcilers/naming.ts";
import { HISTORY_LABEL, historyConfigMapName, historyEntry, historyPatch } from "../reconcilers/rule-history.ts";
import type { RoutingTable } from "../routing/index.ts";
import { isAlreadyExists, isNotFound, Resources, stripManagedFields, type KubeObject } from "../runtime/index.ts";
import type { ShardingRule } from "../api/index.ts";
import type { OperatorContext } from "./context.ts";

type ConfigMapObj = KubeObject & { data?: Record<string, string> };

export class RuleHistory {
  readonly #ctx: OperatorContext;
  /** The last write of each rule: the next one waits for it. */
  readonly #chains = new Map<string, Promise<void>>();

  constructor(ctx: OperatorContext) {
    this.#ctx = ctx;
  }

  /** Records that `rule` published `next` (after `prev`), in the background. */
  record(rule: ShardingRule, prev: RoutingTable | undefined, next: RoutingTable): void {
    const entry = historyEntry(
      prev,
      next,
      this.#ctx.ldc.failovers.store.list(),
      { generation: rule.metadata.generation, observed: rule.status?.observedGeneration },
      new Date(),
    );
    const name = rule.metadata.name;
    const chain = (this.#chains.get(name) ?? Promise.resolve())
      .then(() => this.#write(name, entry))
      .catch((err: unknown) =>
        this.#ctx.log.warn(
          { rule: name, epoch: entry.epoch, err: (err as Error).message },
          "rule history not recorded",
        ),
      );
    this.#chains.set(name, chain);
    void chain.finally(() => {
      if (this.#chains.get(name) === chain) this.#chains.delete(name);
    });
  }

  async #write(rule: string, entry: ReturnType<typeof historyEntry>): Promise<void> {
    const ctx = this.#ctx;
    const cmName = historyConfigMapName(rule);
    const cached = ctx.own.configMaps.store.getByName(cmName, ctx.namespace);
    const data = historyPatch(cached?.data, entry);
    let written: ConfigMapObj;
    try {
      written = await ctx.home.client.mergePatch(Resources.ConfigMap, cmName, ctx.namespace, { data });
    } catch (err) {
      if (!isNotFound(err)) throw err;
      try {
        written = await ctx.home.client.create(Resources.ConfigMap, {
          apiVersion: "v1",
          kind: "ConfigMap",
          metadata: {
            name: cmName,
            namespace: ctx.namespace,
            labels: { [Labels.managedBy]: MANAGED_BY, [HISTORY_LABEL]: rule.length <= 63 ? rule : cmName },
          },
          data: Object.fromEntries(Object.entries(data).filter((e): e is [string, string] => e[1] !== null)),
        } as ConfigMapObj);
      } catch (e) {
        if (!isAlreadyExists(e)) throw e;
        written = await ctx.home.client.mergePatch(Resources.ConfigMap, cmName, ctx.namespace, { data });
      }
    }
    ctx.own.configMaps.recordWrite(stripManagedFields(written));
  }
}
