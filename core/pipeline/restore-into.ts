/**
 * The restore pass and the post-restore comparison, shared by `restore`, drills and standby
 * runs: one streaming read of the stored object (pinned to the verified one) decoded into the
 * engine's restore tool, then the target's tables, row counts and object counts compared with
 * the manifest.
 */
import { PassThrough } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Connection, Engine, Selection } from '../engine.ts';
import type { Manifest } from '../manifest.ts';
import type { Destination } from '../storage/destination.ts';
import { Meter } from '../streams/meter.ts';
import { compareStats, type StatsComparison } from './compare.ts';
import { type DecryptKeys, decodeStages } from './decode.ts';
import { selectedStats } from './selection.ts';

export interface RestoreIntoRequest {
  readonly engine: Engine;
  readonly manifest: Manifest;
  readonly from: Destination;
  readonly keys: DecryptKeys | undefined;
  readonly target: Connection;
  /** Replace what the target holds (RestoreOptions.drop). */
  readonly drop: boolean;
  /** The verified object's identity: the read fails if the object changed since. */
  readonly etag?: string | undefined;
  readonly signal?: AbortSignal | undefined;
  /** Restore only these (resolved against the backup's contents); compared alone. */
  readonly select?: Selection | undefined;
}

export interface RestoreIntoResult {
  readonly comparison: StatsComparison;
  /** Raw dump bytes fed to the restore tool. */
  readonly rawBytes: number;
}

/**
 * Restores the backup into `target` and compares it with the manifest. Rejects only after the
 * restore tool has ended, so the caller may drop the target at once; a comparison that differs
 * is returned, not thrown (the caller words the failure).
 */
export async function restoreInto(request: RestoreIntoRequest): Promise<RestoreIntoResult> {
  const { engine, manifest, target, signal } = request;
  const input = await request.from.read(manifest.object.key, request.etag ? { ifMatch: request.etag } : {});
  const raw = new Meter();
  const out = new PassThrough({ highWaterMark: 1 << 20 });
  const restoring = engine.restore(target, out, {
    drop: request.drop,
    dumpFormat: manifest.dumpFormat,
    ...(signal ? { signal } : {}),
    ...(request.select ? { select: request.select } : {}),
  });
  restoring.catch(() => {});
  try {
    // An abort destroys the stages; the restore tool, its input gone, is stopped (processInput).
    await Promise.all([
      pipeline([input, ...decodeStages(manifest, request.keys), raw, out], signal ? { signal } : {}),
      restoring,
    ]);
  } catch (err) {
    await restoring.catch(() => {});
    throw err;
  }
  // A selective restore holds part of the backup: its tables are compared, the object counts
  // (which describe the whole database) are not.
  const expectedObjects = request.select ? undefined : manifest.stats.objects;
  const expectedTables = request.select
    ? selectedStats(manifest.stats.tables, request.select)
    : manifest.stats.tables;
  const comparison = compareStats(expectedTables, await engine.stats(target), {
    expected: expectedObjects,
    actual: expectedObjects && engine.objects ? await engine.objects(target) : undefined,
  });
  return { comparison, rawBytes: raw.bytes };
}
