/**
 * Metric names of `dumpvault serve` (`/metrics`) and `dumpvault status --textfile`: what a
 * Prometheus rule or a Grafana panel is written against. Each names, in its help text, the
 * CloudWatch metric of the AWS deployment it means the same as, where there is one.
 */
export const PROMETHEUS_METRICS = {
  lastSuccessTimestamp: {
    name: 'dumpvault_last_success_timestamp_seconds',
    help: 'Unix time the newest SUCCEEDED backup of the job finished.',
  },
  hoursSinceLastSuccess: {
    name: 'dumpvault_hours_since_last_success',
    help: 'Hours since the newest SUCCEEDED backup (CloudWatch HoursSinceLastSuccess).',
  },
  lastBackupDuration: {
    name: 'dumpvault_last_backup_duration_seconds',
    help: 'Duration of the newest SUCCEEDED backup (CloudWatch LastBackupDurationSeconds).',
  },
  lastBackupBytes: {
    name: 'dumpvault_last_backup_bytes',
    help: 'Stored size of the newest SUCCEEDED backup (CloudWatch LastBackupBytes).',
  },
  failedRunsLast24Hours: {
    name: 'dumpvault_failed_runs_last_24_hours',
    help: 'FAILED and PARTIAL backups started in the last 24 hours (CloudWatch FailedRunsLast24Hours).',
  },
  lastRunStatus: {
    name: 'dumpvault_last_run_status',
    help: 'Status of the newest backup run: 1 for its status label, 0 for the others.',
  },
  lastRunDuration: {
    name: 'dumpvault_last_run_duration_seconds',
    help: 'Duration of the newest finished backup run, whatever its status.',
  },
  drillSucceeded: {
    name: 'dumpvault_drill_succeeded',
    help: 'Whether the newest restore drill succeeded: 1 or 0 (CloudWatch DrillSucceeded).',
  },
  hoursSinceLastDrillSuccess: {
    name: 'dumpvault_hours_since_last_drill_success',
    help: 'Hours since the newest successful restore drill (CloudWatch HoursSinceLastDrillSuccess).',
  },
  nextRunTimestamp: {
    name: 'dumpvault_next_run_timestamp_seconds',
    help: 'Unix time of the next scheduled run; label kind is backup or drill.',
  },
  alarmThresholdHours: {
    name: 'dumpvault_alarm_threshold_hours',
    help: 'Hours without success after which the job is overdue (the AWS freshness alarm threshold).',
  },
  overdue: {
    name: 'dumpvault_overdue',
    help: '1 when the job has had no success for longer than its alarm threshold, else 0.',
  },
  standbyLag: {
    name: 'dumpvault_standby_lag_seconds',
    help: 'Age of the backup the standby holds, from its start (CloudWatch StandbyLagSeconds); jobs with a standby that succeeded once.',
  },
  standbyLagThreshold: {
    name: 'dumpvault_standby_lag_threshold_seconds',
    help: 'Standby lag after which the job alarms (standby.lagAlarmHours, or 2 x the longest schedule gap, or 26 h).',
  },
} as const;

/** The label every per-job metric carries. */
export const JOB_LABEL = 'job';
