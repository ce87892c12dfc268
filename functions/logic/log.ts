import { messageOf } from '../../core/errors.ts';
import type { HistoryStore } from '../../core/history/history.ts';
import { notifyOutcome, type RunOutcome } from '../../core/notify/alerts.ts';
import type { Notifier } from '../../core/notify/notifier.ts';
import { redact } from '../../core/redact.ts';

/**
 * The narrow logging surface the business logic needs. The Powertools `Logger` satisfies it;
 * tests hand in a recorder and check that no secret ever reaches it.
 */
export interface RunLog {
  info(message: string, attributes: Record<string, unknown>): void;
  warn(message: string, attributes: Record<string, unknown>): void;
}

/** A log that drops everything. */
export const silentLog: RunLog = { info: () => undefined, warn: () => undefined };

/**
 * A run another function found dead (its task stopped, its execution ended, without recording a
 * result) and has just marked FAILED: logs why, sends the outcome's alert (de-duplicated like
 * every alert), and logs an alert that could not be published instead of failing.
 */
export async function alertMarkedFailed(
  deps: { readonly history: HistoryStore; readonly notifier: Notifier; readonly log: RunLog },
  outcome: RunOutcome & { readonly error: string },
  why: string,
): Promise<void> {
  const { job, runId, error } = outcome;
  deps.log.warn(why, { job, runId, error });
  const result = await notifyOutcome(deps.history, deps.notifier, outcome);
  if (result.error) {
    deps.log.warn('alert could not be published', { job, runId, error: redact(messageOf(result.error)) });
  }
}
