/**
 * Every Lambda parses its event with zod before it does anything (functions/logic/events.ts).
 * Bug caught: a malformed event (a hand-made test event, a rule pattern changed, a state machine
 * step sending the wrong payload) reached the logic and failed there with a TypeError, a config
 * error that named nothing about the event, or a half-done run; now it fails with one sentence
 * naming the field, of the error kind the caller treats as "do not retry".
 */
import type { Context } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { handler as pruneHandler } from '../../../functions/prune.ts';
import { handler as restoreEndedHandler } from '../../../functions/restore-ended.ts';
import { handler as guardHandler } from '../../../functions/restore-guard.ts';
import { handler as recordHandler } from '../../../functions/restore-record.ts';
import { handler as resolveHandler } from '../../../functions/restore-resolve.ts';
import { handler as verifyHandler } from '../../../functions/restore-verify.ts';
import { handler as startBackupHandler } from '../../../functions/start-backup.ts';
import { handler as successDigestHandler } from '../../../functions/success-digest.ts';
import { handler as taskStoppedHandler } from '../../../functions/task-stopped.ts';

const context = {
  functionName: 'test',
  functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:eu-central-1:123456789012:function:test',
  memoryLimitInMB: '256',
  awsRequestId: 'req-1',
  getRemainingTimeInMillis: () => 60_000,
} as unknown as Context;

const execution = {
  id: 'arn:aws:states:eu-central-1:123456789012:execution:sm:x',
  startTime: '2026-12-02T10:00:00.000Z',
};
type Handler = (event: never, context: Context) => Promise<unknown>;

const cases: Array<[string, Handler, unknown, { name: string; message: RegExp }]> = [
  [
    'start-backup',
    startBackupHandler,
    { job: 'db', trigger: 'cron' },
    { name: 'UsageError', message: /^start-backup event: trigger: expected "schedule" or "manual"/ },
  ],
  [
    'start-backup',
    startBackupHandler,
    { job: 'db', scheduledTime: 'yesterday' },
    { name: 'UsageError', message: /^start-backup event: scheduledTime: expected an ISO time/ },
  ],
  [
    'start-backup',
    startBackupHandler,
    {},
    { name: 'UsageError', message: /^start-backup event: job: expected a job name/ },
  ],
  [
    'prune',
    pruneHandler,
    { job: 'db', runId: 7 },
    { name: 'ToolError', message: /^prune event: runId: expected a run id/ },
  ],
  [
    'task-stopped',
    taskStoppedHandler,
    { detail: { taskArn: 'arn:x', containers: [{ name: 'dumpvault', exitCode: '137' }] } },
    { name: 'UsageError', message: /^task-stopped event: detail\.containers\.0\.exitCode: / },
  ],
  [
    'task-stopped',
    taskStoppedHandler,
    { 'detail-type': 'ECS Task State Change' },
    { name: 'UsageError', message: /^task-stopped event: detail: expected the ECS task description/ },
  ],
  [
    'restore-ended',
    restoreEndedHandler,
    { detail: { executionArn: 'arn:x', startDate: '2026-12-02' } },
    { name: 'UsageError', message: /^restore-ended event: detail\.startDate: expected epoch milliseconds/ },
  ],
  [
    'restore-resolve',
    resolveHandler,
    { state: {}, execution, deployment: { drillTaskDefinitions: {} } },
    {
      name: 'RestoreInputError',
      message:
        /^restore-resolve event: deployment\.restoreTaskDefinition: expected the restore task definition ARN/,
    },
  ],
  [
    'restore-guard',
    guardHandler,
    { state: {}, execution: { id: execution.id } },
    {
      name: 'RestoreInputError',
      message: /^restore-guard event: execution\.startTime: expected an ISO time/,
    },
  ],
  [
    'restore-verify',
    verifyHandler,
    { state: {} },
    {
      name: 'RestoreInputError',
      message: /^restore-verify event: execution: expected \{"id", "startTime"\}/,
    },
  ],
  [
    'success-digest',
    successDigestHandler,
    { scheduledTime: 'tomorrow' },
    { name: 'UsageError', message: /^success-digest event: scheduledTime: expected an ISO time/ },
  ],
  [
    'restore-record',
    recordHandler,
    { state: {}, execution, step: 'recordFailure' },
    {
      name: 'RestoreInputError',
      message: /^restore-record event: step: expected one of "record", "record-failure", "notify"/,
    },
  ],
];

describe('Lambda events', () => {
  it.each(cases)(
    '%s rejects a malformed event with one sentence naming the field (%j)',
    async (_name, handler, event, expected) => {
      // Act: no environment and no config are set up; the event must be refused before either is read.
      const result = handler(event as never, context);
      // Assess
      await expect(result).rejects.toMatchObject({
        name: expected.name,
        message: expect.stringMatching(expected.message),
      });
      await expect(result).rejects.toSatisfy((err: Error) => !err.message.includes('\n'));
    },
  );
});
