/**
 * Local notifications: every alert goes to `.dumpvault/alerts.log` (LocalNotifier) and to the
 * configured channels; digests go to the channels. A channel that fails is logged and retried
 * (see retry.ts); once its attempts run out, publish() rejects, so notifyOutcome() keeps the
 * job's alert state and the alert goes out again with the next run. It never fails the backup:
 * callers only log a rejected publish.
 */
import type { Alert, Channel, Digest, Notifier } from './notifier.ts';
import { type RetryOptions, sendWithRetries } from './retry.ts';

/** A rejected publish: the channels that could not be reached (labels only, no secrets). */
export class ChannelsFailedError extends Error {
  override name = 'ChannelsFailedError';
  constructor(readonly failed: readonly string[]) {
    super(`could not notify ${failed.join(', ')}`);
  }
}

/** Publishes to `base` (the alert log) and then to every channel, in parallel. */
export class ChannelNotifier implements Notifier {
  constructor(
    private readonly base: Notifier | undefined,
    private readonly channels: readonly Channel[],
    private readonly options: RetryOptions,
  ) {}

  async publish(alert: Alert): Promise<void> {
    await this.base?.publish(alert);
    await this.deliver({ type: 'alert', ...alert });
  }

  /** Sends a digest to every channel. */
  async publishDigest(digest: Digest): Promise<void> {
    await this.deliver({ type: 'digest', ...digest });
  }

  private async deliver(event: Parameters<Channel['send']>[0]): Promise<void> {
    const results = await Promise.allSettled(
      this.channels.map((channel) => sendWithRetries(channel, event, this.options)),
    );
    const failed = this.channels.filter((_, i) => results[i]!.status === 'rejected').map((c) => c.label);
    if (failed.length) throw new ChannelsFailedError(failed);
  }
}
