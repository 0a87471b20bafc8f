import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DURATION_PATTERN, formatDuration, parseDuration, tryParseDuration } from "../../../src/api/index.ts";

describe("parseDuration", () => {
  it("reads Go durations as milliseconds", () => {
    expect(parseDuration("10s")).toBe(10_000);
    expect(parseDuration("5m")).toBe(300_000);
    expect(parseDuration("1h30m")).toBe(5_400_000);
    expect(parseDuration("1.5h")).toBe(5_400_000);
    expect(parseDuration("250ms")).toBe(250);
    expect(parseDuration("1m1h")).toBe(3_660_000);
    expect(parseDuration("0")).toBe(0);
    expect(parseDuration("0s")).toBe(0);
    expect(parseDuration("1500us")).toBe(1.5);
    expect(parseDuration("2µs")).toBeCloseTo(0.002);
    expect(parseDuration("1000000ns")).toBeCloseTo(1);
  });

  it("rejects what Go or the CRD pattern rejects, naming the fix", () => {
    for (const bad of ["", "10", "10 s", "-5s", "5x", "1h 30m", "s", ".5s", "1d"]) {
      expect(DURATION_PATTERN.test(bad)).toBe(false);
      expect(() => parseDuration(bad)).toThrow(/write a Go duration such as 10s, 5m, 1h30m/);
    }
    expect(tryParseDuration("5x")).toMatch(/invalid duration "5x"/);
  });
});

describe("formatDuration", () => {
  it("prints like Go", () => {
    expect(formatDuration(0)).toBe("0s");
    expect(formatDuration(250)).toBe("250ms");
    expect(formatDuration(1500)).toBe("1.5s");
    expect(formatDuration(5_400_000)).toBe("1h30m0s");
    expect(formatDuration(61_010)).toBe("1m1.01s");
  });

  it("round-trips whole milliseconds", () => {
    fc.assert(
      fc.property(fc.nat({ max: 10 * 24 * 3_600_000 }), (ms) => {
        const text = formatDuration(ms);
        expect(DURATION_PATTERN.test(text)).toBe(true);
        expect(parseDuration(text)).toBe(ms);
      }),
    );
  });
});
