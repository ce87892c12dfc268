/**
 * Calendar periods of an instant, as seen on a wall clock in an IANA time zone.
 *
 * Retention counts days, ISO weeks, months and years where the operator lives, not in UTC:
 * a backup taken at 00:30 on 1 November in Berlin belongs to November even though it is
 * still 31 October in UTC. Only the local calendar date matters, so DST transitions (a
 * 23- or 25-hour day, Lord Howe's 30-minute shift) need no special handling: two backups in
 * the repeated hour of a fall-back night share one local date and therefore one day.
 */
import { ConfigError } from '../errors.ts';

/** The labels of the periods an instant falls in; each sorts chronologically as a string. */
export interface CalendarPeriods {
  /** Local date, `2026-11-21`. */
  readonly day: string;
  /** ISO 8601 week with its week-based year, `2026-W47` (2021-01-01 is `2020-W53`). */
  readonly week: string;
  /** Local month, `2026-11`. */
  readonly month: string;
  /** Local calendar year, `2026` (not the ISO week-based year). */
  readonly year: string;
}

const DAY_MS = 86_400_000;

// Formatters are costly to build and immutable, so one per zone is shared; the cache never
// changes a result, which keeps the functions that use it pure.
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  const cached = formatters.get(timeZone);
  if (cached) return cached;
  let formatter: Intl.DateTimeFormat;
  try {
    // The Unicode extension pins the Gregorian calendar and Latin digits whatever the
    // process locale is, so the parts below are always plain ASCII numbers.
    formatter = new Intl.DateTimeFormat('en-US-u-ca-gregory-nu-latn', {
      timeZone,
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
    });
  } catch (err) {
    throw new ConfigError(
      `retention.timezone: expected an IANA time zone such as "Europe/Berlin" or "UTC", got ${JSON.stringify(timeZone)}`,
      { cause: err },
    );
  }
  formatters.set(timeZone, formatter);
  return formatter;
}

/** Fails with a ConfigError naming the value when `timeZone` is not a zone Intl knows. */
export function assertTimeZone(timeZone: string): void {
  if (timeZone !== 'UTC') formatterFor(timeZone);
}

/**
 * The local date of `instant` in `timeZone`. UTC, the default, is read with Date's own UTC
 * getters: the first Intl.DateTimeFormat of a process loads the time zone data, ~20–35 ms of
 * CPU at every backup's retention (docs/performance.md, start-up), for the same three numbers.
 */
function localDate(instant: Date, timeZone: string): { year: number; month: number; day: number } {
  if (timeZone === 'UTC') {
    return { year: instant.getUTCFullYear(), month: instant.getUTCMonth() + 1, day: instant.getUTCDate() };
  }
  const parts = formatterFor(timeZone).formatToParts(instant);
  const part = (type: Intl.DateTimeFormatPartTypes): number =>
    Number(parts.find((p) => p.type === type)?.value);
  return { year: part('year'), month: part('month'), day: part('day') };
}

const pad = (n: number, width: number): string => String(n).padStart(width, '0');

/** The ISO 8601 week-based year and week number of a calendar date. */
function isoWeek(year: number, month: number, day: number): { year: number; week: number } {
  const date = Date.UTC(year, month - 1, day);
  const mondayBased = (new Date(date).getUTCDay() + 6) % 7;
  // The Thursday of the same week decides the week-based year: week 1 is the week holding
  // the year's first Thursday, which is why 2021-01-01 (a Friday) is still in 2020-W53.
  const thursday = date + (3 - mondayBased) * DAY_MS;
  const weekYear = new Date(thursday).getUTCFullYear();
  const week = 1 + Math.floor((thursday - Date.UTC(weekYear, 0, 1)) / (7 * DAY_MS));
  return { year: weekYear, week };
}

/**
 * The day, ISO week, month and year `instant` falls in on a wall clock in `timeZone`.
 * Throws a ConfigError for an unknown zone, so a typo in the config is reported by name.
 */
export function calendarPeriods(instant: Date, timeZone: string): CalendarPeriods {
  const { year, month, day } = localDate(instant, timeZone);
  const week = isoWeek(year, month, day);
  return {
    day: `${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)}`,
    week: `${pad(week.year, 4)}-W${pad(week.week, 2)}`,
    month: `${pad(year, 4)}-${pad(month, 2)}`,
    year: pad(year, 4),
  };
}
