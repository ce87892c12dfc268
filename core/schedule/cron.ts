/**
 * The EventBridge Scheduler cron dialect: `minutes hours day-of-month month day-of-week year`,
 * with `?`, `L`, `LW`, `nW`, `n#k`, `nL`, ranges, lists, steps, month and weekday names, and
 * weekdays numbered 1 (SUN) to 7 (SAT).
 *
 * Checking is ours, matching is croner's. No library checks this dialect as AWS does (croner and
 * cronosjs accept a superset: `?` anywhere, both day fields at once, weekday 0; aws-cron-parser
 * turns "not a cron" into NaN and carries on), so every field is checked here against the AWS
 * rules and rewritten into croner's Quartz mode. croner (well kept, no dependencies) then finds
 * the next matching wall-clock minute, which keeps the calendar arithmetic of `L`, `W` and `#`
 * out of this code. Time zones are not croner's job here: its DST rules follow Vixie cron, not
 * EventBridge (see timezone.ts), so it only ever evaluates floating wall-clock times in UTC.
 */
import { Cron } from 'croner';

const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const WEEKDAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

interface FieldRule {
  readonly name: string;
  readonly min: number;
  readonly max: number;
  readonly names?: readonly string[];
  /** `/` steps are allowed (every field but day-of-week). */
  readonly steps: boolean;
  /** What the field accepts, for the error message. */
  readonly expected: string;
}

const FIELDS = {
  minutes: { name: 'minutes', min: 0, max: 59, steps: true, expected: '0-59 with , - * /' },
  hours: { name: 'hours', min: 0, max: 23, steps: true, expected: '0-23 with , - * /' },
  dayOfMonth: {
    name: 'day-of-month',
    min: 1,
    max: 31,
    steps: true,
    expected: '1-31 with , - * / ?, or L, LW, nW',
  },
  month: {
    name: 'month',
    min: 1,
    max: 12,
    names: MONTHS,
    steps: true,
    expected: '1-12 or JAN-DEC with , - * /',
  },
  dayOfWeek: {
    name: 'day-of-week',
    min: 1,
    max: 7,
    names: WEEKDAYS,
    steps: false,
    expected: '1-7 or SUN-SAT with , - * ?, or L, nL, n#k',
  },
  year: { name: 'year', min: 1970, max: 2199, steps: true, expected: '1970-2199 with , - * /' },
} as const satisfies Record<string, FieldRule>;

/** A cron body that is not in the dialect; the message says which field and what it accepts. */
export class CronSyntaxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CronSyntaxError';
  }
}

function fail(rule: FieldRule, text: string, why?: string): never {
  throw new CronSyntaxError(
    `${rule.name} field ${JSON.stringify(text)}: ${why ?? `expected ${rule.expected}`}`,
  );
}

function value(rule: FieldRule, field: string, token: string): number {
  const named = rule.names?.indexOf(token.toUpperCase()) ?? -1;
  if (named >= 0) return named + rule.min;
  if (!/^\d+$/.test(token)) fail(rule, field);
  const n = Number(token);
  if (n < rule.min || n > rule.max) fail(rule, field, `${token} is outside ${rule.min}-${rule.max}`);
  return n;
}

/** Lists, ranges, steps and `*` of one field, rewritten with numbers only (`a/s` as `a-max/s`). */
function plainField(rule: FieldRule, field: string): string {
  if (field === '') fail(rule, field);
  return field
    .split(',')
    .map((part) => {
      const [range = '', step, extra] = part.split('/');
      if (extra !== undefined) fail(rule, field);
      if (step !== undefined) {
        if (!rule.steps) fail(rule, field, `steps (/) are not allowed in ${rule.name}`);
        if (!/^\d+$/.test(step) || Number(step) < 1) fail(rule, field, `expected a step ≥ 1 after "/"`);
      }
      let from: number;
      let to: number;
      if (range === '*') {
        from = rule.min;
        to = rule.max;
      } else if (range.includes('-')) {
        const [a = '', b = '', more] = range.split('-');
        if (more !== undefined) fail(rule, field);
        from = value(rule, field, a);
        to = value(rule, field, b);
        if (from > to) fail(rule, field, `the range ${range} runs backwards`);
      } else {
        from = value(rule, field, range);
        to = step === undefined ? from : rule.max;
      }
      const body = from === to && step === undefined ? `${from}` : `${from}-${to}`;
      return step === undefined ? body : `${body}/${step}`;
    })
    .join(',');
}

function dayOfMonth(field: string): string {
  const rule = FIELDS.dayOfMonth;
  if (field === '?' || field === 'L' || field === 'LW') return field;
  const weekday = /^(\d+)W$/.exec(field);
  if (weekday) return `${value(rule, field, weekday[1]!)}W`;
  if (/[LW#?]/i.test(field)) fail(rule, field, 'L, LW, nW and ? stand alone in the field');
  return plainField(rule, field);
}

function dayOfWeek(field: string): string {
  const rule = FIELDS.dayOfWeek;
  if (field === '?') return field;
  // L alone is the last day of the week, Saturday; nL the last such weekday of the month.
  if (field === 'L') return '7';
  const last = /^([A-Za-z0-9]+)L$/.exec(field);
  if (last) return `${value(rule, field, last[1]!)}#L`;
  const nth = /^([A-Za-z0-9]+)#(\d+)$/.exec(field);
  if (nth) {
    const k = Number(nth[2]);
    if (k < 1 || k > 5) fail(rule, field, 'expected n#k with k from 1 to 5');
    return `${value(rule, field, nth[1]!)}#${k}`;
  }
  if (field.includes('#')) fail(rule, field, 'only one n#k expression is allowed, and it stands alone');
  if (/[L?]/i.test(field.replace(/SAT|SUN|MON|TUE|WED|THU|FRI/gi, ''))) {
    fail(rule, field, 'L, nL and ? stand alone in the field');
  }
  return plainField(rule, field);
}

/** A checked cron body, ready to find the wall-clock minutes it fires at. */
export interface CronExpression {
  /** The body as written, e.g. `0 3 ? * MON-FRI *`. */
  readonly body: string;
  /** The first matching wall-clock minute strictly after `wall` (floating ms), or undefined. */
  nextWallClock(wall: number): number | undefined;
}

/**
 * Checks a cron body against the EventBridge Scheduler rules and compiles it. Throws a
 * {@link CronSyntaxError} whose message names the field and what it accepts.
 */
export function parseCron(body: string): CronExpression {
  const text = body.trim();
  if (/^cron\s*\(/i.test(text)) {
    throw new CronSyntaxError(
      `write the body only, without "cron(…)": ${JSON.stringify(text.replace(/^cron\s*\(\s*|\s*\)\s*$/gi, ''))}`,
    );
  }
  const fields = text.split(/\s+/);
  if (fields.length !== 6) {
    throw new CronSyntaxError(
      `expected 6 fields "minutes hours day-of-month month day-of-week year" like "0 3 * * ? *", got ${fields.length === 1 && fields[0] === '' ? 'nothing' : `${fields.length} field${fields.length === 1 ? '' : 's'}`}`,
    );
  }
  const [min, hour, dom, month, dow, year] = fields as [string, string, string, string, string, string];
  if (/\?/.test(min + hour + month + year)) {
    throw new CronSyntaxError('"?" is allowed only in day-of-month or day-of-week');
  }
  if ((dom === '?') === (dow === '?')) {
    throw new CronSyntaxError(
      `exactly one of day-of-month (${JSON.stringify(dom)}) and day-of-week (${JSON.stringify(dow)}) must be "?"`,
    );
  }
  const pattern = [
    '0',
    plainField(FIELDS.minutes, min),
    plainField(FIELDS.hours, hour),
    dayOfMonth(dom.toUpperCase()),
    plainField(FIELDS.month, month),
    dayOfWeek(dow.toUpperCase()),
    plainField(FIELDS.year, year),
  ].join(' ');
  let cron: Cron;
  try {
    cron = new Cron(pattern, {
      // A fixed offset of 0, not timezone "UTC": croner then skips Intl entirely (13 µs per
      // next run instead of 200 µs), and floating wall-clock times are UTC arithmetic anyway.
      utcOffset: 0,
      mode: '7-part',
      alternativeWeekdays: true,
      domAndDow: true,
    });
  } catch (err) {
    throw new CronSyntaxError((err as Error).message.replace(/^CronPattern: /, ''));
  }
  return {
    body: text,
    nextWallClock(wall) {
      return cron.nextRun(new Date(wall))?.getTime();
    },
  };
}
