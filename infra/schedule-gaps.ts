/**
 * How often a job's schedule fires, worked out at synth: the longest gap sets the default
 * `HoursSinceLastSuccess` alarm threshold, the shortest bounds how soon retention may delete a
 * backup (checked against Object Lock).
 */
import type { Schedule } from '../core/config/schema.ts';

export interface ScheduleGaps {
  /** Shortest time between two runs, in hours. */
  readonly minHours: number;
  /** Longest time between two runs, in hours. */
  readonly maxHours: number;
}

const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const DAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

/** The values of one cron field, or undefined for syntax this check does not model (L, W, #). */
function parseField(
  field: string,
  min: number,
  max: number,
  names?: readonly string[],
): Set<number> | undefined {
  const values = new Set<number>();
  const value = (token: string): number | undefined => {
    const named = names?.indexOf(token.toUpperCase()) ?? -1;
    if (named >= 0) return named + min;
    return /^\d+$/.test(token) ? Number(token) : undefined;
  };
  for (const part of field.split(',')) {
    const [range = '', stepText] = part.split('/');
    const step = stepText === undefined ? 1 : Number(stepText);
    if (!Number.isInteger(step) || step < 1) return undefined;
    let from: number | undefined;
    let to: number | undefined;
    if (range === '*' || range === '?') {
      from = min;
      to = max;
    } else if (range.includes('-')) {
      const [a = '', b = ''] = range.split('-');
      from = value(a);
      to = value(b);
    } else {
      from = value(range);
      to = stepText === undefined ? from : max;
    }
    if (from === undefined || to === undefined || from < min || to > max || from > to) return undefined;
    for (let v = from; v <= to; v += step) values.add(v);
  }
  return values.size ? values : undefined;
}

function rateHours(rate: string): number | undefined {
  const m = /^\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*$/.exec(rate);
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = m[2]!.startsWith('minute') ? 1 / 60 : m[2]!.startsWith('hour') ? 1 : 24;
  return n > 0 ? n * unit : undefined;
}

/**
 * The shortest and longest gap between runs of a schedule, or undefined when it cannot be
 * worked out (cron with `L`, `W`, `#` or a fixed year). Cron expressions are evaluated in UTC
 * over two years; a time-zone change moves a gap by at most an hour, which thresholds absorb.
 */
export function scheduleGaps(schedule: Schedule): ScheduleGaps | undefined {
  if (schedule.rate !== undefined) {
    const hours = rateHours(schedule.rate);
    return hours === undefined ? undefined : { minHours: hours, maxHours: hours };
  }
  const fields = (schedule.cron ?? '').trim().split(/\s+/);
  if (fields.length !== 6) return undefined;
  const [minF, hourF, domF, monF, dowF, yearF] = fields as [string, string, string, string, string, string];
  if (yearF !== '*') return undefined;
  const minutes = parseField(minF, 0, 59);
  const hours = parseField(hourF, 0, 23);
  const doms = parseField(domF, 1, 31);
  const months = parseField(monF, 1, 12, MONTHS);
  const dows = parseField(dowF, 1, 7, DAYS);
  if (!minutes || !hours || !doms || !months || !dows) return undefined;
  const anyDom = domF === '*' || domF === '?';
  const anyDow = dowF === '*' || dowF === '?';
  const times: number[] = [];
  const start = Date.UTC(2025, 0, 1);
  for (let day = 0; day < 731; day++) {
    const d = new Date(start + day * 86_400_000);
    if (!months.has(d.getUTCMonth() + 1)) continue;
    const domOk = doms.has(d.getUTCDate());
    const dowOk = dows.has(d.getUTCDay() + 1);
    const matches = anyDom ? dowOk : anyDow ? domOk : domOk || dowOk;
    if (!matches) continue;
    for (const h of [...hours].sort((a, b) => a - b)) {
      for (const m of [...minutes].sort((a, b) => a - b)) times.push(d.getTime() + (h * 60 + m) * 60_000);
    }
  }
  if (times.length < 2) return undefined;
  let minGap = Number.POSITIVE_INFINITY;
  let maxGap = 0;
  for (let i = 1; i < times.length; i++) {
    const gap = times[i]! - times[i - 1]!;
    minGap = Math.min(minGap, gap);
    maxGap = Math.max(maxGap, gap);
  }
  return { minHours: minGap / 3_600_000, maxHours: maxGap / 3_600_000 };
}
