/**
 * Starting one backup run: lease, history RUNNING, Fargate RunTask, task ARN. Every way this
 * can end is recorded in history and, where it deserves one, alerted.
 */
import { type ECSClient, RunTaskCommand, type RunTaskCommandInput } from '@aws-sdk/client-ecs';
import { findJob } from '../../core/config/load.ts';
import type { Config, Job } from '../../core/config/schema.ts';
import { messageOf } from '../../core/errors.ts';
import type { DynamoHistoryStore } from '../../core/history/dynamodb.ts';
import type { HistoryItem, Lease, Trigger } from '../../core/history/history.ts';
import { newRunId } from '../../core/manifest.ts';
import { notifyOutcome } from '../../core/notify/alerts.ts';
import type { Notifier } from '../../core/notify/notifier.ts';
import { redact } from '../../core/redact.ts';
import type { RunLog } from './log.ts';
import { MAX_OVERRIDE_BYTES, singleJobConfig, startedByOf, TaskEnv } from './task-contract.ts';

/** Where and how tasks run; fixed per deployment (Lambda environment). */
export interface TaskLaunchSettings {
  readonly cluster: string;
  readonly taskDefinition: string;
  readonly containerName: string;
  readonly subnets: readonly string[];
  readonly securityGroups: readonly string[];
}

/** Job settings used when a job has no `task` section. */
export const DEFAULT_TASK = { cpu: 1024, memoryMiB: 2048, timeoutMinutes: 720 } as const;

/** The lease outlives the task's own timeout by this much, so only a dead run loses it. */
export const LEASE_MARGIN_MS = 30 * 60_000;

export interface StartBackupDeps {
  readonly config: Config;
  readonly history: DynamoHistoryStore;
  readonly notifier: Notifier;
  readonly ecs: ECSClient;
  readonly launch: TaskLaunchSettings;
  readonly log: RunLog;
  readonly now?: () => Date;
  readonly newRunId?: () => string;
}

/** The event: what the schedule sends (`{"job": name}`) or what `dumpvault run --remote` sends. */
export interface StartBackupRequest {
  readonly job: string;
  /** @default 'schedule' */
  readonly trigger?: Trigger;
}

export type StartBackupResult =
  | { readonly status: 'STARTED'; readonly job: string; readonly runId: string; readonly taskArn: string }
  | { readonly status: 'SKIPPED'; readonly job: string; readonly runId: string; readonly heldBy: Lease }
  | { readonly status: 'FAILED'; readonly job: string; readonly runId: string; readonly error: string };

/** How long a run may hold its job's lease. */
export function leaseTtlMs(job: Job): number {
  return (job.task?.timeoutMinutes ?? DEFAULT_TASK.timeoutMinutes) * 60_000 + LEASE_MARGIN_MS;
}

/** The RunTask request for one run: Fargate, private subnets, the job's size, no secrets. */
export function buildRunTaskInput(
  config: Config,
  job: Job,
  run: { runId: string; startedAt: string; trigger: Trigger },
  launch: TaskLaunchSettings,
): RunTaskCommandInput {
  const input: RunTaskCommandInput = {
    cluster: launch.cluster,
    taskDefinition: launch.taskDefinition,
    launchType: 'FARGATE',
    count: 1,
    startedBy: startedByOf(job.name, run.runId),
    networkConfiguration: {
      awsvpcConfiguration: {
        subnets: [...launch.subnets],
        securityGroups: [...launch.securityGroups],
        assignPublicIp: 'DISABLED',
      },
    },
    overrides: {
      cpu: String(job.task?.cpu ?? DEFAULT_TASK.cpu),
      memory: String(job.task?.memoryMiB ?? DEFAULT_TASK.memoryMiB),
      containerOverrides: [
        {
          name: launch.containerName,
          environment: [
            { name: TaskEnv.job, value: job.name },
            { name: TaskEnv.runId, value: run.runId },
            { name: TaskEnv.startedAt, value: run.startedAt },
            { name: TaskEnv.trigger, value: run.trigger },
            { name: TaskEnv.jobJson, value: JSON.stringify(singleJobConfig(config, job)) },
          ],
        },
      ],
    },
  };
  const size = Buffer.byteLength(JSON.stringify(input.overrides));
  if (size > MAX_OVERRIDE_BYTES) {
    throw new Error(
      `the task overrides of job "${job.name}" are ${size} bytes, more than the ${MAX_OVERRIDE_BYTES} ECS accepts; shorten the job's destinations or encryption entries`,
    );
  }
  return input;
}

function investigate(job: string, taskArn?: string): string {
  return `dumpvault history ${job} --remote${taskArn ? ` (ECS task ${taskArn})` : ''}`;
}

/**
 * Starts one run of a job. Never throws for an outcome it can record (lease held, task not
 * started): those are history items and alerts, not Lambda errors. Throws for an unknown job
 * and when history itself cannot be written.
 */
export async function startBackup(
  deps: StartBackupDeps,
  request: StartBackupRequest,
): Promise<StartBackupResult> {
  const job = findJob(deps.config, request.job);
  const now = (deps.now ?? (() => new Date()))();
  const runId = (deps.newRunId ?? newRunId)();
  const trigger: Trigger = request.trigger ?? 'schedule';
  const startedAt = now.toISOString();
  const base: HistoryItem = { job: job.name, runId, kind: 'backup', status: 'RUNNING', trigger, startedAt };

  const lease = await deps.history.acquireLease(job.name, runId, leaseTtlMs(job), now);
  if (!lease.acquired) {
    const error = `run ${lease.heldBy.runId} still holds the lease of "${job.name}" until ${lease.heldBy.expiresAt}`;
    await deps.history.save({ ...base, status: 'SKIPPED', finishedAt: startedAt, durationMs: 0, error });
    deps.log.warn('run skipped: the previous run still holds the lease', { job: job.name, runId, error });
    await report(deps, { job: job.name, runId, status: 'SKIPPED', error, durationMs: 0 });
    return { status: 'SKIPPED', job: job.name, runId, heldBy: lease.heldBy };
  }

  await deps.history.save(base);
  let taskArn: string;
  try {
    taskArn = await runTask(
      deps,
      buildRunTaskInput(deps.config, job, { runId, startedAt, trigger }, deps.launch),
    );
  } catch (err) {
    const error = redact(`the task could not be started: ${messageOf(err)}`);
    const finished = (deps.now ?? (() => new Date()))();
    const durationMs = finished.getTime() - now.getTime();
    await deps.history.save({
      ...base,
      status: 'FAILED',
      finishedAt: finished.toISOString(),
      durationMs,
      error,
    });
    await deps.history.releaseLease(job.name, runId);
    deps.log.warn('run failed to start', { job: job.name, runId, error });
    await report(deps, { job: job.name, runId, status: 'FAILED', error, durationMs });
    return { status: 'FAILED', job: job.name, runId, error };
  }

  await deps.history.setTaskArn(job.name, startedAt, runId, taskArn);
  deps.log.info('run started', { job: job.name, runId, taskArn, trigger });
  return { status: 'STARTED', job: job.name, runId, taskArn };
}

/** RunTask, turning `failures[]` (capacity, missing image, …) into a thrown error. */
async function runTask(deps: StartBackupDeps, input: RunTaskCommandInput): Promise<string> {
  const result = await deps.ecs.send(new RunTaskCommand(input));
  const failure = result.failures?.[0];
  if (failure) {
    throw new Error(`${failure.reason ?? 'unknown reason'}${failure.detail ? ` (${failure.detail})` : ''}`);
  }
  const taskArn = result.tasks?.[0]?.taskArn;
  if (!taskArn) throw new Error('ECS returned neither a task nor a failure');
  return taskArn;
}

async function report(
  deps: StartBackupDeps,
  outcome: { job: string; runId: string; status: 'FAILED' | 'SKIPPED'; error: string; durationMs: number },
): Promise<void> {
  const result = await notifyOutcome(deps.history, deps.notifier, {
    ...outcome,
    kind: 'backup',
    investigate: investigate(outcome.job),
  });
  if (result.error) {
    deps.log.warn('alert could not be published; it will be retried by the next outcome', {
      job: outcome.job,
      runId: outcome.runId,
      error: redact(messageOf(result.error)),
    });
  }
}
