import { DeleteItemCommand, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
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

describe('DynamoHistoryStore last-success pointer, first sight and TTL (issue 12 §4)', () => {
  const rawItem = async (sk: string, job = 'prod') =>
    (
      await dynamo.client.send(
        new GetItemCommand({ TableName: tableName, Key: { pk: { S: `JOB#${job}` }, sk: { S: sk } } }),
      )
    ).Item;

  it('answers lastSuccess from the LASTSUCCESS pointer, not by searching the run items', async () => {
    // Prepare: a success, then a newer failure; then the run items disappear (TTL, say).
    await store.save(run({ runId: 'abab0001', startedAt: '2026-03-01T03:00:00.000Z', bytes: 7 }));
    await store.save(run({ runId: 'abab0002', startedAt: '2026-03-02T03:00:00.000Z', status: 'FAILED' }));
    const pointer = await rawItem('LASTSUCCESS#backup');
    await dynamo.client.send(
      new DeleteItemCommand({
        TableName: tableName,
        Key: { pk: { S: 'JOB#prod' }, sk: { S: 'RUN#2026-03-01T03:00:00.000Z#abab0001' } },
      }),
    );

    // Act
    const last = await store.lastSuccess('prod');

    // Assess
    expect(pointer?.['runId']?.S).toBe('abab0001');
    expect(last).toEqual(run({ runId: 'abab0001', startedAt: '2026-03-01T03:00:00.000Z', bytes: 7 }));
    expect(await store.searchLastSuccess('prod')).toBeUndefined();
  });

  it('never moves the pointer back when an older run is saved again (its prune recorded)', async () => {
    await store.save(run({ runId: 'acac0001', startedAt: '2026-03-01T03:00:00.000Z' }));
    await store.save(run({ runId: 'acac0002', startedAt: '2026-03-02T03:00:00.000Z', pruned: ['j'] }));
    await store.save(run({ runId: 'acac0001', startedAt: '2026-03-01T03:00:00.000Z', pruned: ['k'] }));

    const last = await store.lastSuccess('prod');

    expect(last?.runId).toBe('acac0002');
    expect(last?.pruned).toEqual(['j']);
  });

  it('keeps one pointer per kind, and finds a success of a table written before pointers existed', async () => {
    await store.save(run({ runId: 'adad0001', startedAt: '2026-03-01T03:00:00.000Z', kind: 'drill' }));
    // A run item written without the pointer, as older versions did.
    await dynamo.client.send(
      new PutItemCommand({
        TableName: tableName,
        Item: {
          pk: { S: 'JOB#prod' },
          sk: { S: 'RUN#2026-02-01T03:00:00.000Z#adad0000' },
          job: { S: 'prod' },
          runId: { S: 'adad0000' },
          kind: { S: 'backup' },
          status: { S: 'SUCCEEDED' },
          trigger: { S: 'schedule' },
          startedAt: { S: '2026-02-01T03:00:00.000Z' },
        },
      }),
    );

    expect((await store.lastSuccess('prod', 'drill'))?.runId).toBe('adad0001');
    expect((await store.lastSuccess('prod'))?.runId).toBe('adad0000');
    expect(await rawItem('LASTSUCCESS#backup')).toBeUndefined();
  });

  it("gives run items a TTL of their start plus the job's run lifetime, and the pointer none", async () => {
    const days = { prod: 120 } as Record<string, number>;
    const withTtl = new DynamoHistoryStore({
      tableName,
      client: createHistoryDocumentClient(dynamo.client),
      runLifetimeDays: (job) => days[job],
    });
    const started = '2026-03-01T03:00:00.000Z';

    await withTtl.save(run({ runId: 'aeae0001', startedAt: started }));
    await withTtl.save(run({ job: 'kept', runId: 'aeae0002', startedAt: started }));
    await withTtl.saveIfRunning(run({ runId: 'aeae0001', startedAt: started, status: 'FAILED' }));

    const item = await rawItem(`RUN#${started}#aeae0001`);
    expect(Number(item?.['ttl']?.N)).toBe(Date.parse(started) / 1000 + 120 * 86_400);
    expect((await rawItem(`RUN#${started}#aeae0002`, 'kept'))?.['ttl']).toBeUndefined();
    expect((await rawItem('LASTSUCCESS#backup'))?.['ttl']).toBeUndefined();
    // The attribute stays in the table: history items never show it.
    expect(await withTtl.list('prod')).toEqual([run({ runId: 'aeae0001', startedAt: started })]);
  });

  it('records when a job was first seen once, and answers that time afterwards', async () => {
    const first = await store.recordFirstSeen('prod', new Date('2026-03-01T03:00:00.000Z'));
    const again = await store.recordFirstSeen('prod', new Date('2026-03-05T03:00:00.000Z'));

    expect(first).toBe('2026-03-01T03:00:00.000Z');
    expect(again).toBe('2026-03-01T03:00:00.000Z');
    expect(await store.list('prod')).toEqual([]);
  });

  it('lists the runs started since a time, newest first, without the other items', async () => {
    await store.save(run({ runId: 'afaf0001', startedAt: '2026-03-01T03:00:00.000Z' }));
    await store.save(run({ runId: 'afaf0002', startedAt: '2026-03-02T03:00:00.000Z', status: 'FAILED' }));
    await store.save(run({ runId: 'afaf0003', startedAt: '2026-03-03T03:00:00.000Z' }));
    await store.acquireLease('prod', 'afaf0004', 60_000);
    await store.recordFirstSeen('prod', new Date('2026-03-01T00:00:00.000Z'));

    const since = await store.listSince('prod', '2026-03-02T00:00:00.000Z');

    expect(since.map((r) => r.runId)).toEqual(['afaf0003', 'afaf0002']);
  });
});
