/**
 * Meta-backups in storage (issue 16 §1): encrypt the document, write it to a destination, keep
 * the newest {@link META_BACKUPS_KEPT}, find and decrypt the newest one. A meta-backup is one
 * small object, written with one atomic `put`: it is either complete or absent.
 */
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { isMetaObjectName, META_BACKUPS_KEPT, META_FOLDER, metaObjectKey } from '../contracts/meta-backup.ts';
import { type DecryptOptions, decryptStage, type EncryptOptions, encryptStage } from '../crypto/openpgp.ts';
import { CryptoError, NotFoundError } from '../errors.ts';
import { formatStamp } from '../manifest.ts';
import type { Destination } from '../storage/destination.ts';
import { type MetaDocument, parseMetaDocument } from './document.ts';

/** The largest meta-backup read back: a config and its keys are kilobytes. */
const MAX_META_BYTES = 16 * 1024 * 1024;

async function collect(stages: NodeJS.ReadWriteStream[], input: Buffer): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      size += chunk.length;
      if (size > MAX_META_BYTES) cb(new CryptoError('the meta-backup is larger than 16 MiB; it is not one'));
      else {
        chunks.push(chunk);
        cb();
      }
    },
  });
  await pipeline([Readable.from([input]), ...stages, sink]);
  return Buffer.concat(chunks);
}

/** The OpenPGP message (binary, what `gpg -d` reads) of a meta document. */
export function encryptMeta(document: MetaDocument, encryption: EncryptOptions): Promise<Buffer> {
  return collect([encryptStage(encryption)], Buffer.from(JSON.stringify(document, null, 2)));
}

/** The meta-backups of a destination, newest first (keys relative to the destination). */
export async function listMetaBackups(dest: Destination, prefix: string): Promise<string[]> {
  const folder = `${prefix}${META_FOLDER}`;
  const objects = await dest.list(folder);
  return objects
    .map((o) => o.key)
    .filter((key) => isMetaObjectName(key.slice(folder.length)))
    .sort()
    .reverse();
}

export interface MetaWrite {
  readonly key: string;
  /** Older meta-backups deleted after this one was written. */
  readonly removed: string[];
}

/**
 * Writes `ciphertext` as the meta-backup of `at` to `dest`, then — when `prune` — deletes all but
 * the newest {@link META_BACKUPS_KEPT}. The new object is written before anything is deleted.
 */
export async function writeMetaBackup(
  dest: Destination,
  prefix: string,
  ciphertext: Buffer,
  at: Date,
  prune: boolean,
): Promise<MetaWrite> {
  const key = metaObjectKey(prefix, formatStamp(at));
  await dest.put(key, ciphertext, { contentType: 'application/pgp-encrypted' });
  const removed: string[] = [];
  if (prune) {
    const all = await listMetaBackups(dest, prefix);
    for (const old of all.slice(META_BACKUPS_KEPT)) {
      if (old === key) continue;
      await dest.remove(old);
      removed.push(old);
    }
  }
  return { key, removed };
}

/**
 * Reads and decrypts the meta-backup `key`. A wrong passphrase or key fails with one sentence
 * naming what to give instead.
 */
export async function readMetaBackup(
  dest: Destination,
  key: string,
  keys: DecryptOptions,
  keyHint: string,
): Promise<MetaDocument> {
  const chunks: Buffer[] = [];
  for await (const chunk of await dest.read(key)) {
    chunks.push(chunk as Buffer);
    if (chunks.reduce((n, c) => n + c.length, 0) > MAX_META_BYTES)
      throw new CryptoError(`${key} is larger than 16 MiB; it is not a dumpvault meta-backup`);
  }
  let plain: Buffer;
  try {
    plain = await collect([decryptStage(keys)], Buffer.concat(chunks));
  } catch (err) {
    if (err instanceof CryptoError)
      throw new CryptoError(`${keyHint} does not decrypt the meta-backup ${key} (${err.message})`, {
        cause: err,
      });
    throw err;
  }
  return parseMetaDocument(key, plain.toString('utf8'));
}

/** The newest meta-backup of `dest`; throws a NotFoundError naming where it looked. */
export async function newestMetaBackup(dest: Destination, prefix: string): Promise<string> {
  const [newest] = await listMetaBackups(dest, prefix);
  if (!newest)
    throw new NotFoundError(
      `no meta-backup in ${dest.description} under ${prefix}${META_FOLDER}: point --from at the folder that holds ${META_FOLDER} (a backup run with "metaBackup" in the config writes it)`,
    );
  return newest;
}
