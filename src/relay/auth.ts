// Per-pod authentication of the acks a relay receives (docs/sidecar.md,
// "Acknowledgements"): each sidecar sends the projected ServiceAccount token
// the kubelet binds to its pod (audience ldc-relay); the relay asks its own
// cluster's API server (TokenReview) whose it is. The identity is the pod,
// "<namespace>/<pod>", never what the sender claims. Successful reviews are
// cached by a SHA-256 of the token, briefly and in bounded memory: hostile
// clients sending endless tokens must not grow it.
import { createHash } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { bearerToken, type AuthResult } from "../routing-api/index.ts";
import { RELAY_AUDIENCE } from "../reconcilers/sidecar.ts";
import { Resources, type KubeClient } from "../runtime/index.ts";

export { RELAY_AUDIENCE };
/** The TokenReview `extra` key naming the pod a bound token belongs to. */
export const POD_NAME_EXTRA = "authentication.kubernetes.io/pod-name";

/** What a review found: the pod ("<namespace>/<pod>"), or why the token is refused and the fix. */
export type ReviewOutcome = { pod: string } | { refused: string; fix: string };

const TOKEN_FIX = `mount a projected ServiceAccount token with audience ${RELAY_AUDIENCE} (the operator injects one when relays are on) and point LDC_ROUTING_TOKEN_FILE at it`;

/** The pod a TokenReview's status names, or why it names none. Pure: the body as the API server answered. */
export function podOfReview(review: unknown): ReviewOutcome {
  const status = (review as { status?: Record<string, unknown> } | undefined)?.status ?? {};
  if (status.authenticated !== true) {
    const why = typeof status.error === "string" && status.error ? `: ${status.error.slice(0, 200)}` : "";
    return { refused: `the bearer token is not valid for audience ${RELAY_AUDIENCE}${why}`, fix: TOKEN_FIX };
  }
  const audiences = status.audiences;
  if (Array.isArray(audiences) && !audiences.includes(RELAY_AUDIENCE)) {
    return { refused: `the bearer token's audiences do not include ${RELAY_AUDIENCE}`, fix: TOKEN_FIX };
  }
  const user = (status.user ?? {}) as { username?: unknown; extra?: Record<string, unknown> };
  const m = typeof user.username === "string" ? /^system:serviceaccount:([^:]+):([^:]+)$/.exec(user.username) : null;
  const pods = user.extra?.[POD_NAME_EXTRA];
  const pod = Array.isArray(pods) && pods.length === 1 && typeof pods[0] === "string" ? pods[0] : undefined;
  if (!m || !pod) {
    return {
      refused: "the bearer token is not bound to a pod (a ServiceAccount token the kubelet projects into the pod is)",
      fix: TOKEN_FIX,
    };
  }
  return { pod: `${m[1]}/${pod}` };
}

export interface TokenReviewCacheOptions {
  /** How long a successful review is reused (ms). Default and most 60,000. */
  ttlMs?: number;
  /** Most reviews cached; the oldest go first. Default 10,000. */
  maxEntries?: number;
  /** Monotonic clock (ms). Default performance.now. */
  now?: () => number;
}

/** Successful reviews by SHA-256 of the token: at most ttlMs old, at most maxEntries. Failures are never cached. */
export class TokenReviewCache {
  readonly #ttl: number;
  readonly #max: number;
  readonly #now: () => number;
  /** digest -> {pod, expires}; Map order = insertion order, so the first is the oldest. */
  readonly #entries = new Map<string, { pod: string; expires: number }>();

  constructor(opts: TokenReviewCacheOptions = {}) {
    this.#ttl = Math.min(opts.ttlMs ?? 60_000, 60_000);
    this.#max = Math.max(1, opts.maxEntries ?? 10_000);
    this.#now = opts.now ?? (() => performance.now());
  }

  static key(token: string): string {
    return createHash("sha256").update(token).digest("base64");
  }

  get size(): number {
    return this.#entries.size;
  }

  get(key: string): string | undefined {
    const e = this.#entries.get(key);
    if (e === undefined) return undefined;
    if (this.#now() >= e.expires) {
      this.#entries.delete(key);
      return undefined;
    }
    return e.pod;
  }

  set(key: string, pod: string): void {
    this.#entries.delete(key);
    this.#entries.set(key, { pod, expires: this.#now() + this.#ttl });
    // The oldest first: expired ones, then, at the bound, the oldest live ones.
    for (const [k, e] of this.#entries) {
      if (this.#entries.size <= this.#max && e.expires > this.#now()) break;
      this.#entries.delete(k);
    }
  }
}

export interface PodTokenAuthenticatorOptions extends TokenReviewCacheOptions {
  /** Logs a review that could not be made (the API server's error). */
  onError?: (err: unknown) => void;
  /**
   * Most TokenReviews in flight (distinct tokens; one token's concurrent acks
   * share one review); beyond it an ack gets 503 + Retry-After, so a flood of
   * made-up tokens cannot queue without bound. Default 32.
   */
  maxConcurrentReviews?: number;
}

/** Sends one TokenReview (audience ldc-relay) to the relay's own cluster and reads the pod from it. */
export function tokenReviewer(client: KubeClient): (token: string) => Promise<ReviewOutcome> {
  return async (token) => {
    const review = await client.create(Resources.TokenReview, {
      metadata: {},
      spec: { token, audiences: [RELAY_AUDIENCE] },
    } as never);
    return podOfReview(review);
  };
}

/**
 * The relay's `authenticate` for createRoutingApi: the principal is the pod
 * "<namespace>/<pod>" the token is bound to; a refusal names why and the fix.
 */
export function podTokenAuthenticator(
  review: (token: string) => Promise<ReviewOutcome>,
  opts: PodTokenAuthenticatorOptions = {},
): (req: IncomingMessage) => Promise<AuthResult> {
  const cache = new TokenReviewCache(opts);
  const maxInFlight = opts.maxConcurrentReviews ?? 32;
  const inFlight = new Map<string, Promise<AuthResult>>();
  const reviewed = async (token: string, key: string): Promise<AuthResult> => {
    let outcome: ReviewOutcome;
    try {
      outcome = await review(token);
    } catch (err) {
      opts.onError?.(err);
      const why = (err as Error).message.slice(0, 200);
      return {
        refused: `the relay could not review the bearer token with its API server: ${why}`,
        fix: "retry; if it persists, check that the relay's ServiceAccount may create tokenreviews (the chart's ClusterRole <release>-relay-tokenreview)",
        unavailable: true,
      };
    }
    if ("refused" in outcome) return outcome;
    cache.set(key, outcome.pod);
    return outcome.pod;
  };
  return async (req) => {
    const token = bearerToken(req);
    if (token === undefined) return undefined;
    const key = TokenReviewCache.key(token);
    const hit = cache.get(key);
    if (hit !== undefined) return hit;
    const pending = inFlight.get(key);
    if (pending !== undefined) return pending;
    if (inFlight.size >= maxInFlight) {
      return {
        refused: `the relay is reviewing ${maxInFlight} other tokens`,
        fix: "retry after the Retry-After delay",
        unavailable: true,
      };
    }
    const p = reviewed(token, key).finally(() => inFlight.delete(key));
    inFlight.set(key, p);
    return p;
  };
}
