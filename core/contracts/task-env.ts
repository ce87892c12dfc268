/**
 * The environment of the Fargate task (`dumpvault task backup|restore`): start-backup and the
 * restore state machine set it, the construct sets the task definition's part, the task parses
 * it once (parseTaskEnv) into a typed object. Values are names, ARNs and JSON, never secrets.
 */
import { z } from 'zod';
import { PRUNE_ENV, PRUNE_SEPARATELY } from './prune.ts';

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
  /**
   * Tests and local runs only: the task's ARN, standing in for the ECS task metadata endpoint
   * (`ECS_CONTAINER_METADATA_URI_V4`, which ECS sets).
   */
  taskArn: 'DUMPVAULT_TASK_ARN',
} as const;

/** Set by ECS in every container: where the task metadata endpoint (v4) answers. */
export const ECS_METADATA_ENV = 'ECS_CONTAINER_METADATA_URI_V4';

const missing = (name: string) =>
  `environment variable ${name} is not set; the task is started by the DumpVault stack`;

/** A variable the stack always sets: missing or empty is an error naming it. */
export const requiredVar = (name: string) =>
  z.string({ error: missing(name) }).min(1, { error: missing(name) });

/** A variable that may be absent; empty counts as absent. */
export const optionalVar = () =>
  z
    .string()
    .optional()
    .transform((v) => (v ? v : undefined));

const publicKeysJson = z
  .string()
  .optional()
  .transform((text, ctx): Record<string, string> => {
    if (!text) return {};
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      ctx.addIssue({
        code: 'custom',
        message: `${TaskEnv.publicKeys} is not valid JSON; redeploy the stack`,
      });
      return z.NEVER;
    }
    const keys = z.record(z.string(), z.string()).safeParse(value);
    if (keys.success) return keys.data;
    ctx.addIssue({
      code: 'custom',
      message: `${TaskEnv.publicKeys}: expected a JSON object of key paths to armored keys; redeploy the stack`,
    });
    return z.NEVER;
  });

/**
 * What every task reads from its environment, parsed once. The trigger defaults to `schedule`
 * (the restore task's schema, core/contracts/restore-task.ts, to `manual`).
 */
export const TaskRunEnvSchema = z.object({
  [TaskEnv.job]: requiredVar(TaskEnv.job),
  [TaskEnv.runId]: requiredVar(TaskEnv.runId),
  [TaskEnv.startedAt]: requiredVar(TaskEnv.startedAt).refine((v) => !Number.isNaN(Date.parse(v)), {
    error: `${TaskEnv.startedAt} is not an ISO time`,
  }),
  [TaskEnv.trigger]: z.enum(['schedule', 'manual']).catch('schedule'),
  [TaskEnv.jobJson]: requiredVar(TaskEnv.jobJson),
  [TaskEnv.capacity]: optionalVar(),
  [TaskEnv.historyTable]: requiredVar(TaskEnv.historyTable),
  [TaskEnv.topicArn]: requiredVar(TaskEnv.topicArn),
  [TaskEnv.bucket]: optionalVar(),
  [TaskEnv.publicKeys]: publicKeysJson,
  [TaskEnv.taskArn]: optionalVar(),
  [ECS_METADATA_ENV]: optionalVar(),
  [PRUNE_ENV]: z
    .string()
    .optional()
    .transform((v) => v === PRUNE_SEPARATELY),
});

/** What a task knows about its run, from its environment. */
export interface TaskRun {
  readonly job: string;
  readonly runId: string;
  /** As the environment spelled it: the run's history key is made of this exact string. */
  readonly startedAt: string;
  readonly trigger: 'schedule' | 'manual';
  /** The single-job config, as JSON text (validateConfig() checks what it holds). */
  readonly jobJson: string;
  /** Public key files the config names (relative path → armored key). */
  readonly publicKeys: Readonly<Record<string, string>>;
  /** `FARGATE_SPOT` on Spot runs. */
  readonly capacity?: string;
  readonly historyTable: string;
  readonly topicArn: string;
  readonly bucket?: string;
  /** The task's ARN when the environment gives it (tests). */
  readonly taskArn?: string;
  /** The ECS task metadata endpoint (v4), on ECS. */
  readonly metadataUri?: string;
  /** True when the job's prune function applies retention after the task (core/contracts/prune.ts). */
  readonly pruneSeparately: boolean;
}

/** The first issue of a failed parse, as one sentence. */
export function firstIssue(error: z.ZodError, fallback: string): string {
  return error.issues[0]?.message ?? fallback;
}

/** The typed run of a parsed {@link TaskRunEnvSchema} (or an extension of it). */
export function taskRunOf(v: z.output<typeof TaskRunEnvSchema>): TaskRun {
  return {
    job: v[TaskEnv.job],
    runId: v[TaskEnv.runId],
    startedAt: v[TaskEnv.startedAt],
    trigger: v[TaskEnv.trigger],
    jobJson: v[TaskEnv.jobJson],
    publicKeys: v[TaskEnv.publicKeys],
    historyTable: v[TaskEnv.historyTable],
    topicArn: v[TaskEnv.topicArn],
    pruneSeparately: v[PRUNE_ENV],
    ...(v[TaskEnv.capacity] ? { capacity: v[TaskEnv.capacity] } : {}),
    ...(v[TaskEnv.bucket] ? { bucket: v[TaskEnv.bucket] } : {}),
    ...(v[TaskEnv.taskArn] ? { taskArn: v[TaskEnv.taskArn] } : {}),
    ...(v[ECS_METADATA_ENV] ? { metadataUri: v[ECS_METADATA_ENV] } : {}),
  };
}

/** Parses the backup task's environment; the error names the first variable that is missing or wrong. */
export function parseTaskRun(env: NodeJS.ProcessEnv): TaskRun | { error: string } {
  const parsed = TaskRunEnvSchema.safeParse(env);
  if (!parsed.success) return { error: firstIssue(parsed.error, 'the task environment is incomplete') };
  return taskRunOf(parsed.data);
}
