/**
 * @file Durations written for people: `1 minute`, `30s`, `2 hours`, `500ms` → milliseconds.
 * Used by RATE_LIMIT_WINDOW (src/config.ts) and the per-token `rate_limit.window` of TOKENS_FILE
 * (src/auth/tokens.ts). A bare number is refused: its unit would be a guess.
 */

const UNIT_MS: Record<string, number> = {
  ms: 1, millisecond: 1, milliseconds: 1,
  s: 1000, sec: 1000, secs: 1000, second: 1000, seconds: 1000,
  m: 60_000, min: 60_000, mins: 60_000, minute: 60_000, minutes: 60_000,
  h: 3_600_000, hr: 3_600_000, hrs: 3_600_000, hour: 3_600_000, hours: 3_600_000,
  d: 86_400_000, day: 86_400_000, days: 86_400_000,
};

/** The accepted form, for error messages. */
export const DURATION_FORM = 'a number and a unit (ms, s, m, h, d or their words), e.g. "1 minute", "30s", "1h"';

/** Milliseconds of `raw`, or undefined when it is not a duration with a unit. */
export function parseDuration(raw: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]+)$/i.exec(raw.trim());
  if (!m) return undefined;
  const unit = UNIT_MS[m[2]!.toLowerCase()];
  if (unit === undefined) return undefined;
  const ms = Math.round(Number(m[1]) * unit);
  return Number.isSafeInteger(ms) ? ms : undefined;
}
