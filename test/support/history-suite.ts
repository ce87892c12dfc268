/**
 * The contract of core/history/history.ts (DESIGN.md §5) as tests every history store must
 * pass, like test/support/destination-suite.ts for destinations: each store's test file hands
 * this suite a factory of fresh, empty stores. What only one store promises (the local store's
 * process owners and abandoned runs, DynamoDB's saveIfRunning, TTLs and job registry) stays in
 * that store's own test file.
 *
 * Where the two stores legitimately differ, the suite says so by name:
 * - `list`'s limit is a whole number ≥ 1 (callers pass none otherwise; the CLI validates
 *   `--limit`), so what a limit of 0 means is not part of the contract.
 * - RUNNING items of the local store carry `details.owner` (the process running them, for
 *   `abandonedRuns`); the suite compares items without it ({@link withoutOwner}).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { HistoryItem, HistoryStore } from '../../core/history/history.ts';

/** A fresh, empty history store. */
export interface HistoryFixture {
  readonly store: HistoryStore;
  /**
   * Removes every run item of `job` behind the store's back (as DynamoDB's TTL or a truncated
   * history file would), leaving the last-success pointers: proves `lastSuccess` reads them.
   */
  dropRunItems(job: string): Promise<void>;
  dispose(): Promise<void>;
}

/** A backup run of job `prod`, RUNNING unless told otherwise. */
export function historyRun(
  over: Partial<HistoryItem> & Pick<HistoryItem, 'runId' | 'startedAt'>,
): HistoryItem {
  return { job: 'prod', kind: 'backup', status: 'RUNNING', trigger: 'schedule', ...over };
}

/** The item without the local store's `details.owner` stamp (see the module comment). */
export function withoutOwner(item: HistoryItem | undefined): HistoryItem | undefined {
  if (!item?.details || !('owner' in item.details)) return item;
  const { owner: _owner, ...details } = item.details;
  const { details: _details, ...rest } = item;
  return Object.keys(details).length ? { ...rest, details } : rest;
}

const T0 = new Date('2026-05-01T03:00:00.000Z');
const minutes = (n: number): Date => new Date(T0.getTime() + n * 60_000);
const HOUR = 60 * 60_000;

/** Runs the history contract against the stores `factory` makes (a fresh one per test). */
export function describeHistoryStore(name: string, factory: () => Promise<HistoryFixture>): void {
  describe(`${name} (history store contract)`, () => {
    let fixture: HistoryFixture;
    let store: HistoryStore;

    beforeEach(async () => {
      fixture = await factory();
      store = fixture.store;
    });

    afterEach(async () => {
      await fixture.dispose();
    });

    const list = async (job: string, options?: { limit?: number }) =>
      (await store.list(job, options)).map((i) => withoutOwner(i));

    describe('runs', () => {
      it('lists nothing for a job that never ran', async () => {
        expect(await store.list('never')).toEqual([]);
        expect(await store.lastSuccess('never')).toBeUndefined();
      });

      it('records a run RUNNING and replaces it with its outcome, keeping every field (a second item per run would double-count it)', async () => {
        const started = historyRun({ runId: 'r1', startedAt: '2026-02-01T03:00:00.000Z' });
        await store.save(started);
        const running = await list('prod');
        const finished: HistoryItem = {
          ...started,
          status: 'SUCCEEDED',
          finishedAt: '2026-02-01T03:10:00.000Z',
          durationMs: 600_000,
          key: 'prod/2026-02-01T030000Z-r1.pgdump.gz',
          bytes: 1234,
          rawBytes: 5678,
          sha256: 'a'.repeat(64),
          taskArn: 'arn:aws:ecs:eu-west-1:123456789012:task/c/1',
          pruned: ['prod/old.pgdump.gz'],
          details: { destinations: [{ name: 'primary', status: 'ok' }], tables: { users: 3 } },
        };

        await store.save(finished);

        expect(running).toEqual([started]);
        expect(await list('prod')).toEqual([finished]);
      });

      it.each([
        ['FAILED', { error: 'pg_dump: connection refused' }],
        ['PARTIAL', { error: 'destination offsite: ECONNREFUSED' }],
        ['SKIPPED', { error: 'job prod is already running (run r0)' }],
      ] as const)(
        'records a RUNNING run that ends %s with its cause, and never as the last success',
        async (status, extra) => {
          await store.save(
            historyRun({ runId: 'ok', startedAt: '2026-03-01T03:00:00.000Z', status: 'SUCCEEDED' }),
          );
          const running = historyRun({ runId: 'r2', startedAt: '2026-03-02T03:00:00.000Z' });
          await store.save(running);

          await store.save({ ...running, status, ...extra });

          expect((await list('prod'))[0]).toEqual({ ...running, status, ...extra });
          expect((await store.lastSuccess('prod'))?.runId).toBe('ok');
        },
      );

      it('lists runs newest first (by start, then run id), only those of the job asked for', async () => {
        await store.save(historyRun({ runId: 'a1', startedAt: '2026-01-01T03:00:00.000Z' }));
        await store.save(
          historyRun({ runId: 'a3', startedAt: '2026-01-03T03:00:00.000Z', status: 'FAILED' }),
        );
        await store.save(historyRun({ runId: 'a2', startedAt: '2026-01-02T03:00:00.000Z' }));
        await store.save(historyRun({ runId: 'a4', startedAt: '2026-01-02T03:00:00.000Z' }));
        await store.save(historyRun({ job: 'other', runId: 'b1', startedAt: '2026-01-04T03:00:00.000Z' }));

        expect((await store.list('prod')).map((r) => r.runId)).toEqual(['a3', 'a4', 'a2', 'a1']);
        expect((await store.list('other')).map((r) => r.runId)).toEqual(['b1']);
      });

      it('honours a limit with the newest runs, and a limit beyond the count with all of them', async () => {
        for (let day = 1; day <= 5; day++) {
          await store.save(historyRun({ runId: `r${day}`, startedAt: `2026-01-0${day}T03:00:00.000Z` }));
        }

        expect((await store.list('prod', { limit: 2 })).map((r) => r.runId)).toEqual(['r5', 'r4']);
        expect((await store.list('prod', { limit: 1 })).map((r) => r.runId)).toEqual(['r5']);
        expect(await store.list('prod', { limit: 50 })).toHaveLength(5);
      });
    });

    describe('last success', () => {
      it('is the newest SUCCEEDED run of each kind, backups by default', async () => {
        await store.save(
          historyRun({ runId: 'b1', startedAt: '2026-04-01T03:00:00.000Z', status: 'SUCCEEDED' }),
        );
        await store.save(
          historyRun({
            runId: 'd1',
            startedAt: '2026-04-01T05:00:00.000Z',
            kind: 'drill',
            status: 'SUCCEEDED',
          }),
        );
        await store.save(
          historyRun({
            runId: 'x1',
            startedAt: '2026-04-01T06:00:00.000Z',
            kind: 'restore',
            status: 'SUCCEEDED',
          }),
        );
        await store.save(
          historyRun({ runId: 'b2', startedAt: '2026-04-01T07:00:00.000Z', status: 'FAILED' }),
        );

        expect((await store.lastSuccess('prod'))?.runId).toBe('b1');
        expect((await store.lastSuccess('prod', 'drill'))?.runId).toBe('d1');
        expect((await store.lastSuccess('prod', 'restore'))?.runId).toBe('x1');
        expect(await store.lastSuccess('prod', 'prune')).toBeUndefined();
        expect(await store.lastSuccess('other')).toBeUndefined();
      });

      it('is never moved back when an older run is saved again (its prune recorded)', async () => {
        const older = historyRun({ runId: 'r1', startedAt: '2026-03-01T03:00:00.000Z', status: 'SUCCEEDED' });
        await store.save(older);
        await store.save(
          historyRun({
            runId: 'r2',
            startedAt: '2026-03-02T03:00:00.000Z',
            status: 'SUCCEEDED',
            pruned: ['j'],
          }),
        );
        await store.save({ ...older, pruned: ['k'] });

        const last = await store.lastSuccess('prod');

        expect([last?.runId, last?.pruned]).toEqual(['r2', ['j']]);
      });

      it('follows a re-save of the same run (its prune recorded after the success)', async () => {
        const run = historyRun({ runId: 'r1', startedAt: '2026-03-01T03:00:00.000Z', status: 'SUCCEEDED' });
        await store.save(run);
        await store.save({ ...run, pruned: ['prod/old.pgdump.gz'] });

        expect(withoutOwner(await store.lastSuccess('prod'))).toEqual({
          ...run,
          pruned: ['prod/old.pgdump.gz'],
        });
      });

      it('is read from the per-job pointer, so it survives the run items expiring', async () => {
        const success = historyRun({
          runId: 'r1',
          startedAt: '2026-03-01T03:00:00.000Z',
          status: 'SUCCEEDED',
          bytes: 7,
        });
        await store.save(success);
        await store.save(
          historyRun({ runId: 'r2', startedAt: '2026-03-02T03:00:00.000Z', status: 'FAILED' }),
        );

        await fixture.dropRunItems('prod');

        expect(await store.list('prod')).toEqual([]);
        expect(await store.lastSuccess('prod')).toEqual(success);
      });
    });

    describe('leases', () => {
      it('refuses a second run while the lease is unexpired, naming the holder and its expiry', async () => {
        expect(await store.acquireLease('prod', 'run-a', HOUR, T0)).toEqual({ acquired: true });

        expect(await store.acquireLease('prod', 'run-b', HOUR, minutes(30))).toEqual({
          acquired: false,
          heldBy: { job: 'prod', runId: 'run-a', expiresAt: '2026-05-01T04:00:00.000Z' },
        });
      });

      it('hands an expired lease over, from the instant it expires', async () => {
        // Both stores once disagreed at the boundary: the file store took over at expiresAt,
        // DynamoDB only a millisecond later.
        await store.acquireLease('prod', 'run-a', HOUR, T0);

        expect((await store.acquireLease('prod', 'run-b', HOUR, minutes(59))).acquired).toBe(false);
        expect(await store.acquireLease('prod', 'run-b', HOUR, minutes(60))).toEqual({ acquired: true });
        expect(await store.acquireLease('prod', 'run-c', HOUR, minutes(61))).toMatchObject({
          acquired: false,
          heldBy: { runId: 'run-b' },
        });
      });

      it('lets the holder take its own lease again, extending it (a retried start is not refused by itself)', async () => {
        await store.acquireLease('prod', 'run-a', HOUR, T0);

        expect(await store.acquireLease('prod', 'run-a', HOUR, minutes(50))).toEqual({ acquired: true });
        expect(await store.acquireLease('prod', 'run-b', HOUR, minutes(70))).toMatchObject({
          acquired: false,
          heldBy: { runId: 'run-a', expiresAt: minutes(110).toISOString() },
        });
      });

      it('ignores a release by a non-holder and frees the lease when the holder releases it', async () => {
        await store.acquireLease('prod', 'run-a', HOUR, T0);

        await store.releaseLease('prod', 'run-b');
        const afterForeignRelease = await store.acquireLease('prod', 'run-c', HOUR, minutes(1));
        await store.releaseLease('prod', 'run-a');
        await store.releaseLease('prod', 'run-a');

        expect(afterForeignRelease).toMatchObject({ acquired: false, heldBy: { runId: 'run-a' } });
        expect(await store.acquireLease('prod', 'run-c', HOUR, minutes(2))).toEqual({ acquired: true });
      });

      it('keeps the leases of two jobs apart', async () => {
        expect(await store.acquireLease('prod', 'run-a', HOUR, T0)).toEqual({ acquired: true });
        expect(await store.acquireLease('other', 'run-b', HOUR, T0)).toEqual({ acquired: true });
      });

      it('lets exactly one of many concurrent acquires win (a conditional write, not read-then-write)', async () => {
        const results = await Promise.all(
          Array.from({ length: 8 }, (_, i) => store.acquireLease('prod', `run-${i}`, HOUR, T0)),
        );

        expect(results.filter((r) => r.acquired)).toHaveLength(1);
      });
    });

    describe('alert state', () => {
      it('is undefined before the first alert and round-trips every field, per job', async () => {
        expect(await store.getAlertState('prod')).toBeUndefined();
        const failing = {
          job: 'prod',
          failing: true,
          skipping: false,
          since: '2026-06-01T00:00:00.000Z',
          cause: 'pg_dump: connection refused',
          lastRunId: 'r1',
        };

        await store.setAlertState(failing);
        const read = await store.getAlertState('prod');
        await store.setAlertState({ job: 'prod', failing: false, lastRunId: 'r2' });

        expect(read).toEqual(failing);
        expect(await store.getAlertState('prod')).toEqual({ job: 'prod', failing: false, lastRunId: 'r2' });
        expect(await store.getAlertState('other')).toBeUndefined();
      });
    });
  });
}
