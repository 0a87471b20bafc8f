// The Manager: starts informers, waits for their caches, runs controllers
// (only while leading, when leader election is on) and stops everything in
// order: controllers drain, then informers stop, then the server closes.
import type { Logger } from "pino";
import type { Controller } from "./controller.ts";
import type { Informer } from "./informer.ts";
import { LeaderElector, type LeaderElectionOptions } from "./leader.ts";
import { silentLogger } from "./logger.ts";
import type { CheckResult, RuntimeServer } from "./server.ts";
import type { KubeObject } from "./types.ts";

export interface ManagerOptions {
  logger?: Logger;
  server?: RuntimeServer;
  /** Run controllers only while holding this lease. */
  leaderElection?: Omit<LeaderElectionOptions, "onStartedLeading" | "onStoppedLeading">;
  /**
   * Called when the lease is lost. Default: log and exit the process with
   * code 1 (as controller-runtime does) after stopping.
   */
  onLostLeadership?: () => void;
  /** Give up waiting for cache sync after this long. Default 120 s. */
  syncTimeoutMs?: number;
  /**
   * Called when this replica starts leading (at once when leader election is
   * off), before the controllers start.
   */
  onStartedLeading?: () => void;
}

export class Manager {
  readonly #opts: ManagerOptions;
  readonly #log: Logger;
  readonly #informers = new Set<Informer<KubeObject>>();
  readonly #controllers: Controller[] = [];
  readonly #extraChecks: (() => CheckResult[])[] = [];
  #elector: LeaderElector | undefined;
  #stopped = false;
  #controllersRunning = false;

  constructor(opts: ManagerOptions = {}) {
    this.#opts = opts;
    this.#log = opts.logger ?? silentLogger;
    opts.server?.addReadinessCheck(() => this.readiness());
  }

  addInformer<T extends KubeObject>(informer: Informer<T>): this {
    this.#informers.add(informer as unknown as Informer<KubeObject>);
    return this;
  }

  /** Add a controller; its watched informers are added too. */
  addController(c: Controller): this {
    this.#controllers.push(c);
    for (const inf of c.informers) this.#informers.add(inf);
    return this;
  }

  /** Add readiness results of other components (e.g. a ClusterRegistry). */
  addReadinessCheck(check: () => CheckResult[]): this {
    this.#extraChecks.push(check);
    return this;
  }

  /**
   * Whether this replica leads: always when leader election is off, else
   * while it holds and renews the lease. Only the leader's controllers run,
   * so only the leader holds the state they build (e.g. routing tables).
   */
  isLeader(): boolean {
    if (this.#stopped) return false;
    if (!this.#opts.leaderElection) return true;
    return this.#elector?.isLeader ?? false;
  }

  /** One result per informer: synced and watch alive. */
  readiness(): CheckResult[] {
    const out: CheckResult[] = [];
    for (const inf of this.#informers) {
      const s = inf.status();
      const ok = s.synced && !s.dead;
      out.push({
        name: `informer:${s.name}`,
        ok,
        ...(ok
          ? {}
          : {
              message: !s.synced
                ? `cache not synced${s.lastError ? ` (${s.lastError})` : ""}`
                : `watch dead: ${s.lastError ?? "disconnected"}`,
            }),
      });
    }
    for (const c of this.#extraChecks) out.push(...c());
    return out;
  }

  /** Start informers; then (when leading) wait for sync and start controllers. */
  async start(): Promise<void> {
    for (const inf of this.#informers) inf.start();
    if (this.#opts.server) {
      const port = await this.#opts.server.listen();
      this.#log.info({ port }, "server listening");
    }
    if (!this.#opts.leaderElection) {
      this.#opts.onStartedLeading?.();
      await this.#startControllers();
      return;
    }
    this.#elector = new LeaderElector({
      ...this.#opts.leaderElection,
      logger: this.#opts.leaderElection.logger ?? this.#log,
      onStartedLeading: () => {
        this.#opts.onStartedLeading?.();
        void this.#startControllers().catch((err: unknown) => {
          this.#log.fatal({ err }, "starting controllers failed");
          this.#lost();
        });
      },
      onStoppedLeading: () => {
        if (!this.#stopped) this.#lost();
      },
    });
    this.#elector.start();
  }

  #lost(): void {
    if (this.#opts.onLostLeadership) {
      this.#opts.onLostLeadership();
      return;
    }
    this.#log.fatal("leader election lost: exiting");
    void this.stop().finally(() => process.exit(1));
  }

  async #startControllers(): Promise<void> {
    if (this.#controllersRunning || this.#stopped) return;
    const timeout = this.#opts.syncTimeoutMs ?? 120_000;
    const results = await Promise.all([...this.#informers].map((i) => i.waitForSync(timeout)));
    const missing = [...this.#informers].filter((_, i) => !results[i]).map((i) => i.name);
    if (missing.length) throw new Error(`caches did not sync within ${timeout} ms: ${missing.join(", ")}`);
    if (this.#stopped) return;
    this.#controllersRunning = true;
    for (const c of this.#controllers) c.start();
    this.#log.info({ controllers: this.#controllers.map((c) => c.name) }, "controllers started");
  }

  /** Stop in order: controllers (drain), leader election (release), informers, server. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    await Promise.all(this.#controllers.map((c) => c.stop()));
    await this.#elector?.stop();
    await Promise.all([...this.#informers].map((i) => i.stop()));
    await this.#opts.server?.close();
    this.#log.info("manager stopped");
  }
}
