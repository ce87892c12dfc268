/**
 * EventBridge Scheduler rate bodies: `N minute(s)`, `N hour(s)`, `N day(s)`. A rate is a fixed
 * duration on the clock, not a calendar step: "1 day" is 24 hours even across a 23- or 25-hour
 * DST day, as Scheduler evaluates it.
 */

const UNIT_MS = { minute: 60_000, hour: 3_600_000, day: 86_400_000 } as const;

/** A checked rate body. */
export interface Rate {
  readonly value: number;
  readonly unit: keyof typeof UNIT_MS;
  readonly periodMs: number;
}

/** A rate body that is not in the dialect; the message says what is expected. */
export class RateSyntaxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RateSyntaxError';
  }
}

/** Checks and parses a rate body such as `6 hours`; throws {@link RateSyntaxError} otherwise. */
export function parseRate(body: string): Rate {
  const text = body.trim();
  if (/^rate\s*\(/i.test(text)) {
    throw new RateSyntaxError(
      `write the body only, without "rate(…)": ${JSON.stringify(text.replace(/^rate\s*\(\s*|\s*\)\s*$/gi, ''))}`,
    );
  }
  const m = /^(\d+) +(minute|hour|day)(s?)$/.exec(text);
  if (!m) {
    throw new RateSyntaxError(
      `expected "<whole number> minutes|hours|days" like "6 hours" or "1 day", got ${JSON.stringify(body)}`,
    );
  }
  const value = Number(m[1]);
  const unit = m[2] as Rate['unit'];
  if (value < 1)
    throw new RateSyntaxError(`expected a rate of at least 1 ${unit}, got ${JSON.stringify(body)}`);
  if (value > 1 && !m[3]) {
    throw new RateSyntaxError(`expected the plural "${value} ${unit}s", got ${JSON.stringify(body)}`);
  }
  return { value, unit, periodMs: value * UNIT_MS[unit] };
}
