/**
 * The environment of `dumpvault task restore` (task-image/cli/commands/task-restore.ts), which
 * the restore state machine's Resolve step (functions/logic/restore-resolve.ts) builds: both sides
 * read the names from here. Values are never secrets, only ARNs and names.
 */
import { TaskEnv } from './task-env.ts';

export const RestoreTaskEnv = {
  job: TaskEnv.job,
  runId: TaskEnv.runId,
  startedAt: TaskEnv.startedAt,
  trigger: TaskEnv.trigger,
  jobJson: TaskEnv.jobJson,
  kind: 'DUMPVAULT_RESTORE_KIND',
  /** The manifest key of the backup to restore (`…/{id}.manifest.json`). */
  backupKey: 'DUMPVAULT_BACKUP_KEY',
  /**
   * The job destination Resolve found a valid copy in (the first one, in config order, that
   * holds the backup). Absent: the job's first destination.
   */
  backupDestination: 'DUMPVAULT_BACKUP_DESTINATION',
  target: 'DUMPVAULT_RESTORE_TARGET',
  targetPasswordSecret: 'DUMPVAULT_TARGET_PASSWORD_SECRET',
  drop: 'DUMPVAULT_DROP',
  /** Drill task definitions: the sidecar database. */
  ephemeralUrl: 'DUMPVAULT_EPHEMERAL_URL',
} as const;
