import { describe, expect, it } from "vitest";
import { errorFromBody } from "../../../src/runtime/client.ts";
import { isConflict, isGone, isNotFound } from "../../../src/runtime/errors.ts";

// The bodies are what kube-apiserver 1.36 answers (metav1.Status).
const status = (code: number, reason: string, message: string) =>
  JSON.stringify({ kind: "Status", apiVersion: "v1", status: "Failure", message, reason, code });

describe("API errors", () => {
  it("maps an expired resourceVersion (410 Expired / Gone) so informers relist", () => {
    const e = errorFromBody(
      410,
      status(410, "Expired", "too old resource version: 1 (2345)"),
      "GET",
      "/api/v1/configmaps",
    );
    expect(isGone(e)).toBe(true);
    expect(e.message).toContain("too old resource version");
    expect(isGone(errorFromBody(410, status(410, "Gone", "gone"), "GET", "/x"))).toBe(true);
  });

  it("tells conflicts, not-found and others apart, also for bodies that are not a Status", () => {
    expect(isConflict(errorFromBody(409, status(409, "Conflict", "the object has been modified"), "PUT", "/x"))).toBe(
      true,
    );
    expect(isNotFound(errorFromBody(404, status(404, "NotFound", "not found"), "GET", "/x"))).toBe(true);
    const plain = errorFromBody(502, "<html>bad gateway</html>", "GET", "/x");
    expect([isGone(plain), isConflict(plain), isNotFound(plain)]).toEqual([false, false, false]);
    expect(plain.message).toContain("502");
  });
});
