import type { IncomingMessage } from "node:http";
import { describe, expect, it } from "vitest";
import { podOfReview, podTokenAuthenticator, TokenReviewCache, type ReviewOutcome } from "../../../src/relay/index.ts";

const bound = (ns: string, pod: string) => ({
  status: {
    authenticated: true,
    audiences: ["ldc-relay"],
    user: {
      username: `system:serviceaccount:${ns}:default`,
      extra: { "authentication.kubernetes.io/pod-name": [pod] },
    },
  },
});
const req = (token?: string) =>
  ({ headers: token === undefined ? {} : { authorization: `Bearer ${token}` } }) as IncomingMessage;

describe("podOfReview", () => {
  it("names the pod of a bound token, with its namespace from the username", () => {
    expect(podOfReview(bound("shop", "app-7f9"))).toEqual({ pod: "shop/app-7f9" });
  });
  it("refuses an unauthenticated token with the API server's reason and the fix", () => {
    const r = podOfReview({ status: { authenticated: false, error: "token audiences are invalid" } });
    expect(r).toMatchObject({ refused: expect.stringContaining("token audiences are invalid") });
    expect((r as { fix: string }).fix).toContain("LDC_ROUTING_TOKEN_FILE");
  });
  it("refuses a token not bound to a pod, and one of a user that is no ServiceAccount", () => {
    const unbound = bound("shop", "x");
    unbound.status.user.extra = {} as never;
    expect(podOfReview(unbound)).toMatchObject({ refused: expect.stringContaining("not bound to a pod") });
    const user = bound("shop", "x");
    user.status.user.username = "alice";
    expect(podOfReview(user)).toMatchObject({ refused: expect.stringContaining("not bound to a pod") });
  });
  it("refuses another audience and hostile shapes without throwing", () => {
    const other = bound("shop", "x");
    other.status.audiences = ["api"];
    expect(podOfReview(other)).toHaveProperty("refused");
    for (const junk of [undefined, null, 7, "x", { status: 1 }, { status: { authenticated: true, user: 3 } }]) {
      expect(podOfReview(junk)).toHaveProperty("refused");
    }
  });
});

describe("TokenReviewCache", () => {
  it("forgets a review after the TTL, which is at most 60 s", () => {
    let t = 0;
    const c = new TokenReviewCache({ ttlMs: 600_000, now: () => t });
    c.set("k", "ns/p");
    t = 59_999;
    expect(c.get("k")).toBe("ns/p");
    t = 60_000;
    expect(c.get("k")).toBeUndefined();
    expect(c.size).toBe(0);
  });
  it("holds at most maxEntries, dropping the oldest", () => {
    let t = 0;
    const c = new TokenReviewCache({ maxEntries: 3, now: () => t });
    for (let i = 0; i < 1000; i++) {
      t = i;
      c.set(`k${i}`, `ns/p${i}`);
    }
    expect(c.size).toBe(3);
    expect(c.get("k999")).toBe("ns/p999");
    expect(c.get("k996")).toBeUndefined();
  });
});

describe("podTokenAuthenticator", () => {
  it("reviews a token once within the TTL, never caches a refusal, keys by the token's digest", async () => {
    const reviewed: string[] = [];
    const auth = podTokenAuthenticator(async (token): Promise<ReviewOutcome> => {
      reviewed.push(token);
      return token === "good" ? { pod: "shop/app-1" } : { refused: "nope", fix: "fix it" };
    });
    expect(await auth(req("good"))).toBe("shop/app-1");
    expect(await auth(req("good"))).toBe("shop/app-1");
    expect(await auth(req("bad"))).toEqual({ refused: "nope", fix: "fix it" });
    expect(await auth(req("bad"))).toEqual({ refused: "nope", fix: "fix it" });
    expect(reviewed).toEqual(["good", "bad", "bad"]);
    expect(await auth(req())).toBeUndefined();
  });
  it("answers 'unavailable' naming the cause when the review cannot be made", async () => {
    const auth = podTokenAuthenticator(async () => {
      throw new Error("connect ECONNREFUSED");
    });
    expect(await auth(req("t"))).toMatchObject({
      refused: expect.stringContaining("ECONNREFUSED"),
      fix: expect.stringContaining("tokenreviews"),
      unavailable: true,
    });
  });

  it("shares one review among a token's concurrent acks and bounds the reviews in flight", async () => {
    const waiting: (() => void)[] = [];
    let reviews = 0;
    const auth = podTokenAuthenticator(
      (token) =>
        new Promise<ReviewOutcome>((resolve) => {
          reviews++;
          waiting.push(() => resolve({ pod: `ns/${token}` }));
        }),
      { maxConcurrentReviews: 2 },
    );
    const a1 = auth(req("a"));
    const a2 = auth(req("a"));
    const b = auth(req("b"));
    expect(await auth(req("c"))).toMatchObject({
      unavailable: true,
      refused: expect.stringContaining("2 other tokens"),
    });
    expect(reviews).toBe(2);
    waiting.forEach((w) => w());
    expect([await a1, await a2, await b]).toEqual(["ns/a", "ns/a", "ns/b"]);
    const c = auth(req("c"));
    waiting.at(-1)!();
    expect(await c).toBe("ns/c");
  });
});
