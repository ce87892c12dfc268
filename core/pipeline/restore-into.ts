/**
 * The restore pass and the post-restore comparison, shared by `restore`, drills and standby
 * runs: one streaming read of the stored object (pinned to the verified one) decoded into the
 * engine's restore tool, then the target's tables, row counts and object counts compared with
 * the manifest.
 */
import { addAbortSignal, pipeline as chain, PassThrough, type Readable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import type { Connection, Engine, Selection } from '../engine.ts';
import type { Manifest } from '../manifest.ts';
import type { Destination } from '../storage/destination.ts';
import { Meter } from '../streams/meter.ts';
import { compareStats, type StatsComparison } from './compare.ts';
import { zstdDecompressOutput } from './compress.ts';
import { type DecryptKeys, decodeStages, decryptStages } from './decode.ts';
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
  const decoded = decode(request, input);
  const restoring = engine.restore(target, decoded.out, {
    drop: request.drop,
    dumpFormat: manifest.dumpFormat,
    ...(signal ? { signal } : {}),
    ...(request.select ? { select: request.select } : {}),
  });
  restoring.catch(() => {});
  try {
    // An abort destroys the stages; the restore tool, its input gone, is stopped (processInput).
    await Promise.all([decoded.done, restoring]);
  } catch (err) {
    decoded.out.destroy();
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
  return { comparison, rawBytes: decoded.rawBytes() };
}

/** The raw dump for the restore tool, when it is complete, and its size. */
interface Decoded {
  readonly out: Readable;
  readonly done: Promise<unknown>;
  readonly rawBytes: () => number;
}

/**
 * The stored object decoded for the restore tool. A zstd backup is decompressed by `zstd -d`
 * writing into the tool's stdin itself (the decompressed dump, the largest stream of a restore,
 * then never passes through Node: docs/performance.md, one core); its size is the manifest's,
 * which zstd's checksum and the MDC vouch for once both ended well.
 */
function decode(request: RestoreIntoRequest, input: Readable): Decoded {
  const { manifest, keys, signal } = request;
  if (manifest.compression === 'zstd') {
    // Each stage's failure reaches the next, so the last one carries any failure to zstd.
    const compressed = decryptStages(manifest, keys).reduce<Readable>(
      (from, stage) => chain(from, stage, () => {}),
      input,
    );
    const out = zstdDecompressOutput(compressed);
    if (signal) addAbortSignal(signal, out);
    return { out, done: finished(out), rawBytes: () => manifest.rawBytes };
  }
  const raw = new Meter();
  const out = new PassThrough({ highWaterMark: 1 << 20 });
  const done = pipeline([input, ...decodeStages(manifest, keys), raw, out], signal ? { signal } : {});
  return { out, done, rawBytes: () => raw.bytes };
}
