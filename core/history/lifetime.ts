/**
 * How long a run item stays in the DynamoDB history table (its `ttl` attribute), counted from
 * the run's start. The rule: long enough to outlive every backup the job's retention may still
 * keep, so each backup in storage keeps the history of the run that wrote it, plus a grace
 * period for the audit trail:
 *
 *   horizon  = the longest of: daily + 1 days, 7 × (weekly + 1) days, 31 × (monthly + 1) days,
 *              366 × (yearly + 1) days (each only when that count is set), maxAgeDays, and
 *              keepLast × the schedule's longest gap
 *   lifetime = max(horizon, 90 days) + 30 days
 *
 * No TTL (undefined) when retention is "forever", or when keepLast has no schedule to measure
 * it by (a job run by hand only): those items stay. The manifests in storage remain the source
 * of truth either way; history can be rebuilt from them (DESIGN.md §5).
 */
import { type Job, jobRetention } from '../config/schema.ts';
import { scheduleGaps } from '../schedule/index.ts';

/** Every run item lives at least this long, whatever the retention (failure trends, audits). */
export const MIN_RUN_LIFETIME_DAYS = 90;
/** Added to the horizon: a deleted backup's run stays this much longer. */
export const RUN_LIFETIME_GRACE_DAYS = 30;

/** Days a run item of `job` is kept after its start (see the module comment), or undefined for "never expires". */
export function runItemLifetimeDays(job: Pick<Job, 'retention' | 'schedule'>): number | undefined {
  const retention = jobRetention(job);
  if (typeof retention === 'string') return undefined;
  const spans = [
    retention.daily ? retention.daily + 1 : 0,
    retention.weekly ? 7 * (retention.weekly + 1) : 0,
    retention.monthly ? 31 * (retention.monthly + 1) : 0,
    retention.yearly ? 366 * (retention.yearly + 1) : 0,
    retention.maxAgeDays ?? 0,
  ];
  if (retention.keepLast) {
    const gaps = job.schedule ? scheduleGaps(job.schedule) : undefined;
    if (!gaps) return undefined;
    spans.push(Math.ceil((retention.keepLast * gaps.maxHours) / 24));
  }
  return Math.max(MIN_RUN_LIFETIME_DAYS, ...spans) + RUN_LIFETIME_GRACE_DAYS;
}

/** The lifetime of each job's run items by job name, for the DynamoDB history store. */
export function runLifetimes(config: { readonly jobs: readonly Job[] }): (job: string) => number | undefined {
  const days = new Map(config.jobs.map((j) => [j.name, runItemLifetimeDays(j)]));
  return (job) => days.get(job);
}
