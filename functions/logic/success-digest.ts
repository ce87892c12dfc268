/**
 * The AWS success digest (`aws.alerts.successDigest`): once a day one SNS message summarising
 * every job over the 24 hours before the schedule's time, built by the same builder as the
 * digest `dumpvault serve` sends (core/notify/digest.ts).
 */
import type { Config } from '../../core/config/schema.ts';
import { UsageError } from '../../core/errors.ts';
import type { HistoryStore } from '../../core/history/history.ts';
import { buildDigest } from '../../core/notify/digest.ts';
import type { Digest } from '../../core/notify/notifier.ts';
import type { RunLog } from './log.ts';

/** What the schedule sends: `{"scheduledTime": "<aws.scheduler.scheduled-time>"}`. */
export interface SuccessDigestEvent {
  /** The end of the summarised period (ISO); a manual invocation without it summarises up to now. */
  readonly scheduledTime?: string;
}

export interface SuccessDigestDeps {
  readonly history: Pick<HistoryStore, 'list'>;
  readonly notifier: { publishDigest(digest: Digest): Promise<void> };
  readonly log: RunLog;
}

/** The end of the period a digest event asks for; a malformed time is refused, not guessed. */
export function digestEnd(event: SuccessDigestEvent | undefined, now: Date): Date {
  const scheduled = event?.scheduledTime;
  if (scheduled === undefined) return now;
  const at = new Date(scheduled);
  if (typeof scheduled !== 'string' || Number.isNaN(at.getTime())) {
    throw new UsageError(
      `scheduledTime: expected an ISO 8601 time like "2026-11-22T08:00:00Z", got ${JSON.stringify(scheduled)}`,
    );
  }
  return at;
}

/**
 * Builds the digest of every configured job and publishes it as one message. A publish SNS
 * refuses rejects (the invocation fails, is retried, and counts in the function's error alarm):
 * a digest that silently went missing would read as "the scheduler is gone".
 */
export async function sendSuccessDigest(deps: SuccessDigestDeps, config: Config, to: Date): Promise<Digest> {
  const digest = await buildDigest(
    deps.history,
    config.jobs.map((j) => j.name),
    to,
  );
  await deps.notifier.publishDigest(digest);
  deps.log.info('digest published', { subject: digest.subject, jobs: digest.jobs.length });
  return digest;
}
