import type { HistoryStore } from '../../core/history/history.ts';
import type { Notifier } from '../../core/notify/notifier.ts';

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

/** The deps core's finishRun / markDeadRunFailed take, with `warn` going to the function's log. */
export function finishDeps<H extends HistoryStore>(deps: {
  readonly history: H;
  readonly notifier: Notifier;
  readonly log: RunLog;
}): { history: H; notifier: Notifier; warn: RunLog['warn'] } {
  return { history: deps.history, notifier: deps.notifier, warn: (m, a) => deps.log.warn(m, a) };
}
