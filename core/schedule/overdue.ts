/**
 * When a job counts as overdue: the rule of the AWS freshness alarm (HoursSinceLastSuccess),
 * shared with the local `status` so both say the same about the same history.
 */
import type { ScheduleGaps } from './schedule.ts';

/** Hours without a success after which a job's alarm fires: `alarmAfterHours`, or 1.5 × the longest gap + 2 h. */
export function alarmThresholdHours(
  job: { readonly alarmAfterHours?: number | undefined },
  gaps: ScheduleGaps | undefined,
): number | undefined {
  if (job.alarmAfterHours !== undefined) return job.alarmAfterHours;
  if (!gaps) return undefined;
  return Math.round((1.5 * gaps.maxHours + 2) * 100) / 100;
}
