import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { DynamoHistoryStore } from '../../../core/history/dynamodb.ts';
import type { HistoryItem } from '../../../core/history/history.ts';
import { SnsNotifier } from '../../../core/notify/sns.ts';
import { clearSecrets, registerSecret } from '../../../core/redact.ts';
import {
  handleTaskStopped,
  type TaskStateChangeDetail,
  type TaskStoppedDeps,
} from '../../../functions/logic/task-stopped.ts';
import { type LocalDynamo, startDynalite } from '../../support/dynalite.ts';
import {
  CLUSTER,
  freshHistory,
  type RecordingLog,
  recordingLog,
  SECRET_VALUE,
  TASK_ARN,
  TOPIC_ARN,
} from './support.ts';

const STARTED_AT = '2026-11-22T02:00:00.000Z';
const STOPPED_AT = '2026-11-22T02:07:30.000Z';

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
  clearSecrets();
});

function deps(): TaskStoppedDeps {
  return {
    history,
    notifier: new SnsNotifier({ client: sns, topicArn: TOPIC_ARN }),
    containerName: 'dumpvault',
    log,
    now: () => new Date('2026-11-22T02:08:00.000Z'),
  };
}

function running(runId = 'a1b2c3d4'): HistoryItem {
  return {
    job: 'prod',
    runId,
    kind: 'backup',
    status: 'RUNNING',
    trigger: 'schedule',
    startedAt: STARTED_AT,
    taskArn: TASK_ARN,
  };
}

/** An ECS Task State Change detail as EventBridge delivers it for an OOM-killed task. */
function oomEvent(runId = 'a1b2c3d4'): TaskStateChangeDetail {
  return {
    clusterArn: CLUSTER,
    taskArn: TASK_ARN,
    lastStatus: 'STOPPED',
    stopCode: 'EssentialContainerExited',
    stoppedReason: 'Essential container in task exited',
    stoppedAt: STOPPED_AT,
    startedBy: `dumpvault/prod/${runId}`,
    containers: [
      { name: 'dumpvault', exitCode: 137, reason: 'OutOfMemoryError: Container killed due to memory usage' },
    ],
    overrides: {
      containerOverrides: [
        {
          name: 'dumpvault',
          environment: [
            { name: 'DUMPVAULT_JOB', value: 'prod' },
            { name: 'DUMPVAULT_RUN_ID', value: runId },
          ],
        },
      ],
    },
  };
}

const OOM_CAUSE =
  'the task exited with code 137; OutOfMemoryError: Container killed due to memory usage; EssentialContainerExited: Essential container in task exited';

describe('handleTaskStopped', () => {
  it('marks a RUNNING run FAILED with the stop reason and exit code, releases the lease and alerts', async () => {
    // Prepare
    await history.save(running());
    await history.acquireLease('prod', 'a1b2c3d4', 3_600_000, new Date(STARTED_AT));

    // Act
    const result = await handleTaskStopped(deps(), oomEvent());

    // Assess
    expect(result).toEqual({ action: 'marked-failed', job: 'prod', runId: 'a1b2c3d4', error: OOM_CAUSE });
    expect(await history.list('prod')).toEqual([
      { ...running(), status: 'FAILED', finishedAt: STOPPED_AT, durationMs: 450_000, error: OOM_CAUSE },
    ]);
    expect(await history.getLease('prod')).toBeUndefined();
    expect(snsMock.commandCalls(PublishCommand).map((c) => c.args[0].input)).toEqual([
      {
        TopicArn: TOPIC_ARN,
        Subject: 'dumpvault: backup of prod FAILED',
        Message: [
          'Job:       prod',
          'Kind:      backup',
          'Status:    FAILED',
          'Run:       a1b2c3d4',
          'Duration:  7 min 30 s',
          `Cause:     ${OOM_CAUSE}`,
          '',
          `Investigate: dumpvault history prod --remote (ECS task ${TASK_ARN}, its log stream is in the task log group)`,
        ].join('\n'),
        MessageAttributes: {
          job: { DataType: 'String', StringValue: 'prod' },
          status: { DataType: 'String', StringValue: 'FAILED' },
          kind: { DataType: 'String', StringValue: 'backup' },
        },
      },
    ]);
  });

  it('marks a restore task that died FAILED as a restore, in the restore alert streak', async () => {
    // Prepare: a failing backup streak must not swallow the restore's alert.
    await history.setAlertState({ job: 'prod', failing: true });
    await history.save({ ...running(), kind: 'restore', trigger: 'manual' });

    // Act
    const result = await handleTaskStopped(deps(), oomEvent());

    // Assess
    expect(result).toMatchObject({ action: 'marked-failed', error: OOM_CAUSE });
    expect((await history.list('prod'))[0]).toMatchObject({ kind: 'restore', status: 'FAILED' });
    expect(snsMock.commandCalls(PublishCommand).map((c) => c.args[0].input.Subject)).toEqual([
      'dumpvault: restore of prod FAILED',
    ]);
    expect((await history.getAlertState('prod:restore'))?.failing).toBe(true);
  });

  it('changes nothing and alerts nothing for a duplicate event', async () => {
    await history.save(running());

    const first = await handleTaskStopped(deps(), oomEvent());
    const second = await handleTaskStopped(deps(), oomEvent());

    expect(first.action).toBe('marked-failed');
    expect(second).toEqual({ action: 'already-finished', job: 'prod', runId: 'a1b2c3d4' });
    expect(snsMock.commandCalls(PublishCommand)).toHaveLength(1);
    expect((await history.findRun('prod', 'a1b2c3d4'))?.error).toBe(OOM_CAUSE);
  });

  it('handles concurrent duplicate deliveries with one FAILED write and one alert', async () => {
    await history.save(running());

    const results = await Promise.all([
      handleTaskStopped(deps(), oomEvent()),
      handleTaskStopped(deps(), oomEvent()),
    ]);

    expect(results.map((r) => r.action).sort()).toEqual(['already-finished', 'marked-failed']);
    expect(snsMock.commandCalls(PublishCommand)).toHaveLength(1);
  });

  it('leaves a run the task recorded SUCCEEDED alone and releases its lease', async () => {
    // Prepare: the task recorded success and alerted (state points at this run).
    await history.save({
      ...running(),
      status: 'SUCCEEDED',
      finishedAt: STOPPED_AT,
      key: 'dumpvault/prod/x.gz',
    });
    await history.setAlertState({ job: 'prod', failing: false, skipping: false, lastRunId: 'a1b2c3d4' });
    await history.acquireLease('prod', 'a1b2c3d4', 3_600_000, new Date(STARTED_AT));
    const exitedZero = { ...oomEvent(), containers: [{ name: 'dumpvault', exitCode: 0 }] };

    // Act
    const result = await handleTaskStopped(deps(), exitedZero);

    // Assess
    expect(result).toEqual({ action: 'already-finished', job: 'prod', runId: 'a1b2c3d4' });
    expect((await history.findRun('prod', 'a1b2c3d4'))?.status).toBe('SUCCEEDED');
    expect(await history.getLease('prod')).toBeUndefined();
    expect(snsMock.commandCalls(PublishCommand)).toHaveLength(0);
  });

  it('keeps a run the task recorded PARTIAL (exit code 1) and sends the PARTIAL alert the task could not publish', async () => {
    // Prepare: the task kept one copy, recorded PARTIAL, exited 1; its SNS publish had failed.
    const error = 'destination offsite: cannot write s3://x/prod/y.gz: ECONNREFUSED';
    await history.save({
      ...running(),
      status: 'PARTIAL',
      finishedAt: STOPPED_AT,
      key: 'dumpvault/prod/x.gz',
      error,
      details: {
        destinations: [
          { name: 'primary', status: 'ok' },
          { name: 'offsite', status: 'failed', error },
        ],
      },
    });
    await history.acquireLease('prod', 'a1b2c3d4', 3_600_000, new Date(STARTED_AT));
    const exitedOne = { ...oomEvent(), containers: [{ name: 'dumpvault', exitCode: 1 }] };

    // Act
    const result = await handleTaskStopped(deps(), exitedOne);
    const again = await handleTaskStopped(deps(), exitedOne);

    // Assess
    expect(result).toEqual({ action: 'already-finished', job: 'prod', runId: 'a1b2c3d4', alert: 'PARTIAL' });
    expect(again).toEqual({ action: 'already-finished', job: 'prod', runId: 'a1b2c3d4' });
    expect(await history.findRun('prod', 'a1b2c3d4')).toMatchObject({ status: 'PARTIAL', error });
    expect(await history.getLease('prod')).toBeUndefined();
    const published = snsMock.commandCalls(PublishCommand).map((c) => c.args[0].input);
    expect(published).toHaveLength(1);
    expect(published[0]?.MessageAttributes?.['status']?.StringValue).toBe('PARTIAL');
    expect(published[0]?.Message).toContain(`Cause:     ${error}`);
  });

  it('sends the recovered alert the task could not publish, once', async () => {
    // Prepare: the job was failing; the task recorded SUCCEEDED but its publish failed, so the
    // alert state still points at the failed run.
    await history.save({ ...running('old00001'), startedAt: '2026-11-21T02:00:00.000Z', status: 'FAILED' });
    await history.setAlertState({ job: 'prod', failing: true, skipping: false, lastRunId: 'old00001' });
    await history.save({
      ...running(),
      status: 'SUCCEEDED',
      finishedAt: STOPPED_AT,
      durationMs: 450_000,
      key: 'dumpvault/prod/2026-11-22T020000Z-a1b2c3d4.pgdump.gz',
      bytes: 1048576,
    });
    const succeeded = { ...oomEvent(), containers: [{ name: 'dumpvault', exitCode: 0 }] };

    // Act
    const first = await handleTaskStopped(deps(), succeeded);
    const duplicate = await handleTaskStopped(deps(), succeeded);

    // Assess
    expect(first).toEqual({ action: 'already-finished', job: 'prod', runId: 'a1b2c3d4', alert: 'RECOVERED' });
    expect(duplicate).toEqual({ action: 'already-finished', job: 'prod', runId: 'a1b2c3d4' });
    expect(snsMock.commandCalls(PublishCommand).map((c) => c.args[0].input)).toEqual([
      {
        TopicArn: TOPIC_ARN,
        Subject: 'dumpvault: backup of prod recovered',
        Message: [
          'Job:       prod',
          'Kind:      backup',
          'Status:    RECOVERED',
          'Run:       a1b2c3d4',
          'Duration:  7 min 30 s',
          'Object:    dumpvault/prod/2026-11-22T020000Z-a1b2c3d4.pgdump.gz',
          'Bytes:     1048576',
          '',
          `Investigate: dumpvault history prod --remote (ECS task ${TASK_ARN}, its log stream is in the task log group)`,
        ].join('\n'),
        MessageAttributes: {
          job: { DataType: 'String', StringValue: 'prod' },
          status: { DataType: 'String', StringValue: 'RECOVERED' },
          kind: { DataType: 'String', StringValue: 'backup' },
        },
      },
    ]);
    expect(await history.getAlertState('prod')).toEqual({
      job: 'prod',
      failing: false,
      skipping: false,
      lastRunId: 'a1b2c3d4',
    });
  });

  it('does not announce a recovery for a late event of a run that a newer failure superseded', async () => {
    await history.save({ ...running(), status: 'SUCCEEDED', finishedAt: STOPPED_AT });
    await history.save({ ...running('newer001'), startedAt: '2026-11-23T02:00:00.000Z', status: 'FAILED' });
    await history.setAlertState({ job: 'prod', failing: true, skipping: false, lastRunId: 'newer001' });

    const result = await handleTaskStopped(deps(), {
      ...oomEvent(),
      containers: [{ name: 'dumpvault', exitCode: 0 }],
    });

    expect(result).toEqual({ action: 'already-finished', job: 'prod', runId: 'a1b2c3d4' });
    expect(snsMock.commandCalls(PublishCommand)).toHaveLength(0);
  });

  it('finds the run by startedBy when the event carries no overrides', async () => {
    await history.save(running());
    const { overrides: _omit, ...withoutOverrides } = oomEvent();

    const result = await handleTaskStopped(deps(), withoutOverrides);

    expect(result.action).toBe('marked-failed');
  });

  it('ignores tasks that are not dumpvault runs and events that are not STOPPED', async () => {
    const foreign = await handleTaskStopped(deps(), { lastStatus: 'STOPPED', startedBy: 'ecs-svc/123' });
    const notStopped = await handleTaskStopped(deps(), { ...oomEvent(), lastStatus: 'RUNNING' });

    expect([foreign, notStopped]).toEqual([{ action: 'ignored' }, { action: 'ignored' }]);
    expect(snsMock.commandCalls(PublishCommand)).toHaveLength(0);
  });

  it('reports a run missing from history without failing', async () => {
    const result = await handleTaskStopped(deps(), oomEvent('gone0001'));

    expect(result).toEqual({ action: 'unknown-run', job: 'prod', runId: 'gone0001' });
    expect(log.records[0]?.message).toBe('a dumpvault task stopped but its run is not in history');
  });

  it('describes a spot interruption and a task that exited 0 without a result', async () => {
    await history.save(running('spot0001'));
    await history.save(running('zero0001'));
    const spot: TaskStateChangeDetail = {
      ...oomEvent('spot0001'),
      stopCode: 'SpotInterruption',
      stoppedReason: 'Your Spot Task was interrupted.',
      containers: [{ name: 'dumpvault' }],
    };
    const zero: TaskStateChangeDetail = {
      ...oomEvent('zero0001'),
      containers: [{ name: 'dumpvault', exitCode: 0 }],
    };

    const results = [await handleTaskStopped(deps(), spot), await handleTaskStopped(deps(), zero)];

    expect(results.map((r) => (r.action === 'marked-failed' ? r.error : r.action))).toEqual([
      'the task stopped without an exit code; SpotInterruption: Your Spot Task was interrupted.',
      'the task exited with code 0 but never recorded a result; EssentialContainerExited: Essential container in task exited',
    ]);
  });

  it('never puts a secret value into history, alerts or logs', async () => {
    registerSecret(SECRET_VALUE);
    await history.save(running());
    const leaky: TaskStateChangeDetail = {
      ...oomEvent(),
      containers: [
        { name: 'dumpvault', exitCode: 1, reason: `pg_dump: connection failed for ${SECRET_VALUE}` },
      ],
    };

    await handleTaskStopped(deps(), leaky);

    const everything = JSON.stringify({
      publish: snsMock.commandCalls(PublishCommand).map((c) => c.args[0].input),
      history: await history.list('prod'),
      logs: log.records,
    });
    expect(everything).not.toContain(SECRET_VALUE);
    expect(everything).toContain('connection failed for ***');
  });
});
