/**
 * The prune function's logic (functions/logic/prune.ts) against real emulators: backups written
 * by the pipeline to s3rver (as the backup task writes them in AWS, without pruning), history in
 * dynalite. Nothing here is mocked: S3 and DynamoDB both have an emulator.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { validateConfig } from '../../../core/config/load.ts';
import type { Config, Job } from '../../../core/config/schema.ts';
import type { DynamoHistoryStore } from '../../../core/history/dynamodb.ts';
import { runBackup } from '../../../core/pipeline/backup.ts';
import { createDestination, type Destination } from '../../../core/storage/index.ts';
import { type PruneDeps, parsePruneRequest, pruneAfterBackup } from '../../../functions/logic/prune.ts';
import { type LocalDynamo, startDynalite } from '../../support/dynalite.ts';
import { type S3rverHandle, startS3rver } from '../../support/s3rver.ts';
import { standInEngine } from '../../support/stand-in-engine.ts';
import { freshHistory, type RecordingLog, recordingLog } from './support.ts';

const BUCKET = 'prune-unit';
const NOW = new Date('2026-11-22T04:00:00.000Z');
const HOUR_MS = 3_600_000;

let s3: S3rverHandle;
let dynamo: LocalDynamo;
let history: DynamoHistoryStore;
let log: RecordingLog;
let config: Config;
let jobs = 0;

beforeAll(async () => {
  [s3, dynamo] = await Promise.all([startS3rver({ buckets: [BUCKET] }), startDynalite()]);
});
afterAll(async () => {
  await Promise.all([s3?.stop(), dynamo?.stop()]);
});
beforeEach(async () => {
  history = await freshHistory(dynamo);
  log = recordingLog();
  // A job name per test: the bucket is shared, the folders are not.
  const name = `app-${process.pid}-${++jobs}`;
  config = validateConfig({
    prefix: 'dumpvault/',
    destinations: { primary: { type: 's3', bucket: BUCKET, endpoint: s3.endpoint, region: 'us-east-1' } },
    jobs: [
      {
        name,
        engine: 'postgres',
        source: { url: 'postgres://app@db.internal:5432/app' },
        destinations: ['primary'],
        compression: 'none',
        retention: { keepLast: 1 },
      },
      {
        name: `${name}-other`,
        engine: 'postgres',
        source: { url: 'postgres://app@db.internal:5432/app' },
        destinations: ['primary'],
        compression: 'none',
        retention: { keepLast: 1 },
      },
    ],
  });
});
afterEach(() => {
  s3.requests.length = 0;
});

const job = (index = 0): Job => config.jobs[index]!;

function primary(): Destination {
  return createDestination('primary', config.destinations['primary']!, {
    baseDir: '.',
    s3Client: s3.client,
    retry: { attempts: 1, baseDelayMs: 1 },
  });
}

/** A backup as the task writes it in AWS (no retention), `hoursAgo` before NOW. */
async function backup(hoursAgo: number, of: Job = job()) {
  const startedAt = new Date(NOW.getTime() - hoursAgo * HOUR_MS);
  return runBackup({
    job: of,
    prefix: config.prefix,
    engine: standInEngine('echo dump'),
    source: { url: of.source.url },
    destinations: [primary()],
    encryption: undefined,
    history,
    notifier: { publish: async () => {} },
    trigger: 'schedule',
    investigate: () => 'dumpvault history',
    startedAt,
    now: () => startedAt,
    pruneAfterBackup: false,
  });
}

function deps(): PruneDeps {
  return { config, history, log, openDestinations: async () => [primary()], now: () => NOW };
}

async function keysOf(of: Job = job()): Promise<string[]> {
  return (await primary().list(`dumpvault/${of.name}/`)).map((o) => o.key).sort();
}

const deletes = () => s3.requests.filter((r) => r.method === 'DELETE').map((r) => decodeURIComponent(r.path));

describe('pruneAfterBackup', () => {
  it("deletes what the job's retention drops, data before manifest, and records it on the run", async () => {
    // Prepare
    const old = [await backup(50), await backup(26)];
    const newest = await backup(2);
    const other = await backup(30, job(1));
    s3.requests.length = 0;

    // Act
    const outcome = await pruneAfterBackup(deps(), { job: job().name, runId: newest.runId });

    // Assess
    const folder = `dumpvault/${job().name}/`;
    const removed = old.flatMap((b) => [b.manifest.object.key, `${folder}${b.id}.manifest.json`]);
    expect(outcome).toEqual({
      status: 'PRUNED',
      job: job().name,
      runId: newest.runId,
      deleted: expect.arrayContaining(removed),
    });
    expect(outcome.status === 'PRUNED' && outcome.deleted).toHaveLength(4);
    expect(await keysOf()).toEqual(
      [newest.manifest.object.key, `${folder}${newest.id}.manifest.json`].sort(),
    );
    // Exactly these DeleteObject requests, each data object before its manifest; the other
    // job's folder is untouched.
    expect(deletes().sort()).toEqual(removed.map((k) => `/${BUCKET}/${k}`).sort());
    for (const b of old) {
      const order = deletes();
      expect(order.indexOf(`/${BUCKET}/${b.manifest.object.key}`)).toBeLessThan(
        order.indexOf(`/${BUCKET}/${folder}${b.id}.manifest.json`),
      );
    }
    expect(await keysOf(job(1))).toHaveLength(2);
    expect(other.status).toBe('SUCCEEDED');
    const recorded = (await history.list(job().name)).find((i) => i.runId === newest.runId);
    expect(recorded?.pruned?.sort()).toEqual([...removed].sort());
  });

  it('deletes nothing more when the same event comes again (a retried async invoke)', async () => {
    await backup(26);
    const newest = await backup(2);
    await pruneAfterBackup(deps(), { job: job().name, runId: newest.runId });
    s3.requests.length = 0;

    const again = await pruneAfterBackup(deps(), { job: job().name, runId: newest.runId });

    expect(again).toEqual({ status: 'PRUNED', job: job().name, runId: newest.runId, deleted: [] });
    expect(deletes()).toEqual([]);
    expect(await keysOf()).toHaveLength(2);
  });

  it('deletes nothing after a FAILED backup run came after the one it was asked about', async () => {
    await backup(26);
    const succeeded = await backup(3);
    await history.save({
      job: job().name,
      runId: 'f0f0f0f0',
      kind: 'backup',
      status: 'FAILED',
      trigger: 'schedule',
      startedAt: new Date(NOW.getTime() - HOUR_MS).toISOString(),
      error: 'pg_dump exited with code 1',
    });
    s3.requests.length = 0;

    const outcome = await pruneAfterBackup(deps(), { job: job().name, runId: succeeded.runId });

    expect(outcome).toEqual({
      status: 'NOT_RUN',
      job: job().name,
      runId: succeeded.runId,
      reason: 'the last backup run f0f0f0f0 is FAILED',
    });
    expect(s3.requests).toEqual([]);
    expect(await keysOf()).toHaveLength(4);
  });

  it('deletes nothing when the run it was asked about is not a SUCCEEDED backup', async () => {
    await backup(26);
    await backup(2);
    s3.requests.length = 0;

    const outcome = await pruneAfterBackup(deps(), { job: job().name, runId: 'deadbeef' });

    expect(outcome).toEqual({
      status: 'NOT_RUN',
      job: job().name,
      runId: 'deadbeef',
      reason: 'backup run deadbeef is not in history, not SUCCEEDED',
    });
    expect(s3.requests).toEqual([]);
  });

  it("throws when a deletion is refused (so the event is retried, then dead-lettered), records what was deleted, and keeps the refused backup's manifest (it was deleted anyway)", async () => {
    const oldest = await backup(50);
    const older = await backup(26);
    const newest = await backup(2);
    // S3 refuses the delete of the oldest backup's data object only.
    const refusal = s3.failRequests(
      (r) => r.method === 'DELETE' && decodeURIComponent(r.path).endsWith(oldest.manifest.object.key),
      { status: 403, code: 'AccessDenied' },
    );

    try {
      await expect(pruneAfterBackup(deps(), { job: job().name, runId: newest.runId })).rejects.toThrow(
        new RegExp(
          `^retention of ${job().name} could not delete 1 object\\(s\\): primary: .*403 AccessDenied`,
        ),
      );
    } finally {
      refusal.restore();
    }

    const folder = `dumpvault/${job().name}/`;
    const recorded = (await history.list(job().name)).find((i) => i.runId === newest.runId);
    expect(recorded?.pruned?.sort()).toEqual(
      [older.manifest.object.key, `${folder}${older.id}.manifest.json`].sort(),
    );
    // The refused backup keeps its manifest (data before manifest): it is still findable.
    expect(await keysOf()).toContain(`${folder}${oldest.id}.manifest.json`);
  });
});

describe('parsePruneRequest', () => {
  it('reads {job, runId} and refuses anything else (the event then goes to the dead-letter queue)', () => {
    expect(parsePruneRequest({ job: 'app', runId: 'a1b2c3d4', extra: 1 })).toEqual({
      job: 'app',
      runId: 'a1b2c3d4',
    });
    for (const event of [undefined, {}, { job: 'app' }, { job: '', runId: 'x' }, { job: 'app', runId: 7 }]) {
      expect(() => parsePruneRequest(event)).toThrow(/expected a prune event like/);
    }
  });

  it('refuses a job the deployed config does not have', async () => {
    await expect(pruneAfterBackup(deps(), { job: 'nope', runId: 'a1b2c3d4' })).rejects.toThrow(/nope/);
  });
});
