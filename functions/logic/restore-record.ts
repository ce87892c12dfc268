/**
 * The Record and Notify steps, on the success path and on the failure path every Catch leads
 * to. Writers of a run's history item take turns without overwriting each other: the restore
 * task records (and alerts) its own outcome; RecordFailure only turns a run FAILED that is
 * RUNNING, missing, or that the task called SUCCEEDED but Verify refuted — never a FAILED item
 * the task (or task-stopped) already explained better. NotifyFailure alerts only for a run this
 * execution turned FAILED, so each failure is announced once.
 */
import type { Config } from '../../core/config/schema.ts';
import { RestoreError, RestoreState } from '../../core/contracts/restore-state-machine.ts';
import { ContainerName } from '../../core/contracts/stack.ts';
import { messageOf } from '../../core/errors.ts';
import type { DynamoHistoryStore } from '../../core/history/dynamodb.ts';
import type { HistoryItem } from '../../core/history/history.ts';
import { buildAlert, type RunOutcome } from '../../core/notify/alerts.ts';
import type { Notifier } from '../../core/notify/notifier.ts';
import { announceOutcome } from '../../core/pipeline/finish-run.ts';
import { redact } from '../../core/redact.ts';
import { finishDeps, type RunLog } from './log.ts';
import {
  parseRestoreRequest,
  type RecordedOutcome,
  type RestoreRun,
  type RestoreStepEvent,
  requireRun,
  restoreKind,
  runIdentity,
} from './restore-contract.ts';
import { describeStop, type TaskStateChangeDetail } from './task-stopped.ts';

export interface RecordDeps {
  readonly config: Config;
  readonly history: DynamoHistoryStore;
  readonly notifier: Notifier;
  readonly log: RunLog;
  readonly now?: () => Date;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The ECS task description Step Functions returns (PascalCase) as task-stopped reads it. */
function stoppedTaskDetail(task: Record<string, unknown>): TaskStateChangeDetail {
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  const containers = Array.isArray(task['Containers']) ? task['Containers'].filter(isRecord) : [];
  return {
    ...(str(task['TaskArn']) ? { taskArn: str(task['TaskArn']) } : {}),
    ...(str(task['StoppedReason']) ? { stoppedReason: str(task['StoppedReason']) } : {}),
    ...(str(task['StopCode']) ? { stopCode: str(task['StopCode']) } : {}),
    containers: containers.map((c) => ({
      ...(str(c['Name']) ? { name: str(c['Name']) } : {}),
      ...(typeof c['ExitCode'] === 'number' ? { exitCode: c['ExitCode'] } : {}),
      ...(str(c['Reason']) ? { reason: str(c['Reason']) } : {}),
    })),
  };
}

/** What went wrong, from the `{Error, Cause}` a Catch stored under `$.failure.<state>`. */
export function describeFailure(
  failure: unknown,
  run: RestoreRun | undefined,
): { failedState: string; error: string; cause: string; taskArn?: string } {
  const entries = isRecord(failure) ? Object.entries(failure).filter(([, v]) => isRecord(v)) : [];
  const [failedState = 'unknown', info = {}] = (entries[0] ?? []) as [string?, Record<string, unknown>?];
  let error = typeof info['Error'] === 'string' ? info['Error'] : 'States.TaskFailed';
  const rawCause = typeof info['Cause'] === 'string' ? info['Cause'] : '';
  const parsed = parseJson(rawCause);
  let cause: string;
  let taskArn: string | undefined;
  if (error === 'States.Timeout') {
    cause =
      failedState === RestoreState.runRestore && run
        ? `the restore task did not finish within ${Math.round(run.timeoutSeconds / 60)} minutes (the longest task.timeoutMinutes of the config); Step Functions stopped it`
        : `the ${failedState} step timed out`;
  } else if (
    failedState === RestoreState.runRestore &&
    isRecord(parsed) &&
    ('Containers' in parsed || 'StoppedReason' in parsed)
  ) {
    const detail = stoppedTaskDetail(parsed);
    taskArn = detail.taskArn;
    // The task's own verdict, by its exit code (task-restore.ts): 2 refused, 1 failed.
    const exitCode = detail.containers?.find((c) => c.name === ContainerName.task)?.exitCode;
    if (exitCode === 2) error = RestoreError.taskRefused;
    else if (exitCode === 1) error = RestoreError.taskFailed;
    cause = describeStop(detail, ContainerName.task).replace(/^the task /, 'the restore task ');
  } else if (failedState === RestoreState.runRestore) {
    cause = `the restore task could not be started: ${error}${rawCause ? `: ${rawCause}` : ''}`;
  } else if (isRecord(parsed) && typeof parsed['errorMessage'] === 'string') {
    cause = parsed['errorMessage'];
  } else {
    cause = rawCause || error;
  }
  return {
    failedState,
    error,
    cause: redact(cause).split('\n')[0]!.slice(0, 1000),
    ...(taskArn ? { taskArn } : {}),
  };
}

/** The Record step: the run SUCCEEDED, with the Verify step's comparison. */
export async function recordRestoreSucceeded(
  deps: RecordDeps,
  event: RestoreStepEvent,
): Promise<RecordedOutcome> {
  const { state } = event;
  const run = requireRun(state, RestoreState.record);
  const item = await deps.history.findRun(run.job, run.runId);
  const now = (deps.now ?? (() => new Date()))();
  const durationMs = Math.max(0, now.getTime() - Date.parse(run.startedAt));
  const taskArn = typeof state.task?.['TaskArn'] === 'string' ? state.task['TaskArn'] : item?.taskArn;
  const details = item?.details ?? {};
  const target = typeof details['target'] === 'string' ? details['target'] : run.target;
  await deps.history.save({
    job: run.job,
    runId: run.runId,
    kind: run.kind,
    trigger: run.trigger,
    startedAt: run.startedAt,
    ...item,
    status: 'SUCCEEDED',
    finishedAt: now.toISOString(),
    durationMs,
    key: item?.key ?? run.objectKey,
    ...(taskArn ? { taskArn } : {}),
    details: { ...details, backup: run.backup, target, verified: state.verify ?? null },
  });
  return {
    job: run.job,
    runId: run.runId,
    kind: run.kind,
    status: 'SUCCEEDED',
    changed: true,
    backup: run.backup,
    target,
    durationMs,
    ...(state.verify
      ? { tablesCompared: state.verify.tablesCompared, rowsCompared: state.verify.rowsCompared }
      : {}),
  };
}

/** The RecordFailure step: the run FAILED with a one-line cause (see the module comment). */
export async function recordRestoreFailed(
  deps: RecordDeps,
  event: RestoreStepEvent,
): Promise<RecordedOutcome> {
  const { state } = event;
  let request: ReturnType<typeof parseRestoreRequest> | undefined;
  try {
    request = parseRestoreRequest(event.state);
  } catch {
    request = undefined; // malformed input: the failure below says so
  }
  const run = state.run;
  const failure = describeFailure(state.failure, run);
  const jobName = run?.job ?? request?.job;
  const kind = run?.kind ?? restoreKind(request?.target ?? 'scratch');
  const outcome = {
    kind,
    status: 'FAILED' as const,
    error: failure.error,
    failedState: failure.failedState,
    ...(run ? { backup: run.backup, target: run.target } : {}),
  };
  const job = deps.config.jobs.find((j) => j.name === jobName);
  if (!job) {
    // An unknown job has no history to record in, and no one to alert.
    return { ...outcome, job: jobName ?? '', cause: failure.cause, changed: false };
  }
  const { runId, startedAt } = run ?? runIdentity(event.execution);
  const existing = await deps.history.findRun(job.name, runId);
  if (existing?.status === 'FAILED') {
    return { ...outcome, job: job.name, runId, cause: existing.error ?? failure.cause, changed: false };
  }
  const now = (deps.now ?? (() => new Date()))();
  const durationMs = Math.max(0, now.getTime() - Date.parse(startedAt));
  const failed: HistoryItem = {
    job: job.name,
    runId,
    kind,
    trigger: run?.trigger ?? request?.trigger ?? 'manual',
    startedAt,
    ...(run ? { key: run.objectKey } : {}),
    ...existing,
    status: 'FAILED',
    finishedAt: now.toISOString(),
    durationMs,
    error: failure.cause,
    ...(failure.taskArn ? { taskArn: failure.taskArn } : {}),
    details: {
      ...existing?.details,
      execution: event.execution.id,
      failedState: failure.failedState,
      ...(run ? { backup: run.backup, target: run.target } : {}),
    },
  };
  let changed = true;
  if (existing?.status === 'RUNNING') {
    changed = await deps.history.saveIfRunning(failed);
    if (!changed) {
      // task-stopped (or the task itself) finished it a moment ago: keep that explanation.
      const latest = await deps.history.findRun(job.name, runId);
      return {
        ...outcome,
        job: job.name,
        runId,
        cause: latest?.error ?? failure.cause,
        changed: false,
        durationMs,
      };
    }
  } else {
    await deps.history.save(failed);
  }
  deps.log.warn('restore failed', {
    job: job.name,
    runId,
    failedState: failure.failedState,
    error: failure.cause,
  });
  return { ...outcome, job: job.name, runId, cause: failure.cause, changed, durationMs };
}

/** What Notify / NotifyFailure store at `$.notified`. */
export interface NotifyResult {
  /** The alert published, if any. */
  readonly alerted: string | null;
  /** Why a publish failed (the outcome stays recorded; the next run tries again). */
  readonly error?: string;
}

/**
 * The Notify steps (Record saved the outcome already, so they announce it through finishRun's
 * announceOutcome, which reports an alert it could not send). Failures: the alert it decides
 * (one per failing streak), only for a run this execution turned FAILED. Successes: the same (a
 * recovery is announced by the task), and for a manual restore that recovered nothing a
 * "succeeded" message, because a restore changed a database and the team should know.
 */
export async function notifyRestore(deps: RecordDeps, event: RestoreStepEvent): Promise<NotifyResult> {
  const { state } = event;
  const recorded = state.recorded;
  // No status: RecordFailureFailed wrote no history, so there is no run to announce.
  if (recorded?.status === undefined || !recorded.runId) return { alerted: null };
  if (!deps.config.jobs.some((j) => j.name === recorded.job)) return { alerted: null };
  if (recorded.status === 'FAILED' && !recorded.changed) return { alerted: null };
  const outcome: RunOutcome = {
    job: recorded.job,
    kind: recorded.kind,
    runId: recorded.runId,
    status: recorded.status,
    investigate: `dumpvault history ${recorded.job} --remote   (run ${recorded.runId}; execution ${event.execution.id})`,
    ...(recorded.cause ? { error: recorded.cause } : {}),
    ...(recorded.durationMs !== undefined ? { durationMs: recorded.durationMs } : {}),
    ...(state.run?.objectKey ? { key: state.run.objectKey } : {}),
  };
  const sent = await announceOutcome(finishDeps(deps), outcome);
  if (sent.error) return { alerted: null, error: sent.error };
  if (sent.alert) return { alerted: sent.alert.status };
  const announceSuccess =
    recorded.status === 'SUCCEEDED' &&
    recorded.kind === 'restore' &&
    state.run?.trigger === 'manual' &&
    !state.run.failingBefore;
  if (!announceSuccess) return { alerted: null };
  const plain = buildAlert(outcome, 'SUCCEEDED');
  const summary = `Restored:  ${recorded.backup} into ${recorded.target}; ${recorded.tablesCompared ?? 0} tables and ${recorded.rowsCompared ?? 0} rows match the manifest`;
  const alert = { ...plain, body: redact(`${summary}\n${plain.body}`) };
  try {
    await deps.notifier.publish(alert);
  } catch (err) {
    // Reported the way finishRun reports an alert it could not send.
    const error = redact(messageOf(err));
    deps.log.warn(`could not send the SUCCEEDED alert of run ${recorded.runId}: ${error}`, {
      job: recorded.job,
      runId: recorded.runId,
      error,
    });
    return { alerted: null, error };
  }
  return { alerted: alert.status };
}
