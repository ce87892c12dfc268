import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { HistoryItem } from '../../../core/history/history.ts';
import { historyToCsv, LocalHistoryStore } from '../../../core/history/local.ts';

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

describe('LocalHistoryStore', () => {
  it('lists runs newest first, the last save of a run winning', async () => {
    const h = await store();
    await h.save(item({}));
    await h.save(item({ runId: 'r2', startedAt: '2026-11-22T03:00:00.000Z' }));
    await h.save(item({ status: 'SUCCEEDED', bytes: 10 }));
    const items = await h.list('app');
    expect(items.map((i) => [i.runId, i.status])).toEqual([
      ['r2', 'RUNNING'],
      ['r1', 'SUCCEEDED'],
    ]);
  });

  it('lets only one of two concurrent runs hold the lease', async () => {
    const h = await store();
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => h.acquireLease('app', `run${i}`, 60_000)),
    );
    expect(results.filter((r) => r.acquired)).toHaveLength(1);
  });

  it('hands an expired lease over and ignores a release by a non-holder', async () => {
    const h = await store();
    const t0 = new Date('2026-11-21T00:00:00Z');
    expect((await h.acquireLease('app', 'a', 1000, t0)).acquired).toBe(true);
    const held = await h.acquireLease('app', 'b', 1000, new Date(t0.getTime() + 500));
    expect(held).toMatchObject({ acquired: false, heldBy: { runId: 'a' } });
    await h.releaseLease('app', 'b');
    expect((await h.acquireLease('app', 'c', 1000, new Date(t0.getTime() + 600))).acquired).toBe(false);
    expect((await h.acquireLease('app', 'c', 1000, new Date(t0.getTime() + 2000))).acquired).toBe(true);
  });

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
