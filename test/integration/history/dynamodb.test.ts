import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createHistoryDocumentClient, DynamoHistoryStore } from '../../../core/history/dynamodb.ts';
import type { HistoryItem } from '../../../core/history/history.ts';
import { type LocalDynamo, startDynalite } from '../../support/dynalite.ts';

let dynamo: LocalDynamo;
let store: DynamoHistoryStore;
let tableName: string;

beforeAll(async () => {
  dynamo = await startDynalite();
});

afterAll(async () => {
  await dynamo.stop();
});

beforeEach(async () => {
  tableName = await dynamo.createHistoryTable();
  store = new DynamoHistoryStore({ tableName, client: createHistoryDocumentClient(dynamo.client) });
});

function run(overrides: Partial<HistoryItem> & Pick<HistoryItem, 'runId' | 'startedAt'>): HistoryItem {
  return { job: 'prod', kind: 'backup', status: 'SUCCEEDED', trigger: 'schedule', ...overrides };
}

describe('DynamoHistoryStore runs', () => {
  it('lists runs newest first and honours the limit', async () => {
    // Prepare
    await store.save(run({ runId: 'aaaa0001', startedAt: '2026-01-01T03:00:00.000Z' }));
    await store.save(run({ runId: 'aaaa0003', startedAt: '2026-01-03T03:00:00.000Z', status: 'FAILED' }));
    await store.save(run({ runId: 'aaaa0002', startedAt: '2026-01-02T03:00:00.000Z' }));
    await store.save(run({ job: 'other', runId: 'bbbb0001', startedAt: '2026-01-04T03:00:00.000Z' }));

    // Act
    const all = await store.list('prod');
    const two = await store.list('prod', { limit: 2 });

    // Assess
    expect(all.map((r) => r.runId)).toEqual(['aaaa0003', 'aaaa0002', 'aaaa0001']);
    expect(two.map((r) => r.runId)).toEqual(['aaaa0003', 'aaaa0002']);
    expect(all[0]).toEqual(
      run({ runId: 'aaaa0003', startedAt: '2026-01-03T03:00:00.000Z', status: 'FAILED' }),
    );
  });

  it('replaces the item of the same run on a second save and keeps every field', async () => {
    const started = run({ runId: 'cccc0001', startedAt: '2026-02-01T03:00:00.000Z', status: 'RUNNING' });
    await store.save(started);
    const finished: HistoryItem = {
      ...started,
      status: 'SUCCEEDED',
      finishedAt: '2026-02-01T03:10:00.000Z',
      durationMs: 600_000,
      key: 'prod/2026-02-01T030000Z-cccc0001.pgdump.gz',
      bytes: 1234,
      rawBytes: 5678,
      sha256: 'a'.repeat(64),
      taskArn: 'arn:aws:ecs:eu-west-1:123456789012:task/c/1',
      pruned: ['prod/old.pgdump.gz'],
      details: { destinations: ['primary'] },
    };

    await store.save(finished);

    expect(await store.list('prod')).toEqual([finished]);
  });

  it('finds a run by id and the last success of a job', async () => {
    await store.save(run({ runId: 'dddd0001', startedAt: '2026-03-01T03:00:00.000Z' }));
    await store.save(run({ runId: 'dddd0002', startedAt: '2026-03-02T03:00:00.000Z', status: 'FAILED' }));

    expect((await store.findRun('prod', 'dddd0002'))?.status).toBe('FAILED');
    expect(await store.findRun('prod', 'nope')).toBeUndefined();
    expect((await store.lastSuccess('prod'))?.runId).toBe('dddd0001');
    expect(await store.lastSuccess('never')).toBeUndefined();
  });

  it('keeps the last success of backups apart from restores and drills', async () => {
    await store.save(run({ runId: 'eeee0001', startedAt: '2026-04-01T03:00:00.000Z' }));
    await store.save(run({ runId: 'eeee0002', startedAt: '2026-04-01T05:00:00.000Z', kind: 'drill' }));
    await store.save(run({ runId: 'eeee0003', startedAt: '2026-04-01T06:00:00.000Z', kind: 'restore' }));

    expect((await store.lastSuccess('prod'))?.runId).toBe('eeee0001');
    expect((await store.lastSuccess('prod', 'drill'))?.runId).toBe('eeee0002');
    expect((await store.lastSuccess('prod', 'restore'))?.runId).toBe('eeee0003');
  });

  it('stores a PARTIAL backup with its per-destination details, never as the last success, and keeps it from a late FAILED', async () => {
    const error = 'destination offsite: cannot write s3://x/prod/y: ECONNREFUSED';
    const partial = run({
      runId: 'ffff0002',
      startedAt: '2026-03-02T03:00:00.000Z',
      status: 'PARTIAL',
      error,
      key: 'prod/2026-03-02T030000Z-ffff0002.pgdump.gz',
      details: {
        destinations: [
          { name: 'primary', status: 'ok' },
          { name: 'offsite', status: 'failed', error },
        ],
        tables: 3,
      },
    });
    await store.save(run({ runId: 'ffff0001', startedAt: '2026-03-01T03:00:00.000Z' }));
    await store.save(partial);

    const changed = await store.saveIfRunning({
      ...partial,
      status: 'FAILED',
      error: 'the task exited with code 1',
    });

    expect(changed).toBe(false);
    expect(await store.findRun('prod', 'ffff0002')).toEqual(partial);
    expect((await store.lastSuccess('prod'))?.runId).toBe('ffff0001');
  });

  it('lists every job that wrote history', async () => {
    await store.save(run({ job: 'zeta', runId: 'eeee0001', startedAt: '2026-03-01T03:00:00.000Z' }));
    await store.save(run({ job: 'alpha', runId: 'eeee0002', startedAt: '2026-03-01T03:00:00.000Z' }));
    await store.save(run({ job: 'alpha', runId: 'eeee0003', startedAt: '2026-03-02T03:00:00.000Z' }));

    expect(await store.listJobs()).toEqual(['alpha', 'zeta']);
  });

  it('finishes a RUNNING run once and refuses to overwrite a finished one', async () => {
    const running = run({ runId: 'ffff0001', startedAt: '2026-04-01T03:00:00.000Z', status: 'RUNNING' });
    await store.save(running);

    const first = await store.saveIfRunning({ ...running, status: 'FAILED', error: 'OutOfMemoryError' });
    const second = await store.saveIfRunning({ ...running, status: 'FAILED', error: 'duplicate' });

    expect([first, second]).toEqual([true, false]);
    expect((await store.findRun('prod', 'ffff0001'))?.error).toBe('OutOfMemoryError');
  });

  it('records the task ARN of an existing run and fails for a missing one', async () => {
    const running = run({ runId: 'gggg0001', startedAt: '2026-04-01T03:00:00.000Z', status: 'RUNNING' });
    await store.save(running);

    await store.setTaskArn('prod', running.startedAt, 'gggg0001', 'arn:aws:ecs:eu-west-1:1:task/x');

    expect((await store.findRun('prod', 'gggg0001'))?.taskArn).toBe('arn:aws:ecs:eu-west-1:1:task/x');
    await expect(store.setTaskArn('prod', running.startedAt, 'missing', 'arn')).rejects.toThrow(
      /conditional/i,
    );
  });
});

describe('DynamoHistoryStore leases', () => {
  const t0 = new Date('2026-05-01T03:00:00.000Z');
  const minutes = (n: number) => new Date(t0.getTime() + n * 60_000);

  it('refuses a second acquire while the lease is unexpired', async () => {
    expect(await store.acquireLease('prod', 'run-a', 60 * 60_000, t0)).toEqual({ acquired: true });

    const second = await store.acquireLease('prod', 'run-b', 60 * 60_000, minutes(30));

    expect(second).toEqual({
      acquired: false,
      heldBy: { job: 'prod', runId: 'run-a', expiresAt: '2026-05-01T04:00:00.000Z' },
    });
  });

  it('lets a run take over an expired lease', async () => {
    await store.acquireLease('prod', 'run-a', 60 * 60_000, t0);

    const takeover = await store.acquireLease('prod', 'run-b', 60 * 60_000, minutes(61));

    expect(takeover).toEqual({ acquired: true });
    expect((await store.getLease('prod'))?.runId).toBe('run-b');
  });

  it('lets the holder acquire its own lease again', async () => {
    await store.acquireLease('prod', 'run-a', 60 * 60_000, t0);

    expect(await store.acquireLease('prod', 'run-a', 60 * 60_000, minutes(5))).toEqual({ acquired: true });
  });

  it('keeps the lease when a non-holder releases it, and frees it when the holder does', async () => {
    await store.acquireLease('prod', 'run-a', 60 * 60_000, t0);

    await store.releaseLease('prod', 'run-b');
    const afterForeignRelease = await store.getLease('prod');
    await store.releaseLease('prod', 'run-a');
    const afterRelease = await store.getLease('prod');
    await store.releaseLease('prod', 'run-a');

    expect(afterForeignRelease?.runId).toBe('run-a');
    expect(afterRelease).toBeUndefined();
    expect(await store.acquireLease('prod', 'run-c', 60_000, minutes(1))).toEqual({ acquired: true });
  });

  it('lets exactly one of many concurrent acquires win', async () => {
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => store.acquireLease('prod', `run-${i}`, 60_000, t0)),
    );

    expect(results.filter((r) => r.acquired)).toHaveLength(1);
  });

  it('writes a TTL attribute a day after the lease expires', async () => {
    await store.acquireLease('prod', 'run-a', 60 * 60_000, t0);

    const raw = await dynamo.client.send(
      new GetItemCommand({ TableName: tableName, Key: { pk: { S: 'JOB#prod' }, sk: { S: 'LEASE' } } }),
    );

    expect(raw.Item?.['ttl']).toEqual({ N: String(Date.parse('2026-05-02T04:00:00.000Z') / 1000) });
    expect(raw.Item?.['expiresAt']).toEqual({ S: '2026-05-01T04:00:00.000Z' });
  });
});

describe('DynamoHistoryStore alert state', () => {
  it('returns undefined before the first alert and round-trips the state', async () => {
    expect(await store.getAlertState('prod')).toBeUndefined();

    await store.setAlertState({
      job: 'prod',
      failing: true,
      skipping: false,
      since: '2026-06-01T00:00:00.000Z',
    });
    const failing = await store.getAlertState('prod');
    await store.setAlertState({ job: 'prod', failing: false, skipping: false, lastRunId: 'r2' });
    const recovered = await store.getAlertState('prod');

    expect(failing).toEqual({
      job: 'prod',
      failing: true,
      skipping: false,
      since: '2026-06-01T00:00:00.000Z',
    });
    expect(recovered).toEqual({ job: 'prod', failing: false, skipping: false, lastRunId: 'r2' });
  });
});
