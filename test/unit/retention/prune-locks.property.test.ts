/**
 * `pruneJob` never deletes an object still under Object Lock, whatever the retention rules,
 * the clock and the locks: backups in a real file destination whose `stat` reports the locks a
 * generated scenario gives each object (a store that reports locks, as S3's HeadObject does).
 * Bug caught: a prune that planned without reading locks (planRetention's `lockedUntil` was
 * never given) deleted locked objects; on a versioned bucket that hides them behind delete markers.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { validateConfig } from '../../../core/config/load.ts';
import { FORMAT_VERSION, type Manifest, objectKeys } from '../../../core/manifest.ts';
import { pruneJob } from '../../../core/pipeline/prune.ts';
import type { Destination, ObjectInfo } from '../../../core/storage/destination.ts';
import { FileDestination } from '../../../core/storage/file.ts';

const DAY_MS = 86_400_000;
const NOW = new Date('2026-11-22T04:00:00.000Z');

type LockSpec = { kind: 'none' } | { kind: 'until'; offsetMs: number } | { kind: 'hold' };
const lockArb: fc.Arbitrary<LockSpec> = fc.oneof(
  { arbitrary: fc.constant({ kind: 'none' as const }), weight: 3 },
  {
    arbitrary: fc.integer({ min: -5 * DAY_MS, max: 5 * DAY_MS }).map((offsetMs) => ({
      kind: 'until' as const,
      offsetMs,
    })),
    weight: 2,
  },
  { arbitrary: fc.constant({ kind: 'hold' as const }), weight: 1 },
);
const backupArb = fc.record({
  ageHours: fc.integer({ min: 1, max: 60 * 24 }),
  runId: fc.stringMatching(/^[0-9a-f]{8}$/),
  withManifest: fc.constantFrom(true, true, true, true, false),
  dataLock: lockArb,
  manifestLock: lockArb,
});
const retentionArb = fc.record({
  keepLast: fc.integer({ min: 0, max: 3 }),
  daily: fc.integer({ min: 0, max: 5 }),
  maxAgeDays: fc.option(fc.integer({ min: 1, max: 40 }), { nil: undefined }),
});

/** `inner` whose `stat` reports the lock of each key in `locks`, and whose removes are recorded. */
function lockReporting(inner: Destination, locks: Map<string, LockSpec>, removed: string[]): Destination {
  return {
    ...inner,
    name: inner.name,
    description: inner.description,
    write: (k, b, o) => inner.write(k, b, o),
    put: (k, d, o) => inner.put(k, d, o),
    read: (k, o) => inner.read(k, o),
    list: (p) => inner.list(p),
    checkWritable: (p) => inner.checkWritable(p),
    async stat(key): Promise<ObjectInfo> {
      const info = await inner.stat(key);
      const lock = locks.get(key);
      if (lock?.kind === 'hold') return { ...info, legalHold: true };
      if (lock?.kind === 'until') return { ...info, retainUntil: new Date(NOW.getTime() + lock.offsetMs) };
      return info;
    },
    async remove(key) {
      removed.push(key);
      await inner.remove(key);
    },
  };
}

function isLocked(lock: LockSpec | undefined): boolean {
  return lock?.kind === 'hold' || (lock?.kind === 'until' && lock.offsetMs > 0);
}

describe('pruneJob with Object Lock (property)', () => {
  it('never deletes an object still locked, and deletes nothing of a backup with a locked object', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(backupArb, { minLength: 1, maxLength: 6, selector: (b) => b.ageHours }),
        retentionArb,
        async (specs, retention) => {
          const dir = await mkdtemp(path.join(tmpdir(), 'dv-prune-locks-'));
          try {
            const config = validateConfig({
              destinations: { local: { type: 'file', path: dir } },
              jobs: [
                {
                  name: 'app',
                  engine: 'postgres',
                  source: { url: 'postgres://x@h/db' },
                  destinations: ['local'],
                  compression: 'none',
                  retention,
                },
              ],
            });
            const store = new FileDestination('local', dir);
            const locks = new Map<string, LockSpec>();
            const backups: { dataKey: string; manifestKey: string; locked: boolean }[] = [];
            for (const spec of specs) {
              const startedAt = new Date(NOW.getTime() - spec.ageHours * 3_600_000);
              const keys = objectKeys({
                prefix: '',
                job: 'app',
                startedAt,
                runId: spec.runId,
                dumpExt: 'sql',
                compression: 'none',
                encrypted: false,
              });
              const data = Buffer.from(`dump ${keys.id}`);
              await store.put(keys.dataKey, data);
              locks.set(keys.dataKey, spec.dataLock);
              if (spec.withManifest) {
                const manifest: Manifest = {
                  formatVersion: FORMAT_VERSION,
                  job: 'app',
                  runId: spec.runId,
                  engine: 'postgres',
                  serverVersion: '16',
                  tool: { name: 'pg_dump', version: '16' },
                  database: 'db',
                  startedAt: startedAt.toISOString(),
                  finishedAt: startedAt.toISOString(),
                  dumpFormat: 'plain',
                  compression: 'none',
                  encryption: { type: 'none', recipients: [] },
                  object: {
                    key: keys.dataKey,
                    bytes: data.length,
                    sha256: createHash('sha256').update(data).digest('hex'),
                  },
                  rawBytes: data.length,
                  stats: { tables: {} },
                };
                await store.put(keys.manifestKey, JSON.stringify(manifest));
                locks.set(keys.manifestKey, spec.manifestLock);
              }
              backups.push({
                dataKey: keys.dataKey,
                manifestKey: keys.manifestKey,
                locked: isLocked(spec.dataLock) || (spec.withManifest && isLocked(spec.manifestLock)),
              });
            }
            const removed: string[] = [];
            const results = await pruneJob(
              {
                job: config.jobs[0]!,
                prefix: '',
                destinations: [lockReporting(store, locks, removed)],
                now: () => NOW,
              },
              { dryRun: false, lastRunFailed: false },
            );

            for (const [key, lock] of locks) {
              if (isLocked(lock)) expect(removed).not.toContain(key);
            }
            // A backup with one locked object keeps both: a manifest without its data object
            // is a broken backup, a data object without its manifest an unfindable one.
            for (const b of backups.filter((x) => x.locked)) {
              expect(removed).not.toContain(b.dataKey);
              expect(removed).not.toContain(b.manifestKey);
            }
            expect(results[0]!.errors).toEqual([]);
            const left = new Set((await store.list('app/')).map((o) => o.key));
            for (const key of removed) expect(left.has(key)).toBe(false);
          } finally {
            await rm(dir, { recursive: true, force: true });
          }
        },
      ),
      { numRuns: 60 },
    );
  }, 120_000);
});
