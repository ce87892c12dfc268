/**
 * OpenPGP keys: recipients (public keys from the config), private keys for restores, and key
 * generation for `dumpvault keygen` and tests. Every error names the file and what to do.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import {
  decryptKey,
  generateKey,
  type Key,
  type PrivateKey,
  type PublicKey,
  readKey,
  readKeys,
  readPrivateKey as readOpenpgpPrivateKey,
} from 'openpgp';
import { CryptoError, ExitCode, messageOf } from '../errors.ts';
import { GNUPG22_COMPATIBLE } from './config.ts';

/** The public keys a backup is encrypted to, with their fingerprints for the manifest. */
export interface Recipients {
  readonly keys: PublicKey[];
  /** Primary-key fingerprints, 40 upper-case hex digits, as `gpg --list-keys` prints them. */
  readonly fingerprints: string[];
}

/** A freshly generated key pair. */
export interface GeneratedKeyPair {
  /** ASCII-armored public key: give this file as a recipient. */
  readonly publicKey: string;
  /** ASCII-armored private key, protected by the passphrase if one was given. */
  readonly privateKey: string;
  /** Primary-key fingerprint, 40 upper-case hex digits. */
  readonly fingerprint: string;
}

const PRIVATE_ARMOR = '-----BEGIN PGP PRIVATE KEY BLOCK-----';
const PUBLIC_ARMOR = '-----BEGIN PGP PUBLIC KEY BLOCK-----';

const keyError = (message: string, cause?: unknown): CryptoError =>
  new CryptoError(message, { cause, exitCode: ExitCode.usage });

/** The fingerprint of a key's primary key, upper-case hex (GnuPG's spelling). */
export function fingerprintOf(key: Key): string {
  return key.getFingerprint().toUpperCase();
}

/** The primary-key fingerprints of `keys` (for the manifest's `encryption.recipients`). */
export function fingerprintsOf(keys: readonly Key[]): string[] {
  return keys.map(fingerprintOf);
}

async function readKeyFile(path: string, shown: string, role: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? `does not exist (looked for ${path})`
        : code === 'EACCES'
          ? `is not readable (permission denied on ${path})`
          : code === 'EISDIR'
            ? 'is a directory, not a key file'
            : `cannot be read (${messageOf(err)})`;
    throw keyError(`${role} ${shown} ${why}; fix the path or create the file`, err);
  }
}

async function parseKeys(bytes: Buffer): Promise<Key[]> {
  const text = bytes.toString('utf8');
  if (text.includes('-----BEGIN PGP')) return readKeys({ armoredKeys: text });
  return readKeys({ binaryKeys: new Uint8Array(bytes) });
}

async function checkUsableRecipient(key: PublicKey, file: string): Promise<void> {
  const fpr = fingerprintOf(key);
  if (key.keyPacket.version !== 4) {
    throw keyError(
      `recipient key ${fpr} in ${file} is a v${key.keyPacket.version} key, which GnuPG 2.2 cannot use; give a v4 key (curve25519 or RSA)`,
    );
  }
  if (await key.isRevoked()) {
    throw keyError(`recipient key ${fpr} in ${file} is revoked; give a current public key`);
  }
  const expires = await key.getExpirationTime().catch(() => null);
  if (expires instanceof Date && expires.getTime() <= Date.now()) {
    throw keyError(
      `recipient key ${fpr} in ${file} expired on ${expires.toISOString().slice(0, 10)}; extend it (gpg --quick-set-expire ${fpr} 2y) and export its public half again`,
    );
  }
  try {
    await key.verifyPrimaryKey();
  } catch (err) {
    throw keyError(
      `recipient key ${fpr} in ${file} is not usable (${messageOf(err)}); give a valid, self-signed public key`,
      err,
    );
  }
  try {
    await key.getEncryptionKey();
  } catch (err) {
    throw keyError(
      `recipient key ${fpr} in ${file} has no usable encryption subkey (${messageOf(err)}); add one (gpg --quick-add-key ${fpr} cv25519 encr) and export the public key again`,
      err,
    );
  }
}

/**
 * Reads the recipients' public keys from ASCII-armored (or binary) key files, relative to
 * `baseDir`. Each file may hold several keys. Fails with a CryptoError (exit code 2) naming
 * the file when it is missing or unreadable, is not a key, holds a private key, or holds a key
 * that is not v4, is expired or revoked, or has no usable encryption subkey.
 */
export async function loadRecipients(files: readonly string[], baseDir: string): Promise<Recipients> {
  if (files.length === 0) throw keyError('no recipient key files given; list at least one public key file');
  const keys: PublicKey[] = [];
  const seen = new Set<string>();
  for (const file of files) {
    const bytes = await readKeyFile(resolve(baseDir, file), file, 'recipient key file');
    if (bytes.toString('utf8').includes(PRIVATE_ARMOR)) {
      throw keyError(`recipients must be public keys: ${file} holds a private key — give its public half`);
    }
    let parsed: Key[];
    try {
      parsed = await parseKeys(bytes);
    } catch (err) {
      throw keyError(
        `${file} is not an OpenPGP public key (${messageOf(err)}); export one with gpg --export --armor <fingerprint>`,
        err,
      );
    }
    for (const key of parsed) {
      if (key.isPrivate()) {
        throw keyError(`recipients must be public keys: ${file} holds a private key — give its public half`);
      }
      await checkUsableRecipient(key, file);
      const fpr = fingerprintOf(key);
      if (!seen.has(fpr)) {
        seen.add(fpr);
        keys.push(key);
      }
    }
  }
  return { keys, fingerprints: fingerprintsOf(keys) };
}

/**
 * Reads an ASCII-armored (or binary) private key and decrypts it with `passphrase` when it is
 * protected. Fails with a CryptoError (exit code 2) naming the file: missing, not a key, a
 * public key, protected without a passphrase given, or a wrong passphrase.
 */
export async function readPrivateKey(file: string, passphrase?: string): Promise<PrivateKey> {
  const bytes = await readKeyFile(file, file, 'private key file');
  const text = bytes.toString('utf8');
  if (text.includes(PUBLIC_ARMOR) && !text.includes(PRIVATE_ARMOR)) {
    throw keyError(
      `${file} holds a public key; decryption needs the private key (gpg --export-secret-keys --armor <fingerprint>)`,
    );
  }
  let key: PrivateKey;
  try {
    key = text.includes('-----BEGIN PGP')
      ? await readOpenpgpPrivateKey({ armoredKey: text })
      : await readOpenpgpPrivateKey({ binaryKey: new Uint8Array(bytes) });
  } catch (err) {
    throw keyError(
      `${file} is not an OpenPGP private key (${messageOf(err)}); export one with gpg --export-secret-keys --armor <fingerprint>`,
      err,
    );
  }
  if (key.isDecrypted()) return key;
  if (passphrase === undefined || passphrase === '') {
    throw keyError(`the private key in ${file} is protected by a passphrase; give its passphrase`);
  }
  try {
    return await decryptKey({ privateKey: key, passphrase });
  } catch (err) {
    throw keyError(
      `wrong passphrase for the private key in ${file}; give the passphrase it was exported with`,
      err,
    );
  }
}

/**
 * Generates a v4 key pair GnuPG 2.2 can use: an Ed25519 (legacy EdDSA) primary key for
 * certification and a Curve25519 (legacy ECDH) encryption subkey, with no expiry. The private
 * key is protected by `passphrase` when one is given.
 */
export async function generateKeyPair(options: {
  name: string;
  email: string;
  passphrase?: string;
}): Promise<GeneratedKeyPair> {
  const { publicKey, privateKey } = await generateKey({
    type: 'ecc',
    curve: 'curve25519Legacy',
    userIDs: [{ name: options.name, email: options.email }],
    ...(options.passphrase ? { passphrase: options.passphrase } : {}),
    format: 'armored',
    config: GNUPG22_COMPATIBLE,
  });
  const parsed = await readKey({ armoredKey: publicKey });
  return { publicKey, privateKey, fingerprint: fingerprintOf(parsed) };
}
