import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { RestoreError } from '../../../core/contracts/restore-state-machine.ts';
import type { DynamoHistoryStore } from '../../../core/history/dynamodb.ts';
import type { HistoryItem } from '../../../core/history/history.ts';
import { SnsNotifier } from '../../../core/notify/sns.ts';
import { runIdentity } from '../../../functions/logic/restore-contract.ts';
import {
  type ExecutionStatusChangeDetail,
  handleRestoreEnded,
  type RestoreEndedDeps,
} from '../../../functions/logic/restore-ended.ts';
import { type LocalDynamo, startDynalite } from '../../support/dynalite.ts';
import { freshHistory, type RecordingLog, recordingLog, TOPIC_ARN, testConfig } from './support.ts';

const STATE_MACHINE = 'arn:aws:states:eu-central-1:123456789012:stateMachine:RestoreStateMachine';
const EXECUTION = 'arn:aws:states:eu-central-1:123456789012:execution:RestoreStateMachine:run-1';
/** `$$.Execution.StartTime` as the steps see it, and `startDate` as EventBridge sends it. */
const START_TIME = '2026-11-22T02:00:00.123Z';
const START_MS = Date.parse(START_TIME);
/** What Resolve derives from the execution: the identity the rule's events must find again. */
const { runId: RUN_ID, startedAt: STARTED_AT } = runIdentity({ id: EXECUTION, startTime: START_TIME });

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

function deps(): RestoreEndedDeps {
  return {
    config: testConfig(),
    history,
    notifier: new SnsNotifier({ client: sns, topicArn: TOPIC_ARN }),
    log,
    now: () => new Date('2026-11-22T03:00:00.000Z'),
  };
}

/** The item Resolve writes once it found the backup. */
function running(kind: 'restore' | 'drill' = 'restore'): HistoryItem {
  return {
    job: 'prod',
    runId: RUN_ID,
    kind,
    status: 'RUNNING',
    trigger: 'manual',
    startedAt: STARTED_AT,
    key: 'dumpvault/prod/2026-11-21T030000Z-a1b2c3d4.dump.gz.age',
    details: { execution: EXECUTION, backup: '2026-11-21T030000Z-a1b2c3d4', target: 'scratch' },
  };
}

/** A "Step Functions Execution Status Change" detail as EventBridge delivers it. */
function ended(
  status: string,
  stopMs = START_MS + 7 * 60_000 + 30_000,
  input: unknown = { job: 'prod', target: 'scratch', confirm: 'prod' },
): ExecutionStatusChangeDetail {
  return {
    executionArn: EXECUTION,
    stateMachineArn: STATE_MACHINE,
    status,
    startDate: START_MS,
    stopDate: stopMs,
    input: typeof input === 'string' ? input : JSON.stringify(input),
    error: null,
    cause: null,
  };
}

const published = () => snsMock.commandCalls(PublishCommand).map((c) => c.args[0].input);

function expectedPublish(kind: 'restore' | 'drill', duration: string, cause: string) {
  return {
    TopicArn: TOPIC_ARN,
    Subject: `dumpvault: ${kind} of prod FAILED`,
    Message: [
      'Job:       prod',
      `Kind:      ${kind}`,
      'Status:    FAILED',
      `Run:       ${RUN_ID}`,
      `Duration:  ${duration}`,
      'Object:    dumpvault/prod/2026-11-21T030000Z-a1b2c3d4.dump.gz.age',
      `Cause:     ${cause}`,
      '',
      `Investigate: dumpvault history prod --remote   (run ${RUN_ID}; execution ${EXECUTION})`,
    ].join('\n'),
    MessageAttributes: {
      job: { DataType: 'String', StringValue: 'prod' },
      status: { DataType: 'String', StringValue: 'FAILED' },
      kind: { DataType: 'String', StringValue: kind },
    },
  };
}

describe('handleRestoreEnded', () => {
  it('marks the RUNNING run FAILED with "execution ABORTED" and alerts once', async () => {
    // Prepare
    await history.save(running());

    // Act
    const result = await handleRestoreEnded(deps(), ended('ABORTED'));

    // Assess
    expect(result).toEqual({
      action: 'marked-failed',
      job: 'prod',
      runId: RUN_ID,
      error: 'execution ABORTED',
    });
    expect(await history.list('prod')).toEqual([
      {
        ...running(),
        status: 'FAILED',
        finishedAt: '2026-11-22T02:07:30.123Z',
        durationMs: 450_000,
        error: 'execution ABORTED',
        details: { ...running().details, executionStatus: 'ABORTED' },
      },
    ]);
    expect(published()).toEqual([expectedPublish('restore', '7 min 30 s', 'execution ABORTED')]);
    expect(await history.getAlertState('prod:restore')).toMatchObject({ failing: true, lastRunId: RUN_ID });
  });

  it('marks a timed-out drill FAILED with how long the execution ran, in the drill alert streak', async () => {
    // Prepare
    await history.save(running('drill'));

    // Act
    const result = await handleRestoreEnded(
      deps(),
      ended('TIMED_OUT', START_MS + 2 * 3_600_000, { job: 'prod', target: 'ephemeral', trigger: 'schedule' }),
    );

    // Assess
    const cause = 'execution TIMED_OUT after 2 h 0 min';
    expect(result).toEqual({ action: 'marked-failed', job: 'prod', runId: RUN_ID, error: cause });
    expect((await history.findRun('prod', RUN_ID))?.status).toBe('FAILED');
    expect(published()).toEqual([expectedPublish('drill', '120 min 0 s', cause)]);
  });

  it('marks a FAILED execution whose failure could not be recorded FAILED with its error and cause', async () => {
    // Prepare: RecordFailure could not write history, so the item is still RUNNING.
    await history.save(running());
    const detail = {
      ...ended('FAILED'),
      error: RestoreError.recordFailed,
      cause: 'the failure could not be recorded in history: throttled',
    };

    // Act
    const result = await handleRestoreEnded(deps(), detail);

    // Assess
    const cause = 'execution FAILED: RecordFailed: the failure could not be recorded in history: throttled';
    expect(result).toMatchObject({ action: 'marked-failed', error: cause });
    expect(published()).toEqual([expectedPublish('restore', '7 min 30 s', cause)]);
  });

  it("releases the job lease the dead run held, and leaves another run's lease alone", async () => {
    // Bug caught: restore-ended marked a dead run FAILED without releasing its lease (task-stopped
    // did), so the job stayed locked until the lease expired. Both now end it via markDeadRunFailed.
    // Prepare
    await history.save(running());
    await history.acquireLease('prod', RUN_ID, 3_600_000, new Date(START_MS));

    // Act
    await handleRestoreEnded(deps(), ended('ABORTED'));

    // Assess
    expect(await history.getLease('prod')).toBeUndefined();

    // Prepare: the next run took the lease; a late duplicate event for the dead one arrives.
    await history.acquireLease('prod', 'next-run', 3_600_000, new Date(START_MS));

    // Act
    await handleRestoreEnded(deps(), ended('ABORTED'));

    // Assess
    expect(await history.getLease('prod')).toMatchObject({ job: 'prod', runId: 'next-run' });
  });

  it('changes nothing and alerts no more when the same event arrives twice', async () => {
    // Prepare
    await history.save(running());
    await handleRestoreEnded(deps(), ended('ABORTED'));
    const after = await history.list('prod');

    // Act
    const result = await handleRestoreEnded(deps(), ended('ABORTED'));

    // Assess
    expect(result).toEqual({ action: 'already-finished', job: 'prod', runId: RUN_ID });
    expect(await history.list('prod')).toEqual(after);
    expect(published()).toHaveLength(1);
  });

  it.each([
    ['FAILED', 'the task exited with code 137; OutOfMemoryError'],
    ['SUCCEEDED', undefined],
  ] as const)('leaves a run already %s alone and does not alert', async (status, error) => {
    // Prepare: the execution, the task or task-stopped finished it first.
    const finished: HistoryItem = {
      ...running(),
      status,
      finishedAt: '2026-11-22T02:05:00.000Z',
      durationMs: 300_000,
      ...(error ? { error } : {}),
    };
    await history.save(finished);

    // Act
    const results = [
      await handleRestoreEnded(deps(), ended('ABORTED')),
      await handleRestoreEnded(deps(), ended('FAILED')),
    ];

    // Assess
    expect(results).toEqual([
      { action: 'already-finished', job: 'prod', runId: RUN_ID },
      { action: 'already-finished', job: 'prod', runId: RUN_ID },
    ]);
    expect(await history.list('prod')).toEqual([finished]);
    expect(published()).toEqual([]);
    expect(await history.getAlertState('prod:restore')).toBeUndefined();
  });

  it('only logs when the execution was aborted before Resolve recorded a run', async () => {
    // Act
    const result = await handleRestoreEnded(deps(), ended('ABORTED'));

    // Assess
    expect(result).toEqual({ action: 'no-run', job: 'prod', runId: RUN_ID });
    expect(await history.list('prod')).toEqual([]);
    expect(published()).toEqual([]);
    expect(log.records).toEqual([
      {
        level: 'info',
        message: 'a restore execution ended before Resolve recorded its run',
        attributes: { job: 'prod', runId: RUN_ID, execution: EXECUTION, status: 'ABORTED' },
      },
    ]);
  });

  it.each([
    ['an unknown job', { job: 'elsewhere' }],
    ['malformed input', '{"job":'],
    ['an input that is not a restore request', { job: 'prod', target: 42 }],
  ])('only logs for an execution with %s', async (_name, input) => {
    // Act
    const result = await handleRestoreEnded(deps(), ended('TIMED_OUT', START_MS + 60_000, input));

    // Assess
    expect(result).toEqual({ action: 'no-run', runId: RUN_ID });
    expect(published()).toEqual([]);
    expect(log.records.map((r) => r.message)).toEqual([
      'a restore execution ended before it named a job of this deployment',
    ]);
  });

  it.each(['RUNNING', 'SUCCEEDED'])('ignores an execution that is %s', async (status) => {
    // Prepare
    await history.save(running());

    // Act
    const result = await handleRestoreEnded(deps(), ended(status));

    // Assess
    expect(result).toEqual({ action: 'ignored' });
    expect(await history.list('prod')).toEqual([running()]);
    expect(published()).toEqual([]);
  });
});
