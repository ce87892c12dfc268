import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { HistoryItem } from '../../../core/history/history.ts';
import { historyToCsv, LocalHistoryStore } from '../../../core/history/local.ts';
import { currentProcessOwner, processStartTime } from '../../../core/history/process-owner.ts';
import { describeHistoryStore } from '../../support/history-suite.ts';

const store = async () => new LocalHistoryStore(await mkdtemp(path.join(tmpdir(), 'dv-hist-')));
const item = (over: Partial<HistoryItem>): HistoryItem => ({
  job: 'app',
  runId: 'r1',
  kind: 'backup',
  status: 'RUNNING',
  trigger: 'manual',
  startedAt: '2026-11-21T03:00:00.000Z',
  ...over,
});

describeHistoryStore('LocalHistoryStore', async () => {
  const h = await store();
  return {
    store: h,
    dropRunItems: (job) => writeFile(path.join(h.stateDir, 'history', `${job}.jsonl`), ''),
    dispose: () => rm(h.stateDir, { recursive: true, force: true }),
  };
});

describe('LocalHistoryStore CSV export', () => {
  it('exports CSV with quoting', () => {
    const csv = historyToCsv([item({ status: 'FAILED', error: 'pg_dump: "x", failed' })]);
    expect(csv.split('\n')[1]).toContain('"pg_dump: ""x"", failed"');
  });

  it('exports a PARTIAL backup with its status, the failed destination and the outcome of each destination', () => {
    const error = 'destination offsite: cannot write s3://b/app/x: ECONNREFUSED';
    const csv = historyToCsv([
      item({
        status: 'PARTIAL',
        error,
        details: {
          destinations: [
            { name: 'local', status: 'ok' },
            { name: 'offsite', status: 'failed', error },
          ],
        },
      }),
    ]);
    const [header, row] = csv.split('\n');
    expect(header!.split(',').slice(-1)).toEqual(['destinations']);
    expect(row!.split(',')[3]).toBe('PARTIAL');
    expect(row).toContain(error);
    expect(row!.endsWith(',local:ok offsite:failed')).toBe(true);
  });
});

/** Writes the lock of job `app` as another process would have, unexpired. */
async function writeLock(h: LocalHistoryStore, owner: Record<string, unknown>): Promise<void> {
  await mkdir(path.join(h.stateDir, 'locks'), { recursive: true });
  const expiresAt = new Date(Date.now() + 3_600_000).toISOString();
  await writeFile(
    path.join(h.stateDir, 'locks', 'app.lock'),
    JSON.stringify({ job: 'app', runId: 'old', expiresAt, hostname: hostname(), ...owner }),
  );
}

/** The pid of a process that has exited (and been reaped). */
async function endedPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await once(child, 'exit');
  return child.pid!;
}

describe('LocalHistoryStore lock owners (issue 11 §5: stale locks, PID 1 in a container)', () => {
  it('records the PID, boot id, start time and host of the process that holds the lock', async () => {
    const h = await store();
    expect((await h.acquireLease('app', 'r1', 60_000)).acquired).toBe(true);
    const lock = JSON.parse(await readFile(path.join(h.stateDir, 'locks', 'app.lock'), 'utf8'));
    expect(lock).toMatchObject({
      pid: process.pid,
      hostname: hostname(),
      bootId: (await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim(),
      startTime: await processStartTime(process.pid),
    });
  });

  it('takes over an unexpired lock that names this PID with another start time (the PID was reused)', async () => {
    // The next container's PID 1 finds the lock its predecessor, also PID 1, left when killed.
    const h = await store();
    const me = await currentProcessOwner();
    await writeLock(h, { pid: process.pid, bootId: me.bootId, startTime: me.startTime! + 1 });
    expect(await h.acquireLease('app', 'new', 60_000)).toEqual({ acquired: true });
  });

  it('takes over an unexpired lock written before a reboot (another boot id), though its PID is alive', async () => {
    const h = await store();
    await writeLock(h, {
      pid: process.ppid,
      bootId: '00000000-0000-4000-8000-000000000000',
      startTime: await processStartTime(process.ppid),
    });
    expect(await h.acquireLease('app', 'new', 60_000)).toEqual({ acquired: true });
  });

  it('takes over an unexpired lock whose process has ended', async () => {
    const h = await store();
    const me = await currentProcessOwner();
    await writeLock(h, { pid: await endedPid(), bootId: me.bootId, startTime: me.startTime });
    expect(await h.acquireLease('app', 'new', 60_000)).toEqual({ acquired: true });
  });

  it('respects an unexpired lock whose process is still running', async () => {
    const h = await store();
    const me = await currentProcessOwner();
    await writeLock(h, {
      pid: process.ppid,
      bootId: me.bootId,
      startTime: await processStartTime(process.ppid),
    });
    expect(await h.acquireLease('app', 'new', 60_000)).toMatchObject({
      acquired: false,
      heldBy: { runId: 'old' },
    });
  });

  it('reports RUNNING runs whose process ended as abandoned, not those still running', async () => {
    const h = await store();
    const me = await currentProcessOwner();
    await h.save(item({ runId: 'mine' })); // stamped with this process: still running
    const gone = { ...me, pid: await endedPid() };
    await h.save(item({ runId: 'killed', startedAt: '2026-11-20T03:00:00.000Z', details: { owner: gone } }));
    await h.save(item({ runId: 'legacy', startedAt: '2026-11-19T03:00:00.000Z' }));
    // A RUNNING backup written before owners were recorded: nobody holds the lease for it.
    const file = path.join(h.stateDir, 'history', 'app.jsonl');
    const lines = (await readFile(file, 'utf8')).trim().split('\n');
    const legacy = JSON.parse(lines[2]!) as HistoryItem;
    delete legacy.details;
    await writeFile(file, `${[...lines.slice(0, 2), JSON.stringify(legacy)].join('\n')}\n`);
    expect((await h.list('app')).find((i) => i.runId === 'mine')?.details?.['owner']).toEqual(me);

    const abandoned = await h.abandonedRuns('app', 'current');
    expect(abandoned.map((a) => [a.item.runId, a.pid])).toEqual([
      ['killed', gone.pid],
      ['legacy', undefined],
    ]);
  });
});

describe('LocalHistoryStore last success of old state directories (issue 12 §4)', () => {
  it('finds the last success of a state directory written before pointer files existed', async () => {
    const h = await store();
    await mkdir(path.join(h.stateDir, 'history'), { recursive: true });
    const lines = [
      item({ runId: 'r1', status: 'SUCCEEDED' }),
      item({ runId: 'r2', startedAt: '2026-11-22T03:00:00.000Z', status: 'FAILED' }),
    ];
    await writeFile(
      path.join(h.stateDir, 'history', 'app.jsonl'),
      lines.map((l) => `${JSON.stringify(l)}\n`).join(''),
    );

    expect((await h.lastSuccess('app'))?.runId).toBe('r1');
  });
});
