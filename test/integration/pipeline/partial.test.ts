/**
 * Many destinations, one failing (DESIGN.md §6): the complete copies stay with their manifests,
 * the failed destination keeps nothing, the run is PARTIAL (history names the destination and
 * the cause, one alert, no retention). Real stores: a file directory and s3rver on loopback;
 * the dump tool is a stand-in (a shell command) so the stream is big enough to be cut mid-way.
 */
import { createHash } from 'node:crypto';
import { watch } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DeleteBucketCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterEach, describe, expect, it } from 'vitest';
import { validateConfig } from '../../../core/config/load.ts';
import { ToolError } from '../../../core/errors.ts';
import type { HistoryItem } from '../../../core/history/history.ts';
import { LocalHistoryStore } from '../../../core/history/local.ts';
import { parseManifest } from '../../../core/manifest.ts';
import type { Alert } from '../../../core/notify/notifier.ts';
import { runBackup } from '../../../core/pipeline/backup.ts';
import type { JobContext } from '../../../core/pipeline/context.ts';
import type { Destination } from '../../../core/storage/destination.ts';
import { createDestination, S3Destination } from '../../../core/storage/index.ts';
import { standInEngine } from '../../../scripts/emulators/stand-in-engine.ts';
import {
  S3_CALLS,
  S3RVER_CREDENTIALS,
  type S3rverHandle,
  s3rverClient,
  startS3rver,
} from '../../support/s3rver.ts';
import { TIMEOUT } from '../../support/timeouts.ts';

const MiB = 1024 * 1024;
let s3: S3rverHandle | undefined;
let dir: string;

afterEach(async () => {
  await s3?.stop();
  s3 = undefined;
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface Setup {
  readonly ctx: JobContext;
  readonly alerts: Alert[];
  readonly steps: string[];
  readonly s3: S3rverHandle;
}

/**
 * A job `standin` with two destinations in this order: `local` (a file directory, at `localPath`
 * relative to the temp dir) and `s3` (a bucket on its own s3rver). `keepLast 1`: any retention
 * run after a second backup would delete the first.
 */
async function setup(
  engine: JobContext['engine'],
  options: { localPath?: string; runId?: string; startedAt?: Date } = {},
): Promise<Setup> {
  dir = await mkdtemp(path.join(tmpdir(), 'dv-partial-'));
  s3 = await startS3rver({ buckets: ['b'] });
  const config = validateConfig({
    destinations: { local: { type: 'file', path: options.localPath ?? './out' } },
    jobs: [
      {
        name: 'standin',
        engine: 'postgres',
        source: { url: 'postgres://x@h/db' },
        destinations: ['local'],
        compression: 'none',
        retention: { keepLast: 1 },
      },
    ],
  });
  const job = config.jobs[0]!;
  const local = createDestination('local', config.destinations['local']!, {
    baseDir: dir,
    retry: { attempts: 1, baseDelayMs: 1 },
  });
  // One attempt per S3 request (an outage fails the upload at once), but a patient abort: the
  // store comes back while the failed upload is still being aborted (minutes, on a busy machine).
  const remote: Destination = new S3Destination({
    name: 's3',
    bucket: 'b',
    client: s3rverClient(s3.endpoint, { maxAttempts: 1 }),
    endpoint: s3.endpoint,
    partSizeBytes: 5 * MiB,
    queueSize: 2,
    abortRetry: { attempts: 1200, baseDelayMs: 100, maxDelayMs: 250 },
    cleanupTimeoutMs: TIMEOUT.roundTrips,
  });
  const alerts: Alert[] = [];
  const steps: string[] = [];
  const ctx: JobContext = {
    job: { ...job, destinations: ['local', 's3'] },
    prefix: '',
    engine,
    source: { url: job.source.url },
    destinations: [local, remote],
    encryption: undefined,
    history: new LocalHistoryStore(path.join(dir, 'state')),
    notifier: { publish: async (a) => void alerts.push(a) },
    trigger: 'manual',
    investigate: () => 'dumpvault history standin',
    progress: (e) => {
      if (e.type === 'step') steps.push(e.message);
    },
    ...(options.runId ? { runId: options.runId } : {}),
    ...(options.startedAt ? { startedAt: options.startedAt } : {}),
  };
  return { ctx, alerts, steps, s3 };
}

async function s3Keys(handle: S3rverHandle): Promise<string[]> {
  const out = await handle.client.send(new ListObjectsV2Command({ Bucket: 'b' }));
  return (out.Contents ?? []).map((o) => o.Key ?? '').sort();
}

async function fileKeys(root = path.join(dir, 'out')): Promise<string[]> {
  const entries = await readdir(root, { recursive: true }).catch(() => []);
  return entries.filter((e) => e.includes(path.sep)).sort();
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const manifestKeyOf = (dataKey: string) => dataKey.replace(/\.pgdump$/, '.manifest.json');

async function newest(ctx: JobContext): Promise<HistoryItem> {
  const [item] = await ctx.history.list('standin');
  return item!;
}

/**
 * Resolves once `predicate` holds, looking again on every change in `folder` (watched before the
 * first look, so a change cannot slip between them), however long the machine takes to get there.
 */
async function untilChangedIn(
  folder: string,
  predicate: () => Promise<boolean>,
  what: string,
  timeoutMs = 4 * 60_000,
): Promise<void> {
  const watcher = watch(folder);
  try {
    await new Promise<void>((resolve, reject) => {
      const deadline = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), timeoutMs);
      const look = () =>
        predicate().then((holds) => {
          if (!holds) return;
          clearTimeout(deadline);
          resolve();
        }, reject);
      watcher.on('change', look);
      watcher.on('error', reject);
      look();
    });
  } finally {
    watcher.close();
  }
}

describe('a backup to a file directory and s3rver', { timeout: TIMEOUT.roundTrips }, () => {
  it('keeps the file copy and records PARTIAL naming s3 when s3rver stops mid-upload (the other upload is not aborted, no retention)', async () => {
    const { ctx, alerts, steps, s3: store } = await setup(standInEngine('head -c 30000000 /dev/urandom'));
    const first = await runBackup({ ...ctx, engine: standInEngine('head -c 2000000 /dev/urandom') });
    expect(first.status).toBe('SUCCEEDED');
    const before = { file: await fileKeys(), s3: await s3Keys(store) };
    expect(before.file).toHaveLength(2);

    // S3 parts wait at the store; the fan-out's backpressure holds the file copy back with them.
    const held = store.holdPartUploads();
    const run = runBackup(ctx);
    run.catch(() => {});
    await store.nextRequest(S3_CALLS.uploadPart);
    await store.interrupt();
    held.release();
    // The file copy can only complete once the fan-out dropped the failed S3 upload.
    await untilChangedIn(
      path.join(dir, 'out', 'standin'),
      async () => (await fileKeys()).length > before.file.length,
      'the file copy to complete',
    );
    await store.restart(); // back while the failed upload is being aborted

    const result = await run;

    expect(result.status).toBe('PARTIAL');
    expect(result.destinations).toEqual(['local']);
    expect(result.failures).toEqual([
      { destination: 's3', error: expect.stringMatching(/^destination s3: /) },
    ]);
    const key = result.manifest.object.key;
    const stored = await readFile(path.join(dir, 'out', key));
    expect(stored.length).toBe(30_000_000);
    expect(sha256(stored)).toBe(result.manifest.object.sha256);
    const manifest = parseManifest(
      manifestKeyOf(key),
      await readFile(path.join(dir, 'out', manifestKeyOf(key)), 'utf8'),
    );
    expect(manifest.object).toEqual(result.manifest.object);
    expect(await s3Keys(store)).toEqual(before.s3); // neither object nor manifest of the run
    expect(await store.pendingUploads('b')).toEqual([]);
    // No retention anywhere: keepLast 1 would have deleted the first backup in both places.
    expect(await fileKeys()).toEqual([...before.file, key, manifestKeyOf(key)].sort());
    const item = await newest(ctx);
    expect(item).toMatchObject({
      status: 'PARTIAL',
      key,
      sha256: result.manifest.object.sha256,
      error: expect.stringMatching(/^destination s3: [^\n]+$/),
      details: {
        destinations: [
          { name: 'local', status: 'ok' },
          { name: 's3', status: 'failed', error: item.error },
        ],
      },
    });
    expect(item.pruned).toBeUndefined();
    expect(alerts.map((a) => a.status)).toEqual(['PARTIAL']);
    expect(alerts[0]!.body).toContain(`Cause:     ${item.error}`);
    expect(steps.some((s) => /^destination s3: .*the other destinations go on$/.test(s))).toBe(true);
  });

  it('keeps the S3 copy when the file destination cannot be written (its parent is a regular file)', async () => {
    const {
      ctx,
      alerts,
      s3: store,
    } = await setup(standInEngine('head -c 7000000 /dev/urandom'), {
      localPath: './blocker/out',
    });
    await writeFile(path.join(dir, 'blocker'), 'a regular file where a folder should be');

    const result = await runBackup(ctx);

    expect(result.status).toBe('PARTIAL');
    expect(result.destinations).toEqual(['s3']);
    const key = result.manifest.object.key;
    expect(await s3Keys(store)).toEqual([key, manifestKeyOf(key)].sort());
    const object = await store.client.send(
      new (await import('@aws-sdk/client-s3')).GetObjectCommand({ Bucket: 'b', Key: key }),
    );
    const body = Buffer.from(await object.Body!.transformToByteArray());
    expect(body.length).toBe(7_000_000);
    expect(sha256(body)).toBe(result.manifest.object.sha256);
    expect(await store.pendingUploads('b')).toEqual([]);
    expect(await readFile(path.join(dir, 'blocker'), 'utf8')).toMatch(/^a regular file/);
    const item = await newest(ctx);
    expect(item.status).toBe('PARTIAL');
    expect(item.error).toMatch(/^destination local: /);
    expect(item.details?.['destinations']).toEqual([
      { name: 'local', status: 'failed', error: item.error },
      { name: 's3', status: 'ok' },
    ]);
    expect(alerts.map((a) => a.status)).toEqual(['PARTIAL']);
  });

  it('removes the data object of the destination whose manifest cannot be written; the other keeps its copy (PARTIAL)', async () => {
    const startedAt = new Date('2030-01-02T03:04:05.000Z');
    const { ctx, s3: store } = await setup(standInEngine('head -c 3000000 /dev/urandom'), {
      runId: 'feedf00d',
      startedAt,
    });
    // A folder where the manifest file must go: the data object is written, the manifest is not.
    const manifestPath = path.join(dir, 'out', 'standin', '2030-01-02T030405Z-feedf00d.manifest.json');
    await mkdir(manifestPath, { recursive: true });

    const result = await runBackup(ctx);

    expect(result.status).toBe('PARTIAL');
    expect(result.destinations).toEqual(['s3']);
    expect(result.failures).toEqual([
      { destination: 'local', error: expect.stringMatching(/^destination local: /) },
    ]);
    const key = result.manifest.object.key;
    expect(key).toBe('standin/2030-01-02T030405Z-feedf00d.pgdump');
    expect(await readdir(path.join(dir, 'out', 'standin'))).toEqual([
      '2030-01-02T030405Z-feedf00d.manifest.json',
    ]);
    expect(await readdir(manifestPath)).toEqual([]); // still the folder we made: no manifest file
    expect(await s3Keys(store)).toEqual([key, manifestKeyOf(key)].sort());
    expect((await newest(ctx)).status).toBe('PARTIAL');
  });

  it('records FAILED naming every destination when none can store the backup', async () => {
    const {
      ctx,
      alerts,
      s3: store,
    } = await setup(standInEngine('head -c 3000000 /dev/urandom'), {
      localPath: './blocker/out',
    });
    await writeFile(path.join(dir, 'blocker'), 'not a folder');
    await store.client.send(new DeleteBucketCommand({ Bucket: 'b' }));

    const run = runBackup(ctx);

    await expect(run).rejects.toThrow(/destination local: .*; destination s3: /);
    const item = await newest(ctx);
    expect(item.status).toBe('FAILED');
    expect(item.error).toMatch(/^destination local: .*; destination s3: [^\n]*$/);
    expect(alerts.map((a) => a.status)).toEqual(['FAILED']);
  });

  it('keeps nothing anywhere when the dump tool fails after every destination received data', async () => {
    const {
      ctx,
      alerts,
      s3: store,
    } = await setup(standInEngine('head -c 12000000 /dev/urandom; echo "pg_dump: error: lost" >&2; exit 1'));

    await expect(runBackup(ctx)).rejects.toThrow(ToolError);

    expect(await fileKeys()).toEqual([]);
    expect(await s3Keys(store)).toEqual([]);
    expect(await store.pendingUploads('b')).toEqual([]);
    expect(await newest(ctx)).toMatchObject({ status: 'FAILED', error: expect.stringContaining('lost') });
    expect(alerts.map((a) => a.status)).toEqual(['FAILED']);
  });
});

describe('alerts of PARTIAL backups', { timeout: TIMEOUT.roundTrips }, () => {
  it('a PARTIAL run inside an outage sends nothing and does not end it; the next success sends RECOVERED', async () => {
    const { ctx, alerts } = await setup(standInEngine('head -c 1000000 /dev/urandom'), {
      localPath: './blocker/out',
    });
    await ctx.history.setAlertState({ job: 'standin', failing: true, since: '2030-01-01T00:00:00.000Z' });
    await writeFile(path.join(dir, 'blocker'), 'not a folder');

    expect((await runBackup(ctx)).status).toBe('PARTIAL');
    expect(alerts).toEqual([]);
    expect(await ctx.history.getAlertState('standin')).toMatchObject({ failing: true });

    await rm(path.join(dir, 'blocker'));
    expect((await runBackup(ctx)).status).toBe('SUCCEEDED');
    expect(alerts.map((a) => a.status)).toEqual(['RECOVERED']);
    // Credentials the S3 client used are s3rver's; nothing else to check for secrets here.
    expect(JSON.stringify(alerts)).not.toContain(S3RVER_CREDENTIALS.secretAccessKey);
  });
});
