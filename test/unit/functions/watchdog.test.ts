import { Metrics } from '@aws-lambda-powertools/metrics';
import { ECSClient, StopTaskCommand } from '@aws-sdk/client-ecs';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { DynamoHistoryStore } from '../../../core/history/dynamodb.ts';
import type { HistoryItem } from '../../../core/history/history.ts';
import { alarmThresholdHours, scheduleGaps } from '../../../core/schedule/index.ts';
import {
  measureFreshness,
  neverSucceededSince,
  stopOverdueTasks,
} from '../../../functions/logic/watchdog.ts';
import { publishFreshness } from '../../../functions/watchdog.ts';
import { type LocalDynamo, startDynalite } from '../../support/dynalite.ts';
import { CLUSTER, freshHistory, type RecordingLog, recordingLog, TASK_ARN, testConfig } from './support.ts';

const NOW = new Date('2026-11-22T12:00:00.000Z');

let dynamo: LocalDynamo;
let history: DynamoHistoryStore;
let log: RecordingLog;
const ecs = new ECSClient({ region: 'eu-central-1' });
const ecsMock = mockClient(ecs);

beforeAll(async () => {
  dynamo = await startDynalite();
});
afterAll(async () => {
  await dynamo.stop();
});
beforeEach(async () => {
  history = await freshHistory(dynamo);
  log = recordingLog();
});
afterEach(() => {
  ecsMock.reset();
  vi.restoreAllMocks();
});

function item(
  overrides: Partial<HistoryItem> & Pick<HistoryItem, 'runId' | 'startedAt' | 'status'>,
): HistoryItem {
  return { job: 'prod', kind: 'backup', trigger: 'schedule', ...overrides };
}

describe('measureFreshness', () => {
  it('measures hours since the newest success, its duration and size, and failures in the last 24 h', async () => {
    // Prepare
    await history.save(
      item({
        runId: 'r1',
        startedAt: '2026-11-21T03:00:00.000Z',
        finishedAt: '2026-11-21T03:30:00.000Z',
        durationMs: 1_800_000,
        bytes: 4096,
        status: 'SUCCEEDED',
      }),
    );
    await history.save(item({ runId: 'r2', startedAt: '2026-11-22T03:00:00.000Z', status: 'FAILED' }));
    await history.save(item({ runId: 'r0', startedAt: '2026-11-20T03:00:00.000Z', status: 'FAILED' }));
    await history.save(
      item({ job: 'small', runId: 'r3', startedAt: '2026-11-22T03:00:00.000Z', status: 'FAILED' }),
    );

    // Act
    const freshness = await measureFreshness(history, testConfig(), NOW);

    // Assess
    expect(freshness).toEqual([
      {
        job: 'prod',
        hoursSinceLastSuccess: 32.5,
        lastSuccessAt: '2026-11-21T03:30:00.000Z',
        lastBackupDurationSeconds: 1800,
        lastBackupBytes: 4096,
        failedRunsLast24Hours: 1,
      },
      // Never succeeded: counted from its first run (03:00), which came before the watchdog saw it.
      { job: 'small', hoursSinceLastSuccess: 9, firstSeenAt: NOW.toISOString(), failedRunsLast24Hours: 1 },
    ]);
  });
});

describe('measureFreshness of a job that never succeeded (issue 12 §4)', () => {
  it('does not alarm a new job before its first scheduled run plus the threshold (missing data alarmed at once before)', async () => {
    // Prepare: prod runs daily at 03:00 Berlin (02:00 UTC); the watchdog first sees it at noon.
    const config = testConfig();
    const prod = config.jobs[0]!;
    const threshold = alarmThresholdHours(prod, scheduleGaps(prod.schedule!))!;
    const firstRun = Date.parse('2026-11-23T02:00:00.000Z');
    const at = (ms: number) => new Date(ms);
    const hoursAt = async (when: Date) => (await measureFreshness(history, config, when))[0]!;

    // Act
    const deployed = await hoursAt(NOW);
    const justBefore = await hoursAt(at(firstRun + threshold * 3_600_000 - 15 * 60_000));
    const justAfter = await hoursAt(at(firstRun + threshold * 3_600_000 + 15 * 60_000));

    // Assess: the alarm fires when the value is above the threshold.
    expect(deployed).toEqual({
      job: 'prod',
      hoursSinceLastSuccess: 0,
      firstSeenAt: NOW.toISOString(),
      failedRunsLast24Hours: 0,
    });
    expect(justBefore.hoursSinceLastSuccess).toBeLessThanOrEqual(threshold);
    expect(justBefore.firstSeenAt).toBe(NOW.toISOString());
    expect(justAfter.hoursSinceLastSuccess).toBeGreaterThan(threshold);
  });

  it('measures from the last success once there is one, whatever it first saw', async () => {
    const config = testConfig();
    await measureFreshness(history, config, NOW);
    await history.save(
      item({
        runId: 's1',
        startedAt: '2026-11-23T02:00:00.000Z',
        finishedAt: '2026-11-23T02:30:00.000Z',
        status: 'SUCCEEDED',
      }),
    );

    const [prod] = await measureFreshness(history, config, new Date('2026-11-23T04:30:00.000Z'));

    expect(prod).toMatchObject({
      job: 'prod',
      hoursSinceLastSuccess: 2,
      lastSuccessAt: '2026-11-23T02:30:00.000Z',
    });
    expect(prod!.firstSeenAt).toBeUndefined();
  });

  it('counts a job without a schedule from when it was first seen', () => {
    expect(neverSucceededSince({}, '2026-11-22T12:00:00.000Z', undefined)).toBe('2026-11-22T12:00:00.000Z');
    expect(neverSucceededSince({}, '2026-11-22T12:00:00.000Z', '2026-11-22T11:00:00.000Z')).toBe(
      '2026-11-22T11:00:00.000Z',
    );
  });
});

describe('measureFreshness with a PARTIAL backup', () => {
  it('counts a PARTIAL backup as a failure and never as the last success, even when it is the newest', async () => {
    // Prepare: the newest backup kept only some copies.
    await history.save(
      item({
        runId: 'r1',
        startedAt: '2026-11-21T03:00:00.000Z',
        finishedAt: '2026-11-21T03:30:00.000Z',
        durationMs: 1_800_000,
        bytes: 4096,
        status: 'SUCCEEDED',
      }),
    );
    await history.save(
      item({
        runId: 'r2',
        startedAt: '2026-11-22T03:00:00.000Z',
        finishedAt: '2026-11-22T03:10:00.000Z',
        durationMs: 600_000,
        bytes: 8192,
        status: 'PARTIAL',
        error: 'destination offsite: ECONNREFUSED',
      }),
    );

    // Act
    const [prod] = await measureFreshness(history, testConfig(), NOW);

    // Assess
    expect(prod).toEqual({
      job: 'prod',
      hoursSinceLastSuccess: 32.5,
      lastSuccessAt: '2026-11-21T03:30:00.000Z',
      lastBackupDurationSeconds: 1800,
      lastBackupBytes: 4096,
      failedRunsLast24Hours: 1,
    });
  });
});

describe('measureFreshness with restores and drills', () => {
  it('keeps restores and drills out of the backup measures and measures the last successful drill of drill jobs', async () => {
    // Prepare
    const config = testConfig();
    const prod = config.jobs[0]!;
    (prod as { restoreDrill?: unknown }).restoreDrill = {
      schedule: { cron: '0 5 ? * SUN *', timezone: 'UTC' },
    };
    await history.save(
      item({
        runId: 'b1',
        startedAt: '2026-11-22T03:00:00.000Z',
        finishedAt: '2026-11-22T03:10:00.000Z',
        status: 'SUCCEEDED',
      }),
    );
    await history.save(
      item({
        runId: 'd1',
        kind: 'drill',
        startedAt: '2026-11-20T05:00:00.000Z',
        finishedAt: '2026-11-20T06:00:00.000Z',
        status: 'SUCCEEDED',
      }),
    );
    await history.save(
      item({ runId: 'd2', kind: 'drill', startedAt: '2026-11-22T05:00:00.000Z', status: 'FAILED' }),
    );
    await history.save(
      item({
        runId: 'r1',
        kind: 'restore',
        startedAt: '2026-11-22T09:00:00.000Z',
        finishedAt: '2026-11-22T09:30:00.000Z',
        status: 'SUCCEEDED',
      }),
    );

    // Act
    const [freshness] = await measureFreshness(history, config, NOW);

    // Assess
    expect(freshness).toMatchObject({
      job: 'prod',
      hoursSinceLastSuccess: 8.83,
      failedRunsLast24Hours: 0,
      hoursSinceLastDrillSuccess: 54,
    });
  });
});

describe('measureFreshness of a job with a standby (issue 16 §2)', () => {
  it('publishes the age of the backup the newest SUCCEEDED standby run holds, and nothing before one succeeded', async () => {
    // Bug caught: no StandbyLagSeconds measured, so the standby lag alarm only ever saw missing data.
    // Prepare
    const config = testConfig();
    const prod = config.jobs[0]!;
    (prod as { standby?: unknown }).standby = { url: 'postgres://app@standby.internal:5432/app' };
    const before = await measureFreshness(history, config, NOW);
    await history.save(
      item({
        runId: 's1',
        kind: 'standby',
        startedAt: '2026-11-22T03:20:00.000Z',
        finishedAt: '2026-11-22T03:40:00.000Z',
        status: 'SUCCEEDED',
        details: { backupStartedAt: '2026-11-22T03:00:00.000Z' },
      }),
    );
    await history.save(
      item({ runId: 's2', kind: 'standby', startedAt: '2026-11-22T09:00:00.000Z', status: 'FAILED' }),
    );

    // Act
    const [freshness] = await measureFreshness(history, config, NOW);

    // Assess: NOW is 2026-11-22T12:00Z, the standby holds the backup of 03:00.
    expect(before[0]?.standbyLagSeconds).toBeUndefined();
    expect(freshness?.standbyLagSeconds).toBe(9 * 3600);
  });
});

describe('publishFreshness', () => {
  it('emits EMF records with the Job dimension the alarms watch, and no age for a job that never succeeded', () => {
    // Prepare
    const lines: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    const metrics = new Metrics({ namespace: 'DumpVault', serviceName: 'dumpvault' });

    // Act
    publishFreshness(metrics, [
      { job: 'prod', hoursSinceLastSuccess: 32.5, lastBackupBytes: 4096, failedRunsLast24Hours: 0 },
      { job: 'small', failedRunsLast24Hours: 2, standbyLagSeconds: 7200 },
    ]);

    // Assess
    const records = lines.filter((l) => l.includes('_aws')).map((l) => JSON.parse(l));
    expect(records.map((r) => [r.Job, r._aws.CloudWatchMetrics[0].Metrics[0].Name])).toEqual([
      ['prod', 'HoursSinceLastSuccess'],
      ['prod', 'LastBackupBytes'],
      ['prod', 'FailedRunsLast24Hours'],
      ['small', 'FailedRunsLast24Hours'],
      ['small', 'StandbyLagSeconds'],
    ]);
    expect(records.at(-1)).toMatchObject({ Job: 'small', StandbyLagSeconds: 7200 });
    expect(records[0]).toMatchObject({
      _aws: {
        CloudWatchMetrics: [
          {
            Namespace: 'DumpVault',
            Dimensions: [['service', 'Job']],
            Metrics: [{ Name: 'HoursSinceLastSuccess' }],
          },
        ],
      },
      service: 'dumpvault',
      Job: 'prod',
      HoursSinceLastSuccess: 32.5,
    });
  });
});

describe('stopOverdueTasks', () => {
  it('stops the task of a run that outlived its timeout and leaves runs within it alone', async () => {
    // Prepare: prod times out after 120 min; small after the default 720 min.
    ecsMock.on(StopTaskCommand).resolves({});
    await history.save(
      item({
        runId: 'late0001',
        startedAt: '2026-11-22T09:00:00.000Z',
        status: 'RUNNING',
        taskArn: TASK_ARN,
      }),
    );
    await history.acquireLease('prod', 'late0001', 150 * 60_000, new Date('2026-11-22T09:00:00.000Z'));
    await history.save(
      item({
        job: 'small',
        runId: 'ok000001',
        startedAt: '2026-11-22T09:00:00.000Z',
        status: 'RUNNING',
        taskArn: 'arn:t2',
      }),
    );
    await history.acquireLease('small', 'ok000001', 750 * 60_000, new Date('2026-11-22T09:00:00.000Z'));

    // Act
    const stopped = await stopOverdueTasks({ history, ecs, cluster: CLUSTER, log }, testConfig(), NOW);

    // Assess
    expect(stopped).toEqual([{ job: 'prod', runId: 'late0001', taskArn: TASK_ARN }]);
    expect(ecsMock.commandCalls(StopTaskCommand).map((c) => c.args[0].input)).toEqual([
      { cluster: CLUSTER, task: TASK_ARN, reason: 'dumpvault: the run exceeded its timeout of 120 minutes' },
    ]);
  });

  it('keeps going when one task cannot be stopped', async () => {
    ecsMock.on(StopTaskCommand).rejects(new Error('InvalidParameterException'));
    await history.save(
      item({
        runId: 'late0001',
        startedAt: '2026-11-21T09:00:00.000Z',
        status: 'RUNNING',
        taskArn: TASK_ARN,
      }),
    );
    await history.acquireLease('prod', 'late0001', 150 * 60_000, NOW);

    const stopped = await stopOverdueTasks({ history, ecs, cluster: CLUSTER, log }, testConfig(), NOW);

    expect(stopped).toEqual([]);
    expect(log.records.map((r) => r.message)).toEqual(['could not stop an overdue task']);
  });
});
