/**
 * The AWS success digest (issue 14 §2, `aws.alerts.successDigest`): the Lambda logic reads the
 * history from dynalite and publishes ONE message to the alerts topic, built by the same
 * builder as serve's digest. SNS has no local emulator: aws-sdk-client-mock records the exact
 * PublishCommand.
 */
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { DynamoHistoryStore } from '../../../core/history/dynamodb.ts';
import type { HistoryItem } from '../../../core/history/history.ts';
import { SnsNotifier } from '../../../core/notify/sns.ts';
import { digestEnd, sendSuccessDigest } from '../../../functions/logic/success-digest.ts';
import { type LocalDynamo, startDynalite } from '../../support/dynalite.ts';
import { freshHistory, type RecordingLog, recordingLog, TOPIC_ARN, testConfig } from './support.ts';

const SCHEDULED = new Date('2026-11-22T08:00:00.000Z');

let dynamo: LocalDynamo;
let history: DynamoHistoryStore;
let log: RecordingLog;
const sns = new SNSClient({ region: 'eu-central-1' });
const snsMock = mockClient(sns);

beforeAll(async () => {
  dynamo = await startDynalite();
});
afterAll(async () => {
  await dynamo.stop();
});
beforeEach(async () => {
  history = await freshHistory(dynamo);
  log = recordingLog();
  snsMock.on(PublishCommand).resolves({ MessageId: 'm-1' });
});
afterEach(() => {
  snsMock.reset();
});

function backup(
  overrides: Partial<HistoryItem> & Pick<HistoryItem, 'job' | 'runId' | 'startedAt' | 'status'>,
): HistoryItem {
  return { kind: 'backup', trigger: 'schedule', ...overrides };
}

async function seedHistory(): Promise<void> {
  // prod: a failure yesterday evening, then a success in the night; an older failure outside the day.
  await history.save(
    backup({
      job: 'prod',
      runId: 'a0',
      startedAt: '2026-11-21T03:00:00.000Z',
      finishedAt: '2026-11-21T03:01:00.000Z',
      status: 'FAILED',
      error: 'pg_dump: connection refused',
    }),
  );
  await history.save(
    backup({
      job: 'prod',
      runId: 'a1',
      startedAt: '2026-11-21T20:00:00.000Z',
      finishedAt: '2026-11-21T20:01:00.000Z',
      status: 'FAILED',
      error: 'destination offsite: 503 Slow Down',
    }),
  );
  await history.save(
    backup({
      job: 'prod',
      runId: 'a2',
      startedAt: '2026-11-22T02:00:00.000Z',
      finishedAt: '2026-11-22T02:30:00.000Z',
      status: 'SUCCEEDED',
      bytes: 4096,
    }),
  );
  // A restore is not a backup: it does not count.
  await history.save({
    job: 'prod',
    kind: 'restore',
    runId: 'r1',
    trigger: 'manual',
    startedAt: '2026-11-22T05:00:00.000Z',
    finishedAt: '2026-11-22T05:10:00.000Z',
    status: 'FAILED',
    error: 'restore target has tables',
  });
  // small: never succeeded; its one failure this morning.
  await history.save(
    backup({
      job: 'small',
      runId: 'b1',
      startedAt: '2026-11-22T06:00:00.000Z',
      finishedAt: '2026-11-22T06:01:00.000Z',
      status: 'FAILED',
      error: 'mysqldump: Access denied for user backup',
    }),
  );
  // After the scheduled time: belongs to tomorrow's digest.
  await history.save(
    backup({
      job: 'small',
      runId: 'b2',
      startedAt: '2026-11-22T09:00:00.000Z',
      finishedAt: '2026-11-22T09:05:00.000Z',
      status: 'SUCCEEDED',
      bytes: 10,
    }),
  );
}

describe('sendSuccessDigest', () => {
  it('publishes one message summarising every job over the 24 h before the scheduled time (aws.alerts.successDigest published nothing before)', async () => {
    // Prepare
    await seedHistory();
    const notifier = new SnsNotifier({ client: sns, topicArn: TOPIC_ARN });

    // Act
    await sendSuccessDigest(
      { history, notifier, log },
      testConfig(),
      digestEnd({ scheduledTime: SCHEDULED.toISOString() }, new Date()),
    );

    // Assess
    const calls = snsMock.commandCalls(PublishCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.args[0].input).toEqual({
      TopicArn: TOPIC_ARN,
      Subject: 'dumpvault digest 2026-11-22: 2 job(s), 1 not succeeding',
      Message: [
        'Backups finished between 2026-11-21T08:00:00.000Z and 2026-11-22T08:00:00.000Z:',
        '',
        'prod: SUCCEEDED; 1 SUCCEEDED, 1 FAILED in 24 h; last success 2026-11-22T02:30:00.000Z (4096 bytes)',
        '    newest failure: destination offsite: 503 Slow Down',
        'small: FAILED; 1 FAILED in 24 h; never succeeded',
        '    newest failure: mysqldump: Access denied for user backup',
      ].join('\n'),
      MessageAttributes: {
        status: { DataType: 'String', StringValue: 'DIGEST' },
        kind: { DataType: 'String', StringValue: 'digest' },
      },
    });
    expect(log.records).toEqual([
      {
        level: 'info',
        message: 'digest published',
        attributes: { subject: 'dumpvault digest 2026-11-22: 2 job(s), 1 not succeeding', jobs: 2 },
      },
    ]);
  });

  it('rejects when SNS refuses the digest, so the invocation fails, is retried and alarms (a lost digest must not pass silently)', async () => {
    // Prepare
    snsMock
      .on(PublishCommand)
      .rejects(new Error('AuthorizationError: not authorized to perform SNS:Publish'));
    const notifier = new SnsNotifier({ client: sns, topicArn: TOPIC_ARN });

    // Act
    const sent = sendSuccessDigest({ history, notifier, log }, testConfig(), SCHEDULED);

    // Assess
    await expect(sent).rejects.toThrow(/not authorized to perform SNS:Publish/);
    expect(log.records).toEqual([]);
  });
});

describe('digestEnd', () => {
  it("ends the period at the schedule's time, or now when invoked by hand", () => {
    const now = new Date('2026-11-22T08:00:04.123Z');
    expect(digestEnd({ scheduledTime: '2026-11-22T08:00:00Z' }, now)).toEqual(SCHEDULED);
    expect(digestEnd({}, now)).toBe(now);
    expect(digestEnd(undefined, now)).toBe(now);
  });

  it('refuses a malformed scheduledTime with one sentence naming it, instead of summarising an invalid period', () => {
    expect(() => digestEnd({ scheduledTime: 'yesterday' }, new Date())).toThrow(
      'scheduledTime: expected an ISO 8601 time like "2026-11-22T08:00:00Z", got "yesterday"',
    );
  });
});
