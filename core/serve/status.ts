/**
 * Per-job status read from history and the schedules: what `dumpvault status` prints, what
 * `/metrics` and `status --textfile` expose. "Overdue" is the rule of the AWS freshness alarm
 * (no success for longer than alarmAfterHours, or 1.5 × the longest schedule gap + 2 h).
 */
import { Gauge, Registry } from 'prom-client';
import type { Job } from '../config/schema.ts';
import { JOB_LABEL, PROMETHEUS_METRICS as M } from '../contracts/prometheus.ts';
import { type HistoryItem, type HistoryStore, isFailedStatus } from '../history/history.ts';
import { alarmThresholdHours, neverSucceededSince, scheduleGaps } from '../schedule/index.ts';
import { standbyLagSeconds, standbyLagThresholdHours } from '../standby/lag.ts';

export interface JobStatus {
  readonly job: string;
  readonly lastSuccessAt?: string;
  readonly hoursSinceLastSuccess?: number;
  readonly lastBackupDurationSeconds?: number;
  readonly lastBackupBytes?: number;
  readonly lastRun?: {
    readonly status: string;
    readonly startedAt: string;
    readonly durationSeconds?: number;
  };
  readonly lastFailure?: { readonly at: string; readonly error?: string };
  readonly failedRunsLast24Hours: number;
  readonly drill?: { readonly succeeded?: boolean; readonly hoursSinceLastSuccess?: number };
  readonly nextBackup?: string;
  readonly nextDrill?: string;
  readonly thresholdHours?: number;
  readonly overdue: boolean;
  /** Jobs with a standby: the age of the backup it holds (core/standby/lag.ts) and the alarm's bound. */
  readonly standby?: { readonly lagSeconds?: number; readonly lagThresholdSeconds: number };
}

const HOUR_MS = 3_600_000;
const hoursBetween = (from: string, now: number) =>
  Math.round((Math.max(0, now - Date.parse(from)) / HOUR_MS) * 100) / 100;
const finished = (item: HistoryItem) => item.finishedAt ?? item.startedAt;

/**
 * The status of every job at `now`. `next` gives the next firing of a task id (`backup:<job>`,
 * `drill:<job>`); `firstSeen` when serve first saw it (every job's `backup:<job>`, scheduled or
 * not), so a job that never succeeded is overdue only once a whole threshold has passed since it
 * could have run.
 */
export async function jobStatuses(
  jobs: readonly Job[],
  history: HistoryStore,
  options: {
    readonly now: number;
    readonly next?: (taskId: string) => Date | undefined;
    readonly firstSeen?: (taskId: string) => string | undefined;
  },
): Promise<JobStatus[]> {
  const { now } = options;
  const dayAgo = new Date(now - 24 * HOUR_MS).toISOString();
  return Promise.all(
    jobs.map(async (job): Promise<JobStatus> => {
      const items = await history.list(job.name, { limit: 200 });
      const backups = items.filter((i) => i.kind === 'backup');
      const success = backups.find((i) => i.status === 'SUCCEEDED');
      // A PARTIAL run lost a copy: a failure here, as in the watchdog's FailedRunsLast24Hours.
      const failure = backups.find((i) => isFailedStatus(i.status));
      const last = backups.find((i) => i.status !== 'RUNNING');
      const drills = items.filter((i) => i.kind === 'drill' && i.status !== 'RUNNING');
      const drillSuccess = drills.find((i) => i.status === 'SUCCEEDED');
      const thresholdHours = alarmThresholdHours(job, job.schedule ? scheduleGaps(job.schedule) : undefined);
      // Counted from the last success; a job that never succeeded as the watchdog counts it (from
      // its first scheduled run after serve first saw it, without a schedule from first sight, or
      // its first run if earlier).
      const firstRunAt = backups.at(-1)?.startedAt;
      const firstSeen = options.firstSeen?.(`backup:${job.name}`);
      const since = success
        ? finished(success)
        : firstSeen !== undefined
          ? neverSucceededSince(job, firstSeen, firstRunAt)
          : firstRunAt;
      const overdue =
        thresholdHours !== undefined && since !== undefined && hoursBetween(since, now) > thresholdHours;
      const next = options.next?.(`backup:${job.name}`);
      const nextDrill = options.next?.(`drill:${job.name}`);
      const gaps = job.schedule ? scheduleGaps(job.schedule) : undefined;
      const lagSeconds = job.standby ? standbyLagSeconds(items, new Date(now)) : undefined;
      return {
        job: job.name,
        ...(success
          ? {
              lastSuccessAt: finished(success),
              hoursSinceLastSuccess: hoursBetween(finished(success), now),
              ...(success.durationMs !== undefined
                ? { lastBackupDurationSeconds: Math.round(success.durationMs / 1000) }
                : {}),
              ...(success.bytes !== undefined ? { lastBackupBytes: success.bytes } : {}),
            }
          : {}),
        ...(last
          ? {
              lastRun: {
                status: last.status,
                startedAt: last.startedAt,
                ...(last.durationMs !== undefined ? { durationSeconds: last.durationMs / 1000 } : {}),
              },
            }
          : {}),
        ...(failure
          ? { lastFailure: { at: failure.startedAt, ...(failure.error ? { error: failure.error } : {}) } }
          : {}),
        failedRunsLast24Hours: backups.filter((i) => isFailedStatus(i.status) && i.startedAt >= dayAgo)
          .length,
        ...(job.restoreDrill
          ? {
              drill: {
                ...(drills[0] ? { succeeded: drills[0].status === 'SUCCEEDED' } : {}),
                ...(drillSuccess ? { hoursSinceLastSuccess: hoursBetween(finished(drillSuccess), now) } : {}),
              },
            }
          : {}),
        ...(next ? { nextBackup: next.toISOString() } : {}),
        ...(nextDrill ? { nextDrill: nextDrill.toISOString() } : {}),
        ...(thresholdHours !== undefined ? { thresholdHours } : {}),
        overdue,
        ...(job.standby
          ? {
              standby: {
                ...(lagSeconds !== undefined ? { lagSeconds } : {}),
                lagThresholdSeconds: Math.round(standbyLagThresholdHours(job.standby, gaps) * 3600),
              },
            }
          : {}),
      };
    }),
  );
}

const STATUSES = ['SUCCEEDED', 'PARTIAL', 'FAILED', 'SKIPPED'] as const;

/** The statuses in the Prometheus text format (what `/metrics` serves and `--textfile` writes). */
export async function prometheusText(statuses: readonly JobStatus[]): Promise<string> {
  const registry = new Registry();
  const gauge = (metric: { name: string; help: string }, extra: string[] = []) =>
    new Gauge({
      name: metric.name,
      help: metric.help,
      labelNames: [JOB_LABEL, ...extra],
      registers: [registry],
    });
  const g = {
    lastSuccess: gauge(M.lastSuccessTimestamp),
    hours: gauge(M.hoursSinceLastSuccess),
    duration: gauge(M.lastBackupDuration),
    bytes: gauge(M.lastBackupBytes),
    failed: gauge(M.failedRunsLast24Hours),
    status: gauge(M.lastRunStatus, ['status']),
    runDuration: gauge(M.lastRunDuration),
    drill: gauge(M.drillSucceeded),
    drillHours: gauge(M.hoursSinceLastDrillSuccess),
    next: gauge(M.nextRunTimestamp, ['kind']),
    threshold: gauge(M.alarmThresholdHours),
    overdue: gauge(M.overdue),
    standbyLag: gauge(M.standbyLag),
    standbyLagThreshold: gauge(M.standbyLagThreshold),
  };
  for (const s of statuses) {
    const job = { [JOB_LABEL]: s.job };
    if (s.lastSuccessAt) g.lastSuccess.set(job, Date.parse(s.lastSuccessAt) / 1000);
    if (s.hoursSinceLastSuccess !== undefined) g.hours.set(job, s.hoursSinceLastSuccess);
    if (s.lastBackupDurationSeconds !== undefined) g.duration.set(job, s.lastBackupDurationSeconds);
    if (s.lastBackupBytes !== undefined) g.bytes.set(job, s.lastBackupBytes);
    g.failed.set(job, s.failedRunsLast24Hours);
    if (s.lastRun) {
      for (const status of STATUSES) g.status.set({ ...job, status }, s.lastRun.status === status ? 1 : 0);
      if (s.lastRun.durationSeconds !== undefined) g.runDuration.set(job, s.lastRun.durationSeconds);
    }
    if (s.drill?.succeeded !== undefined) g.drill.set(job, s.drill.succeeded ? 1 : 0);
    if (s.drill?.hoursSinceLastSuccess !== undefined) g.drillHours.set(job, s.drill.hoursSinceLastSuccess);
    if (s.nextBackup) g.next.set({ ...job, kind: 'backup' }, Date.parse(s.nextBackup) / 1000);
    if (s.nextDrill) g.next.set({ ...job, kind: 'drill' }, Date.parse(s.nextDrill) / 1000);
    if (s.thresholdHours !== undefined) g.threshold.set(job, s.thresholdHours);
    g.overdue.set(job, s.overdue ? 1 : 0);
    if (s.standby?.lagSeconds !== undefined) g.standbyLag.set(job, s.standby.lagSeconds);
    if (s.standby) g.standbyLagThreshold.set(job, s.standby.lagThresholdSeconds);
  }
  return registry.metrics();
}

/** The content type of {@link prometheusText}. */
export const PROMETHEUS_CONTENT_TYPE = new Registry().contentType;
