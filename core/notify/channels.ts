/**
 * Local notifications: every alert goes to `.dumpvault/alerts.log` (LocalNotifier) and to the
 * configured channels; digests go to the channels. A channel that fails is logged and retried
 * (see retry.ts); once its attempts run out, publish() rejects with the channels that missed it,
 * and notifyOutcome() keeps the alert for those channels alone: it goes out again to them with
 * the job's next run, never again to the channels that took it. It never fails the backup:
 * callers only log a rejected publish.
 */
import { type Alert, type Channel, type Digest, type Notifier, PartialDeliveryError } from './notifier.ts';
import { type RetryOptions, sendWithRetries } from './retry.ts';

/** A rejected publish: the channels that could not be reached (labels only, no secrets). */
export class ChannelsFailedError extends PartialDeliveryError {
  override name = 'ChannelsFailedError';
  /** `failed`: the channels' labels (for the message); `ids`: their {@link Channel.id}s. */
  constructor(
    readonly failed: readonly string[],
    ids: readonly string[] = failed,
  ) {
    super(ids, `could not notify ${failed.join(', ')}`);
  }
}

const channelId = (c: Channel) => c.id ?? c.label;

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

  /** Sends `alert` to the channel labelled `target` only; nothing when the config no longer has it. */
  async resend(alert: Alert, target: string): Promise<void> {
    const channel = this.channels.find((c) => channelId(c) === target);
    if (channel) await sendWithRetries(channel, { type: 'alert', ...alert }, this.options);
  }

  /** Sends a digest to every channel. */
  async publishDigest(digest: Digest): Promise<void> {
    await this.deliver({ type: 'digest', ...digest });
  }

  private async deliver(event: Parameters<Channel['send']>[0]): Promise<void> {
    const results = await Promise.allSettled(
      this.channels.map((channel) => sendWithRetries(channel, event, this.options)),
    );
    const failed = this.channels.filter((_, i) => results[i]!.status === 'rejected');
    if (failed.length)
      throw new ChannelsFailedError(
        failed.map((c) => c.label),
        failed.map(channelId),
      );
  }
}
