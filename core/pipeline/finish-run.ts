/**
 * How every run ends, whoever ends it — the backup and restore pipelines (CLI, `serve`, the
 * task), task-stopped, restore-ended and the restore state machine's Record/Notify steps (and
 * the meta-backup of a backup run, which announces on its own streak, core/meta/step.ts): the
 * outcome is recorded in history, then the alert it deserves goes out (de-duplicated by
 * notifyOutcome), and an alert that could not be sent is reported, never thrown: losing an
 * alert must not turn a recorded outcome into a different one.
 */
import { messageOf } from '../errors.ts';
import type { HistoryItem, HistoryStore } from '../history/history.ts';
import { notifyOutcome, type RunOutcome } from '../notify/alerts.ts';
import type { Alert, Notifier } from '../notify/notifier.ts';
import { redact } from '../redact.ts';
import type { JobContext } from './context.ts';

/** What ending a run needs: where it is recorded, where alerts go, where trouble is told. */
export interface FinishDeps {
  readonly history: HistoryStore;
  readonly notifier: Notifier;
  /**
   * Told one redacted line when something about the ending deserves a look: an alert that
   * could not be sent, a run found dead. The CLI prints it; a Lambda logs it as a warning.
   */
  readonly warn: (message: string, attributes: Record<string, unknown>) => void;
}

/** The deps of a run the pipeline ends (CLI, `serve`, the task): trouble goes to its step lines. */
export function pipelineFinishDeps(ctx: Pick<JobContext, 'history' | 'notifier' | 'progress'>): FinishDeps {
  return {
    history: ctx.history,
    notifier: ctx.notifier,
    warn: (message) => ctx.progress?.({ type: 'step', message }),
  };
}

/** What an ending sent: the alert, if one was due, and why it could not be sent, if it could not. */
export interface Announced {
  readonly alert?: Alert;
  /** The notifier's failure, redacted. */
  readonly error?: string;
}

/** Sends the alert `outcome` deserves and reports (through `deps.warn`) one that could not be sent. */
export async function announceOutcome(deps: FinishDeps, outcome: RunOutcome): Promise<Announced> {
  const sent = await notifyOutcome(deps.history, deps.notifier, outcome);
  if (!sent.error) return sent.alert ? { alert: sent.alert } : {};
  const error = redact(messageOf(sent.error));
  deps.warn(
    `could not send the ${outcome.part ? `${outcome.part} ` : ''}${outcome.status} alert of run ${outcome.runId}: ${error}`,
    {
      job: outcome.job,
      runId: outcome.runId,
      error,
    },
  );
  return { ...(sent.alert ? { alert: sent.alert } : {}), error };
}

/** A finished history item: one of the outcomes an alert is decided for. */
export type FinishedItem = HistoryItem & { readonly status: RunOutcome['status'] };

/**
 * Records `item` (the run's final history item), then announces its outcome: error, duration,
 * key and bytes are taken from the item unless `outcome` says otherwise.
 */
export async function finishRun(
  deps: FinishDeps,
  item: FinishedItem,
  outcome: Omit<RunOutcome, 'job' | 'kind' | 'runId' | 'status'>,
): Promise<Announced> {
  await deps.history.save(item);
  return announceOutcome(deps, outcomeOf(item, outcome));
}

function outcomeOf(
  item: FinishedItem,
  extra: Omit<RunOutcome, 'job' | 'kind' | 'runId' | 'status'>,
): RunOutcome {
  return {
    job: item.job,
    kind: item.kind,
    runId: item.runId,
    status: item.status,
    ...(item.error !== undefined ? { error: item.error } : {}),
    ...(item.durationMs !== undefined ? { durationMs: item.durationMs } : {}),
    ...(item.key !== undefined ? { key: item.key } : {}),
    ...(item.bytes !== undefined ? { bytes: item.bytes } : {}),
    ...extra,
  };
}

/** A history store that can change an item only while it is still RUNNING (DynamoDB). */
export interface RunningGuardedHistory extends HistoryStore {
  /** Saves `item` only if the stored one is RUNNING; false when it had already finished. */
  saveIfRunning(item: HistoryItem): Promise<boolean>;
}

/** How a run that died without recording its result ended, as the one who noticed it saw it. */
export interface DeadRunEnding {
  /** When it ended (the task's stop time, the execution's stop date), else now. */
  readonly finishedAt: Date;
  /** One line: why it ended (`the task exited with code 137; OutOfMemoryError…`). */
  readonly error: string;
  readonly taskArn?: string;
  /** Added to the item's details (the execution that ended, …). */
  readonly details?: Record<string, unknown>;
  /** Where to look next, for the alert. */
  readonly investigate: string;
  /** Logged with the run when it is marked FAILED (`run marked FAILED: its task stopped …`). */
  readonly why: string;
}

/**
 * Marks a run that died without recording its result FAILED — task-stopped (its task stopped)
 * and restore-ended (its execution ended) alike: only while it is still RUNNING (a result the
 * run recorded itself is never overwritten), the job's lease released if this run holds it
 * (whether or not this call changed the item: a dead run holds nothing), and the failure
 * alerted once. Returns true when this call marked it.
 */
export async function markDeadRunFailed(
  deps: FinishDeps & { readonly history: RunningGuardedHistory },
  run: HistoryItem,
  ending: DeadRunEnding,
): Promise<boolean> {
  const durationMs = Math.max(0, ending.finishedAt.getTime() - Date.parse(run.startedAt));
  const failed: FinishedItem = {
    ...run,
    status: 'FAILED',
    finishedAt: ending.finishedAt.toISOString(),
    durationMs,
    error: ending.error,
    ...(ending.taskArn ? { taskArn: ending.taskArn } : {}),
    ...(ending.details ? { details: { ...run.details, ...ending.details } } : {}),
  };
  const changed = await deps.history.saveIfRunning(failed);
  await deps.history.releaseLease(run.job, run.runId);
  if (!changed) return false;
  deps.warn(ending.why, { job: run.job, runId: run.runId, error: ending.error });
  await announceOutcome(deps, outcomeOf(failed, { investigate: ending.investigate }));
  return true;
}
