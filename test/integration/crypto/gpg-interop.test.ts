import { createReadStream, createWriteStream } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  decryptStage,
  encryptStage,
  type GeneratedKeyPair,
  generateKeyPair,
  loadRecipients,
  type PrivateKey,
  type Recipients,
  readPrivateKey,
} from '../../../core/crypto/openpgp.ts';
import { CryptoError, IntegrityError } from '../../../core/errors.ts';
import { generatedData, HashSink, sha256 } from '../../unit/crypto/support.ts';
import { GpgHome } from './gpg.ts';

const MB = 1024 * 1024;
const KEY_PASS = 'ops key passphrase';

let home: GpgHome;
let ours: GeneratedKeyPair;
let recipients: Recipients;
let privateKey: PrivateKey;
let plainFile: string;
let plainHash: string;

/** Decrypts a file with decryptStage into a hashing sink. */
async function decryptFile(file: string, options: Parameters<typeof decryptStage>[0]): Promise<HashSink> {
  const sink = new HashSink();
  await pipeline(createReadStream(file), decryptStage(options), sink);
  return sink;
}

async function fileHash(file: string): Promise<string> {
  return sha256(await readFile(file));
}

beforeAll(async () => {
  home = await GpgHome.create();
  ours = await generateKeyPair({ name: 'Ops', email: 'ops@example.com', passphrase: KEY_PASS });
  await writeFile(join(home.dir, 'ops.pub.asc'), ours.publicKey);
  await writeFile(join(home.dir, 'ops.key.asc'), ours.privateKey);
  recipients = await loadRecipients(['ops.pub.asc'], home.dir);
  privateKey = await readPrivateKey(join(home.dir, 'ops.key.asc'), KEY_PASS);
  await home.gpg(['--passphrase', KEY_PASS, '--import', join(home.dir, 'ops.key.asc')]);

  plainFile = join(home.dir, 'plain.bin');
  const data = generatedData(20 * MB, { seed: 42 });
  await pipeline(data.stream, createWriteStream(plainFile));
  plainHash = data.sha256();
});

afterAll(async () => {
  await home.close();
});

describe('gpg decrypts what dumpvault encrypts', () => {
  it('decrypts a 20 MB message encrypted to our generated key', async () => {
    const encrypted = join(home.dir, 'ours-key.gpg');
    await pipeline(createReadStream(plainFile), encryptStage({ recipients }), createWriteStream(encrypted));

    await home.gpg([
      '--passphrase',
      KEY_PASS,
      '--output',
      join(home.dir, 'ours-key.out'),
      '--decrypt',
      encrypted,
    ]);

    expect(await fileHash(join(home.dir, 'ours-key.out'))).toBe(plainHash);
  });

  it('decrypts a 20 MB message encrypted with a passphrase', async () => {
    const encrypted = join(home.dir, 'ours-pass.gpg');
    await pipeline(
      createReadStream(plainFile),
      encryptStage({ passphrase: 'backup passphrase' }),
      createWriteStream(encrypted),
    );

    await home.gpg([
      '--passphrase',
      'backup passphrase',
      '--output',
      join(home.dir, 'ours-pass.out'),
      '--decrypt',
      encrypted,
    ]);

    expect(await fileHash(join(home.dir, 'ours-pass.out'))).toBe(plainHash);
  });

  // Bug caught: the SEIPD/literal framing written with node:crypto (seipd.ts) getting a length
  // wrong at a boundary: a first partial under 512 octets, a final length at the one/two/five
  // octet edges (191/192, 8383/8384), a chunk that ends exactly on a partial.
  it('decrypts messages of every length class and odd chunkings (partial and final body lengths)', async () => {
    const sizes = [0, 1, 185, 186, 505, 506, 507, 8377, 8378, 65530, 65536, 65542, 3 * MB + 7];
    for (const size of sizes) {
      const plain = Buffer.from(Array.from({ length: size }, (_, i) => (i * 31 + size) & 0xff));
      const chunks = [];
      for (let at = 0, step = 1; at < size; at += step, step = (step * 7 + 3) % 70_000 || 1)
        chunks.push(plain.subarray(at, at + step));
      const encrypted = join(home.dir, `edge-${size}.gpg`);
      await pipeline(
        Readable.from(chunks),
        encryptStage({ passphrase: 'edge pass' }),
        createWriteStream(encrypted),
      );
      const out = join(home.dir, `edge-${size}.out`);
      await home.gpg(['--passphrase', 'edge pass', '--output', out, '--decrypt', encrypted]);
      expect((await readFile(out)).equals(plain), `${size} bytes`).toBe(true);
    }
  });

  it('lists PKESK v3 / SKESK v4, SEIPD with MDC, no AEAD and no compression packet', async () => {
    const encrypted = join(home.dir, 'small.gpg');
    await pipeline(
      generatedData(MB, { seed: 5 }).stream, // several chunks: partial body lengths
      encryptStage({ recipients, passphrase: 'list me' }),
      createWriteStream(encrypted),
    );

    const { stdout } = await home.gpg(['--passphrase', 'list me', '--list-packets', encrypted]);

    expect(stdout).toMatch(/^:pubkey enc packet: version 3, algo 18, keyid [0-9A-F]{16}/m);
    expect(stdout).toMatch(/^:symkey enc packet: version 4, cipher 9, aead 0,/m); // AES-256, no AEAD
    expect(stdout).toMatch(/^:encrypted data packet:\n\s+length: unknown\n\s+mdc_method: 2$/m);
    expect(stdout).toMatch(/^:literal data packet:\n\s+mode b /m);
    expect(stdout).not.toMatch(/aead [1-9]|:aead encrypted packet:/);
    expect(stdout).not.toMatch(/:compressed packet:/);
  });

  it('decrypts a message to a key generated by gpg itself (read back with loadRecipients)', async () => {
    const fpr = await home.generateKey('Gpg Made <gpg-made@example.com>', 'default', 'gpg-pass'); // RSA in gpg 2.2
    const { stdout: armored } = await home.gpg(['--armor', '--export', fpr]);
    await writeFile(join(home.dir, 'gpg-made.pub.asc'), armored);
    const gpgRecipients = await loadRecipients(['gpg-made.pub.asc'], home.dir);
    expect(gpgRecipients.fingerprints).toEqual([fpr]);
    const encrypted = join(home.dir, 'to-gpg-key.gpg');
    await pipeline(
      createReadStream(plainFile),
      encryptStage({ recipients: gpgRecipients }),
      createWriteStream(encrypted),
    );

    await home.gpg([
      '--passphrase',
      'gpg-pass',
      '--output',
      join(home.dir, 'to-gpg-key.out'),
      '--decrypt',
      encrypted,
    ]);

    expect(await fileHash(join(home.dir, 'to-gpg-key.out'))).toBe(plainHash);
  });
});

describe('dumpvault decrypts what gpg encrypts', () => {
  it('decrypts `gpg --encrypt -r <fpr>` (binary, gpg compression on)', async () => {
    const encrypted = join(home.dir, 'gpg-key.gpg');
    await home.gpg([
      '--trust-model',
      'always',
      '--encrypt',
      '-r',
      ours.fingerprint,
      '--output',
      encrypted,
      plainFile,
    ]);

    const output = await decryptFile(encrypted, { privateKeys: [privateKey] });

    expect(output.sha256()).toBe(plainHash);
  });

  it('decrypts `gpg --encrypt --throw-keyids` (anonymous recipient)', async () => {
    const encrypted = join(home.dir, 'gpg-hidden.gpg');
    await home.gpg([
      '--trust-model',
      'always',
      '--throw-keyids',
      '--compress-algo',
      'none',
      '--encrypt',
      '-r',
      ours.fingerprint,
      '--output',
      encrypted,
      plainFile,
    ]);

    const output = await decryptFile(encrypted, { privateKeys: [privateKey] });

    expect(output.sha256()).toBe(plainHash);
  });

  it('decrypts `gpg --symmetric --passphrase …`', async () => {
    const encrypted = join(home.dir, 'gpg-sym.gpg');
    await home.gpg(['--passphrase', 'gpg symmetric', '--symmetric', '--output', encrypted, plainFile]);

    const output = await decryptFile(encrypted, { passphrase: 'gpg symmetric' });

    expect(output.sha256()).toBe(plainHash);
  });

  it('says "wrong passphrase" for a gpg --symmetric message before releasing any bytes', async () => {
    // gpg's SKESK carries no encrypted session key: a wrong passphrase yields a wrong key that
    // only the SEIPD quick check (or the MDC, 20 MB later) can notice.
    const encrypted = join(home.dir, 'gpg-sym-2.gpg');
    await home.gpg([
      '--passphrase',
      'gpg symmetric',
      '--compress-algo',
      'none',
      '--symmetric',
      '--output',
      encrypted,
      plainFile,
    ]);
    const sink = new HashSink();

    const attempt = pipeline(createReadStream(encrypted), decryptStage({ passphrase: 'not it' }), sink);

    await expect(attempt).rejects.toThrow(CryptoError);
    await expect(attempt).rejects.toThrow(/^wrong passphrase/);
    expect(sink.bytes).toBe(0);
  });

  it('refuses a message without integrity protection (gpg --rfc2440, no MDC)', async () => {
    const encrypted = join(home.dir, 'gpg-no-mdc.gpg');
    await home.gpg([
      '--passphrase',
      'old',
      '--rfc2440',
      '--cipher-algo',
      'CAST5',
      '--symmetric',
      '--output',
      encrypted,
      plainFile,
    ]);
    const sink = new HashSink();

    const attempt = pipeline(createReadStream(encrypted), decryptStage({ passphrase: 'old' }), sink);

    await expect(attempt).rejects.toThrow(IntegrityError);
    await expect(attempt).rejects.toThrow(/without integrity protection/);
    expect(sink.bytes).toBe(0);
  });

  it('says how to handle an ASCII-armored gpg message', async () => {
    const encrypted = join(home.dir, 'gpg-armored.asc');
    await home.gpg(['--passphrase', 'armored', '--armor', '--symmetric', '--output', encrypted, plainFile]);

    await expect(decryptFile(encrypted, { passphrase: 'armored' })).rejects.toThrow(
      /ASCII-armored.*gpg --dearmor/,
    );
  });

  it('reads a private key exported by gpg and decrypts with it', async () => {
    const fpr = await home.generateKey('Exported <exported@example.com>', 'future-default', 'export-pass');
    const { stdout: secret } = await home.gpg([
      '--passphrase',
      'export-pass',
      '--armor',
      '--export-secret-keys',
      fpr,
    ]);
    await writeFile(join(home.dir, 'exported.key.asc'), secret);
    const exported = await readPrivateKey(join(home.dir, 'exported.key.asc'), 'export-pass');
    const encrypted = join(home.dir, 'to-exported.gpg');
    await home.gpg(['--trust-model', 'always', '--encrypt', '-r', fpr, '--output', encrypted, plainFile]);

    const output = await decryptFile(encrypted, { privateKeys: [exported] });

    expect(output.sha256()).toBe(plainHash);
  });

  it('names the recipient key ids gpg used when our key is the wrong one', async () => {
    const fpr = await home.generateKey('Someone Else <else@example.com>', 'future-default', 'else-pass');
    const encrypted = join(home.dir, 'to-else.gpg');
    await home.gpg(['--trust-model', 'always', '--encrypt', '-r', fpr, '--output', encrypted, plainFile]);
    const { stdout } = await home.gpg(['--with-colons', '--list-keys', fpr]);
    const encryptionSubkeyId = /^sub:[^:]*:[^:]*:[^:]*:([0-9A-F]{16}):/m.exec(stdout)?.[1];

    const attempt = decryptFile(encrypted, { privateKeys: [privateKey] });

    await expect(attempt).rejects.toThrow(
      `the object is not encrypted to key ${ours.fingerprint}; it is encrypted to key id ${encryptionSubkeyId}`,
    );
  });
});
