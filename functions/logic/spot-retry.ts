/**
 * Fargate Spot interruptions (issue 13 §3): a backup whose Spot task AWS took back is recorded
 * FAILED with the interruption as its cause — no alert — and retried once, as a new run on
 * on-demand Fargate. The retry is never retried: its failure (or, were it ever interrupted,
 * its interruption) ends like any other failed run, alert included.
 *
 * Why on-demand for the retry: Spot capacity that was just taken back is the capacity least
 * likely to be there a minute later, and a second interruption would cost a whole backup-hour
 * for nothing; the retry is the run that must finish.
 *
 * The lease: the interrupted run's lease is handed to the retry in one conditional write
 * (DynamoHistoryStore.handOverLease), only after the interrupted task has STOPPED, so no two
 * tasks of a job ever run at once; when a third run already holds it (a scheduled start came
 * between), nothing is retried and the interruption is alerted as the run's failure.
 *
 * Every step is safe to repeat for a duplicate STOPPED event: the retry's run id derives from
 * the interrupted run's, RunTask's client token from the retry's run id.
 */
import { createHash } from 'node:crypto';
import type { ECSClient } from '@aws-sdk/client-ecs';
import type { Config } from '../../core/config/schema.ts';
import { messageOf } from '../../core/errors.ts';
import type { DynamoHistoryStore } from '../../core/history/dynamodb.ts';
import type { HistoryItem } from '../../core/history/history.ts';
import type { Notifier } from '../../core/notify/notifier.ts';
import { finishRun } from '../../core/pipeline/finish-run.ts';
import { redact } from '../../core/redact.ts';
import { finishDeps, type RunLog } from './log.ts';
import { buildRunTaskInput, leaseTtlMs, runTask, type TaskLaunchSettings } from './start-backup.ts';

/** The stop code ECS gives a task Fargate Spot interrupted. */
export const SPOT_INTERRUPTION = 'SpotInterruption';

/** What task-stopped needs to retry a backup Spot interrupted; fixed per deployment. */
export interface SpotRetryDeps {
  readonly config: Config;
  readonly ecs: ECSClient;
  readonly launch: TaskLaunchSettings;
  /**
   * Waits between RunTask attempts (tests pass one that does not wait).
   * @default setTimeout
   */
  readonly sleep?: (ms: number) => Promise<void>;
}

/** The part of the STOPPED event that says why the task stopped. */
export interface StopCause {
  readonly stopCode?: string;
  readonly stoppedReason?: string;
  readonly stoppedAt?: string;
  readonly taskArn?: string;
}

/** Whether ECS stopped the task because Fargate Spot took its capacity back. */
export function isSpotInterruption(stop: StopCause): boolean {
  return (
    stop.stopCode === SPOT_INTERRUPTION || /\bspot task was interrupted\b/i.test(stop.stoppedReason ?? '')
  );
}

/**
 * The run id of the retry of `runId`: 8 hex characters of SHA-256, so a duplicate STOPPED event
 * names the same retry (and RunTask's client token, derived from it, starts no second task).
 */
export function retryRunIdOf(runId: string): string {
  return createHash('sha256').update(`${runId}\nspot-retry`).digest('hex').slice(0, 8);
}

/** Whether `run` may be retried after a Spot interruption: a backup, not a retry itself. */
export function isRetryable(run: HistoryItem): boolean {
  return (
    run.kind === 'backup' &&
    (run.status === 'RUNNING' || run.status === 'FAILED') &&
    run.details?.['retryOf'] === undefined
  );
}

export type SpotRetryOutcome =
  /** The retry runs (or a duplicate event found it running already). */
  | { readonly action: 'retried'; readonly retryRunId: string; readonly taskArn: string }
  /** The retry could not be started: recorded FAILED and alerted. */
  | { readonly action: 'retry-failed'; readonly retryRunId: string; readonly error: string }
  /** Not retried (a third run holds the lease, the job left the config): the caller fails the run. */
  | { readonly action: 'not-retried'; readonly error: string };

interface Deps {
  readonly history: DynamoHistoryStore;
  readonly notifier: Notifier;
  readonly log: RunLog;
  readonly now?: () => Date;
  readonly retry: SpotRetryDeps;
}

/** `interrupted by Fargate Spot (SpotInterruption: Your Spot Task was interrupted.)` */
function interruption(stop: StopCause): string {
  const why = [stop.stopCode, stop.stoppedReason].filter(Boolean).join(': ');
  return redact(`interrupted by Fargate Spot${why ? ` (${why})` : ''}`.replace(/\s+/g, ' '));
}

/**
 * Retries `run` (RUNNING, or FAILED by its own task at SIGTERM) once on on-demand Fargate after
 * its Spot task was interrupted, recording the interruption on it. See the file comment.
 */
export async function retryInterruptedRun(
  deps: Deps,
  run: HistoryItem,
  stop: StopCause,
): Promise<SpotRetryOutcome> {
  const clock = deps.now ?? (() => new Date());
  const cause = interruption(stop);
  const job = deps.retry.config.jobs.find((j) => j.name === run.job);
  if (!job) return { action: 'not-retried', error: `${cause}; not retried: the job is no longer configured` };
  const retryRunId = retryRunIdOf(run.runId);
  // A duplicate event: the retry started (or failed to) already; nothing is touched again.
  const existing = await deps.history.findRun(run.job, retryRunId);
  if (existing?.taskArn) return { action: 'retried', retryRunId, taskArn: existing.taskArn };
  if (existing && existing.status !== 'RUNNING') {
    return { action: 'retry-failed', retryRunId, error: existing.error ?? existing.status };
  }
  const now = clock();
  const lease = await deps.history.handOverLease(run.job, run.runId, retryRunId, leaseTtlMs(job), now);
  if (!lease.acquired) {
    return {
      action: 'not-retried',
      error: `${cause}; not retried: run ${lease.heldBy.runId} holds the lease of "${run.job}"`,
    };
  }

  // The retry's item before RunTask: a duplicate event finds it and starts nothing twice. It
  // starts when the interrupted task stopped: concurrent duplicates then write the same item
  // (same key) and send the same RunTask (same client token, same overrides).
  const stoppedAt = stop.stoppedAt && !Number.isNaN(Date.parse(stop.stoppedAt)) ? stop.stoppedAt : undefined;
  const retry: HistoryItem = existing ?? {
    job: run.job,
    runId: retryRunId,
    kind: 'backup',
    status: 'RUNNING',
    trigger: run.trigger,
    startedAt: new Date(stoppedAt ?? now).toISOString(),
    details: { retryOf: run.runId },
  };
  if (!existing) await deps.history.save(retry);

  const finishedAt = run.finishedAt ?? stoppedAt ?? now.toISOString();
  await deps.history.save({
    ...run,
    status: 'FAILED',
    finishedAt,
    durationMs: run.durationMs ?? Math.max(0, Date.parse(finishedAt) - Date.parse(run.startedAt)),
    error: `${cause}; retried once as run ${retryRunId} on on-demand Fargate`,
    ...(stop.taskArn && !run.taskArn ? { taskArn: stop.taskArn } : {}),
    details: {
      ...run.details,
      interruption: { stopCode: stop.stopCode, stoppedReason: stop.stoppedReason },
      retriedAs: retryRunId,
      // What the task itself recorded when SIGTERM reached it, if it did.
      ...(run.status === 'FAILED' && run.error ? { taskError: run.error } : {}),
    },
  });

  let taskArn: string;
  try {
    taskArn = await runTask(
      { ecs: deps.retry.ecs, log: deps.log, ...(deps.retry.sleep ? { sleep: deps.retry.sleep } : {}) },
      buildRunTaskInput(
        deps.retry.config,
        job,
        { runId: retryRunId, startedAt: retry.startedAt, trigger: retry.trigger },
        deps.retry.launch,
        'FARGATE',
      ),
    );
  } catch (err) {
    const error = redact(
      `the retry after a Fargate Spot interruption could not be started: ${messageOf(err)}`,
    );
    const finished = clock();
    await finishRun(
      finishDeps(deps),
      {
        ...retry,
        status: 'FAILED',
        finishedAt: finished.toISOString(),
        durationMs: Math.max(0, finished.getTime() - Date.parse(retry.startedAt)),
        error,
      },
      { investigate: `dumpvault history ${run.job} --remote` },
    );
    await deps.history.releaseLease(run.job, retryRunId);
    deps.log.warn('the retry after a Spot interruption could not be started', {
      job: run.job,
      runId: run.runId,
      retryRunId,
      error,
    });
    return { action: 'retry-failed', retryRunId, error };
  }
  await deps.history.setTaskArn(run.job, retry.startedAt, retryRunId, taskArn);
  deps.log.info('Spot interrupted the run: retried once on on-demand Fargate', {
    job: run.job,
    runId: run.runId,
    retryRunId,
    taskArn,
  });
  return { action: 'retried', retryRunId, taskArn };
}
