import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  CronError,
  matches,
  matchesWallClock,
  nextAfter,
  parseCron,
  wallClock,
  type CronSchedule,
} from "../../../src/reconcilers/cron.ts";

const at = (iso: string) => new Date(iso);
const next = (expr: string, after: string, tz = "UTC") => nextAfter(expr, at(after), tz).toISOString();

describe("parseCron", () => {
  it("reads lists, ranges, steps and names", () => {
    const s = parseCron("0,30 9-17/4 1,15 JAN-mar mon-FRI");
    expect(idx(s.minutes)).toEqual([0, 30]);
    expect(idx(s.hours)).toEqual([9, 13, 17]);
    expect(idx(s.daysOfMonth)).toEqual([1, 15]);
    expect(idx(s.months)).toEqual([1, 2, 3]);
    expect(idx(s.daysOfWeek)).toEqual([1, 2, 3, 4, 5]);
    expect(s.domStar || s.dowStar).toBe(false);
  });

  it("treats 7 as Sunday, N/step as N-max/step, and ? as *", () => {
    expect(idx(parseCron("* * * * 5-7").daysOfWeek)).toEqual([0, 5, 6]);
    expect(idx(parseCron("5/20 * * * *").minutes)).toEqual([5, 25, 45]);
    const q = parseCron("0 0 ? * 1");
    expect(q.domStar).toBe(true);
    expect(idx(q.daysOfWeek)).toEqual([1]);
    // */2 restricts the field (as robfig/cron, which Kubernetes CronJobs use)
    expect(parseCron("0 0 */2 * *").domStar).toBe(false);
  });

  it("expands the macros", () => {
    expect(parseCron("@yearly").fields).toBe("0 0 1 1 *");
    expect(parseCron("@annually").fields).toBe("0 0 1 1 *");
    expect(parseCron("@monthly").fields).toBe("0 0 1 * *");
    expect(parseCron("@weekly").fields).toBe("0 0 * * 0");
    expect(parseCron("@daily").fields).toBe("0 0 * * *");
    expect(parseCron("@hourly").fields).toBe("0 * * * *");
  });

  it.each([
    ["61 * * * *", "minute", /61 .* out of range 0-59/],
    ["* 24 * * *", "hour", /24 .* out of range 0-23/],
    ["* * 0 * *", "day-of-month", /out of range 1-31/],
    ["* * * 13 *", "month", /out of range 1-12/],
    ["* * * FOO *", "month", /not a number or a name \(JAN\.\.DEC\)/],
    ["* * * * 8", "day-of-week", /out of range 0-7/],
    ["* * * * FUN", "day-of-week", /SUN\.\.SAT/],
    ["*/0 * * * *", "minute", /step "0" .* positive/],
    ["5-1 * * * *", "minute", /runs backwards/],
    ["1,,2 * * * *", "minute", /empty list item/],
    ["? * * * *", "minute", /only in day-of-month and day-of-week/],
    ["* * * *", "schedule", /4 field\(s\), expected 5/],
    ["* * * * * *", "schedule", /6 field\(s\), expected 5/],
    ["@midnight", "schedule", /unknown macro/],
    ["0 0 31 4,6 *", "day-of-month", /never occurs/],
    ["0 0 30 2 *", "day-of-month", /never occurs/],
  ])("rejects %s naming the field %s", (expr, field, message) => {
    let err: unknown;
    try {
      parseCron(expr);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CronError);
    expect((err as CronError).field).toBe(field);
    expect((err as CronError).message.startsWith(`${field}: `)).toBe(true);
    expect((err as CronError).message).toMatch(message);
  });

  it("rejects an unknown time zone, naming the field", () => {
    expect(() => nextAfter("* * * * *", new Date(), "Mars/Olympus")).toThrow(/^timeZone: unknown IANA time zone/);
  });
});

describe("nextAfter: fixed examples", () => {
  it("steps through minutes, hours and days in UTC", () => {
    expect(next("*/15 * * * *", "2026-01-01T00:14:59Z")).toBe("2026-01-01T00:15:00.000Z");
    expect(next("*/15 * * * *", "2026-01-01T00:15:00Z")).toBe("2026-01-01T00:30:00.000Z");
    expect(next("* * * * *", "2026-01-01T00:00:00.001Z")).toBe("2026-01-01T00:01:00.000Z");
    expect(next("0 3 * * *", "2026-01-01T03:00:00Z")).toBe("2026-01-02T03:00:00.000Z");
    expect(next("59 23 31 12 *", "2026-06-01T00:00:00Z")).toBe("2026-12-31T23:59:00.000Z");
    expect(next("@hourly", "2026-01-01T10:30:00Z")).toBe("2026-01-01T11:00:00.000Z");
    expect(next("@monthly", "2026-01-15T00:00:00Z")).toBe("2026-02-01T00:00:00.000Z");
    expect(next("@yearly", "2026-01-01T00:00:00Z")).toBe("2027-01-01T00:00:00.000Z");
  });

  it("finds Feb 29 in the next leap year", () => {
    expect(next("0 0 29 2 *", "2026-01-01T00:00:00Z")).toBe("2028-02-29T00:00:00.000Z");
    expect(next("0 0 29 2 *", "2096-03-01T00:00:00Z")).toBe("2104-02-29T00:00:00.000Z"); // 2100 is no leap year
  });

  it("ORs day-of-month and day-of-week when both are restricted, ANDs otherwise", () => {
    // 2026-01-01 is a Thursday: the 13th or any Friday -> Friday the 2nd
    expect(next("0 0 13 * FRI", "2026-01-01T00:00:00Z")).toBe("2026-01-02T00:00:00.000Z");
    // day-of-month * : only Fridays
    expect(next("0 0 * * FRI", "2026-01-01T00:00:00Z")).toBe("2026-01-02T00:00:00.000Z");
    // day-of-week * : only the 13th
    expect(next("0 0 13 * *", "2026-01-01T00:00:00Z")).toBe("2026-01-13T00:00:00.000Z");
    // Friday the 13th is not required: Feb 2026 has one, but Jan's 13th comes first
    expect(next("0 0 13 * 5", "2026-01-03T00:00:00Z")).toBe("2026-01-09T00:00:00.000Z");
  });

  it("reads the schedule in the time zone (the weekly example: Saturday 03:00 Shanghai)", () => {
    expect(next("0 3 * * 6", "2026-11-16T00:00:00Z", "Asia/Shanghai")).toBe("2026-11-20T19:00:00.000Z");
    expect(next("0 3 * * 6", "2026-11-20T19:00:00Z", "Asia/Shanghai")).toBe("2026-11-27T19:00:00.000Z");
    expect(next("30 0 * * *", "2026-01-01T00:00:00Z", "Asia/Kolkata")).toBe("2026-01-01T19:00:00.000Z");
  });

  it("runs a time the clocks skip once, when they jump (spring forward)", () => {
    // New York, 2026-03-08: 02:00 EST -> 03:00 EDT (07:00Z)
    expect(next("30 2 * * *", "2026-03-08T00:00:00Z", "America/New_York")).toBe("2026-03-08T07:00:00.000Z");
    // every quarter of the skipped hour collapses into one run at the jump
    expect(next("*/15 2 * * *", "2026-03-08T06:59:00Z", "America/New_York")).toBe("2026-03-08T07:00:00.000Z");
    expect(next("*/15 2 * * *", "2026-03-08T07:00:00Z", "America/New_York")).toBe("2026-03-09T06:00:00.000Z");
    // times around the gap are unaffected
    expect(next("0 3 * * *", "2026-03-08T00:00:00Z", "America/New_York")).toBe("2026-03-08T07:00:00.000Z");
    expect(next("59 1 * * *", "2026-03-08T00:00:00Z", "America/New_York")).toBe("2026-03-08T06:59:00.000Z");
    // Berlin, 2026-03-29: 02:00 CET -> 03:00 CEST (01:00Z)
    expect(next("30 2 * * 0", "2026-03-28T00:00:00Z", "Europe/Berlin")).toBe("2026-03-29T01:00:00.000Z");
  });

  it("runs a repeated time once, at its first occurrence (fall back)", () => {
    // New York, 2026-11-01: 02:00 EDT -> 01:00 EST (06:00Z); 01:30 happens at 05:30Z and 06:30Z
    expect(next("30 1 * * *", "2026-11-01T00:00:00Z", "America/New_York")).toBe("2026-11-01T05:30:00.000Z");
    expect(next("30 1 * * *", "2026-11-01T05:30:00Z", "America/New_York")).toBe("2026-11-02T06:30:00.000Z");
    // a minutely schedule skips the second pass of the repeated hour
    expect(next("* * * * *", "2026-11-01T05:59:00Z", "America/New_York")).toBe("2026-11-01T07:00:00.000Z");
    // the hour after is normal
    expect(next("0 2 * * *", "2026-11-01T05:30:00Z", "America/New_York")).toBe("2026-11-01T07:00:00.000Z");
    // Sydney (southern hemisphere, half a year off): 2026-04-05 03:00 AEDT -> 02:00 AEST
    expect(next("30 2 * * *", "2026-04-04T00:00:00Z", "Australia/Sydney")).toBe("2026-04-04T15:30:00.000Z");
    expect(next("30 2 * * *", "2026-04-04T15:30:00Z", "Australia/Sydney")).toBe("2026-04-05T16:30:00.000Z");
  });

  it("handles a 30-minute DST shift (Lord Howe Island)", () => {
    // 2026-10-04 02:00 -> 02:30 local (+10:30 -> +11:00); 02:15 is skipped, runs at the jump (15:30Z)
    expect(next("15 2 * * *", "2026-10-03T12:00:00Z", "Australia/Lord_Howe")).toBe("2026-10-03T15:30:00.000Z");
  });
});

// ------------------------------------------------------------ properties

function idx(set: readonly boolean[]): number[] {
  return set.flatMap((v, i) => (v ? [i] : []));
}

const fieldArb = (min: number, max: number, names?: readonly string[]): fc.Arbitrary<string> => {
  const value = fc.integer({ min, max });
  const named = names ? fc.integer({ min: 0, max: names.length - 1 }).map((i) => names[i]!) : value.map(String);
  const range = fc.tuple(value, value).map(([a, b]) => (a <= b ? `${a}-${b}` : `${b}-${a}`));
  const step = fc.tuple(fc.constantFrom("*", String(min)), fc.integer({ min: 1, max: Math.max(1, max - min) }));
  const item = fc.oneof(
    { weight: 3, arbitrary: fc.constant("*") },
    { weight: 2, arbitrary: value.map(String) },
    { weight: 1, arbitrary: named },
    { weight: 2, arbitrary: range },
    { weight: 2, arbitrary: step.map(([base, s]) => `${base}/${s}`) },
  );
  return fc.array(item, { minLength: 1, maxLength: 3 }).map((items) => (items.includes("*") ? "*" : items.join(",")));
};

const MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
const DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/** Valid schedules (ones that can never run are filtered out by parseCron's own check). */
const scheduleArb: fc.Arbitrary<CronSchedule> = fc
  .tuple(fieldArb(0, 59), fieldArb(0, 23), fieldArb(1, 31), fieldArb(1, 12, MONTHS), fieldArb(0, 7, DAYS))
  .map((f) => f.join(" "))
  .filter((expr) => {
    try {
      parseCron(expr);
      return true;
    } catch {
      return false;
    }
  })
  .map((expr) => parseCron(expr));

const dateArb = fc.integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2040, 0, 1) }).map((ms) => new Date(ms));

const MINUTE = 60_000;
/** "No match in between" is checked minute by minute over at most this span. */
const SCAN_MINUTES = 3 * 24 * 60;

function checkNext(s: CronSchedule, after: Date, tz: string): void {
  const n = nextAfter(s, after, tz);
  expect(n.getTime()).toBeGreaterThan(after.getTime());
  expect(n.getTime() % MINUTE).toBe(0);
  expect(matches(s, n, tz), `${s.source} in ${tz} after ${after.toISOString()}: ${n.toISOString()}`).toBe(true);
  const first = Math.floor(after.getTime() / MINUTE) * MINUTE + MINUTE;
  const last = Math.min(n.getTime() - MINUTE, first + SCAN_MINUTES * MINUTE);
  for (let t = first; t <= last; t += MINUTE) {
    if (matches(s, new Date(t), tz)) {
      throw new Error(`${s.source} in ${tz} matches ${new Date(t).toISOString()}, before ${n.toISOString()}`);
    }
  }
}

describe("nextAfter: properties", () => {
  it("in UTC: strictly after, a match, and no match in between", () => {
    fc.assert(
      fc.property(scheduleArb, dateArb, (s, after) => checkNext(s, after, "UTC")),
      { numRuns: 150 },
    );
  });

  it("in zones without DST (fixed offsets, including half hours): the same", () => {
    fc.assert(
      fc.property(scheduleArb, dateArb, fc.constantFrom("Asia/Shanghai", "Asia/Kolkata", "Etc/GMT+5"), (s, after, tz) =>
        checkNext(s, after, tz),
      ),
      { numRuns: 40 },
    );
  });

  it("in DST zones: strictly after, and a match or the end of a skipped hour; idempotent on the minute", () => {
    fc.assert(
      fc.property(
        scheduleArb,
        dateArb,
        fc.constantFrom("America/New_York", "Europe/Berlin", "Australia/Sydney"),
        (s, after, tz) => {
          const n = nextAfter(s, after, tz);
          expect(n.getTime()).toBeGreaterThan(after.getTime());
          if (!matches(s, n, tz)) {
            // only a skipped wall time may run at an instant that does not itself match: the clocks just jumped
            const before = wallClock(n.getTime() - MINUTE, tz);
            const now = wallClock(n, tz);
            const jumped = (now.hour * 60 + now.minute - (before.hour * 60 + before.minute) + 1440) % 1440 > 1;
            expect(jumped, `${s.source} in ${tz}: ${n.toISOString()}`).toBe(true);
          }
          // any instant in the same minute before n gives n again
          expect(nextAfter(s, new Date(n.getTime() - 1), tz).getTime()).toBe(n.getTime());
        },
      ),
      { numRuns: 150 },
    );
  });

  it("matchesWallClock agrees with the UTC calendar for every generated schedule (sanity)", () => {
    fc.assert(
      fc.property(scheduleArb, dateArb, (s, d) => {
        const w = wallClock(d, "UTC");
        expect(w.year).toBe(d.getUTCFullYear());
        expect(w.hour).toBe(d.getUTCHours());
        expect(matchesWallClock(s, w)).toBe(matches(s, d, "UTC"));
      }),
      { numRuns: 100 },
    );
  });
});
