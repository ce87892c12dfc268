/**
 * The environment of the Fargate task (`dumpvault task backup|restore`): start-backup and the
 * restore state machine set it, the construct sets the task definition's part, the task parses
 * it once (parseTaskEnv) into a typed object. Values are names, ARNs and JSON, never secrets.
 */
import { z } from 'zod';

/** Variable names shared by the backup and the restore task. */
export const TaskEnv = {
  /** Per run (container override): the job's name. */
  job: 'DUMPVAULT_JOB',
  /** Per run (container override): the run id, 8 hex characters. */
  runId: 'DUMPVAULT_RUN_ID',
  /** Per run (container override): ISO time the run was recorded RUNNING; part of the history key. */
  startedAt: 'DUMPVAULT_STARTED_AT',
  /** Per run (container override): `schedule` or `manual`. */
  trigger: 'DUMPVAULT_TRIGGER',
  /** Per run (container override): a complete single-job config (validateConfig() accepts it). */
  jobJson: 'DUMPVAULT_JOB_JSON',
  /**
   * Per run (container override), Spot runs only: `FARGATE_SPOT`. Such a task, stopped by
   * SIGTERM, records its run FAILED without alerting: task-stopped reads the stop code and
   * either retries a Spot interruption or sends the alert.
   */
  capacity: 'DUMPVAULT_CAPACITY',
  /** Task definition: the history table. */
  historyTable: 'DUMPVAULT_HISTORY_TABLE',
  /** Task definition: the managed bucket; destinations with `"bucket": "managed"` mean this one. */
  bucket: 'DUMPVAULT_BUCKET',
  /** Task definition: the alerts topic. */
  topicArn: 'DUMPVAULT_TOPIC_ARN',
  /** Task definition: JSON object mapping each OpenPGP recipient path of the config to its armored key. */
  publicKeys: 'DUMPVAULT_PUBLIC_KEYS_JSON',
} as const;

const required = (name: string) =>
  z
    .string({ error: `environment variable ${name} is not set; the task is started by the DumpVault stack` })
    .min(1, {
      error: `environment variable ${name} is not set; the task is started by the DumpVault stack`,
    });

/** The per-run part every task reads, parsed once. */
export const TaskRunEnvSchema = z.object({
  [TaskEnv.job]: required(TaskEnv.job),
  [TaskEnv.runId]: required(TaskEnv.runId),
  [TaskEnv.startedAt]: required(TaskEnv.startedAt).refine((v) => !Number.isNaN(Date.parse(v)), {
    error: `${TaskEnv.startedAt} is not an ISO time`,
  }),
  [TaskEnv.trigger]: z.enum(['schedule', 'manual']).catch('schedule'),
  [TaskEnv.historyTable]: required(TaskEnv.historyTable),
  [TaskEnv.topicArn]: required(TaskEnv.topicArn),
  [TaskEnv.bucket]: z.string().optional(),
});

/** What a task knows about its run, from its environment. */
export interface TaskRun {
  readonly job: string;
  readonly runId: string;
  readonly startedAt: Date;
  readonly trigger: 'schedule' | 'manual';
  readonly historyTable: string;
  readonly topicArn: string;
  readonly bucket?: string;
}

/** Parses the task's environment; the error names the first variable that is missing or wrong. */
export function parseTaskRun(env: NodeJS.ProcessEnv): TaskRun | { error: string } {
  const parsed = TaskRunEnvSchema.safeParse(env);
  if (!parsed.success)
    return { error: parsed.error.issues[0]?.message ?? 'the task environment is incomplete' };
  const v = parsed.data;
  return {
    job: v[TaskEnv.job],
    runId: v[TaskEnv.runId],
    startedAt: new Date(v[TaskEnv.startedAt]),
    trigger: v[TaskEnv.trigger],
    historyTable: v[TaskEnv.historyTable],
    topicArn: v[TaskEnv.topicArn],
    ...(v[TaskEnv.bucket] ? { bucket: v[TaskEnv.bucket] } : {}),
  };
}
