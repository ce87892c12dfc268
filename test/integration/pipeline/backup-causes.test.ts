/**
 * Which failure a failed run records: the cause, never one of its consequences. A destination
 * that fails closes its stream before its write rejects with why; a signal sent to the whole
 * process group kills the dump tool in the same instant it stops the run.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { setImmediate as nextLoop } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { validateConfig } from '../../../core/config/load.ts';
import { StorageError, ToolError } from '../../../core/errors.ts';
import { LocalHistoryStore } from '../../../core/history/local.ts';
import type { Alert } from '../../../core/notify/notifier.ts';
import { runBackup } from '../../../core/pipeline/backup.ts';
import type { JobContext } from '../../../core/pipeline/context.ts';
import type { Destination } from '../../../core/storage/destination.ts';
import { FileDestination } from '../../../core/storage/file.ts';
import { standInEngine } from '../../../scripts/emulators/stand-in-engine.ts';

let dir: string;

afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function context(
  engine: JobContext['engine'],
  destination: (dir: string) => Destination,
  alerts: Alert[],
  signal?: AbortSignal,
): Promise<JobContext> {
  dir = await mkdtemp(path.join(tmpdir(), 'dv-causes-'));
  const config = validateConfig({
    destinations: { local: { type: 'file', path: './out' } },
    jobs: [
      {
        name: 'causes',
        engine: 'postgres',
        source: { url: 'postgres://x@h/db' },
        destinations: ['local'],
        compression: 'none',
      },
    ],
  });
  const job = config.jobs[0]!;
  return {
    job,
    prefix: '',
    engine,
    source: { url: job.source.url },
    destinations: [destination(dir)],
    encryption: undefined,
    history: new LocalHistoryStore(path.join(dir, 'state')),
    notifier: { publish: async (a) => void alerts.push(a) },
    trigger: 'manual',
    investigate: () => 'dumpvault history causes',
    ...(signal ? { signal } : {}),
  };
}

describe('the cause a failed run records', () => {
  it("is the failing destination's own error, not the sink noticing that its stream closed", async () => {
    const alerts: Alert[] = [];
    // Reads nothing until the sink waits for it to drain, then closes its stream, and only after
    // the fan-out has seen it closed (its own 'close' listener ran first) rejects with the
    // explanation, as a destination cleaning up after a failure does. Awaited on the stream's
    // state and events, not on time.
    const failing = (root: string): Destination => {
      const real = new FileDestination('flaky', path.join(root, 'out'));
      return Object.assign(Object.create(real) as Destination, {
        name: 'flaky',
        write: async (_key: string, body: Readable & { writableNeedDrain?: boolean }): Promise<never> => {
          while (!body.writableNeedDrain) await nextLoop();
          const closed = new Promise((resolve) => body.once('close', resolve));
          body.destroy(new Error('the raw failure'));
          await closed;
          throw new StorageError('destination flaky: the disk went away');
        },
      });
    };
    const ctx = await context(standInEngine('head -c 8000000 /dev/zero'), failing, alerts);

    await expect(runBackup(ctx)).rejects.toThrow('destination flaky: the disk went away');

    const [item] = await ctx.history.list('causes');
    expect(item).toMatchObject({ status: 'FAILED', error: 'destination flaky: the disk went away' });
    expect(alerts).toHaveLength(1);
  });

  it('is "stopped by SIGTERM", not the dump tool killed by the same signal sent to the process group', async () => {
    const alerts: Alert[] = [];
    const controller = new AbortController();
    const tool = new PassThrough();
    tool.on('error', () => {}); // the pipeline reports it; the test looks at what the run recorded
    tool.write(Buffer.alloc(64 * 1024));
    const ctx = await context(
      standInEngine(() => tool),
      (root) => new FileDestination('local', path.join(root, 'out')),
      alerts,
      controller.signal,
    );
    const running = runBackup(ctx);
    running.catch(() => {});
    // Bytes are flowing once the destination's temp file exists.
    const partials = () => readdir(path.join(dir, 'out', 'causes')).catch(() => [] as string[]);
    while (!(await partials()).some((f) => f.includes('.partial-'))) await nextLoop();

    // The worst order: the tool's death is seen a loop turn before the run's own signal handler runs.
    tool.destroy(new ToolError('pg_dump was killed by SIGTERM', { signal: 'SIGTERM' }));
    await nextLoop();
    controller.abort(new ToolError('stopped by SIGTERM before it finished'));

    await expect(running).rejects.toThrow('stopped by SIGTERM before it finished');
    const [item] = await ctx.history.list('causes');
    expect(item).toMatchObject({ status: 'FAILED', error: 'stopped by SIGTERM before it finished' });
    expect(alerts).toHaveLength(1);
  });
});
