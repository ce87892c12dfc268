/**
 * Reacting to "ECS Task State Change" STOPPED: a run whose task died without recording a result
 * (OOM, crash, capacity stop, timeout) is marked FAILED with the stop reason and exit code.
 * Safe for duplicate and out-of-order events: only a RUNNING item is ever changed (a run the task
 * recorded SUCCEEDED, PARTIAL or FAILED keeps what the task wrote) — except a backup Fargate Spot
 * interrupted, which is recorded FAILED with the interruption and retried once (spot-retry.ts).
 */

import { alertStateKey } from '../../core/contracts/history-keys.ts';
import type { PruneRequest } from '../../core/contracts/prune.ts';
import type { DynamoHistoryStore } from '../../core/history/dynamodb.ts';
import type { HistoryItem } from '../../core/history/history.ts';
import type { Notifier } from '../../core/notify/notifier.ts';
import { announceOutcome, markDeadRunFailed } from '../../core/pipeline/finish-run.ts';
import { redact } from '../../core/redact.ts';
import { finishDeps, type RunLog } from './log.ts';
import { isRetryable, isSpotInterruption, retryInterruptedRun, type SpotRetryDeps } from './spot-retry.ts';
import { parseStartedBy, TaskEnv } from './task-contract.ts';

/** The part of the ECS Task State Change event detail this function reads. */
export interface TaskStateChangeDetail {
  readonly taskArn?: string;
  readonly clusterArn?: string;
  readonly lastStatus?: string;
  readonly stoppedReason?: string;
  readonly stopCode?: string;
  readonly stoppedAt?: string;
  readonly startedBy?: string;
  readonly containers?: ReadonlyArray<{
    readonly name?: string;
    readonly exitCode?: number;
    readonly reason?: string;
  }>;
  readonly overrides?: {
    readonly containerOverrides?: ReadonlyArray<{
      readonly name?: string;
      readonly environment?: ReadonlyArray<{ readonly name?: string; readonly value?: string }>;
    }>;
  };
}

export interface TaskStoppedDeps {
  readonly history: DynamoHistoryStore;
  readonly notifier: Notifier;
  readonly containerName: string;
  readonly log: RunLog;
  readonly now?: () => Date;
  /**
   * Hands a SUCCEEDED backup to its job's prune function (an asynchronous invocation): the
   * task cannot delete, so retention starts here once its task stopped.
   * @default - retention is not started (local tests of the failure path)
   */
  readonly startPrune?: (request: PruneRequest) => Promise<void>;
  /**
   * Retries a backup Fargate Spot interrupted, once, on on-demand Fargate.
   * @default - nothing is retried (no job runs on Spot): an interrupted run fails like any other
   */
  readonly retry?: SpotRetryDeps;
}

export type TaskStoppedResult =
  /** Not a dumpvault task, or not STOPPED. */
  | { readonly action: 'ignored' }
  /** A dumpvault task whose run is not in history (deleted table, foreign cluster). */
  | { readonly action: 'unknown-run'; readonly job: string; readonly runId: string }
  /** The run had already finished (the task recorded it, or this is a duplicate event). */
  | {
      readonly action: 'already-finished';
      readonly job: string;
      readonly runId: string;
      readonly alert?: string;
      /** Retention was handed to the job's prune function. */
      readonly pruneStarted?: boolean;
    }
  /** Fargate Spot interrupted the run: recorded FAILED without an alert, retried as `retryRunId`. */
  | {
      readonly action: 'retried';
      readonly job: string;
      readonly runId: string;
      readonly retryRunId: string;
      readonly taskArn: string;
    }
  /** Fargate Spot interrupted the run and its retry could not be started (recorded and alerted). */
  | {
      readonly action: 'retry-failed';
      readonly job: string;
      readonly runId: string;
      readonly retryRunId: string;
      readonly error: string;
    }
  /** The run was RUNNING and is now FAILED. */
  | {
      readonly action: 'marked-failed';
      readonly job: string;
      readonly runId: string;
      readonly error: string;
    };

/** Finds the job and run id of a task: the container override first, then `startedBy`. */
export function identifyRun(
  detail: TaskStateChangeDetail,
  containerName: string,
): { job: string; runId: string } | undefined {
  const env = detail.overrides?.containerOverrides?.find((c) => c.name === containerName)?.environment ?? [];
  const value = (name: string) => env.find((e) => e.name === name)?.value;
  const job = value(TaskEnv.job);
  const runId = value(TaskEnv.runId);
  if (job && runId) return { job, runId };
  return parseStartedBy(detail.startedBy);
}

/** One line saying why the task stopped: stop code, reason, container exit code. */
export function describeStop(detail: TaskStateChangeDetail, containerName: string): string {
  const container = detail.containers?.find((c) => c.name === containerName) ?? detail.containers?.[0];
  const parts: string[] = [];
  if (container?.exitCode === 0) {
    parts.push('the task exited with code 0 but never recorded a result');
  } else if (container?.exitCode !== undefined) {
    parts.push(`the task exited with code ${container.exitCode}`);
  } else {
    parts.push('the task stopped without an exit code');
  }
  if (container?.reason) parts.push(container.reason);
  if (detail.stoppedReason)
    parts.push(`${detail.stopCode ? `${detail.stopCode}: ` : ''}${detail.stoppedReason}`);
  else if (detail.stopCode) parts.push(detail.stopCode);
  return redact(parts.join('; ').replace(/\s+/g, ' '));
}

function investigate(job: string, taskArn: string | undefined): string {
  return `dumpvault history ${job} --remote${taskArn ? ` (ECS task ${taskArn}, its log stream is in the task log group)` : ''}`;
}

/** Handles one STOPPED event. */
export async function handleTaskStopped(
  deps: TaskStoppedDeps,
  detail: TaskStateChangeDetail,
): Promise<TaskStoppedResult> {
  if (detail.lastStatus !== undefined && detail.lastStatus !== 'STOPPED') return { action: 'ignored' };
  const ids = identifyRun(detail, deps.containerName);
  if (!ids) return { action: 'ignored' };
  const { job, runId } = ids;

  let run = await deps.history.findRun(job, runId);
  // Why a Spot-interrupted run was not retried; it then fails (and alerts) with this cause.
  let notRetried: string | undefined;
  if (run && deps.retry && isSpotInterruption(detail) && isRetryable(run)) {
    const outcome = await retryInterruptedRun({ ...deps, retry: deps.retry }, run, detail);
    if (outcome.action === 'not-retried') notRetried = outcome.error;
    else return { ...outcome, job, runId };
  }
  if (!run) {
    await deps.history.releaseLease(job, runId);
    deps.log.warn('a dumpvault task stopped but its run is not in history', {
      job,
      runId,
      taskArn: detail.taskArn,
    });
    return { action: 'unknown-run', job, runId };
  }

  if (run.status !== 'RUNNING') {
    await deps.history.releaseLease(job, runId);
    if (notRetried) {
      // The Spot task recorded FAILED at SIGTERM and left the alert to us: it goes out now.
      run = { ...run, error: notRetried };
      await deps.history.save(run);
    }
    const alert = await retryMissedAlert(deps, run);
    // Only a SUCCEEDED backup is pruned after (never a FAILED or PARTIAL one); a failed
    // invocation throws, so EventBridge retries the event (pruning is idempotent).
    const prune = run.kind === 'backup' && run.status === 'SUCCEEDED' && deps.startPrune !== undefined;
    if (prune) await deps.startPrune!({ job, runId });
    return {
      action: 'already-finished',
      job,
      runId,
      ...(alert ? { alert } : {}),
      ...(prune ? { pruneStarted: true } : {}),
    };
  }

  const now = (deps.now ?? (() => new Date()))();
  const finishedAt =
    detail.stoppedAt && !Number.isNaN(Date.parse(detail.stoppedAt)) ? new Date(detail.stoppedAt) : now;
  const error = notRetried ?? describeStop(detail, deps.containerName);
  const marked = await markDeadRunFailed(finishDeps(deps), run, {
    finishedAt,
    error,
    ...(detail.taskArn ? { taskArn: detail.taskArn } : {}),
    investigate: investigate(job, detail.taskArn),
    why: 'run marked FAILED: its task stopped without recording a result',
  });
  if (!marked) return { action: 'already-finished', job, runId };
  return { action: 'marked-failed', job, runId, error };
}

/**
 * The task alerts on its own outcome. If that publish failed, the alert state still points at
 * an earlier run: publish it now, but only while this run is the job's newest finished run
 * (a late duplicate event must not announce an outdated recovery).
 */
async function retryMissedAlert(deps: TaskStoppedDeps, run: HistoryItem): Promise<string | undefined> {
  // PARTIAL too: a backup that kept some copies alerted (or failed to) like a failed one.
  if (run.status !== 'SUCCEEDED' && run.status !== 'FAILED' && run.status !== 'PARTIAL') return undefined;
  // Interrupted by Spot and retried: its retry's outcome is the one alerted.
  if (run.details?.['retriedAs'] !== undefined) return undefined;
  // Backups and restores/drills keep separate alert streaks (core/notify/alerts.ts).
  const state = await deps.history.getAlertState(alertStateKey(run.job, run.kind));
  if (state?.lastRunId === run.runId) return undefined;
  const newest = (await deps.history.list(run.job, { limit: 20 })).find(
    (r) =>
      r.kind === run.kind && (r.status === 'SUCCEEDED' || r.status === 'FAILED' || r.status === 'PARTIAL'),
  );
  if (newest?.runId !== run.runId) return undefined;
  const outcome = {
    job: run.job,
    runId: run.runId,
    kind: run.kind,
    status: run.status,
    investigate: investigate(run.job, run.taskArn),
    ...(run.error !== undefined ? { error: run.error } : {}),
    ...(run.durationMs !== undefined ? { durationMs: run.durationMs } : {}),
    ...(run.key !== undefined ? { key: run.key } : {}),
    ...(run.bytes !== undefined ? { bytes: run.bytes } : {}),
  };
  const result = await announceOutcome(finishDeps(deps), outcome);
  return result.alert?.status;
}
