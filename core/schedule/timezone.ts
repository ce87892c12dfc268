/**
 * Wall clocks in IANA time zones, with EventBridge Scheduler's rules for the two kinds of
 * daylight-saving change: a local time that a spring-forward change skips does not fire at all,
 * and a local time that a fall-back change repeats fires once, at its first occurrence
 * ("When the time shifts forward in Spring, your schedule invocation gets skipped if the cron
 * expression falls on a non-existent date and time. When the time shifts back in the Fall, your
 * schedule runs only once and doesn't repeat its invocation." — EventBridge Scheduler user guide,
 * "Daylight saving time").
 *
 * A wall-clock time is held as "floating" milliseconds: the UTC epoch value of the same
 * year, month, day, hour and minute, which makes calendar arithmetic on it plain UTC arithmetic.
 */

const DAY_MS = 86_400_000;

// Formatters are costly to build and immutable: one per zone, shared.
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timeZone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat('en-US-u-ca-gregory-nu-latn', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timeZone, formatter);
  }
  return formatter;
}

/** IANA names (`Europe/Berlin`, `America/Argentina/Buenos_Aires`, `UTC`), not offsets or abbreviations. */
const IANA_NAME = /^[A-Za-z][A-Za-z0-9_+-]*(?:\/[A-Za-z0-9_+-]+)*$/;

/**
 * Why `name` is not a time zone EventBridge Scheduler and the local scheduler both accept, as
 * the end of a sentence, or undefined when it is one. Checked by `validate`, so a typo is reported
 * before a backup runs, not when retention or a schedule first needs the zone.
 */
export function timeZoneProblem(name: string): string | undefined {
  const expected = `expected an IANA time zone such as "Europe/Berlin" or "UTC", got ${JSON.stringify(name)}`;
  if (!IANA_NAME.test(name)) return expected;
  let resolved: string;
  try {
    resolved = formatterFor(name).resolvedOptions().timeZone;
  } catch {
    return expected;
  }
  // Intl ignores case; EventBridge Scheduler takes names as the tz database spells them.
  if (resolved !== name && resolved.toLowerCase() === name.toLowerCase()) {
    return `expected the time zone spelled ${JSON.stringify(resolved)}, got ${JSON.stringify(name)}`;
  }
  return undefined;
}

/** The zone's offset from UTC at `instant`, in milliseconds (Berlin in summer: +7 200 000). */
export function offsetAt(timeZone: string, instant: number): number {
  const parts = formatterFor(timeZone).formatToParts(new Date(instant));
  const part = (type: Intl.DateTimeFormatPartTypes): number =>
    Number(parts.find((p) => p.type === type)?.value);
  const wall = Date.UTC(
    part('year'),
    part('month') - 1,
    part('day'),
    part('hour'),
    part('minute'),
    part('second'),
  );
  return wall - (instant - (((instant % 1000) + 1000) % 1000));
}

/** The wall-clock time (floating milliseconds) that `instant` shows in `timeZone`. */
export function wallClockOf(timeZone: string, instant: number): number {
  return instant + offsetAt(timeZone, instant);
}

/**
 * The instants at which the wall clock of `timeZone` shows `wall`, earliest first: none for a
 * time a spring-forward change skips, two for a time a fall-back change repeats, else one.
 */
export function instantsOf(timeZone: string, wall: number): number[] {
  // Zones change their offset at most once within any two days, so the offsets a day before
  // and a day after are the only candidates.
  const before = offsetAt(timeZone, wall - DAY_MS);
  const after = offsetAt(timeZone, wall + DAY_MS);
  const found: number[] = [];
  for (const offset of before === after ? [before] : [before, after]) {
    const instant = wall - offset;
    if (offsetAt(timeZone, instant) === offset) found.push(instant);
  }
  return found.sort((a, b) => a - b);
}

/**
 * The instant a schedule fires for the wall-clock time `wall`, by EventBridge Scheduler's rules:
 * undefined when a spring-forward change skips it, the first occurrence when a fall-back change
 * repeats it.
 */
export function firingInstant(timeZone: string, wall: number): number | undefined {
  return instantsOf(timeZone, wall)[0];
}
