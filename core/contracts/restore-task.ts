/**
 * The environment of `dumpvault task restore` (task-image/cli/commands/task-restore.ts), which
 * the restore state machine's Resolve step (functions/logic/restore-resolve.ts) builds and the
 * drill task definitions complete (infra/restore-task-definitions.ts): every side reads the
 * names from here, and the task parses it once ({@link parseRestoreTaskEnv}) into a typed
 * object. Values are never secrets, only ARNs and names.
 */
import { z } from 'zod';
import {
  firstIssue,
  optionalVar,
  requiredVar,
  TaskEnv,
  type TaskRun,
  TaskRunEnvSchema,
  taskRunOf,
} from './task-env.ts';

export const RestoreTaskEnv = {
  job: TaskEnv.job,
  runId: TaskEnv.runId,
  startedAt: TaskEnv.startedAt,
  trigger: TaskEnv.trigger,
  jobJson: TaskEnv.jobJson,
  /** `restore`, `drill` or `standby` ({@link RESTORE_KINDS}). */
  kind: 'DUMPVAULT_RESTORE_KIND',
  /** The manifest key of the backup to restore (`…/{id}.manifest.json`). */
  backupKey: 'DUMPVAULT_BACKUP_KEY',
  /**
   * The job destination Resolve found a valid copy in (the first one, in config order, that
   * holds the backup). Absent: the job's first destination.
   */
  backupDestination: 'DUMPVAULT_BACKUP_DESTINATION',
  /** `scratch`, `ephemeral` (the drill sidecar), or a URL of the job's engine without a password. */
  target: 'DUMPVAULT_RESTORE_TARGET',
  /** For a URL target: the ARN of its password (plain, or RDS JSON `{"password": …}`). */
  targetPasswordSecret: 'DUMPVAULT_TARGET_PASSWORD_SECRET',
  /** `true` replaces what a URL target holds; anything else refuses a target with data. */
  drop: 'DUMPVAULT_DROP',
  /** Drill task definitions: the sidecar database. */
  ephemeralUrl: 'DUMPVAULT_EPHEMERAL_URL',
} as const;

/** What a restore task runs: a restore, a drill, or a standby run. */
export const RESTORE_KINDS = ['restore', 'drill', 'standby'] as const;
export type RestoreTaskKind = (typeof RESTORE_KINDS)[number];

/** The restore task's environment: the task's common part, then the restore's own. */
export const RestoreTaskEnvSchema = TaskRunEnvSchema.extend({
  // Resolve always sets it; a run started some other way counts as a manual one.
  [RestoreTaskEnv.trigger]: z.enum(['schedule', 'manual']).catch('manual'),
  [RestoreTaskEnv.kind]: z.enum(RESTORE_KINDS, {
    error: (issue) =>
      `${RestoreTaskEnv.kind}: expected "restore", "drill" or "standby", got ${JSON.stringify(issue.input ?? null)}`,
  }),
  [RestoreTaskEnv.backupKey]: requiredVar(RestoreTaskEnv.backupKey),
  [RestoreTaskEnv.backupDestination]: optionalVar(),
  [RestoreTaskEnv.target]: requiredVar(RestoreTaskEnv.target),
  [RestoreTaskEnv.targetPasswordSecret]: optionalVar(),
  [RestoreTaskEnv.drop]: z
    .string()
    .optional()
    .transform((v) => v === 'true'),
  [RestoreTaskEnv.ephemeralUrl]: optionalVar(),
});

/** What the restore task knows about its run, from its environment. */
export interface RestoreTaskRun extends TaskRun {
  readonly kind: RestoreTaskKind;
  readonly backupKey: string;
  /** Absent: the job's first destination. */
  readonly backupDestination?: string;
  /** `scratch`, `ephemeral` or a URL (checked against the job's engine by the task). */
  readonly target: string;
  readonly targetPasswordSecret?: string;
  readonly drop: boolean;
  /** Needed for an `ephemeral` target of a server engine (the drill sidecar). */
  readonly ephemeralUrl?: string;
}

/** Parses the restore task's environment; the error names the first variable that is missing or wrong. */
export function parseRestoreTaskEnv(env: NodeJS.ProcessEnv): RestoreTaskRun | { error: string } {
  const parsed = RestoreTaskEnvSchema.safeParse(env);
  if (!parsed.success)
    return { error: firstIssue(parsed.error, 'the restore task environment is incomplete') };
  const v = parsed.data;
  return {
    ...taskRunOf(v),
    kind: v[RestoreTaskEnv.kind],
    backupKey: v[RestoreTaskEnv.backupKey],
    target: v[RestoreTaskEnv.target],
    drop: v[RestoreTaskEnv.drop],
    ...(v[RestoreTaskEnv.backupDestination]
      ? { backupDestination: v[RestoreTaskEnv.backupDestination] }
      : {}),
    ...(v[RestoreTaskEnv.targetPasswordSecret]
      ? { targetPasswordSecret: v[RestoreTaskEnv.targetPasswordSecret] }
      : {}),
    ...(v[RestoreTaskEnv.ephemeralUrl] ? { ephemeralUrl: v[RestoreTaskEnv.ephemeralUrl] } : {}),
  };
}
