/**
 * Retention run by the pipeline against a real file destination, with skewed clocks: the
 * backup a run just wrote and future-dated backups are never deleted, and a future-dated
 * backup never counts as the newest. The "dump tool" is a stand-in (a shell command); the
 * retention rules are what is under test.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { validateConfig } from '../../../core/config/load.ts';
import { LocalHistoryStore } from '../../../core/history/local.ts';
import { runBackup } from '../../../core/pipeline/backup.ts';
import type { JobContext } from '../../../core/pipeline/context.ts';
import { pruneJob } from '../../../core/pipeline/prune.ts';
import { createDestination } from '../../../core/storage/index.ts';
import { standInEngine } from '../../../scripts/emulators/stand-in-engine.ts';

const DAY_MS = 86_400_000;
let dir: string | undefined;

afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

async function context(retention: unknown): Promise<Omit<JobContext, 'startedAt' | 'now'>> {
  dir ??= await mkdtemp(path.join(tmpdir(), 'dv-retention-'));
  const config = validateConfig({
    destinations: { local: { type: 'file', path: './out' } },
    jobs: [
      {
        name: 'skew',
        engine: 'postgres',
        source: { url: 'postgres://x@h/db' },
        destinations: ['local'],
        compression: 'none',
        retention,
      },
    ],
  });
  const job = config.jobs[0]!;
  return {
    job,
    prefix: '',
    engine: standInEngine('echo dump'),
    source: { url: job.source.url },
    destinations: [createDestination('local', config.destinations.local!, { baseDir: dir })],
    encryption: undefined,
    history: new LocalHistoryStore(path.join(dir, 'state')),
    notifier: { publish: async () => {} },
    trigger: 'schedule',
    investigate: () => 'dumpvault history skew',
  };
}

/** One backup whose start time comes from a clock `skewMs` off the pruning clock. */
async function backupAt(ctx: Omit<JobContext, 'startedAt' | 'now'>, now: Date, skewMs: number) {
  return runBackup({ ...ctx, startedAt: new Date(now.getTime() + skewMs), now: () => now });
}

describe('retention with skewed clocks', () => {
  it('never deletes the backup the running job just wrote, even when maxAgeDays is smaller than the skew', async () => {
    const now = new Date();
    const ctx = await context({ maxAgeDays: 1 });
    // A backup stamped 2 minutes ahead (within the tolerance: the newest), then this run,
    // stamped by an orchestrator whose clock is 3 days behind.
    await backupAt(ctx, now, 2 * 60_000);
    const run = await backupAt(ctx, now, -3 * DAY_MS);

    const decision = run.prune[0]!.plan.decisions.find((d) => d.backup.id === run.id);
    expect(decision?.action).toBe('keep');
    expect(decision?.rules).toContain('current run');
    const remaining = (await ctx.destinations[0]!.list('skew/')).map((o) => o.key);
    expect(remaining).toContain(run.manifest.object.key);
    expect(remaining).toHaveLength(4);
  });

  it('never counts a future-dated backup as the newest, never deletes it, and reports it', async () => {
    const now = new Date();
    const ctx = await context({ keepLast: 1 });
    const real = await backupAt(ctx, now, -3 * DAY_MS);
    const future = await backupAt(ctx, now, 2 * DAY_MS);

    const [result] = await pruneJob({ ...ctx, now: () => now }, { dryRun: false, lastRunFailed: false });

    const keys = (await ctx.destinations[0]!.list('skew/')).map((o) => o.key);
    expect(keys).toContain(real.manifest.object.key);
    expect(keys).toContain(future.manifest.object.key);
    const newest = result!.plan.decisions.find((d) => d.rules.includes('newest'));
    expect(newest?.backup.id).toBe(real.id);
    expect(result!.problems).toEqual([
      {
        key: `skew/${future.id}.manifest.json`,
        problem: expect.stringMatching(/^future-dated: started .* after now .*check the clock/),
      },
    ]);
  });

  it('with maxAgeDays alone keeps every backup younger than it, not only the newest', async () => {
    const now = new Date();
    const ctx = await context({ maxAgeDays: 7 });
    const young = [await backupAt(ctx, now, -3 * DAY_MS), await backupAt(ctx, now, -2 * DAY_MS)];
    const old = await backupAt(ctx, now, -9 * DAY_MS);
    const last = await backupAt(ctx, now, 0);

    const keys = (await ctx.destinations[0]!.list('skew/')).map((o) => o.key);
    for (const b of [...young, last]) expect(keys).toContain(b.manifest.object.key);
    expect(keys).not.toContain(old.manifest.object.key);
    expect(last.prune[0]!.plan.decisions.find((d) => d.backup.id === young[0]!.id)?.rules).toEqual([
      'within maxAgeDays 7',
    ]);
  });

  it('deletes nothing with "retention": "forever"', async () => {
    const now = new Date();
    const ctx = await context('forever');
    for (const days of [-900, -400, -30, 0]) await backupAt(ctx, now, days * DAY_MS);
    expect(await ctx.destinations[0]!.list('skew/')).toHaveLength(8);
  });
});
