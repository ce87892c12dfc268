/**
 * When a job counts as overdue: the rule of the AWS freshness alarm (HoursSinceLastSuccess),
 * shared with the local `status` so both say the same about the same history.
 */
import { compileSchedule, type ScheduleGaps, type ScheduleSpec } from './schedule.ts';

/** Hours without a success after which a job's alarm fires: `alarmAfterHours`, or 1.5 × the longest gap + 2 h. */
export function alarmThresholdHours(
  job: { readonly alarmAfterHours?: number | undefined },
  gaps: ScheduleGaps | undefined,
): number | undefined {
  if (job.alarmAfterHours !== undefined) return job.alarmAfterHours;
  if (!gaps) return undefined;
  return Math.round((1.5 * gaps.maxHours + 2) * 100) / 100;
}

/**
 * Where a job that never succeeded is measured from (issue 12 §4): its first scheduled run after
 * it was first seen (by the watchdog in AWS, by `serve` locally), or the first backup run of it
 * there is, if earlier; a job without a schedule, from first sight. So a new job is never
 * overdue before its first scheduled run plus the alarm's threshold, in AWS and locally alike.
 */
export function neverSucceededSince(
  job: { readonly schedule?: ScheduleSpec | undefined },
  firstSeenAt: string,
  firstRunAt: string | undefined,
): string {
  const due = job.schedule
    ? compileSchedule(job.schedule).next(new Date(firstSeenAt))?.toISOString()
    : undefined;
  const since = due ?? firstSeenAt;
  return firstRunAt !== undefined && firstRunAt < since ? firstRunAt : since;
}
