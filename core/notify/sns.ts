/**
 * Alerts as SNS messages: a readable subject and body, and `job` / `status` / `kind` message
 * attributes so subscribers can filter (e.g. only FAILED, only one job). The daily digest is one
 * message with `kind` "digest", `status` "DIGEST" and no `job` (it covers every job).
 */
import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import { redact } from '../redact.ts';
import type { Alert, Digest, Notifier } from './notifier.ts';

export interface SnsNotifierProps {
  readonly client: SNSClient;
  readonly topicArn: string;
}

/** Publishes each alert to one SNS topic. Subject and body pass through redact() once more. */
export class SnsNotifier implements Notifier {
  private readonly client: SNSClient;
  private readonly topicArn: string;

  constructor(props: SnsNotifierProps) {
    this.client = props.client;
    this.topicArn = props.topicArn;
  }

  /** Publishes one alert; rejects when SNS refuses it (notifyOutcome keeps the state then). */
  async publish(alert: Alert): Promise<void> {
    await this.client.send(
      new PublishCommand({
        TopicArn: this.topicArn,
        Subject: snsSubject(alert.subject),
        Message: redact(alert.body),
        MessageAttributes: {
          job: { DataType: 'String', StringValue: alert.job },
          status: { DataType: 'String', StringValue: alert.status },
          kind: { DataType: 'String', StringValue: alert.kind },
        },
      }),
    );
  }

  /** Publishes the daily digest of every job as one message; rejects when SNS refuses it. */
  async publishDigest(digest: Digest): Promise<void> {
    await this.client.send(
      new PublishCommand({
        TopicArn: this.topicArn,
        Subject: snsSubject(digest.subject),
        Message: redact(digest.body),
        MessageAttributes: {
          status: { DataType: 'String', StringValue: 'DIGEST' },
          kind: { DataType: 'String', StringValue: 'digest' },
        },
      }),
    );
  }
}

/** SNS subjects: ≤ 100 characters, no line breaks. */
function snsSubject(subject: string): string {
  return redact(subject)
    .replace(/[\r\n]+/g, ' ')
    .slice(0, 100);
}
