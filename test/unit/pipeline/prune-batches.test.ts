/**
 * pruneJob's deletes (docs/format.md, ordering rule 5): in batches, every data object in one
 * round and the manifests only in a later one, and only those whose data object is gone.
 */
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { Job } from '../../../core/config/schema.ts';
import { StorageError } from '../../../core/errors.ts';
import { type Manifest, objectKeys } from '../../../core/manifest.ts';
import { pruneJob } from '../../../core/pipeline/prune.ts';
import type { Destination, ObjectInfo, RemoveFailure } from '../../../core/storage/destination.ts';

const DAY_MS = 86_400_000;
const NOW = new Date('2026-12-02T12:00:00.000Z');

/** A destination in a Map whose batch deletes are recorded and may refuse chosen keys. */
class BatchingDestination implements Destination {
  readonly name = 'offsite';
  readonly description = 'memory://offsite';
  readonly batches: string[][] = [];
  readonly singles: string[] = [];
  constructor(
    readonly objects: Map<string, string>,
    readonly refuse: ReadonlySet<string> = new Set(),
  ) {}
  async write(): Promise<never> {
    throw new Error('not used');
  }
  async put(): Promise<never> {
    throw new Error('not used');
  }
  async read(key: string): Promise<Readable> {
    return Readable.from([Buffer.from(this.objects.get(key)!)]);
  }
  async stat(key: string): Promise<ObjectInfo> {
    return { key, size: this.objects.get(key)!.length };
  }
  async list(prefix: string): Promise<ObjectInfo[]> {
    return [...this.objects.keys()]
      .filter((k) => k.startsWith(prefix))
      .sort()
      .map((key) => ({ key, size: 1 }));
  }
  async remove(key: string): Promise<void> {
    this.singles.push(key);
    this.objects.delete(key);
  }
  async removeMany(keys: readonly string[]): Promise<RemoveFailure[]> {
    this.batches.push([...keys]);
    const failures: RemoveFailure[] = [];
    for (const key of keys) {
      if (this.refuse.has(key)) {
        failures.push({
          key,
          error: new StorageError(`could not remove ${key} (AccessDenied: Access Denied)`),
        });
      } else this.objects.delete(key);
    }
    return failures;
  }
  async checkWritable(): Promise<void> {}
}

/** Three complete backups of job `app`, 1, 2 and 3 days old; returns the objects and their keys, newest first. */
function threeBackups() {
  const objects = new Map<string, string>();
  const keys = [1, 2, 3].map((days) => {
    const startedAt = new Date(NOW.getTime() - days * DAY_MS);
    const runId = `run0000${days}`;
    const k = objectKeys({
      prefix: '',
      job: 'app',
      startedAt,
      runId,
      dumpExt: 'sql',
      compression: 'gzip',
      encrypted: false,
    });
    const manifest: Manifest = {
      formatVersion: 1,
      job: 'app',
      runId,
      engine: 'sqlite',
      serverVersion: '3',
      tool: { name: 'sqlite3', version: '3' },
      database: 'app',
      startedAt: startedAt.toISOString(),
      finishedAt: startedAt.toISOString(),
      dumpFormat: 'sqlite3-dump',
      compression: 'gzip',
      encryption: { type: 'none', recipients: [] },
      object: { key: k.dataKey, bytes: 1, sha256: '0'.repeat(64) },
      rawBytes: 1,
      stats: { tables: {} },
    };
    objects.set(k.dataKey, 'x');
    objects.set(k.manifestKey, JSON.stringify(manifest));
    return k;
  });
  return { objects, keys };
}

const job = {
  name: 'app',
  engine: 'sqlite',
  source: { url: 'sqlite:./app.db' },
  destinations: ['offsite'],
  compression: 'gzip',
  dumpFormat: 'custom',
  retention: { keepLast: 1, daily: 0, weekly: 0, monthly: 0, yearly: 0, timezone: 'UTC' },
} as unknown as Job;

const prune = (dest: Destination) =>
  pruneJob(
    { job, prefix: '', destinations: [dest], now: () => NOW },
    { dryRun: false, lastRunFailed: false },
  );

describe('pruneJob deletes in batches', () => {
  // Bug caught: data objects and manifests sent in one DeleteObjects request (the store deletes
  // a request's keys in no defined order, so a manifest could outlive nothing or go first), or
  // one request per key when the destination can batch.
  it('deletes every data object in one batch, then their manifests in a second', async () => {
    const { objects, keys } = threeBackups();
    const dest = new BatchingDestination(objects);

    const [result] = await prune(dest);

    expect(dest.batches.map((b) => [...b].sort())).toEqual([
      [keys[2]!.dataKey, keys[1]!.dataKey],
      [keys[2]!.manifestKey, keys[1]!.manifestKey],
    ]);
    expect(dest.singles).toEqual([]);
    expect(result!.errors).toEqual([]);
    expect(result!.deleted).toEqual([
      keys[2]!.dataKey,
      keys[1]!.dataKey,
      keys[2]!.manifestKey,
      keys[1]!.manifestKey,
    ]);
    expect([...objects.keys()].sort()).toEqual([keys[0]!.dataKey, keys[0]!.manifestKey].sort());
  });

  // Bug caught: a per-key error in a batch answer swallowed (counted deleted), or the manifest of
  // a data object that stayed deleted anyway, leaving an object no restore can find.
  it('reports a data object the store refused by key and keeps its manifest', async () => {
    const { objects, keys } = threeBackups();
    const dest = new BatchingDestination(objects, new Set([keys[2]!.dataKey]));

    const [result] = await prune(dest);

    expect(dest.batches[1]).toEqual([keys[1]!.manifestKey]);
    expect(result!.errors).toEqual([
      `${keys[2]!.dataKey}: could not remove ${keys[2]!.dataKey} (AccessDenied: Access Denied)`,
    ]);
    expect(result!.deleted).not.toContain(keys[2]!.dataKey);
    expect(result!.deleted).not.toContain(keys[2]!.manifestKey);
    expect(objects.has(keys[2]!.dataKey) && objects.has(keys[2]!.manifestKey)).toBe(true);
  });
});
