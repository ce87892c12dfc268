/**
 * Re-encrypting one destination's copy of a backup to new keys (`dumpvault rekey`, issue 16 §3),
 * in the order docs/format.md makes a MUST:
 *
 *   1. what an interrupted rekey of this backup left (objects under its id that its manifest does
 *      not name, unfinished uploads) is removed, Object-Locked objects kept and reported;
 *   2. each encrypted object of the backup (data, and the PostgreSQL globals when there are any)
 *      is streamed: read ─> size + sha256 checked against the manifest ─> decrypt ─> encrypt ─> a
 *      new key beside the old one. The compressed payload is never decompressed and no plaintext
 *      touches disk; memory is bounded by the stages' buffers and the upload's parts. The upload
 *      completes only if the old object matched its manifest to the end and decrypted with its MDC
 *      intact; any failure aborts it, so no partial object is ever visible;
 *   3. the new objects are verified from the store: size and sha256 re-read, and decrypted,
 *      decompressed and checked complete when a key of the new recipients is at hand;
 *   4. the manifest is replaced, in one atomic put, by one naming the new objects and recipients,
 *      and read back;
 *   5. only then are the old objects deleted.
 *
 * A crash anywhere leaves a complete backup its manifest names: before 4 the old one (the new
 * objects are leftovers, removed by the next rekey), after 4 the new one (the old objects are the
 * leftovers). A failure before 4 removes the new objects and leaves the old backup untouched.
 */
import { createHash } from 'node:crypto';
import { type Duplex, PassThrough, type Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { decryptStage, encryptStage } from '../crypto/openpgp.ts';
import { IntegrityError, messageOf, NotFoundError } from '../errors.ts';
import { jobPrefix, type Manifest, rekeyedObjectKey } from '../manifest.ts';
import { redact } from '../redact.ts';
import type { Destination } from '../storage/destination.ts';
import { Meter } from '../streams/meter.ts';
import { asDuplex } from '../streams/stages.ts';
import { manifestId, readJobManifest } from './catalog.ts';
import type { EncryptionSpec } from './context.ts';
import type { DecryptKeys } from './decode.ts';
import { verifyBackup } from './verify.ts';

/** What a copy is re-encrypted to, and how its new objects can be checked. */
export interface RekeyTarget {
  readonly encryption: EncryptionSpec;
  /** Keys that decrypt the new objects (a private key of a new recipient, the new passphrase), when at hand. */
  readonly verifyKeys?: DecryptKeys;
}

/** One destination's copy of one backup, re-encrypted. */
export interface RekeyedCopy {
  readonly destination: string;
  readonly id: string;
  readonly from: string;
  readonly to: string;
  readonly bytes: number;
  readonly sha256: string;
  /** How the new data object was checked before the old one went. */
  readonly verified: 'decrypted' | 'sha256';
}

/** What removing objects a copy no longer needs did. */
export interface Removal {
  readonly removed: string[];
  /** `key: object lock until …` — kept: Object Lock forbids deleting it. */
  readonly keptLocked: string[];
  /** `key: cause` — could not be deleted (other than a lock). */
  readonly errors: string[];
}

/** The fingerprints (openpgp) a target records in the manifest; [] for a passphrase. */
export function targetRecipients(encryption: EncryptionSpec): string[] {
  return encryption.type === 'openpgp' ? [...encryption.recipients.fingerprints] : [];
}

/**
 * Whether a copy already is encrypted to `encryption`: same OpenPGP recipients (in any order).
 * A passphrase cannot be compared from the manifest, so passphrase targets always re-encrypt.
 */
export function alreadyEncryptedTo(manifest: Manifest, encryption: EncryptionSpec): boolean {
  if (encryption.type !== 'openpgp' || manifest.encryption.type !== 'openpgp') return false;
  const want = new Set(encryption.recipients.fingerprints.map((f) => f.toUpperCase()));
  const have = new Set(manifest.encryption.recipients.map((f) => f.toUpperCase()));
  return want.size === have.size && [...want].every((f) => have.has(f));
}

/**
 * Passes bytes through while hashing them; at the end fails unless they are exactly the object
 * the manifest describes, so an upload fed from them never completes with a changed object.
 */
class ExpectedObject extends Transform {
  private bytes = 0;
  private readonly hash = createHash('sha256');

  constructor(
    private readonly key: string,
    private readonly expected: { readonly bytes: number; readonly sha256: string },
  ) {
    super({ highWaterMark: 1 << 20 });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    this.hash.update(chunk);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    const sha256 = this.hash.digest('hex');
    if (this.bytes !== this.expected.bytes || sha256 !== this.expected.sha256) {
      callback(
        new IntegrityError(
          `${this.key} does not match its manifest (${this.bytes} bytes, sha256 ${sha256.slice(0, 12)}…; the manifest says ${this.expected.bytes} bytes, ${this.expected.sha256.slice(0, 12)}…): it was modified or truncated, so it was not re-encrypted`,
        ),
      );
      return;
    }
    callback();
  }
}

/**
 * Streams `source` through `stages` into a new object `key` of `dest`. Both sides are awaited;
 * whichever fails first tears the other down (the upload is then aborted, never completed).
 */
async function streamInto(
  dest: Destination,
  key: string,
  source: Readable,
  stages: readonly Duplex[],
  options: { expectedBytes: number; signal?: AbortSignal },
): Promise<{ bytes: number; sha256: string }> {
  const stored = new Meter({ sha256: true });
  const body = new PassThrough({ highWaterMark: 1 << 20 });
  const controller = new AbortController();
  const outer = options.signal;
  const onOuterAbort = () => controller.abort(outer?.reason);
  outer?.addEventListener('abort', onOuterAbort, { once: true });
  let first: { error: unknown } | undefined;
  const fail = (error: unknown) => {
    first ??= { error };
    controller.abort(error);
  };
  try {
    await Promise.allSettled([
      pipeline([source, ...stages, stored, body], { signal: controller.signal }).catch(fail),
      dest.write(key, body, { signal: controller.signal, expectedBytes: options.expectedBytes }).catch(fail),
    ]);
  } finally {
    outer?.removeEventListener('abort', onOuterAbort);
  }
  if (outer?.aborted) throw outer.reason;
  if (first) throw first.error;
  return { bytes: stored.bytes, sha256: stored.sha256() };
}

/** Re-encrypts one stored object into `newKey`; see the module comment, step 2. */
async function rekeyObject(
  dest: Destination,
  object: { readonly key: string; readonly bytes: number; readonly sha256: string },
  newKey: string,
  encrypted: boolean,
  keys: DecryptKeys | undefined,
  target: RekeyTarget,
  signal: AbortSignal | undefined,
): Promise<{ bytes: number; sha256: string }> {
  const info = await dest.stat(object.key);
  const input = await dest.read(object.key, info.etag ? { ifMatch: info.etag } : {});
  const enc = target.encryption;
  const stages: Duplex[] = [new ExpectedObject(object.key, object)];
  if (encrypted) stages.push(asDuplex(decryptStage(keys ?? {})));
  stages.push(
    asDuplex(
      encryptStage(enc.type === 'openpgp' ? { recipients: enc.recipients } : { passphrase: enc.passphrase }),
    ),
  );
  return streamInto(dest, newKey, input, stages, {
    expectedBytes: object.bytes,
    ...(signal ? { signal } : {}),
  });
}

/** The sha256 and size of a stored object, read back from the store. */
async function reread(dest: Destination, key: string): Promise<{ bytes: number; sha256: string }> {
  const meter = new Meter({ sha256: true });
  const sink = new PassThrough();
  sink.resume();
  await pipeline([await dest.read(key), meter, sink]);
  return { bytes: meter.bytes, sha256: meter.sha256() };
}

/**
 * Deletes `keys`, each unless Object Lock forbids it (a retain-until date still ahead, a legal
 * hold): those are kept and reported, like retention does, never hidden behind a delete marker.
 */
export async function removeUnlessLocked(
  dest: Destination,
  keys: readonly string[],
  now: Date,
): Promise<Removal> {
  const removal: Removal = { removed: [], keptLocked: [], errors: [] };
  for (const key of keys) {
    try {
      const info = await dest.stat(key);
      if (info.legalHold) {
        removal.keptLocked.push(`${key}: object lock: legal hold`);
        continue;
      }
      if (info.retainUntil && info.retainUntil > now) {
        removal.keptLocked.push(`${key}: object lock until ${info.retainUntil.toISOString()}`);
        continue;
      }
      await dest.remove(key);
      removal.removed.push(key);
    } catch (err) {
      if (err instanceof NotFoundError) continue;
      removal.errors.push(`${key}: ${redact(messageOf(err))}`);
    }
  }
  return removal;
}

/**
 * The objects under a backup's id that its manifest does not name: what an interrupted rekey
 * left (the new objects of one that stopped before its manifest, or the old ones of one that
 * stopped after it). Unfinished uploads under the id are aborted first.
 */
export async function leftoversOf(dest: Destination, prefix: string, manifest: Manifest): Promise<string[]> {
  const id = manifestId(manifest);
  const keyPrefix = `${jobPrefix(prefix, manifest.job)}${id}.`;
  if (dest.removeUnfinished) await dest.removeUnfinished(`${keyPrefix}rekey-`);
  const named = new Set([`${jobPrefix(prefix, manifest.job)}${id}.manifest.json`, manifest.object.key]);
  if (manifest.globals) named.add(manifest.globals.key);
  return (await dest.list(keyPrefix)).map((o) => o.key).filter((key) => !named.has(key));
}

/**
 * Re-encrypts `manifest`'s backup in `dest` to `target` (steps 2–5 of the module comment).
 * Returns the copy and what deleting the old objects did (locked ones are kept, not errors).
 */
export async function rekeyCopy(
  dest: Destination,
  prefix: string,
  manifest: Manifest,
  run: {
    readonly runId: string;
    readonly keys: DecryptKeys | undefined;
    readonly target: RekeyTarget;
    readonly now: () => Date;
    readonly step: (message: string) => void;
    readonly signal?: AbortSignal;
  },
): Promise<{ copy: RekeyedCopy; removal: Removal }> {
  const id = manifestId(manifest);
  const manifestKey = `${jobPrefix(prefix, manifest.job)}${id}.manifest.json`;
  const encrypted = manifest.encryption.type !== 'none';
  const dataKey = rekeyedObjectKey(manifest.object.key, id, run.runId);
  const globalsKey = manifest.globals ? rekeyedObjectKey(manifest.globals.key, id, run.runId) : undefined;
  const written: string[] = [];
  const discardNew = async () => {
    for (const key of written) await dest.remove(key).catch(() => {});
  };
  let next: Manifest;
  let verified: RekeyedCopy['verified'];
  try {
    run.step(`destination ${dest.name}: re-encrypting ${manifest.object.key} -> ${dataKey}`);
    written.push(dataKey);
    const data = await rekeyObject(
      dest,
      manifest.object,
      dataKey,
      encrypted,
      run.keys,
      run.target,
      run.signal,
    );
    let globals: Manifest['globals'];
    if (manifest.globals && globalsKey) {
      written.push(globalsKey);
      globals = {
        key: globalsKey,
        ...(await rekeyObject(
          dest,
          manifest.globals,
          globalsKey,
          encrypted,
          run.keys,
          run.target,
          run.signal,
        )),
      };
    }
    const enc = run.target.encryption;
    next = {
      ...manifest,
      encryption: { type: enc.type, recipients: targetRecipients(enc) },
      object: { key: dataKey, bytes: data.bytes, sha256: data.sha256 },
      ...(globals ? { globals } : {}),
      rekeyed: { at: run.now().toISOString(), runId: run.runId, previous: manifest.encryption },
    };
    // Verified from the store, not from what was sent: what a restore will read.
    const decode = Boolean(run.target.verifyKeys);
    run.step(
      `destination ${dest.name}: verifying ${dataKey} (size, sha256${decode ? ', decryption with the new key, completeness' : ''})`,
    );
    const check = await verifyBackup(dest, next, run.target.verifyKeys, {
      decode,
      ...(run.signal ? { signal: run.signal } : {}),
    });
    verified = check.decoded ? 'decrypted' : 'sha256';
    if (globals) {
      const back = await reread(dest, globals.key);
      if (back.bytes !== globals.bytes || back.sha256 !== globals.sha256) {
        throw new IntegrityError(`${globals.key} reads back differently from what was written`);
      }
    }
  } catch (err) {
    await discardNew();
    throw err;
  }
  run.signal?.throwIfAborted();
  await replaceManifest(dest, prefix, manifestKey, manifest, next, discardNew);
  run.step(`destination ${dest.name}: ${manifestKey} now names ${dataKey}; removing the old object(s)`);
  const old = [manifest.object.key, ...(manifest.globals ? [manifest.globals.key] : [])];
  const removal = await removeUnlessLocked(dest, old, run.now());
  return {
    copy: {
      destination: dest.name,
      id,
      from: manifest.object.key,
      to: dataKey,
      bytes: next.object.bytes,
      sha256: next.object.sha256,
      verified,
    },
    removal,
  };
}

/**
 * Step 4: the manifest put, then read back. A put that fails may still have happened (an answer
 * lost): the stored manifest decides — the old one still there means the new objects go; the new
 * one means the put happened; unreadable means both are kept for the next rekey to sort out.
 */
async function replaceManifest(
  dest: Destination,
  prefix: string,
  manifestKey: string,
  old: Manifest,
  next: Manifest,
  discardNew: () => Promise<void>,
): Promise<void> {
  const body = `${JSON.stringify(next, null, 2)}\n`;
  let putError: unknown;
  try {
    await dest.put(manifestKey, body, { contentType: 'application/json' });
  } catch (err) {
    putError = err;
  }
  let stored: Manifest;
  try {
    stored = await readJobManifest(dest, manifestKey, prefix, old.job);
  } catch (err) {
    const cause = putError ?? err;
    throw new IntegrityError(
      `${manifestKey} could not be read back after it was replaced (${redact(messageOf(cause))}); the old and the new objects were both kept`,
      { cause },
    );
  }
  if (stored.object.key === next.object.key && stored.object.sha256 === next.object.sha256) return;
  if (stored.object.key === old.object.key) {
    await discardNew();
    const why = putError ? redact(messageOf(putError)) : `it still names ${old.object.key} after the put`;
    throw new IntegrityError(
      `the new manifest ${manifestKey} could not be written (${why}); the old backup is untouched and the new object was removed`,
      { cause: putError },
    );
  }
  throw new IntegrityError(
    `${manifestKey} names ${stored.object.key}, neither the old nor the new object; both were kept`,
  );
}
