import { DeleteTableCommand, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createHistoryDocumentClient, DynamoHistoryStore } from '../../../core/history/dynamodb.ts';
import type { HistoryItem } from '../../../core/history/history.ts';
import { type LocalDynamo, startDynalite } from '../../support/dynalite.ts';
import { describeHistoryStore } from '../../support/history-suite.ts';

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

describeHistoryStore('DynamoHistoryStore on dynalite', async () => {
  const table = await dynamo.createHistoryTable();
  const client = createHistoryDocumentClient(dynamo.client);
  return {
    store: new DynamoHistoryStore({ tableName: table, client }),
    async dropRunItems(job) {
      const runs = await client.send(
        new QueryCommand({
          TableName: table,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :run)',
          ExpressionAttributeValues: { ':pk': `JOB#${job}`, ':run': 'RUN#' },
        }),
      );
      for (const item of runs.Items ?? []) {
        await client.send(new DeleteCommand({ TableName: table, Key: { pk: item['pk'], sk: item['sk'] } }));
      }
    },
    dispose: async () => {
      await dynamo.client.send(new DeleteTableCommand({ TableName: table }));
    },
  };
});

function run(overrides: Partial<HistoryItem> & Pick<HistoryItem, 'runId' | 'startedAt'>): HistoryItem {
  return { job: 'prod', kind: 'backup', status: 'SUCCEEDED', trigger: 'schedule', ...overrides };
}

describe('DynamoHistoryStore runs', () => {
  it('finds a run by id', async () => {
    await store.save(run({ runId: 'dddd0001', startedAt: '2026-03-01T03:00:00.000Z' }));
    await store.save(run({ runId: 'dddd0002', startedAt: '2026-03-02T03:00:00.000Z', status: 'FAILED' }));

    expect((await store.findRun('prod', 'dddd0002'))?.status).toBe('FAILED');
    expect(await store.findRun('prod', 'nope')).toBeUndefined();
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

  it('writes a TTL attribute a day after the lease expires', async () => {
    await store.acquireLease('prod', 'run-a', 60 * 60_000, t0);

    const raw = await dynamo.client.send(
      new GetItemCommand({ TableName: tableName, Key: { pk: { S: 'JOB#prod' }, sk: { S: 'LEASE' } } }),
    );

    expect(raw.Item?.['ttl']).toEqual({ N: String(Date.parse('2026-05-02T04:00:00.000Z') / 1000) });
    expect(raw.Item?.['expiresAt']).toEqual({ S: '2026-05-01T04:00:00.000Z' });
  });
});

describe('DynamoHistoryStore last-success pointer, first sight and TTL (issue 12 §4)', () => {
  const rawItem = async (sk: string, job = 'prod') =>
    (
      await dynamo.client.send(
        new GetItemCommand({ TableName: tableName, Key: { pk: { S: `JOB#${job}` }, sk: { S: sk } } }),
      )
    ).Item;

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
