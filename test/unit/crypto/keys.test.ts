import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  generateKey,
  readKey,
  readPrivateKey as readOpenpgpPrivateKey,
  reformatKey,
  revokeKey,
} from 'openpgp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  fingerprintsOf,
  type GeneratedKeyPair,
  generateKeyPair,
  loadRecipients,
  readPrivateKey,
} from '../../../core/crypto/openpgp.ts';
import { CryptoError, ExitCode } from '../../../core/errors.ts';

let dir: string;
let ops: GeneratedKeyPair;

/** Asserts that `run` rejects with a usage-level CryptoError whose message matches `pattern`. */
async function expectKeyError(run: Promise<unknown>, pattern: RegExp): Promise<void> {
  const err = await run.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CryptoError);
  expect((err as CryptoError).exitCode).toBe(ExitCode.usage);
  expect((err as CryptoError).message).toMatch(pattern);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dv-keys-'));
  ops = await generateKeyPair({ name: 'Ops', email: 'ops@example.com', passphrase: 'secret-pass' });
  await writeFile(join(dir, 'ops.pub.asc'), ops.publicKey);
  await writeFile(join(dir, 'ops.key.asc'), ops.privateKey);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('generateKeyPair', () => {
  it('makes a v4 legacy-curve25519 key pair with an encryption subkey', async () => {
    const key = await readKey({ armoredKey: ops.publicKey });

    expect(key.keyPacket.version).toBe(4);
    expect(key.getAlgorithmInfo()).toMatchObject({ algorithm: 'eddsaLegacy', curve: 'ed25519Legacy' });
    const encryption = await key.getEncryptionKey();
    expect(encryption.getAlgorithmInfo()).toMatchObject({ algorithm: 'ecdh', curve: 'curve25519Legacy' });
    expect(ops.fingerprint).toMatch(/^[0-9A-F]{40}$/);
    expect(ops.fingerprint).toBe(key.getFingerprint().toUpperCase());
  });

  it('protects the private key with the passphrase', async () => {
    const key = await readOpenpgpPrivateKey({ armoredKey: ops.privateKey });

    expect(key.isDecrypted()).toBe(false);
  });
});

describe('loadRecipients', () => {
  it('reads public key files relative to the base directory and lists their fingerprints', async () => {
    const recipients = await loadRecipients(['ops.pub.asc', 'ops.pub.asc'], dir);

    expect(recipients.keys).toHaveLength(1);
    expect(recipients.fingerprints).toEqual([ops.fingerprint]);
    expect(fingerprintsOf(recipients.keys)).toEqual([ops.fingerprint]);
  });

  it('fails when a file is missing, naming it', async () => {
    await expectKeyError(
      loadRecipients(['keys/nope.asc'], dir),
      /recipient key file keys\/nope\.asc does not exist/,
    );
  });

  it('fails when given a private key, asking for its public half', async () => {
    await expectKeyError(
      loadRecipients(['ops.key.asc'], dir),
      /^recipients must be public keys: ops\.key\.asc holds a private key — give its public half$/,
    );
  });

  it('fails when the file is not a key', async () => {
    await writeFile(join(dir, 'garbage.asc'), 'this is not a key\n');
    await writeFile(
      join(dir, 'garbage-armor.asc'),
      '-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAAAA\n-----END PGP PUBLIC KEY BLOCK-----\n',
    );

    await expectKeyError(loadRecipients(['garbage.asc'], dir), /^garbage\.asc is not an OpenPGP public key/);
    await expectKeyError(
      loadRecipients(['garbage-armor.asc'], dir),
      /^garbage-armor\.asc is not an OpenPGP public key/,
    );
  });

  it('fails when the file is not readable', async () => {
    if (process.getuid?.() === 0) {
      // root reads everything; a directory stands in for an unreadable file
      await expectKeyError(loadRecipients(['.'], dir), /is a directory/);
      return;
    }
    await writeFile(join(dir, 'locked.asc'), ops.publicKey);
    await chmod(join(dir, 'locked.asc'), 0o000);
    await expectKeyError(loadRecipients(['locked.asc'], dir), /locked\.asc is not readable/);
  });

  it('fails when the key has expired', async () => {
    const created = new Date(Date.now() - 10 * 86400_000);
    const expired = await generateKey({
      type: 'ecc',
      curve: 'curve25519Legacy',
      userIDs: [{ name: 'Old', email: 'old@example.com' }],
      keyExpirationTime: 86400,
      date: created,
      format: 'armored',
    });
    await writeFile(join(dir, 'expired.asc'), expired.publicKey);

    await expectKeyError(
      loadRecipients(['expired.asc'], dir),
      /in expired\.asc expired on \d{4}-\d{2}-\d{2}; extend it/,
    );
  });

  it('fails when the key is revoked', async () => {
    const pair = await generateKey({
      type: 'ecc',
      curve: 'curve25519Legacy',
      userIDs: [{ name: 'Gone', email: 'gone@example.com' }],
      format: 'object',
    });
    const revoked = await revokeKey({ key: pair.privateKey, format: 'armored' });
    await writeFile(join(dir, 'revoked.asc'), revoked.publicKey);

    await expectKeyError(loadRecipients(['revoked.asc'], dir), /in revoked\.asc is revoked/);
  });

  it('fails when the key has no encryption subkey', async () => {
    const signOnly = await generateKey({
      type: 'ecc',
      curve: 'curve25519Legacy',
      userIDs: [{ name: 'Signer', email: 'signer@example.com' }],
      subkeys: [],
      format: 'object',
    });
    // reformatKey with no subkeys keeps the certify/sign-only primary key
    const { publicKey } = await reformatKey({
      privateKey: signOnly.privateKey,
      userIDs: [{ name: 'Signer', email: 'signer@example.com' }],
      format: 'armored',
    });
    await writeFile(join(dir, 'sign-only.asc'), publicKey);

    await expectKeyError(
      loadRecipients(['sign-only.asc'], dir),
      /in sign-only\.asc has no usable encryption subkey/,
    );
  });

  it('fails when the key is a v6 key', async () => {
    const v6 = await generateKey({
      type: 'curve25519',
      userIDs: [{ name: 'New', email: 'new@example.com' }],
      format: 'armored',
      config: { v6Keys: true },
    });
    await writeFile(join(dir, 'v6.asc'), v6.publicKey);

    await expectKeyError(loadRecipients(['v6.asc'], dir), /is a v6 key, which GnuPG 2\.2 cannot use/);
  });

  it('fails when no file is given', async () => {
    await expectKeyError(loadRecipients([], dir), /no recipient key files given/);
  });
});

describe('readPrivateKey', () => {
  it('reads and decrypts a protected private key', async () => {
    const key = await readPrivateKey(join(dir, 'ops.key.asc'), 'secret-pass');

    expect(key.isDecrypted()).toBe(true);
    expect(key.getFingerprint().toUpperCase()).toBe(ops.fingerprint);
  });

  it('fails with a wrong passphrase, naming the file', async () => {
    await expectKeyError(
      readPrivateKey(join(dir, 'ops.key.asc'), 'nope'),
      /^wrong passphrase for the private key in .*ops\.key\.asc/,
    );
  });

  it('fails when the key is protected and no passphrase is given', async () => {
    await expectKeyError(
      readPrivateKey(join(dir, 'ops.key.asc')),
      /is protected by a passphrase; give its passphrase/,
    );
  });

  it('fails when given a public key', async () => {
    await expectKeyError(
      readPrivateKey(join(dir, 'ops.pub.asc')),
      /holds a public key; decryption needs the private key/,
    );
  });

  it('fails on a garbage file and on a missing file', async () => {
    await writeFile(join(dir, 'junk.key'), Buffer.from([0x00, 0x01, 0x02, 0x03]));

    await expectKeyError(readPrivateKey(join(dir, 'junk.key')), /junk\.key is not an OpenPGP private key/);
    await expectKeyError(
      readPrivateKey(join(dir, 'missing.key')),
      /private key file .*missing\.key does not exist/,
    );
  });
});
