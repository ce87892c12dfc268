/**
 * Standby lag (issue 16 §2): how old the data the standby holds is. A SUCCEEDED standby run
 * records `details.backupStartedAt` (the point in time of the backup it swapped in); the lag at
 * `now` is the time since then. `status`, `serve`'s `/metrics` (dumpvault_standby_lag_seconds)
 * and the AWS watchdog (StandbyLagSeconds) all measure it here, so the alarm and the local
 * metric say the same about the same history.
 */
import type { HistoryItem } from '../history/history.ts';
import type { ScheduleGaps } from '../schedule/index.ts';

/** The lag alarm threshold of a job without a schedule: one daily backup plus two hours. */
export const STANDBY_LAG_DEFAULT_HOURS = 26;

/**
 * Hours of lag after which a job's standby alarm fires: `standby.lagAlarmHours`, else twice the
 * longest gap of the job's schedule (one scheduled standby run missed entirely), else
 * {@link STANDBY_LAG_DEFAULT_HOURS}.
 */
export function standbyLagThresholdHours(
  standby: { readonly lagAlarmHours?: number | undefined },
  gaps: ScheduleGaps | undefined,
): number {
  if (standby.lagAlarmHours !== undefined) return standby.lagAlarmHours;
  if (!gaps) return STANDBY_LAG_DEFAULT_HOURS;
  return Math.round(2 * gaps.maxHours * 100) / 100;
}

/** When the backup the standby holds started, from its newest SUCCEEDED standby run; undefined if none. */
export function standbyHeldSince(items: readonly HistoryItem[]): string | undefined {
  let newest: HistoryItem | undefined;
  for (const item of items) {
    if (item.kind !== 'standby' || item.status !== 'SUCCEEDED') continue;
    if (!newest || item.startedAt > newest.startedAt) newest = item;
  }
  const at = newest?.details?.['backupStartedAt'];
  return typeof at === 'string' && !Number.isNaN(Date.parse(at)) ? at : undefined;
}

/**
 * Seconds between the start of the backup the standby holds and `now` (never negative: a clock
 * behind the backup's reads 0); undefined when no standby run ever succeeded.
 */
export function standbyLagSeconds(items: readonly HistoryItem[], now: Date): number | undefined {
  const since = standbyHeldSince(items);
  if (since === undefined) return undefined;
  return Math.max(0, Math.round((now.getTime() - Date.parse(since)) / 1000));
}
