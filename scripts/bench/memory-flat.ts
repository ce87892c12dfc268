/**
 * `npm run bench -- --size-gb N`: proves memory stays flat as data grows. N/10 GB and N GB of
 * generated rows go through backup (default codec, OpenPGP, s3rver) and restore (verify pass
 * and restore pass), each in a process of its own (standin-run.ts), and the peak RSS of the
 * large run is compared with the small one's.
 */
import { copyFile, mkdtemp, rm, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DeleteObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import type { S3rverHandle } from '../emulators/s3rver.ts';
import { measure } from './measure.ts';
import { MB } from './report.ts';

const STANDIN = path.resolve(import.meta.dirname, 'standin-run.ts');

export interface MemoryFlatRow {
  readonly mode: 'backup' | 'restore';
  readonly rawBytes: number;
  readonly storedBytes: number;
  readonly wallMs: number;
  readonly mbps: number;
  readonly maxRssBytes: number;
}

interface StandinOutput {
  readonly rawBytes: number;
  readonly storedBytes: number;
  readonly wallMs: number;
  readonly maxRssBytes: number;
}

/** Runs one phase of standin-run.ts and returns what it printed last. */
export async function runStandin(
  mode: 'backup' | 'restore',
  options: {
    readonly work: string;
    readonly bytes: number;
    readonly timeoutMs: number;
    readonly endpoint?: string;
    readonly compression?: string;
    readonly partSizeMiB?: number;
    readonly queueSize?: number;
  },
): Promise<MemoryFlatRow> {
  const args = ['--import', 'tsx', STANDIN, mode, '--work', options.work, '--bytes', String(options.bytes)];
  if (options.endpoint) args.push('--endpoint', options.endpoint);
  if (options.compression) args.push('--compression', options.compression);
  if (options.partSizeMiB) args.push('--part-size-mib', String(options.partSizeMiB));
  if (options.queueSize) args.push('--queue-size', String(options.queueSize));
  const run = await measure(process.execPath, args, { timeoutMs: options.timeoutMs });
  const last = run.stdout.trim().split('\n').pop() ?? '';
  const parsed = JSON.parse(last) as StandinOutput;
  return {
    mode,
    rawBytes: parsed.rawBytes,
    storedBytes: parsed.storedBytes,
    wallMs: parsed.wallMs,
    mbps: parsed.rawBytes / MB / (parsed.wallMs / 1000),
    maxRssBytes: parsed.maxRssBytes,
  };
}

/** Deletes every object in `bucket`. */
export async function emptyBucket(s3: S3rverHandle, bucket: string): Promise<void> {
  const listed = await s3.client.send(new ListObjectsV2Command({ Bucket: bucket }));
  for (const object of listed.Contents ?? []) {
    if (object.Key) await s3.client.send(new DeleteObjectCommand({ Bucket: bucket, Key: object.Key }));
  }
}

/** A work directory for standin-run.ts with the bench's key pair in it. */
export async function standinWorkspace(keys: { publicKey: string; privateKey: string }): Promise<string> {
  const work = await mkdtemp(path.join(tmpdir(), 'dumpvault-standin-'));
  await copyFile(keys.publicKey, path.join(work, 'ops.pub.asc'));
  await copyFile(keys.privateKey, path.join(work, 'ops.private.asc'));
  return work;
}

/**
 * Backs up and restores `sizeGb / 10` and `sizeGb` GB of generated rows through s3rver. Refuses
 * to start without room for s3rver's copy (compressed ~1/4, twice while the parts are joined).
 */
export async function memoryFlat(
  sizeGb: number,
  s3: S3rverHandle,
  keys: { publicKey: string; privateKey: string },
  log: (line: string) => void,
): Promise<MemoryFlatRow[]> {
  const bytes = Math.round(sizeGb * 1e9);
  const fs = await statfs(s3.directory);
  const free = fs.bavail * fs.bsize;
  const needed = bytes * 0.6 + 2e9;
  if (free < needed) {
    throw new Error(
      `--size-gb ${sizeGb} needs about ${(needed / 1e9).toFixed(1)} GB free in ${s3.directory}, ${(free / 1e9).toFixed(1)} GB are`,
    );
  }
  const rows: MemoryFlatRow[] = [];
  for (const size of [Math.round(bytes / 10), bytes]) {
    const work = await standinWorkspace(keys);
    try {
      // 10 MB/s is far below any healthy run: a run slower than that is stuck.
      const timeoutMs = 120_000 + (size / 10e6) * 1000;
      for (const mode of ['backup', 'restore'] as const) {
        const row = await runStandin(mode, { work, bytes: size, endpoint: s3.endpoint, timeoutMs });
        log(
          `${mode.padEnd(7)} ${(size / 1e9).toFixed(1).padStart(5)} GB: ${row.mbps.toFixed(1)} MB/s, peak RSS ${(row.maxRssBytes / 2 ** 20).toFixed(0)} MiB`,
        );
        rows.push(row);
      }
    } finally {
      await rm(work, { recursive: true, force: true });
      // Each size's object is removed, so the big run has the disk to itself.
      await emptyBucket(s3, 'bench');
    }
  }
  return rows;
}
