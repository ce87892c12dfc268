/**
 * CloudWatch names the Lambdas publish (Powertools EMF) and the construct's alarms, dashboard
 * and `status --remote` read: one place, so an alarm always watches what is published. The
 * Prometheus names of `serve` (prometheus.ts) mirror the per-job ones.
 */

/** Namespace of every dumpvault metric. */
export const METRIC_NAMESPACE = 'DumpVault';
/** The `service` dimension Powertools adds to every metric. */
export const SERVICE_NAME = 'dumpvault';
/** The dimension Powertools names the service by ({@link SERVICE_NAME}). */
export const SERVICE_DIMENSION = 'service';
/** The dimension that names the job. */
export const JOB_DIMENSION = 'Job';

/** Metric names, by who publishes them. */
export const METRICS = {
  /** watchdog, per job: what the freshness alarm watches. */
  hoursSinceLastSuccess: 'HoursSinceLastSuccess',
  lastBackupDurationSeconds: 'LastBackupDurationSeconds',
  lastBackupBytes: 'LastBackupBytes',
  failedRunsLast24Hours: 'FailedRunsLast24Hours',
  /** watchdog, jobs with `restoreDrill`: what the "no drill succeeded lately" alarm watches. */
  hoursSinceLastDrillSuccess: 'HoursSinceLastDrillSuccess',
  /** watchdog, jobs with `standby` whose standby succeeded once: what the standby lag alarm watches. */
  standbyLagSeconds: 'StandbyLagSeconds',
  /** start-backup, per job: one of these per invocation. */
  runsStarted: 'RunsStarted',
  runsSkipped: 'RunsSkipped',
  duplicateStarts: 'DuplicateStarts',
  startFailures: 'StartFailures',
  /** task-stopped: a task stopped without recording its run (crash, OOM, timeout). */
  tasksDiedUnrecorded: 'TasksDiedUnrecorded',
  /** task-stopped, per job: Fargate Spot interrupted a backup, which was retried once on-demand. */
  spotInterruptions: 'SpotInterruptions',
  /** restore-ended: a restore execution ended without recording its outcome. */
  restoresEndedUnrecorded: 'RestoresEndedUnrecorded',
  /** restore-record, drills: 1 succeeded, 0 failed. */
  drillSucceeded: 'DrillSucceeded',
} as const;

export type MetricName = (typeof METRICS)[keyof typeof METRICS];
