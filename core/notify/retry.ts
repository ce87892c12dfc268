/**
 * Delivery with retries, as a wrapper around any channel (restic's backend_retry idea): each
 * failed attempt is logged without secrets, retried after 1 s, 2 s, 4 s … up to the channel's
 * `retries`, and never retried when the failure is permanent (a 404 stays a 404).
 */
import { messageOf } from '../errors.ts';
import { redact } from '../redact.ts';
import { type Channel, NotifyError, type NotifyEvent } from './notifier.ts';

export interface RetryOptions {
  readonly log: (line: string) => void;
  /** First pause between attempts; doubles each time. @default 1000 */
  readonly baseDelayMs?: number;
  /** How to wait; tests inject one that does not. */
  readonly sleep?: (ms: number) => Promise<void>;
}

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Sends `event` through `channel`, retrying; rejects with the last failure once attempts run out. */
export async function sendWithRetries(
  channel: Channel,
  event: NotifyEvent,
  options: RetryOptions,
): Promise<void> {
  const base = options.baseDelayMs ?? 1000;
  const sleep = options.sleep ?? realSleep;
  const attempts = channel.retries + 1;
  for (let attempt = 1; ; attempt++) {
    try {
      await channel.send(event);
      if (attempt > 1) options.log(`notify ${channel.label}: delivered on attempt ${attempt}`);
      return;
    } catch (err) {
      const permanent = err instanceof NotifyError && err.permanent;
      const why = redact(messageOf(err)).split('\n')[0];
      if (permanent || attempt >= attempts) {
        options.log(
          `notify ${channel.label}: could not deliver the ${event.type} "${event.subject}" (${why}); gave up after ${attempt} attempt(s)`,
        );
        throw err;
      }
      const delay = base * 2 ** (attempt - 1);
      options.log(
        `notify ${channel.label}: attempt ${attempt} of ${attempts} failed (${why}); retrying in ${delay / 1000} s`,
      );
      await sleep(delay);
    }
  }
}
