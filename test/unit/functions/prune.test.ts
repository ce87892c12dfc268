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
import { standInEngine } from '../../../scripts/emulators/stand-in-engine.ts';
import { type LocalDynamo, startDynalite } from '../../support/dynalite.ts';
import { type S3rverHandle, startS3rver } from '../../support/s3rver.ts';
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

/**
 * The keys of every DeleteObject and DeleteObjects request the client sent, in order, as
 * `/bucket/key`: s3rver carries the requests out, this only reads what was asked of it.
 */
const deleted: string[] = [];

beforeAll(async () => {
  [s3, dynamo] = await Promise.all([startS3rver({ buckets: [BUCKET] }), startDynalite()]);
  s3.client.middlewareStack.add(
    (next, context) => async (args) => {
      const input = args.input as {
        Bucket?: string;
        Key?: string;
        Delete?: { Objects?: { Key?: string }[] };
      };
      if (context.commandName === 'DeleteObjectCommand') deleted.push(`/${input.Bucket}/${input.Key}`);
      if (context.commandName === 'DeleteObjectsCommand') {
        for (const o of input.Delete?.Objects ?? []) deleted.push(`/${input.Bucket}/${o.Key}`);
      }
      return next(args);
    },
    { step: 'initialize', name: 'recordDeletes' },
  );
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
  forgetRequests();
});

/** Forgets the requests sent so far (the backups a test prepared). */
function forgetRequests(): void {
  s3.requests.length = 0;
  deleted.length = 0;
}

const job = (index = 0): Job => config.jobs[index]!;

/** The destination; `now` is the clock its Object Lock dates count from. */
function primary(now?: () => Date): Destination {
  return createDestination('primary', config.destinations['primary']!, {
    baseDir: '.',
    s3Client: s3.client,
    ...(now && { now }),
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
    destinations: [primary(() => startedAt)],
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

const deletes = () => [...deleted];

describe('pruneAfterBackup', () => {
  it("deletes what the job's retention drops, data before manifest, and records it on the run", async () => {
    // Prepare
    const old = [await backup(50), await backup(26)];
    const newest = await backup(2);
    const other = await backup(30, job(1));
    forgetRequests();

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
    forgetRequests();

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
    forgetRequests();

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
    forgetRequests();

    const outcome = await pruneAfterBackup(deps(), { job: job().name, runId: 'deadbeef' });

    expect(outcome).toEqual({
      status: 'NOT_RUN',
      job: job().name,
      runId: 'deadbeef',
      reason: 'backup run deadbeef is not in history, not SUCCEEDED',
    });
    expect(s3.requests).toEqual([]);
  });

  it("throws when a deletion is refused (so the event is retried, then dead-lettered), records what was deleted, and keeps the refused backups' manifests", async () => {
    // Bug caught: a refused delete counted as done (the run records objects that still exist),
    // or a manifest deleted although its data object is still there (a backup nobody can find
    // but everyone pays for). Per-key refusals inside one DeleteObjects answer are covered in
    // test/unit/storage/s3-delete.test.ts; s3rver can only refuse a whole request.
    const oldest = await backup(50);
    const older = await backup(26);
    const newest = await backup(2);
    forgetRequests();
    // S3 refuses the first DeleteObjects request: the round that deletes the data objects.
    const refusal = s3.failRequests(
      (r) => r.method === 'POST' && 'delete' in r.query,
      {
        status: 403,
        code: 'AccessDenied',
      },
      1,
    );

    try {
      await expect(pruneAfterBackup(deps(), { job: job().name, runId: newest.runId })).rejects.toThrow(
        new RegExp(
          `^retention of ${job().name} could not delete 2 object\\(s\\): primary: .*403 AccessDenied`,
        ),
      );
    } finally {
      refusal.restore();
    }

    const folder = `dumpvault/${job().name}/`;
    // Only the data objects were asked for; no manifest delete followed the refused round.
    expect(deletes().sort()).toEqual(
      [oldest.manifest.object.key, older.manifest.object.key].map((k) => `/${BUCKET}/${k}`).sort(),
    );
    const recorded = (await history.list(job().name)).find((i) => i.runId === newest.runId);
    expect(recorded?.pruned ?? []).toEqual([]);
    // Both refused backups keep their manifests (data before manifest): still findable.
    expect(await keysOf()).toEqual(
      [oldest, older, newest]
        .flatMap((b) => [b.manifest.object.key, `${folder}${b.id}.manifest.json`])
        .sort(),
    );
  });
});

describe('parsePruneRequest', () => {
  it('reads {job, runId} and refuses anything else (the event then goes to the dead-letter queue)', () => {
    expect(parsePruneRequest({ job: 'app', runId: 'a1b2c3d4', extra: 1 })).toEqual({
      job: 'app',
      runId: 'a1b2c3d4',
    });
    for (const event of [undefined, {}, { job: 'app' }, { job: '', runId: 'x' }, { job: 'app', runId: 7 }]) {
      expect(() => parsePruneRequest(event)).toThrow(/^prune event: (\(the event\)|job|runId): expected/);
    }
  });

  it('refuses a job the deployed config does not have', async () => {
    await expect(pruneAfterBackup(deps(), { job: 'nope', runId: 'a1b2c3d4' })).rejects.toThrow(/nope/);
  });

  describe('Object Lock', () => {
    const folder = () => `dumpvault/${job().name}/`;
    const keysOfBackup = (b: Awaited<ReturnType<typeof backup>>) => [
      b.manifest.object.key,
      `${folder()}${b.id}.manifest.json`,
    ];
    const keptLocked = () =>
      log.records.find((r) => r.message === 'retention applied')?.attributes?.['keptLocked'];

    it('keeps a backup whose objects the backup locked until the lock has passed, and says so', async () => {
      // Bug caught: prune never read an object's lock (planRetention's lockedUntil was never
      // given), so on a versioned bucket it "deleted" locked backups: hidden behind delete
      // markers, unfindable for restores, still billed.
      const primaryConfig = config.destinations['primary']!;
      if (primaryConfig.type !== 's3') throw new Error('the test config has an S3 destination');
      config = {
        ...config,
        destinations: { primary: { ...primaryConfig, objectLock: { mode: 'GOVERNANCE', days: 2 } } },
      };
      const expired = await backup(50); // locked until 2 h ago
      const locked = await backup(30); // locked for 18 h more
      const newest = await backup(2);
      forgetRequests();

      const outcome = await pruneAfterBackup(deps(), { job: job().name, runId: newest.runId });

      expect(outcome).toEqual({
        status: 'PRUNED',
        job: job().name,
        runId: newest.runId,
        deleted: keysOfBackup(expired),
      });
      expect(deletes()).toEqual(keysOfBackup(expired).map((k) => `/${BUCKET}/${k}`));
      expect(await keysOf()).toEqual([...keysOfBackup(locked), ...keysOfBackup(newest)].sort());
      const until = new Date(locked.manifest.startedAt).getTime() + 2 * 86_400_000;
      expect(keptLocked()).toEqual([
        `primary: ${locked.id} (object lock until ${new Date(until).toISOString().replace(/\.000Z$/, 'Z')})`,
      ]);
    });

    it('keeps a backup under a legal hold or a lock the bucket set, and deletes the rest', async () => {
      // Bug caught: only locks dumpvault set itself counted; a bucket's default retention or a
      // legal hold an operator placed on one object (here the manifest) was deleted over.
      const held = await backup(50);
      const defaultLocked = await backup(40);
      const free = await backup(26);
      const newest = await backup(2);
      s3.lockObject(BUCKET, held.manifest.object.key, { legalHold: true });
      s3.lockObject(BUCKET, `${folder()}${defaultLocked.id}.manifest.json`, {
        mode: 'COMPLIANCE',
        retainUntil: new Date(NOW.getTime() + HOUR_MS),
      });
      forgetRequests();

      const outcome = await pruneAfterBackup(deps(), { job: job().name, runId: newest.runId });

      expect(outcome).toMatchObject({ status: 'PRUNED', deleted: keysOfBackup(free) });
      expect(deletes()).toEqual(keysOfBackup(free).map((k) => `/${BUCKET}/${k}`));
      expect(keptLocked()).toEqual([
        `primary: ${defaultLocked.id} (object lock until 2026-11-22T05:00:00Z)`,
        `primary: ${held.id} (object lock: legal hold)`,
      ]);
    });

    it('keeps a backup whose lock cannot be read, and fails naming it', async () => {
      // Bug caught: a HeadObject refused (no s3:GetObjectRetention) read as "not locked".
      const unreadable = await backup(50);
      const newest = await backup(2);
      const rule = s3.failRequests(
        (r) => r.method === 'HEAD' && decodeURIComponent(r.path).endsWith(unreadable.manifest.object.key),
        { status: 403, code: 'AccessDenied' },
      );
      forgetRequests();
      try {
        await expect(pruneAfterBackup(deps(), { job: job().name, runId: newest.runId })).rejects.toThrow(
          /could not delete 1 object\(s\): primary: .*: kept, object lock unknown/,
        );
      } finally {
        rule.restore();
      }
      expect(deletes()).toEqual([]);
      expect(await keysOf()).toEqual([...keysOfBackup(unreadable), ...keysOfBackup(newest)].sort());
    });
  });
});
