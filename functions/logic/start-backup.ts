/**
 * Starting one backup run: lease, history RUNNING, Fargate RunTask, task ARN. Every way this
 * can end is recorded in history and, where it deserves one, alerted.
 */
import { createHash } from 'node:crypto';
import { type ECSClient, RunTaskCommand, type RunTaskCommandInput } from '@aws-sdk/client-ecs';
import { findJob } from '../../core/config/load.ts';
import { backupsOnSpot, type Config, type Job } from '../../core/config/schema.ts';
import { DEFAULT_TASK_SIZE } from '../../core/contracts/task-size.ts';
import { messageOf } from '../../core/errors.ts';
import type { DynamoHistoryStore } from '../../core/history/dynamodb.ts';
import type { HistoryItem, Lease, Trigger } from '../../core/history/history.ts';
import { newRunId } from '../../core/manifest.ts';
import type { Notifier } from '../../core/notify/notifier.ts';
import { finishRun } from '../../core/pipeline/finish-run.ts';
import { redact } from '../../core/redact.ts';
import { finishDeps, type RunLog } from './log.ts';
import { MAX_OVERRIDE_BYTES, singleJobConfig, startedByOf, TaskEnv } from './task-contract.ts';

/** Where and how tasks run; fixed per deployment (Lambda environment). */
export interface TaskLaunchSettings {
  readonly cluster: string;
  /**
   * Each job has its own task definition (its own role: its secrets, its prefix, its history
   * partition); its family is this prefix followed by the job's name.
   */
  readonly taskFamilyPrefix: string;
  readonly containerName: string;
  readonly subnets: readonly string[];
  readonly securityGroups: readonly string[];
  /**
   * `ENABLED` when tasks run in public subnets (`aws.network: "public-subnets"`, no NAT gateway):
   * without a public IP such a task reaches neither the database nor the AWS APIs.
   * @default 'DISABLED'
   */
  readonly assignPublicIp?: 'ENABLED' | 'DISABLED';
}

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
  /**
   * Waits between RunTask attempts (tests pass one that does not wait).
   * @default setTimeout
   */
  readonly sleep?: (ms: number) => Promise<void>;
}

/** Waits before the 2nd, 3rd and 4th RunTask attempt after a transient failure. */
export const RUN_TASK_BACKOFF_MS = [2_000, 5_000, 12_000] as const;

/**
 * The event: what the schedule sends (`{"job", "scheduledTime"}`, the time Scheduler fills in
 * from `<aws.scheduler.scheduled-time>`) or what `dumpvault run --remote` sends.
 */
export interface StartBackupRequest {
  readonly job: string;
  /** @default 'schedule' */
  readonly trigger?: Trigger;
  /** The schedule's time of this start: the run id derives from it, so a redelivery is a no-op. */
  readonly scheduledTime?: string;
}

export type StartBackupResult =
  | { readonly status: 'STARTED'; readonly job: string; readonly runId: string; readonly taskArn: string }
  /** The same scheduled start was delivered again (Scheduler delivers at least once): nothing done. */
  | { readonly status: 'DUPLICATE'; readonly job: string; readonly runId: string }
  | { readonly status: 'SKIPPED'; readonly job: string; readonly runId: string; readonly heldBy: Lease }
  | { readonly status: 'FAILED'; readonly job: string; readonly runId: string; readonly error: string };

/**
 * The run id of a scheduled start: 8 hex characters of SHA-256 over job and scheduled time, so
 * every delivery of one scheduled start names the same run.
 */
export function scheduledRunId(job: string, scheduledTime: string): string {
  return createHash('sha256').update(`${job}\n${scheduledTime}`).digest('hex').slice(0, 8);
}

/** The task definition family of a job. */
export function taskFamilyOf(launch: TaskLaunchSettings, job: string): string {
  return `${launch.taskFamilyPrefix}${job}`;
}

/** How long a run may hold its job's lease. */
export function leaseTtlMs(job: Job): number {
  return (job.task?.timeoutMinutes ?? DEFAULT_TASK_SIZE.timeoutMinutes) * 60_000 + LEASE_MARGIN_MS;
}

/**
 * Where a run's task runs: on-demand Fargate, or Fargate Spot (a capacity provider of the
 * cluster; RunTask takes either a launch type or a capacity provider strategy, never both).
 */
export type Capacity = 'FARGATE' | 'FARGATE_SPOT';

/** Where a job's backups start: Fargate Spot when the job or `aws.task` says so. */
export function capacityOf(config: Config, job: Job): Capacity {
  return backupsOnSpot(config, job) ? 'FARGATE_SPOT' : 'FARGATE';
}

/**
 * The RunTask request for one run: Fargate (on-demand or Spot), the deployment's subnets, the
 * job's size, no secrets.
 */
export function buildRunTaskInput(
  config: Config,
  job: Job,
  run: { runId: string; startedAt: string; trigger: Trigger },
  launch: TaskLaunchSettings,
  capacity: Capacity = capacityOf(config, job),
): RunTaskCommandInput {
  const spot = capacity === 'FARGATE_SPOT';
  const input: RunTaskCommandInput = {
    cluster: launch.cluster,
    taskDefinition: taskFamilyOf(launch, job.name),
    ...(spot
      ? { capacityProviderStrategy: [{ capacityProvider: 'FARGATE_SPOT', weight: 1 }] }
      : { launchType: 'FARGATE' }),
    count: 1,
    startedBy: startedByOf(job.name, run.runId),
    // Per-job cost allocation: the task carries its task definition's `dumpvault:job` tag (and
    // ECS's own cluster/service tags), so Cost Explorer can split Fargate by job once the tag
    // is activated as a cost allocation tag. Tagging at launch needs ecs:TagResource (granted
    // for RunTask only: infra/orchestration.ts).
    propagateTags: 'TASK_DEFINITION',
    enableECSManagedTags: true,
    networkConfiguration: {
      awsvpcConfiguration: {
        subnets: [...launch.subnets],
        securityGroups: [...launch.securityGroups],
        assignPublicIp: launch.assignPublicIp ?? 'DISABLED',
      },
    },
    overrides: {
      cpu: String(job.task?.cpu ?? DEFAULT_TASK_SIZE.cpu),
      memory: String(job.task?.memoryMiB ?? DEFAULT_TASK_SIZE.memoryMiB),
      containerOverrides: [
        {
          name: launch.containerName,
          environment: [
            { name: TaskEnv.job, value: job.name },
            { name: TaskEnv.runId, value: run.runId },
            { name: TaskEnv.startedAt, value: run.startedAt },
            { name: TaskEnv.trigger, value: run.trigger },
            { name: TaskEnv.jobJson, value: JSON.stringify(singleJobConfig(config, job)) },
            // A Spot task stopped by SIGTERM leaves its alert to task-stopped, which retries
            // a Spot interruption instead (task-image/cli/commands/task.ts).
            ...(spot ? [{ name: TaskEnv.capacity, value: capacity }] : []),
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
  const clock = deps.now ?? (() => new Date());
  const now = clock();
  const runId = request.scheduledTime
    ? scheduledRunId(job.name, request.scheduledTime)
    : (deps.newRunId ?? newRunId)();
  const trigger: Trigger = request.trigger ?? 'schedule';
  const startedAt = now.toISOString();
  const base: HistoryItem = { job: job.name, runId, kind: 'backup', status: 'RUNNING', trigger, startedAt };

  if (request.scheduledTime && (await isDuplicate(deps, job.name, runId))) {
    deps.log.info('duplicate delivery of a scheduled start: nothing to do', { job: job.name, runId });
    return { status: 'DUPLICATE', job: job.name, runId };
  }

  const lease = await deps.history.acquireLease(job.name, runId, leaseTtlMs(job), now);
  if (!lease.acquired) {
    const error = `run ${lease.heldBy.runId} still holds the lease of "${job.name}" until ${lease.heldBy.expiresAt}`;
    deps.log.warn('run skipped: the previous run still holds the lease', { job: job.name, runId, error });
    await finishRun(
      finishDeps(deps),
      { ...base, status: 'SKIPPED', finishedAt: startedAt, durationMs: 0, error },
      { investigate: investigate(job.name) },
    );
    return { status: 'SKIPPED', job: job.name, runId, heldBy: lease.heldBy };
  }

  let taskArn: string;
  try {
    await deps.history.save(base);
    taskArn = await runTask(
      deps,
      buildRunTaskInput(deps.config, job, { runId, startedAt, trigger }, deps.launch),
    );
  } catch (err) {
    // No task started: the lease must not hold the job for the task's whole timeout.
    const error = redact(`the task could not be started: ${messageOf(err)}`);
    const finished = clock();
    const durationMs = finished.getTime() - now.getTime();
    deps.log.warn('run failed to start', { job: job.name, runId, error });
    try {
      await finishRun(
        finishDeps(deps),
        { ...base, status: 'FAILED', finishedAt: finished.toISOString(), durationMs, error },
        { investigate: investigate(job.name) },
      );
    } finally {
      await deps.history.releaseLease(job.name, runId);
    }
    return { status: 'FAILED', job: job.name, runId, error };
  }

  await deps.history.setTaskArn(job.name, startedAt, runId, taskArn);
  deps.log.info('run started', { job: job.name, runId, taskArn, trigger });
  return { status: 'STARTED', job: job.name, runId, taskArn };
}

/** A scheduled start seen before: its run holds the lease or is already in history. */
async function isDuplicate(deps: StartBackupDeps, job: string, runId: string): Promise<boolean> {
  const lease = await deps.history.getLease(job);
  if (lease?.runId === runId) return true;
  return (await deps.history.findRun(job, runId)) !== undefined;
}

/** ECS `failures[].reason`s that a later attempt may not meet: capacity, ENIs, the agent. */
const TRANSIENT_FAILURE = /^(RESOURCE:|AGENT)|capacity|network interface|ENI|throttl|rate exceeded|timeout/i;
/** SDK errors worth another attempt (throttling, service errors). */
const TRANSIENT_ERROR =
  /Throttl|TooManyRequests|ServerException|ServiceUnavailable|InternalError|RequestLimitExceeded|TimeoutError|ECONNRESET|ETIMEDOUT/;

class RunTaskFailure extends Error {
  constructor(
    message: string,
    readonly transient: boolean,
  ) {
    super(message);
    this.name = 'RunTaskFailure';
  }
}

function isTransient(err: unknown): boolean {
  if (err instanceof RunTaskFailure) return err.transient;
  const e = err as { name?: unknown; $retryable?: unknown; $metadata?: { httpStatusCode?: number } };
  if (e?.$retryable) return true;
  if ((e?.$metadata?.httpStatusCode ?? 0) >= 500) return true;
  return TRANSIENT_ERROR.test(String(e?.name ?? '')) || TRANSIENT_ERROR.test(messageOf(err));
}

/**
 * RunTask with a client token (ECS starts one task per token, so a request whose answer was
 * lost does not start a second task when repeated), retried with backoff while the failure is
 * transient (capacity, ENI, throttling). A reported failure started nothing, so the next
 * attempt gets a new token; an unanswered request keeps its token.
 */
export async function runTask(
  deps: Pick<StartBackupDeps, 'ecs' | 'log' | 'sleep'>,
  input: RunTaskCommandInput,
): Promise<string> {
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  let token = 0;
  for (let attempt = 0; ; attempt++) {
    try {
      const clientToken = createHash('sha256')
        .update(`${input.startedBy}#${token}`)
        .digest('hex')
        .slice(0, 32);
      const result = await deps.ecs.send(new RunTaskCommand({ ...input, clientToken }));
      const failure = result.failures?.[0];
      if (failure) {
        const reason = `${failure.reason ?? 'unknown reason'}${failure.detail ? ` (${failure.detail})` : ''}`;
        token++;
        throw new RunTaskFailure(reason, TRANSIENT_FAILURE.test(reason));
      }
      const taskArn = result.tasks?.[0]?.taskArn;
      if (!taskArn) throw new RunTaskFailure('ECS returned neither a task nor a failure', false);
      return taskArn;
    } catch (err) {
      const delay = RUN_TASK_BACKOFF_MS[attempt];
      if (delay === undefined || !isTransient(err)) {
        throw attempt > 0 ? new Error(`${messageOf(err)} (after ${attempt + 1} attempts)`) : err;
      }
      deps.log.warn('RunTask failed transiently; retrying', {
        attempt: attempt + 1,
        error: redact(messageOf(err)),
      });
      await sleep(delay);
    }
  }
}
