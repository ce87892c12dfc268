/**
 * The pipeline's failure contract with a stand-in dump tool (a shell script) and real
 * destinations: a file directory and s3rver on loopback.
 */
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../../../core/config/load.ts';
import { jobDestinations } from '../../../core/config/schema.ts';
import { ToolError } from '../../../core/errors.ts';
import { LocalHistoryStore } from '../../../core/history/local.ts';
import type { Alert } from '../../../core/notify/notifier.ts';
import { runBackup } from '../../../core/pipeline/backup.ts';
import { decompressStage } from '../../../core/pipeline/compress.ts';
import type { JobContext } from '../../../core/pipeline/context.ts';
import { createDestination } from '../../../core/storage/index.ts';
import { standInEngine } from '../../../scripts/emulators/stand-in-engine.ts';
import { S3RVER_CREDENTIALS, type S3rverHandle, startS3rver } from '../../support/s3rver.ts';
import { childPids, waitFor } from '../engines/support.ts';

let s3: S3rverHandle;
let dir: string;

beforeAll(async () => {
  s3 = await startS3rver({ buckets: ['b'] });
});
afterAll(async () => {
  await s3?.stop();
});
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function context(
  engine: JobContext['engine'],
  alerts: Alert[],
  compression: 'none' | 'zstd' = 'none',
): Promise<JobContext> {
  dir = await mkdtemp(path.join(tmpdir(), 'dv-pipe-'));
  const config = validateConfig({
    destinations: {
      local: { type: 'file', path: './out' },
      s3: { type: 's3', bucket: 'b', endpoint: s3.endpoint, partSizeMiB: 5, queueSize: 2 },
    },
    jobs: [
      {
        name: 'standin',
        engine: 'postgres',
        source: { url: 'postgres://x@h/db' },
        destinations: ['local', 's3'],
        compression,
      },
    ],
  });
  const job = config.jobs[0]!;
  return {
    job,
    prefix: '',
    engine,
    source: { url: job.source.url },
    destinations: jobDestinations(job).map(({ name: n }) =>
      createDestination(n, config.destinations[n]!, {
        baseDir: dir,
        s3Credentials: { ...S3RVER_CREDENTIALS },
        retry: { attempts: 1, baseDelayMs: 1 },
      }),
    ),
    encryption: undefined,
    history: new LocalHistoryStore(path.join(dir, 'state')),
    notifier: { publish: async (a) => void alerts.push(a) },
    trigger: 'manual',
    investigate: () => 'dumpvault history standin',
  };
}

async function s3Keys(): Promise<string[]> {
  const out = await s3.client.send(new ListObjectsV2Command({ Bucket: 'b' }));
  return (out.Contents ?? []).map((o) => o.Key ?? '');
}

async function fileKeys(): Promise<string[]> {
  const entries = await readdir(path.join(dir, 'out'), { recursive: true }).catch(() => []);
  return entries.filter((e) => e.includes(path.sep));
}

describe.each(['none', 'zstd'] as const)(
  'runBackup (compression %s) with a dump tool that fails',
  (compression) => {
    it('writes 12 MB then exits 1: no object, no manifest, no pending upload, FAILED, alert', async () => {
      const alerts: Alert[] = [];
      const ctx = await context(
        standInEngine('head -c 12000000 /dev/urandom; echo "pg_dump: error: connection lost" >&2; exit 1'),
        alerts,
        compression,
      );

      const run = runBackup(ctx);

      await expect(run).rejects.toThrow(ToolError);
      await expect(run).rejects.toThrow(/exited with code 1: pg_dump: error: connection lost/);
      expect(await fileKeys()).toEqual([]);
      expect(await s3Keys()).toEqual([]);
      expect(await s3.pendingUploads('b')).toEqual([]);
      const [item] = await ctx.history.list('standin');
      expect(item).toMatchObject({ status: 'FAILED', error: expect.stringContaining('connection lost') });
      expect(alerts.map((a) => a.status)).toEqual(['FAILED']);
    });

    it('is killed mid-stream: the run fails and nothing is visible', async () => {
      const ctx = await context(standInEngine('head -c 6000000 /dev/urandom; kill -9 $$'), [], compression);
      await expect(runBackup(ctx)).rejects.toThrow(/killed by SIGKILL/);
      expect(await fileKeys()).toEqual([]);
      expect(await s3Keys()).toEqual([]);
    });

    it('produces no output: an empty dump is a failure, not an empty backup', async () => {
      const ctx = await context(standInEngine('exit 0'), [], compression);
      await expect(runBackup(ctx)).rejects.toThrow(/produced no output/);
      expect(await fileKeys()).toEqual([]);
      expect(await s3Keys()).toEqual([]);
    });
  },
);

describe('runBackup success', () => {
  it('writes the same bytes to every destination and the manifest last', async () => {
    const ctx = await context(standInEngine('head -c 7000000 /dev/urandom'), []);
    const result = await runBackup(ctx);
    expect(result.manifest.rawBytes).toBe(7_000_000);
    expect(result.manifest.object.bytes).toBe(7_000_000);
    expect((await fileKeys()).sort()).toEqual(
      [result.manifest.object.key, result.manifest.object.key.replace(/\.pgdump$/, '.manifest.json')].sort(),
    );
    expect((await s3Keys()).sort()).toEqual((await fileKeys()).sort());
  });
});

describe('runBackup part sizing', () => {
  it("tells the destinations how big the job's previous backup was", async () => {
    const ctx = await context(standInEngine('head -c 3000000 /dev/urandom'), []);
    const seen: (number | undefined)[] = [];
    const local = ctx.destinations[0]!;
    const recording: JobContext = {
      ...ctx,
      destinations: [
        new Proxy(local, {
          get(target, property, receiver) {
            if (property !== 'write') return Reflect.get(target, property, receiver);
            return (...args: Parameters<typeof local.write>) => {
              seen.push(args[2]?.expectedBytes);
              return target.write(...args);
            };
          },
        }),
      ],
    };

    const first = await runBackup(recording);
    await runBackup(recording);

    expect(seen).toEqual([undefined, first.manifest.object.bytes]);
  });
});

describe('runBackup with zstd reading the dump tool directly', () => {
  it('stores what the tool wrote, compressed, and records the raw byte count zstd reported', async () => {
    const ctx = await context(standInEngine('head -c 7000000 /dev/urandom | od -An -tx1'), [], 'zstd');
    const result = await runBackup(ctx);

    const stored = await readFile(path.join(dir, 'out', result.manifest.object.key));
    const restored = Buffer.concat(await Readable.from([stored]).compose(decompressStage('zstd')).toArray());
    expect(result.manifest.rawBytes).toBe(restored.length);
    expect(restored.length).toBeGreaterThan(14_000_000); // od writes ~3 bytes per input byte
    expect(restored.toString('latin1')).toMatch(/^( [0-9a-f]{2}){16}\n/);
    expect(result.manifest.object.bytes).toBe(stored.length);
    expect(stored.length).toBeLessThan(restored.length);
  });

  it("fails with zstd's error when zstd dies mid-stream, stops the tool and leaves nothing", async () => {
    const bin = path.join(await mkdtemp(path.join(tmpdir(), 'dv-fake-zstd-')), 'bin');
    await mkdir(bin);
    await writeFile(
      path.join(bin, 'zstd'),
      '#!/bin/sh\nhead -c 2000000 > /dev/null\necho "zstd: error 70 : Write error : No space left on device" >&2\nexit 70\n',
    );
    await chmod(path.join(bin, 'zstd'), 0o755);
    const alerts: Alert[] = [];
    const ctx = await context(standInEngine('exec cat /dev/zero'), alerts, 'zstd');
    const before = await s3Keys();
    const savedPath = process.env.PATH;
    process.env.PATH = `${bin}:${savedPath}`;
    try {
      await expect(runBackup(ctx)).rejects.toThrow(/zstd exited with code 70: zstd: error 70 : Write error/);
    } finally {
      process.env.PATH = savedPath;
      await rm(path.dirname(bin), { recursive: true, force: true });
    }
    expect(await fileKeys()).toEqual([]);
    expect(await s3Keys()).toEqual(before);
    expect(await s3.pendingUploads('b')).toEqual([]);
    await waitFor(() => childPids('cat').length === 0); // the tool died of the broken pipe
    const [item] = await ctx.history.list('standin');
    expect(item).toMatchObject({
      status: 'FAILED',
      error: expect.stringContaining('No space left on device'),
    });
    expect(alerts.map((a) => a.status)).toEqual(['FAILED']);
  });
});

describe('runBackup when the row counts fail after the dump succeeded', () => {
  it('removes the completed data objects and records FAILED', async () => {
    const engine = standInEngine('head -c 3000000 /dev/urandom');
    const failing = {
      ...engine,
      dump: (...args: Parameters<typeof engine.dump>) => ({
        output: engine.dump(...args).output,
        stats: Promise.reject(new ToolError('counting rows failed: relation vanished')),
      }),
    };
    const ctx = await context(failing, []);
    const before = await s3Keys();
    await expect(runBackup(ctx)).rejects.toThrow(/counting rows failed/);
    expect(await fileKeys()).toEqual([]);
    expect(await s3Keys()).toEqual(before);
    const [item] = await ctx.history.list('standin');
    expect(item?.status).toBe('FAILED');
  });
});
