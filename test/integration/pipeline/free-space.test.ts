/**
 * The free-space warning (issue 15 §3): a backup's start and `check` warn — not fail — when a
 * file destination has less free space than 1.2 × the job's previous backup (from history).
 * `fs.statfs` is injected into the file destination (test/integration/cli/full-disk.test.ts has a real small tmpfs);
 * everything else is real (the file directory, local history, the pipeline).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { validateConfig } from '../../../core/config/load.ts';
import { LocalHistoryStore } from '../../../core/history/local.ts';
import { runBackup } from '../../../core/pipeline/backup.ts';
import type { JobContext } from '../../../core/pipeline/context.ts';
import { freeSpaceWarnings } from '../../../core/pipeline/free-space.ts';
import { FileDestination, type StatfsFn } from '../../../core/storage/file.ts';
import { withDestinationName, withRetry } from '../../../core/storage/index.ts';
import { standInEngine } from '../../../scripts/emulators/stand-in-engine.ts';
import { TIMEOUT } from '../../support/timeouts.ts';

let dir: string | undefined;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

/** A statfs reporting `free` bytes available (4 KiB blocks), recording the paths asked about. */
function fakeStatfs(free: number, asked: string[] = []): StatfsFn {
  return async (p) => {
    asked.push(p);
    return { bavail: Math.floor(free / 4096), bsize: 4096 };
  };
}

async function setup() {
  dir = await mkdtemp(path.join(tmpdir(), 'dv-freespace-'));
  const config = validateConfig({
    destinations: { local: { type: 'file', path: './out' } },
    jobs: [
      {
        name: 'standin',
        engine: 'postgres',
        source: { url: 'postgres://x@h/db' },
        destinations: ['local'],
        compression: 'none',
      },
    ],
  });
  const job = config.jobs[0]!;
  const steps: string[] = [];
  const history = new LocalHistoryStore(path.join(dir, 'state'));
  const ctxWith = (statfs: StatfsFn): JobContext => ({
    job,
    prefix: '',
    engine: standInEngine('head -c 400000 /dev/urandom'),
    source: { url: job.source.url },
    destinations: [
      withDestinationName(
        withRetry(new FileDestination('local', path.join(dir!, 'out'), { statfs }), {
          attempts: 1,
          baseDelayMs: 1,
        }),
      ),
    ],
    encryption: undefined,
    history,
    notifier: { publish: async () => {} },
    trigger: 'manual',
    investigate: () => 'dumpvault history standin',
    pruneAfterBackup: false,
    progress: (e) => {
      if (e.type === 'step') steps.push(e.message);
    },
  });
  return { ctxWith, steps, dir };
}

describe('free space of a file destination', { timeout: TIMEOUT.roundTrips }, () => {
  // Bug caught: no warning at a backup's start when the disk cannot hold another backup like the
  // last (the run fails hours later, mid-write), the warning made a failure, or a wrapper
  // (retry, naming) dropping freeBytes so the check never runs on a configured destination.
  it('warns at the start of a backup, naming the destination, its free space and the size needed, and the backup still succeeds', async () => {
    const { ctxWith, steps, dir: root } = await setup();
    const first = await runBackup(ctxWith(fakeStatfs(10 * 1024 ** 3)));
    expect(first.status).toBe('SUCCEEDED');
    expect(steps.filter((s) => s.startsWith('warning:'))).toEqual([]);
    const previous = (await ctxWith(fakeStatfs(0)).history.list('standin'))[0]!.bytes!;
    expect(previous).toBeGreaterThan(300_000);

    const asked: string[] = [];
    const second = await runBackup(ctxWith(fakeStatfs(200 * 1024, asked)));

    expect(second.status).toBe('SUCCEEDED');
    const needed = Math.ceil(previous * 1.2);
    const warnings = steps.filter((s) => s.startsWith('warning:'));
    expect(warnings).toEqual([
      `warning: destination local (file://${root}/out) has 200.0 KiB free, less than the ${(needed / 1024).toFixed(1)} KiB a backup needs (1.2 × the previous backup's ${(previous / 1024).toFixed(1)} KiB)`,
    ]);
    expect(asked).toEqual([path.join(root, 'out')]);
  });

  // Bug caught: a warning with room to spare (factor applied the wrong way), or one before the
  // job has a previous backup to measure by.
  it('says nothing with 1.2 × the previous backup free, or without a previous backup', async () => {
    const { ctxWith } = await setup();
    const dests = ctxWith(fakeStatfs(1200)).destinations;

    expect(await freeSpaceWarnings(dests, undefined)).toEqual([]);
    expect(await freeSpaceWarnings(ctxWith(fakeStatfs(4096 * 3)).destinations, 10_000)).toEqual([]);
    expect(await freeSpaceWarnings(ctxWith(fakeStatfs(4096 * 2)).destinations, 10_000)).toHaveLength(1);
  });

  // Bug caught: statfs of a destination folder that does not exist yet (before the first write)
  // failing the check instead of asking the file system it will be created on.
  it('asks the nearest existing parent while the destination folder does not exist yet', async () => {
    const { dir: root } = await setup();
    const dest = new FileDestination('local', path.join(root, 'not', 'yet'));

    expect(await dest.freeBytes()).toBeGreaterThan(0);
  });
});
