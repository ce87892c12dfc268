/**
 * Memory stays flat as data grows (issue 5). The same backup (default codec, OpenPGP, s3rver)
 * and restore (verify pass + restore pass) of ~100 MB and ~1 GB of generated rows run in a
 * child process each (scripts/bench/standin-run.ts), so vitest's own heap does not count; the
 * child reports its own peak RSS. The dump "tool" is a stand-in that generates rows: this is
 * a test of the pipeline, not of a database engine.
 *
 * The backup pipes the generator into zstd as the real engines pipe their dump tools; the
 * restore streams the raw rows through this process into the engine. The destination uses
 * 5 MiB parts and 2 parallel uploads, so that the ~20 MB the small run stores already fills the
 * upload queue (the comparison must measure growth, not the queue's warm-up).
 */
import { rm } from 'node:fs/promises';
import { PassThrough, type Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../../../core/config/load.ts';
import { loadRecipients, readPrivateKey } from '../../../core/crypto/openpgp.ts';
import { LocalHistoryStore } from '../../../core/history/local.ts';
import { runBackup } from '../../../core/pipeline/backup.ts';
import type { JobContext } from '../../../core/pipeline/context.ts';
import { runRestore } from '../../../core/pipeline/restore.ts';
import type { Destination } from '../../../core/storage/destination.ts';
import { createDestination } from '../../../core/storage/index.ts';
import { type MemoryFlatRow, runStandin, standinWorkspace } from '../../../scripts/bench/memory-flat.ts';
import { standInEngine } from '../../../scripts/emulators/stand-in-engine.ts';
import { S3RVER_CREDENTIALS, type S3rverHandle, startS3rver } from '../../support/s3rver.ts';
import { createWorkspace, type Workspace } from '../../support/workspace.ts';

const MiB = 1024 * 1024;
let s3: S3rverHandle;
let ws: Workspace;

beforeAll(async () => {
  s3 = await startS3rver({ buckets: ['bench'] });
  ws = await createWorkspace();
});
afterAll(async () => {
  await s3?.stop();
  await ws?.remove();
});

/** Backs up then restores `bytes` of generated rows, each phase in its own process. */
async function backupAndRestore(bytes: number): Promise<{ backup: MemoryFlatRow; restore: MemoryFlatRow }> {
  const work = await standinWorkspace({ publicKey: ws.publicKey, privateKey: ws.privateKey });
  try {
    const options = { work, bytes, endpoint: s3.endpoint, timeoutMs: 150_000, partSizeMiB: 5, queueSize: 2 };
    const backup = await runStandin('backup', options);
    const restore = await runStandin('restore', options);
    return { backup, restore };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

describe('pipeline memory as data grows', () => {
  it('peaks within 20% of the 100 MB run when backing up and restoring 1 GB', async () => {
    const small = await backupAndRestore(100e6);
    const large = await backupAndRestore(1e9);

    expect(large.backup.rawBytes).toBe(1e9);
    expect(large.restore.rawBytes).toBe(1e9);
    const report = `backup ${(small.backup.maxRssBytes / MiB).toFixed(0)} -> ${(large.backup.maxRssBytes / MiB).toFixed(0)} MiB, restore ${(small.restore.maxRssBytes / MiB).toFixed(0)} -> ${(large.restore.maxRssBytes / MiB).toFixed(0)} MiB`;
    expect(large.backup.maxRssBytes, report).toBeLessThanOrEqual(small.backup.maxRssBytes * 1.2);
    expect(large.restore.maxRssBytes, report).toBeLessThanOrEqual(small.restore.maxRssBytes * 1.2);
  }, 300_000);
});

/** A destination that records the options of every read. */
function recordingReads(dest: Destination, reads: { ifMatch?: string }[]): Destination {
  return new Proxy(dest, {
    get(target, property, receiver) {
      if (property === 'read') {
        return (key: string, options: { ifMatch?: string } = {}): Promise<Readable> => {
          reads.push(options);
          return target.read(key, options);
        };
      }
      return Reflect.get(target, property, receiver);
    },
  });
}

describe('restore reads', () => {
  it('pins both passes (verify, then restore) to the ETag of the object it verified', async () => {
    const config = validateConfig({
      destinations: { s3: { type: 's3', bucket: 'bench', endpoint: s3.endpoint } },
      encryption: { ops: { type: 'openpgp', recipients: [ws.publicKey] } },
      jobs: [
        {
          name: 'pinned',
          engine: 'postgres',
          source: { url: 'postgres://x@h/db' },
          destinations: ['s3'],
          encryption: 'ops',
        },
      ],
    });
    const job = config.jobs[0]!;
    const reads: { ifMatch?: string }[] = [];
    const restored: Buffer[] = [];
    const engine = {
      ...standInEngine('head -c 300000 /dev/urandom'),
      async restore(_target: unknown, input: Readable) {
        for await (const chunk of input.pipe(new PassThrough())) restored.push(chunk as Buffer);
      },
    };
    const dest = recordingReads(
      createDestination('s3', config.destinations.s3!, {
        baseDir: ws.dir,
        s3Credentials: { ...S3RVER_CREDENTIALS },
      }),
      reads,
    );
    const ctx: JobContext = {
      job,
      prefix: '',
      engine,
      source: { url: job.source.url },
      destinations: [dest],
      encryption: undefined,
      history: new LocalHistoryStore(`${ws.dir}/state`),
      notifier: { publish: async () => {} },
      trigger: 'manual',
      investigate: () => 'dumpvault history pinned',
    };
    const recipients = await loadRecipients([ws.publicKey], ws.dir);
    const { manifest } = await runBackup({ ...ctx, encryption: { type: 'openpgp', recipients } });
    const etag = (await dest.stat(manifest.object.key)).etag;
    reads.length = 0; // the backup's retention pass reads manifests; only the restore's reads count

    await runRestore(ctx, {
      manifest,
      from: dest,
      target: { kind: 'scratch' },
      keys: { privateKeys: [await readPrivateKey(ws.privateKey)] },
    });

    expect(etag).toBeTruthy();
    expect(reads).toEqual([{ ifMatch: etag }, { ifMatch: etag }]);
    expect(Buffer.concat(restored).length).toBe(manifest.rawBytes);
  });
});
