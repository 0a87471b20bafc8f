// Go-style durations ("10s", "5m", "1h30m", "1.5h", "250ms"), as the API
// server's CEL `duration()` and Go's time.ParseDuration read them. Negative
// durations are not accepted anywhere in the API.

/** The pattern every duration field carries in its CRD schema (RE2- and ECMAScript-compatible). */
export const DURATION_PATTERN = /^(0|([0-9]+(\.[0-9]+)?(ns|us|µs|μs|ms|s|m|h))+)$/;

/** Milliseconds per unit. */
const UNIT_MS: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3, // U+00B5 micro sign
  μs: 1e-3, // U+03BC greek mu
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

const TERM = /([0-9]+(?:\.[0-9]+)?)(ns|us|µs|μs|ms|s|m|h)/gy;

/**
 * Parses a Go-style duration into milliseconds (fractional for sub-millisecond
 * values). Throws an Error naming the problem on anything DURATION_PATTERN rejects.
 */
export function parseDuration(text: string): number {
  const result = tryParseDuration(text);
  if (typeof result === "string") throw new Error(result);
  return result;
}

/** Like parseDuration, but returns the error message instead of throwing. */
export function tryParseDuration(text: string): number | string {
  if (text === "0") return 0;
  if (!DURATION_PATTERN.test(text)) {
    return `invalid duration ${JSON.stringify(text)}: write a Go duration such as 10s, 5m, 1h30m or 250ms`;
  }
  let ms = 0;
  TERM.lastIndex = 0;
  for (let m = TERM.exec(text); m !== null; m = TERM.exec(text)) {
    ms += Number(m[1]) * (UNIT_MS[m[2] as string] as number);
  }
  if (!Number.isFinite(ms)) return `invalid duration ${JSON.stringify(text)}: too large`;
  return ms;
}

/**
 * Formats milliseconds the way Go prints a time.Duration, restricted to whole
 * milliseconds: 0 -> "0s", 1500 -> "1.5s", 5_400_000 -> "1h30m0s", 250 -> "250ms".
 * parseDuration(formatDuration(ms)) === ms for every non-negative integer ms.
 */
export function formatDuration(ms: number): string {
  if (!Number.isInteger(ms) || ms < 0)
    throw new Error(`formatDuration: ${ms} is not a non-negative whole number of milliseconds`);
  if (ms === 0) return "0s";
  if (ms < 1000) return `${ms}ms`;
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const rest = ms % 60_000;
  const s = Math.floor(rest / 1000);
  const frac = rest % 1000;
  const sec = frac === 0 ? `${s}` : `${s}.${String(frac).padStart(3, "0").replace(/0+$/, "")}`;
  if (h > 0) return `${h}h${m}m${sec}s`;
  if (m > 0) return `${m}m${sec}s`;
  return `${sec}s`;
}
