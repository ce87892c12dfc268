/**
 * Reacting to "Step Functions Execution Status Change" of the restore state machine: an
 * execution that ended outside its own Catch paths (ABORTED by hand, TIMED_OUT, or FAILED where
 * even RecordFailure could not write) would leave its history item RUNNING and alert no one.
 * The run is found exactly as Resolve names it (restore-contract.ts `runIdentity`), turned
 * FAILED only while it is still RUNNING, and alerted once. Safe for duplicate and late events:
 * an item the execution, the task or task-stopped already finished is never touched.
 */

import { markDeadRunFailed } from '../../core/pipeline/finish-run.ts';
import { redact } from '../../core/redact.ts';
import { finishDeps } from './log.ts';
import { parseRestoreRequest, type RestoreRequest, runIdentity } from './restore-contract.ts';
import type { RecordDeps } from './restore-record.ts';

/** The execution statuses the EventBridge rule forwards (every way an execution ends badly). */
export const EndedStatus = {
  aborted: 'ABORTED',
  timedOut: 'TIMED_OUT',
  failed: 'FAILED',
} as const;
export type EndedStatus = (typeof EndedStatus)[keyof typeof EndedStatus];

/** The part of the "Step Functions Execution Status Change" event detail this function reads. */
export interface ExecutionStatusChangeDetail {
  readonly executionArn?: string;
  readonly stateMachineArn?: string;
  readonly status?: string;
  /** Epoch milliseconds (`$$.Execution.StartTime` to the millisecond). */
  readonly startDate?: number;
  /** Epoch milliseconds. */
  readonly stopDate?: number | null;
  /** The execution input as a JSON string; null when too large to include. */
  readonly input?: string | null;
  readonly error?: string | null;
  readonly cause?: string | null;
}

/** The same as the record step's: config, history, alerts, log. */
export type RestoreEndedDeps = RecordDeps;

export type RestoreEndedResult =
  /** Not an ending this function handles (RUNNING, SUCCEEDED, no execution ARN). */
  | { readonly action: 'ignored' }
  /** No history item to mark: the input names no job of the config, or Resolve never wrote one. */
  | { readonly action: 'no-run'; readonly job?: string; readonly runId?: string }
  /** The run had already finished (recorded by the execution, the task or task-stopped). */
  | { readonly action: 'already-finished'; readonly job: string; readonly runId: string }
  /** The run was RUNNING and is now FAILED, alerted once. */
  | {
      readonly action: 'marked-failed';
      readonly job: string;
      readonly runId: string;
      readonly error: string;
    };

const ENDED: ReadonlySet<string> = new Set(Object.values(EndedStatus));

/** `45 s`, `12 min 5 s`, `2 h 0 min`: how long the execution ran, for the cause line. */
export function formatElapsed(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

/** One line saying how the execution ended: `execution ABORTED`, `execution TIMED_OUT after 2 h 0 min`, … */
export function describeEnding(detail: ExecutionStatusChangeDetail, status: EndedStatus): string {
  if (status === EndedStatus.aborted) return 'execution ABORTED';
  if (status === EndedStatus.timedOut) {
    const elapsed =
      detail.startDate !== undefined && typeof detail.stopDate === 'number'
        ? ` after ${formatElapsed(detail.stopDate - detail.startDate)}`
        : '';
    return `execution TIMED_OUT${elapsed}`;
  }
  const why = [detail.error, detail.cause].filter((p): p is string => typeof p === 'string' && p !== '');
  return redact(`execution FAILED${why.length ? `: ${why.join(': ')}` : ''}`.replace(/\s+/g, ' '));
}

function parseInput(input: string | null | undefined): RestoreRequest | undefined {
  if (typeof input !== 'string') return undefined;
  try {
    return parseRestoreRequest(JSON.parse(input));
  } catch {
    // Malformed input: Resolve refused it before writing any history item.
    return undefined;
  }
}

/** Handles one execution status change of the restore state machine. */
export async function handleRestoreEnded(
  deps: RestoreEndedDeps,
  detail: ExecutionStatusChangeDetail,
): Promise<RestoreEndedResult> {
  const status = detail.status;
  if (!status || !ENDED.has(status) || !detail.executionArn || typeof detail.startDate !== 'number') {
    return { action: 'ignored' };
  }
  const ended = status as EndedStatus;
  const { runId } = runIdentity({
    id: detail.executionArn,
    startTime: new Date(detail.startDate).toISOString(),
  });
  const request = parseInput(detail.input);
  if (!request || !deps.config.jobs.some((j) => j.name === request.job)) {
    deps.log.info('a restore execution ended before it named a job of this deployment', {
      execution: detail.executionArn,
      status: ended,
      runId,
    });
    return { action: 'no-run', runId };
  }
  const job = request.job;
  const run = await deps.history.findRun(job, runId);
  if (!run) {
    deps.log.info('a restore execution ended before Resolve recorded its run', {
      job,
      runId,
      execution: detail.executionArn,
      status: ended,
    });
    return { action: 'no-run', job, runId };
  }
  const stopped = typeof detail.stopDate === 'number' ? new Date(detail.stopDate) : undefined;
  const error = describeEnding(detail, ended);
  // The same ending as a run whose task stopped (task-stopped.ts): FAILED only while RUNNING,
  // the job's lease released, one alert.
  const marked = await markDeadRunFailed(finishDeps(deps), run, {
    finishedAt: stopped ?? (deps.now ?? (() => new Date()))(),
    error,
    details: { execution: detail.executionArn, executionStatus: ended },
    investigate: `dumpvault history ${job} --remote   (run ${runId}; execution ${detail.executionArn})`,
    why: 'restore marked FAILED: its execution ended without recording a result',
  });
  if (!marked) return { action: 'already-finished', job, runId };
  return { action: 'marked-failed', job, runId, error };
}
