/**
 * One schedule model for `validate`, `serve`, `status` and the CDK app: the EventBridge Scheduler
 * dialect (cron and rate bodies) in an IANA time zone, with Scheduler's daylight-saving rules.
 * What the config checks here is exactly what `serve` runs and what Scheduler is given.
 */
import { ConfigError } from '../errors.ts';
import { type CronExpression, CronSyntaxError, parseCron } from './cron.ts';
import { parseRate, type Rate, RateSyntaxError } from './rate.ts';
import { firingInstant, timeZoneProblem, wallClockOf } from './timezone.ts';

/** A schedule as the config holds it (jobs[].schedule, jobs[].restoreDrill.schedule). */
export interface ScheduleSpec {
  readonly cron?: string | undefined;
  readonly rate?: string | undefined;
  /** IANA zone of a cron expression; rates ignore it. Default UTC. */
  readonly timezone?: string | undefined;
}

/** A checked schedule that can say when it fires next. */
export interface CompiledSchedule {
  /** The Scheduler expression: `cron(0 3 * * ? *)` or `rate(6 hours)`. */
  readonly expression: string;
  readonly timezone: string;
  /** Rate schedules only: the period in milliseconds. */
  readonly periodMs?: number;
  /**
   * The first firing strictly after `after`, or undefined when there is none (a cron whose
   * years are over). A rate fires every period counted from `anchor` (its previous firing;
   * default `after`), as Scheduler counts from a schedule's start.
   */
  next(after: Date, anchor?: Date): Date | undefined;
}

/** Why a cron body is not in the EventBridge dialect, or undefined when it is. */
export function cronProblem(body: string): string | undefined {
  let cron: CronExpression;
  try {
    cron = parseCron(body);
  } catch (err) {
    if (err instanceof CronSyntaxError) return `${err.message} (got ${JSON.stringify(body)})`;
    throw err;
  }
  if (cron.nextWallClock(Date.UTC(1970, 0, 1)) === undefined) {
    return `${JSON.stringify(body)} never fires (no date matches it)`;
  }
  return undefined;
}

/** Why a rate body is not in the EventBridge dialect, or undefined when it is. */
export function rateProblem(body: string): string | undefined {
  try {
    parseRate(body);
    return undefined;
  } catch (err) {
    if (err instanceof RateSyntaxError) return err.message;
    throw err;
  }
}

export { timeZoneProblem };

// A cron that matches only skipped local times for years on end is not a schedule anyone
// writes; the bound only keeps a pathological expression from spinning.
const MAX_SKIPS = 100_000;

/** Compiles a schedule; throws a ConfigError naming the problem (validated configs never do). */
export function compileSchedule(spec: ScheduleSpec): CompiledSchedule {
  const timezone = spec.timezone ?? 'UTC';
  const zoneProblem = timeZoneProblem(timezone);
  if (zoneProblem) throw new ConfigError(`schedule.timezone: ${zoneProblem}`);
  if ((spec.cron === undefined) === (spec.rate === undefined)) {
    throw new ConfigError('schedule: expected exactly one of "cron" or "rate"');
  }
  if (spec.rate !== undefined) {
    const problem = rateProblem(spec.rate);
    if (problem) throw new ConfigError(`schedule.rate: ${problem}`);
    return rateSchedule(parseRate(spec.rate), timezone);
  }
  const body = spec.cron!;
  const problem = cronProblem(body);
  if (problem) throw new ConfigError(`schedule.cron: ${problem}`);
  return cronSchedule(parseCron(body), timezone);
}

function rateSchedule(rate: Rate, timezone: string): CompiledSchedule {
  const { periodMs } = rate;
  return {
    expression: `rate(${rate.value} ${rate.unit}${rate.value === 1 ? '' : 's'})`,
    timezone,
    periodMs,
    next(after, anchor = after) {
      const from = anchor.getTime();
      const t = after.getTime();
      if (from > t) return new Date(from);
      return new Date(from + (Math.floor((t - from) / periodMs) + 1) * periodMs);
    },
  };
}

function cronSchedule(cron: CronExpression, timezone: string): CompiledSchedule {
  return {
    expression: `cron(${cron.body})`,
    timezone,
    next(after) {
      const t = after.getTime();
      let wall = wallClockOf(timezone, t);
      for (let i = 0; i < MAX_SKIPS; i++) {
        const candidate = cron.nextWallClock(wall);
        if (candidate === undefined) return undefined;
        const instant = firingInstant(timezone, candidate);
        // Skipped by a spring-forward change, or the repeat of a fall-back hour whose first
        // occurrence is already behind `after`: Scheduler fires neither.
        if (instant !== undefined && instant > t) return new Date(instant);
        wall = candidate;
      }
      return undefined;
    },
  };
}

/** The shortest and longest time between two firings of a schedule, in hours. */
export interface ScheduleGaps {
  readonly minHours: number;
  readonly maxHours: number;
}

// Gaps are measured from a fixed date, so a synth gives the same thresholds every day.
const GAPS_FROM = Date.UTC(2025, 0, 1);
const GAPS_SPAN_MS = 2 * 366 * 86_400_000;
// Enough for a cycle of any schedule that runs backups (hourly: 125 days), few enough that a
// synth measures a frequent cron in a fraction of a second.
const GAPS_MAX_FIRINGS = 3_000;

/**
 * The shortest and longest gap between firings over two years
 * or 3 000 firings, whichever ends first, in the schedule's time zone (DST included: a 03:00
 * Berlin job has 23- and 25-hour gaps); undefined when it fires fewer than twice in that time
 * (a cron limited to past years). Sets the default freshness alarm.
 */
export function scheduleGaps(spec: ScheduleSpec): ScheduleGaps | undefined {
  let schedule: CompiledSchedule;
  try {
    schedule = compileSchedule(spec);
  } catch (err) {
    if (err instanceof ConfigError) return undefined;
    throw err;
  }
  if (schedule.periodMs !== undefined) {
    const hours = schedule.periodMs / 3_600_000;
    return { minHours: hours, maxHours: hours };
  }
  let previous = schedule.next(new Date(GAPS_FROM));
  if (!previous) return undefined;
  const until = previous.getTime() + GAPS_SPAN_MS;
  let minGap = Number.POSITIVE_INFINITY;
  let maxGap = 0;
  for (let i = 0; i < GAPS_MAX_FIRINGS; i++) {
    const next = schedule.next(previous);
    if (!next || next.getTime() > until) break;
    const gap = next.getTime() - previous.getTime();
    minGap = Math.min(minGap, gap);
    maxGap = Math.max(maxGap, gap);
    previous = next;
  }
  if (maxGap === 0) return undefined;
  return { minHours: minGap / 3_600_000, maxHours: maxGap / 3_600_000 };
}
