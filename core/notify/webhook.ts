/**
 * Webhook channel: one HTTP POST per event, either the event as JSON or, for Slack-compatible
 * incoming webhooks (Slack, Mattermost, Rocket.Chat, Teams workflows), `{"text": …}`. The URL
 * may hold a token, so logs and errors name only its host.
 */
import { type Channel, NotifyError, type NotifyEvent } from './notifier.ts';

export interface WebhookChannelProps {
  readonly label: string;
  /** Stable across runs and config edits of its address (see Channel.id). @default label */
  readonly id?: string;
  /** Resolved when sending, so a missing env variable is a failed delivery, not a failed backup. */
  readonly url: () => Promise<string>;
  readonly format: 'json' | 'slack';
  readonly timeoutMs: number;
  readonly retries: number;
}

/** The text a chat shows: subject on the first line, the body as a code block. */
export function slackText(event: NotifyEvent): string {
  return `*${event.subject}*\n\`\`\`\n${event.body}\n\`\`\``;
}

/** POSTs each event; a 2xx answer is a delivery, 4xx other than 408/429 a permanent failure. */
export class WebhookChannel implements Channel {
  readonly label: string;
  readonly id: string;
  readonly retries: number;

  constructor(private readonly props: WebhookChannelProps) {
    this.label = props.label;
    this.id = props.id ?? props.label;
    this.retries = props.retries;
  }

  async send(event: NotifyEvent): Promise<void> {
    const url = await this.props.url();
    const body = this.props.format === 'slack' ? { text: slackText(event) } : event;
    let response: Response;
    try {
      response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'dumpvault' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.props.timeoutMs),
        redirect: 'error',
      });
    } catch (err) {
      const e = err as Error & { cause?: { code?: string } };
      const why =
        e.name === 'TimeoutError'
          ? `no answer within ${this.props.timeoutMs / 1000} s`
          : (e.cause?.code ?? e.name ?? 'request failed');
      throw new NotifyError(`POST failed: ${why}`);
    }
    // The receiver's answer is not read into logs: it may echo the URL or its token.
    await response.body?.cancel();
    if (response.ok) return;
    const status = response.status;
    throw new NotifyError(`HTTP ${status}`, {
      permanent: status >= 400 && status < 500 && status !== 408 && status !== 429,
    });
  }
}
