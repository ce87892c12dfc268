/**
 * Verification: one streaming pass over a stored object that checks its size and sha256
 * against the manifest and, when keys are at hand, that it decrypts and decompresses to the
 * recorded number of raw bytes, that the dump inside is complete (the same in-stream checker
 * a backup runs, core/formats) and defines the objects the manifest records. Nothing is
 * buffered; nothing is written.
 */
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { IntegrityError } from '../errors.ts';
import type { DumpChecker, ObjectCounts } from '../formats/checker.ts';
import { checkerFor } from '../formats/index.ts';
import type { Manifest } from '../manifest.ts';
import type { Destination } from '../storage/destination.ts';
import { Meter } from '../streams/meter.ts';
import { manifestId } from './catalog.ts';
import { compareObjects } from './compare.ts';
import { type DecryptKeys, decodeStages } from './decode.ts';

export interface VerifyResult {
  readonly id: string;
  readonly key: string;
  readonly bytes: number;
  readonly sha256: string;
  /** Whether the pass decrypted and decompressed the object (needs the keys when encrypted). */
  readonly decoded: boolean;
  readonly rawBytes?: number;
  /**
   * The objects the decoded dump defines, when its format counts them (decoded passes only;
   * a dump found incomplete or differing from the manifest fails the verification instead).
   */
  readonly objects?: ObjectCounts;
  /** Identity of the verified object; a restore's second read is pinned to it. */
  readonly etag?: string;
}

/** A sink that discards everything, showing it to `checker` first when there is one. */
function discard(checker?: DumpChecker): Writable {
  return new Writable({
    highWaterMark: 1 << 20,
    write(chunk: Buffer, _enc, callback) {
      checker?.write(chunk);
      callback();
    },
  });
}

/** The sha256 of a stored object, read once more (pinned to `etag` when known). */
async function objectSha256(dest: Destination, key: string, etag: string | undefined): Promise<string> {
  const hashed = new Meter({ sha256: true });
  await pipeline([await dest.read(key, etag ? { ifMatch: etag } : {}), hashed, discard()]);
  return hashed.sha256();
}

/**
 * Verifies a backup against its manifest. Throws an IntegrityError naming the problem (size,
 * checksum, raw size, an incomplete dump, object counts that differ from the manifest's) or
 * the decryption error; `keys` may be omitted for unencrypted backups or to check only size
 * and checksum.
 */
export async function verifyBackup(
  dest: Destination,
  manifest: Manifest,
  keys: DecryptKeys | undefined,
  options: { decode?: boolean; signal?: AbortSignal } = {},
): Promise<VerifyResult> {
  const id = manifestId(manifest);
  const key = manifest.object.key;
  const info = await dest.stat(key);
  if (info.size !== manifest.object.bytes) {
    throw new IntegrityError(
      `${key} is ${info.size} bytes but its manifest says ${manifest.object.bytes}: the object was truncated or replaced; restore another backup`,
    );
  }
  const canDecode =
    options.decode !== false &&
    (manifest.encryption.type === 'none' || Boolean(keys?.privateKeys?.length || keys?.passphrase));
  const stored = new Meter({ sha256: true });
  const raw = new Meter();
  const input = await dest.read(key, info.etag ? { ifMatch: info.etag } : {});
  const stages = canDecode ? [...decodeStages(manifest, keys), raw] : [];
  // A format this version does not write (a newer manifest) is not judged rather than judged wrongly.
  const checker = canDecode ? checkerFor(manifest.dumpFormat) : undefined;
  try {
    await pipeline([input, stored, ...stages, discard(checker)], { signal: options.signal });
  } catch (err) {
    if (options.signal?.aborted) throw options.signal.reason;
    if (stored.bytes === manifest.object.bytes && stored.sha256() !== manifest.object.sha256) {
      throw checksumError(key, manifest);
    }
    // Decoding gave up before the end of the object: whether the object still matches its
    // manifest says more than the decoder's error. One more read, on this failure path only.
    if (canDecode && stored.bytes < manifest.object.bytes) {
      const whole = await objectSha256(dest, key, info.etag).catch(() => undefined);
      if (whole !== undefined && whole !== manifest.object.sha256) throw checksumError(key, manifest);
    }
    throw err;
  }
  if (stored.sha256() !== manifest.object.sha256) throw checksumError(key, manifest);
  if (canDecode && raw.bytes !== manifest.rawBytes) {
    throw new IntegrityError(
      `${key} decodes to ${raw.bytes} bytes but the manifest recorded ${manifest.rawBytes}: the backup is damaged`,
    );
  }
  const objects = checker ? checkDump(key, manifest, checker) : undefined;
  return {
    id,
    key,
    bytes: stored.bytes,
    sha256: stored.sha256(),
    decoded: canDecode,
    ...(canDecode ? { rawBytes: raw.bytes } : {}),
    ...(objects ? { objects } : {}),
    ...(info.etag ? { etag: info.etag } : {}),
  };
}

/**
 * The checker's verdict on the decoded dump: an incomplete dump (cut short before the backup
 * stored it, by a version without the in-stream check) or one that defines other objects than
 * the manifest records is not a backup to restore. Returns the objects it defines.
 */
function checkDump(key: string, manifest: Manifest, checker: DumpChecker): ObjectCounts | undefined {
  const verdict = checker.finish();
  if (!verdict.complete) {
    throw new IntegrityError(
      `${key} decodes to an incomplete ${manifest.dumpFormat} dump (${verdict.missing}): it cannot be restored whole; restore another backup`,
    );
  }
  const { differences } = compareObjects(manifest.stats.objects, verdict.objects, 'the dump defines');
  if (differences.length) {
    throw new IntegrityError(`${key} does not hold what its manifest records: ${differences.join('; ')}`);
  }
  return verdict.objects;
}

function checksumError(key: string, manifest: Manifest): IntegrityError {
  return new IntegrityError(
    `${key} does not match its manifest's sha256 (${manifest.object.sha256.slice(0, 12)}…): the object was modified; restore another backup`,
  );
}
