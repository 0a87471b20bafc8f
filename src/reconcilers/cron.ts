// Cron schedules for DrillSchedules: a pure parser and evaluator of the five
// standard fields (minute hour day-of-month month day-of-week) and the
// macros @yearly/@annually, @monthly, @weekly, @daily, @hourly, read in an
// IANA time zone (Intl.DateTimeFormat gives the wall clock there).
//
// Semantics (those of Vixie cron and of Kubernetes CronJobs, robfig/cron):
// - `*` (or `?` in the day fields), lists `1,15`, ranges `1-5`, steps `*/15`,
//   `1-30/2`, `5/10` (= 5-max/10); month and weekday names (JAN..DEC,
//   SUN..SAT, any case); weekday 0 and 7 are both Sunday.
// - Day-of-month and day-of-week: when both are restricted (neither is `*` or
//   `?`), a day matches if EITHER matches; otherwise both must.
// - Daylight saving time: every matching wall-clock time runs once. A time
//   the clocks skip (spring forward) runs at the instant the clocks jump; a
//   time that occurs twice (fall back) runs at its first occurrence only, so
//   a drill never runs twice because the clocks went back.

/** A field name as users read it in errors. */
export type CronField = "minute" | "hour" | "day-of-month" | "month" | "day-of-week";

export class CronError extends Error {
  readonly field: CronField | "schedule" | "timeZone";
  constructor(field: CronField | "schedule" | "timeZone", message: string) {
    super(`${field}: ${message}`);
    this.name = "CronError";
    this.field = field;
  }
}

export interface CronSchedule {
  /** The expression as written. */
  readonly source: string;
  /** The five fields the expression stands for (macros expanded). */
  readonly fields: string;
  readonly minutes: readonly boolean[];
  readonly hours: readonly boolean[];
  /** Index 1..31. */
  readonly daysOfMonth: readonly boolean[];
  /** Index 1..12. */
  readonly months: readonly boolean[];
  /** Index 0..6, Sunday = 0. */
  readonly daysOfWeek: readonly boolean[];
  /** The day-of-month field is `*` or `?` (unrestricted). */
  readonly domStar: boolean;
  readonly dowStar: boolean;
}

export const CRON_MACROS: Readonly<Record<string, string>> = {
  "@yearly": "0 0 1 1 *",
  "@annually": "0 0 1 1 *",
  "@monthly": "0 0 1 * *",
  "@weekly": "0 0 * * 0",
  "@daily": "0 0 * * *",
  "@hourly": "0 * * * *",
};

const MONTH_NAMES = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
const DAY_NAMES = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

interface FieldSpec {
  name: CronField;
  min: number;
  max: number;
  names?: readonly string[];
  /** The first name's value (JAN = 1, SUN = 0). */
  nameBase?: number;
  /** `?` is allowed (day fields). */
  question?: boolean;
  example: string;
}

const FIELDS: readonly FieldSpec[] = [
  { name: "minute", min: 0, max: 59, example: '"0", "*/15", "0,30"' },
  { name: "hour", min: 0, max: 23, example: '"3", "9-17", "*/6"' },
  { name: "day-of-month", min: 1, max: 31, question: true, example: '"1", "1,15", "*"' },
  { name: "month", min: 1, max: 12, names: MONTH_NAMES, nameBase: 1, example: '"1", "JAN-MAR", "*/3"' },
  {
    name: "day-of-week",
    min: 0,
    max: 7,
    names: DAY_NAMES,
    nameBase: 0,
    question: true,
    example: '"6", "MON-FRI", "SUN"',
  },
];

interface ParsedField {
  set: boolean[];
  star: boolean;
}

function parseValue(text: string, f: FieldSpec, item: string): number {
  if (/^[0-9]+$/.test(text)) {
    const n = Number(text);
    if (n < f.min || n > f.max) {
      throw new CronError(f.name, `${text} in "${item}" is out of range ${f.min}-${f.max} (e.g. ${f.example})`);
    }
    return n;
  }
  if (f.names) {
    const i = f.names.indexOf(text.toUpperCase());
    if (i >= 0) return i + (f.nameBase ?? 0);
    throw new CronError(
      f.name,
      `"${text}" in "${item}" is not a number or a name (${f.names[0]}..${f.names[f.names.length - 1]})`,
    );
  }
  throw new CronError(f.name, `"${text}" in "${item}" is not a number from ${f.min} to ${f.max} (e.g. ${f.example})`);
}

function parseField(text: string, f: FieldSpec): ParsedField {
  const set = new Array<boolean>(f.max + 1).fill(false);
  let star = false;
  if (text === "") throw new CronError(f.name, `is empty (e.g. ${f.example})`);
  for (const item of text.split(",")) {
    if (item === "") throw new CronError(f.name, `empty list item in "${text}": write e.g. ${f.example}`);
    const slash = item.split("/");
    if (slash.length > 2) throw new CronError(f.name, `"${item}" has more than one "/" (write e.g. "*/15")`);
    const [rangeText, stepText] = slash as [string, string | undefined];
    let step = 1;
    if (stepText !== undefined) {
      if (!/^[0-9]+$/.test(stepText) || Number(stepText) === 0) {
        throw new CronError(f.name, `step "${stepText}" in "${item}" must be a positive number (e.g. "*/15")`);
      }
      step = Number(stepText);
      if (step > f.max - f.min + 1) {
        throw new CronError(f.name, `step ${step} in "${item}" is larger than the field's range ${f.min}-${f.max}`);
      }
    }
    let lo: number;
    let hi: number;
    if (rangeText === "*" || (rangeText === "?" && f.question)) {
      lo = f.min;
      hi = f.name === "day-of-week" ? 6 : f.max;
      if (step === 1) star = true;
    } else if (rangeText === "?") {
      throw new CronError(f.name, `"?" is allowed only in day-of-month and day-of-week: write "*"`);
    } else {
      const dash = rangeText.split("-");
      if (dash.length > 2 || dash.some((p) => p === "")) {
        throw new CronError(f.name, `"${item}" is not a value, a range like "1-5" or a step like "*/15"`);
      }
      lo = parseValue(dash[0]!, f, item);
      if (dash.length === 2) {
        hi = parseValue(dash[1]!, f, item);
        if (hi < lo) {
          throw new CronError(f.name, `range "${rangeText}" runs backwards: write it low-high, or as a list`);
        }
      } else {
        // "5/10" means 5-max/10; a lone value is itself
        hi = stepText !== undefined ? (f.name === "day-of-week" ? 6 : f.max) : lo;
      }
    }
    for (let v = lo; v <= hi; v += step) set[v] = true;
  }
  return { set, star };
}

const DAYS_IN_MONTH = [0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * Parses a schedule: five fields or a macro. Throws CronError naming the
 * field and what to write instead.
 */
export function parseCron(expr: string): CronSchedule {
  const source = expr;
  const trimmed = expr.trim();
  if (trimmed === "") throw new CronError("schedule", 'is empty: write five fields, e.g. "0 3 * * 6", or @weekly');
  let fields = trimmed;
  if (trimmed.startsWith("@")) {
    const m = CRON_MACROS[trimmed.toLowerCase()];
    if (!m) {
      throw new CronError(
        "schedule",
        `unknown macro ${trimmed}: use one of ${Object.keys(CRON_MACROS).join(", ")} or five fields`,
      );
    }
    fields = m;
  }
  const parts = fields.split(/\s+/);
  if (parts.length !== 5) {
    throw new CronError(
      "schedule",
      `"${trimmed}" has ${parts.length} field(s), expected 5: minute hour day-of-month month day-of-week, e.g. "0 3 * * 6"`,
    );
  }
  const [min, hour, dom, month, dow] = parts.map((p, i) => parseField(p, FIELDS[i]!)) as [
    ParsedField,
    ParsedField,
    ParsedField,
    ParsedField,
    ParsedField,
  ];
  const daysOfWeek = dow.set.slice(0, 7);
  if (dow.set[7]) daysOfWeek[0] = true;
  const s: CronSchedule = {
    source,
    fields: parts.join(" "),
    minutes: min.set,
    hours: hour.set,
    daysOfMonth: dom.set,
    months: month.set,
    daysOfWeek,
    domStar: dom.star,
    dowStar: dow.star,
  };
  // A day-of-month that no chosen month has (e.g. "0 0 31 4 *") never runs.
  if (!s.domStar && s.dowStar) {
    let possible = false;
    for (let m = 1; m <= 12 && !possible; m++) {
      if (!s.months[m]) continue;
      for (let d = 1; d <= DAYS_IN_MONTH[m]! && !possible; d++) possible = s.daysOfMonth[d] === true;
    }
    if (!possible) {
      throw new CronError(
        "day-of-month",
        `"${parts[2]}" never occurs in month(s) "${parts[3]}": the schedule would never run`,
      );
    }
  }
  return s;
}

// ---------------------------------------------------------------- wall clock

/** A wall-clock time (no zone): what a clock on the wall in some zone shows. */
export interface WallClock {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    try {
      f = new Intl.DateTimeFormat("en-US", {
        timeZone,
        hourCycle: "h23",
        year: "numeric",
        month: "numeric",
        day: "numeric",
        hour: "numeric",
        minute: "numeric",
        second: "numeric",
        era: "short",
      });
    } catch {
      throw new CronError(
        "timeZone",
        `unknown IANA time zone "${timeZone}": use e.g. UTC, Asia/Shanghai, Europe/Berlin`,
      );
    }
    formatters.set(timeZone, f);
  }
  return f;
}

/** Throws CronError unless `timeZone` is an IANA zone this runtime knows. */
export function validateTimeZone(timeZone: string): void {
  formatter(timeZone);
}

/** The wall clock in `timeZone` at instant `t`. */
export function wallClock(t: Date | number, timeZone: string): WallClock {
  const w: WallClock = { year: 0, month: 0, day: 0, hour: 0, minute: 0, second: 0 };
  let bc = false;
  for (const p of formatter(timeZone).formatToParts(t)) {
    switch (p.type) {
      case "year":
        w.year = Number(p.value);
        break;
      case "month":
        w.month = Number(p.value);
        break;
      case "day":
        w.day = Number(p.value);
        break;
      case "hour":
        w.hour = Number(p.value);
        break;
      case "minute":
        w.minute = Number(p.value);
        break;
      case "second":
        w.second = Number(p.value);
        break;
      case "era":
        bc = p.value === "BC" || p.value === "B";
        break;
    }
  }
  if (bc) w.year = 1 - w.year;
  return w;
}

/** A wall clock as milliseconds on a zone-free (UTC) time line, for arithmetic. */
function naive(w: WallClock): number {
  const d = new Date(0);
  d.setUTCFullYear(w.year, w.month - 1, w.day);
  d.setUTCHours(w.hour, w.minute, w.second, 0);
  return d.getTime();
}

function fromNaive(ms: number): WallClock {
  const d = new Date(ms);
  return {
    year: d.getUTCFullYear(),
    month: d.getUTCMonth() + 1,
    day: d.getUTCDate(),
    hour: d.getUTCHours(),
    minute: d.getUTCMinutes(),
    second: d.getUTCSeconds(),
  };
}

/** UTC offset of `timeZone` at instant `t`, in ms (wall clock minus UTC). */
export function offsetAt(t: number, timeZone: string): number {
  const s = Math.floor(t / 1000) * 1000;
  return naive(wallClock(s, timeZone)) - s;
}

const MINUTE = 60_000;
const DAY = 86_400_000;

/** Whether a wall-clock time matches the schedule (seconds ignored). */
export function matchesWallClock(s: CronSchedule, w: WallClock): boolean {
  if (!s.minutes[w.minute] || !s.hours[w.hour] || !s.months[w.month]) return false;
  return dayMatches(s, w.year, w.month, w.day);
}

function dayMatches(s: CronSchedule, year: number, month: number, day: number): boolean {
  const d = new Date(0);
  d.setUTCFullYear(year, month - 1, day);
  const dom = s.daysOfMonth[day] === true;
  const dow = s.daysOfWeek[d.getUTCDay()] === true;
  return s.domStar || s.dowStar ? dom && dow : dom || dow;
}

/** Whether the schedule matches instant `t` read in `timeZone` (its minute; DST rules aside). */
export function matches(s: CronSchedule, t: Date, timeZone = "UTC"): boolean {
  return matchesWallClock(s, wallClock(t, timeZone));
}

/** The first matching wall-clock minute at or after `from` (naive ms, minute-aligned). */
function nextWallMatch(s: CronSchedule, from: number): number | undefined {
  let day = Math.floor(from / DAY) * DAY;
  let minuteOfDay = Math.floor((from - day) / MINUTE);
  // 28 years: the calendar repeats, so a match exists within it if at all.
  for (let i = 0; i < 366 * 28 + 7; i++, day += DAY, minuteOfDay = 0) {
    const w = fromNaive(day);
    if (!s.months[w.month] || !dayMatches(s, w.year, w.month, w.day)) continue;
    for (let h = Math.floor(minuteOfDay / 60); h < 24; h++) {
      if (!s.hours[h]) continue;
      const m0 = h === Math.floor(minuteOfDay / 60) ? minuteOfDay % 60 : 0;
      for (let m = m0; m < 60; m++) if (s.minutes[m]) return day + h * 3_600_000 + m * MINUTE;
    }
  }
  return undefined;
}

/**
 * The instants at which the wall clock in `timeZone` reads the naive time
 * `n`: none (a gap), one, or two (an overlap), ascending.
 */
function instantsOf(n: number, timeZone: string): number[] {
  const offsets = new Set([offsetAt(n - DAY, timeZone), offsetAt(n, timeZone), offsetAt(n + DAY, timeZone)]);
  const out: number[] = [];
  for (const o of offsets) {
    const t = n - o;
    if (naive(wallClock(t, timeZone)) === n) out.push(t);
  }
  return [...new Set(out)].sort((a, b) => a - b);
}

/** For a naive time in a gap: the first instant after the clocks jumped (binary search on minutes). */
function gapEnd(n: number, timeZone: string): number {
  // Before the jump the wall clock reads less than n; after, more.
  let lo = n - offsetAt(n - DAY, timeZone) - DAY;
  let hi = n - offsetAt(n + DAY, timeZone) + DAY;
  lo = Math.floor(lo / MINUTE);
  hi = Math.ceil(hi / MINUTE);
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (naive(wallClock(mid * MINUTE, timeZone)) < n) lo = mid;
    else hi = mid;
  }
  return hi * MINUTE;
}

/**
 * The first time strictly after `after` at which the schedule runs, read in
 * `timeZone` (IANA, default UTC). Throws CronError for an unknown zone or
 * when the schedule never runs (e.g. "0 0 30 2 *").
 */
export function nextAfter(schedule: CronSchedule | string, after: Date, timeZone = "UTC"): Date {
  const s = typeof schedule === "string" ? parseCron(schedule) : schedule;
  validateTimeZone(timeZone);
  if (Number.isNaN(after.getTime())) throw new CronError("schedule", "the reference time is not a valid date");
  const start = Math.floor(after.getTime() / MINUTE) * MINUTE + MINUTE;
  // From the wall minute after the one before `start`: when `start` is the
  // instant the clocks jumped, the skipped wall times run now, at `start`.
  let from = naive({ ...wallClock(start - MINUTE, timeZone), second: 0 }) + MINUTE;
  for (let guard = 0; guard < 100_000; guard++) {
    const n = nextWallMatch(s, from);
    if (n === undefined) break;
    const instants = instantsOf(n, timeZone);
    if (instants.length === 0) {
      const t = gapEnd(n, timeZone);
      if (t >= start) return new Date(t);
    } else if (instants[0]! >= start) {
      return new Date(instants[0]!);
    }
    // its first occurrence is already past (the second pass of a repeated hour): next wall time
    from = n + MINUTE;
  }
  throw new CronError("schedule", `"${s.source}" never runs: check day-of-month against month`);
}

/** Describes a schedule's zone for messages: "UTC" or "Asia/Shanghai". */
export function zoneLabel(timeZone: string | undefined): string {
  return timeZone ?? "UTC";
}
