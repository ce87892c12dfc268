import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { generateKey, readKey } from 'openpgp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  decryptStage,
  encryptStage,
  generateKeyPair,
  loadRecipients,
  type PrivateKey,
  type Recipients,
  readPrivateKey,
} from '../../../core/crypto/openpgp.ts';
import { CryptoError, IntegrityError } from '../../../core/errors.ts';
import { bufferStream, CollectSink, generatedData, HashSink, sha256 } from './support.ts';

const MB = 1024 * 1024;

let dir: string;
let recipients: Recipients;
let privateKey: PrivateKey;
let otherPrivateKey: PrivateKey;
let otherFingerprint: string;

async function encryptToBuffer(data: Buffer, options: Parameters<typeof encryptStage>[0]): Promise<Buffer> {
  const sink = new CollectSink();
  await pipeline(bufferStream(data), encryptStage(options), sink);
  return sink.data();
}

async function decryptToSink(
  ciphertext: Buffer,
  options: Parameters<typeof decryptStage>[0],
): Promise<HashSink> {
  const sink = new HashSink();
  await pipeline(bufferStream(ciphertext), decryptStage(options), sink);
  return sink;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dv-crypto-'));
  const ours = await generateKeyPair({ name: 'Ops', email: 'ops@example.com', passphrase: 'key-pass' });
  const other = await generateKeyPair({ name: 'Other', email: 'other@example.com' });
  await writeFile(join(dir, 'ops.pub.asc'), ours.publicKey);
  await writeFile(join(dir, 'ops.key.asc'), ours.privateKey);
  await writeFile(join(dir, 'other.key.asc'), other.privateKey);
  recipients = await loadRecipients(['ops.pub.asc'], dir);
  privateKey = await readPrivateKey(join(dir, 'ops.key.asc'), 'key-pass');
  otherPrivateKey = await readPrivateKey(join(dir, 'other.key.asc'));
  otherFingerprint = other.fingerprint;
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('encryptStage + decryptStage round trips', () => {
  it('restores 20 MB byte for byte when encrypted to a public key', async () => {
    const input = generatedData(20 * MB, { seed: 7 });
    const encrypted = new CollectSink();
    await pipeline(input.stream, encryptStage({ recipients }), encrypted);

    const output = await decryptToSink(encrypted.data(), { privateKeys: [privateKey] });

    expect(output.bytes).toBe(20 * MB);
    expect(output.sha256()).toBe(input.sha256());
    expect(encrypted.data().length).toBeGreaterThan(20 * MB);
  });

  it('restores 20 MB byte for byte when encrypted with a passphrase', async () => {
    const input = generatedData(20 * MB, { seed: 8 });
    const encrypted = new CollectSink();
    await pipeline(input.stream, encryptStage({ passphrase: 'correct horse battery staple' }), encrypted);

    const output = await decryptToSink(encrypted.data(), { passphrase: 'correct horse battery staple' });

    expect(output.sha256()).toBe(input.sha256());
  });

  it('decrypts with either the key or the passphrase when both were given', async () => {
    const data = Buffer.from('both ways');
    const ciphertext = await encryptToBuffer(data, { recipients, passphrase: 'pass-both' });

    const byKey = await decryptToSink(ciphertext, { privateKeys: [privateKey] });
    const byPassphrase = await decryptToSink(ciphertext, { passphrase: 'pass-both' });

    expect(byKey.sha256()).toBe(sha256(data));
    expect(byPassphrase.sha256()).toBe(sha256(data));
  });

  // Bug caught: a wrong partial or final body length in the node:crypto SEIPD writer (seipd.ts)
  // at a length-class boundary, or a wrong MDC: openpgp.js refuses or garbles such a message.
  it('round-trips every length class through openpgp.js (partial and final body lengths, MDC)', async () => {
    for (const size of [
      0, 1, 185, 186, 191, 192, 505, 506, 507, 8377, 8378, 8384, 65530, 65536, 65542, 131_078,
    ]) {
      const data = Buffer.from(Array.from({ length: size }, (_, i) => (i * 13 + size) & 0xff));
      const ciphertext = await encryptToBuffer(data, { recipients });
      const sink = await decryptToSink(ciphertext, { privateKeys: [privateKey] });
      expect(sink.sha256(), `${size} bytes`).toBe(sha256(data));
    }
  });

  it('round-trips an empty stream', async () => {
    const ciphertext = await encryptToBuffer(Buffer.alloc(0), { recipients });

    const output = await decryptToSink(ciphertext, { privateKeys: [privateKey] });

    expect(output.bytes).toBe(0);
  });

  it('emits plaintext before the end of the message (streams, does not buffer)', async () => {
    const input = generatedData(8 * MB, { seed: 9 });
    const encrypted = new CollectSink();
    await pipeline(input.stream, encryptStage({ recipients }), encrypted);
    let firstChunkAt = -1;
    let consumed = 0;
    const source = bufferStream(encrypted.data());
    source.on('data', (chunk: Buffer) => {
      consumed += chunk.length;
    });
    const sink = new HashSink();
    sink.once('pipe', () => {});
    const origWrite = sink._write.bind(sink);
    sink._write = (chunk, encoding, callback) => {
      if (firstChunkAt < 0) firstChunkAt = consumed;
      origWrite(chunk, encoding, callback);
    };

    await pipeline(source, decryptStage({ privateKeys: [privateKey] }), sink);

    expect(sink.sha256()).toBe(input.sha256());
    expect(firstChunkAt).toBeGreaterThan(0);
    expect(firstChunkAt).toBeLessThan(2 * MB);
  });

  it('writes SEIPD v1 even for a recipient whose key advertises SEIPDv2 (AEAD)', async () => {
    const aeadKey = await generateKey({
      type: 'ecc',
      curve: 'curve25519Legacy',
      userIDs: [{ name: 'AEAD', email: 'aead@example.com' }],
      format: 'armored',
      config: { aeadProtect: true },
    });
    await writeFile(join(dir, 'aead.pub.asc'), aeadKey.publicKey);
    await writeFile(join(dir, 'aead.key.asc'), aeadKey.privateKey);
    const aeadRecipients = await loadRecipients(['aead.pub.asc'], dir);
    const parsed = await readKey({ armoredKey: aeadKey.publicKey });
    const features = (await parsed.getPrimaryUser()).selfCertification.features?.[0] ?? 0;
    expect(features & 0x08).toBe(0x08); // the key does ask for SEIPDv2

    const ciphertext = await encryptToBuffer(Buffer.from('legacy please'), { recipients: aeadRecipients });

    const packets = topLevelPackets(ciphertext);
    expect(packets.map((p) => p.tag)).toEqual([1, 18]); // PKESK, SEIPD (not 20 = AEAD)
    expect(ciphertext[packets[0]!.body]).toBe(3); // PKESK v3, not v6
    expect(ciphertext[packets[1]!.body]).toBe(1); // SEIPD v1, not v2
    const output = await decryptToSink(ciphertext, {
      privateKeys: [await readPrivateKey(join(dir, 'aead.key.asc'))],
    });
    expect(output.sha256()).toBe(sha256(Buffer.from('legacy please')));
  });
});

/** The top-level packets of a new-format message, up to and including the first partial one. */
function topLevelPackets(message: Buffer): { tag: number; body: number }[] {
  const packets: { tag: number; body: number }[] = [];
  let at = 0;
  while (at < message.length) {
    const tag = message[at]! & 0x3f;
    const l0 = message[at + 1]!;
    if (l0 < 192) {
      packets.push({ tag, body: at + 2 });
      at += 2 + l0;
    } else if (l0 < 224) {
      packets.push({ tag, body: at + 3 });
      at += 3 + ((l0 - 192) << 8) + message[at + 2]! + 192;
    } else {
      packets.push({ tag, body: at + (l0 === 255 ? 6 : 2) });
      break;
    }
  }
  return packets;
}

describe('decryptStage failures', () => {
  let keyCiphertext: Buffer;
  let passCiphertext: Buffer;

  beforeAll(async () => {
    const data = Buffer.alloc(3 * MB, 'backup data ');
    keyCiphertext = await encryptToBuffer(data, { recipients });
    passCiphertext = await encryptToBuffer(data, { passphrase: 'right passphrase' });
  });

  it('fails naming both keys when the object is encrypted to another key', async () => {
    const sink = new HashSink();

    const run = pipeline(bufferStream(keyCiphertext), decryptStage({ privateKeys: [otherPrivateKey] }), sink);

    await expect(run).rejects.toThrow(CryptoError);
    await expect(run).rejects.toThrow(
      new RegExp(`not encrypted to key ${otherFingerprint}; it is encrypted to key id [0-9A-F]{16}`),
    );
    expect(sink.bytes).toBe(0);
  });

  it('fails with "wrong passphrase" before releasing any plaintext', async () => {
    const sink = new HashSink();

    const run = pipeline(
      bufferStream(passCiphertext),
      decryptStage({ passphrase: 'wrong passphrase' }),
      sink,
    );

    await expect(run).rejects.toThrow(/^wrong passphrase/);
    expect(sink.bytes).toBe(0);
  });

  // A dumpvault object (AES-256) and a wrong passphrase whose random session key names Twofish
  // with a key of the right length: about 1 wrong passphrase in 300 does, and no quick check can
  // test a Twofish key. Found by trying wrong passphrases against this object (the S2K salt is in it).
  const TWOFISH_DECOY = {
    message: Buffer.from(
      'wy4ECQMIHbH2+43KgSbgQz+10why/TnbV9uyo50B8FShrMJK+sSNGxbdzPR2gmdS0mIBiE6u1MxildwOlr9fPOVfc9lXx+GKYdtlPQyzHbx5qUe64UuxdAO4Rnu0DeyOWdGAmB5KGtDD7MFvca1KERRUVsx/RfbARpCFnw/mOdgMxILc6STWvhbglWbwr3EDtGrKGw==',
      'base64',
    ),
    right: 'the right passphrase',
    wrong: 'wrong passphrase 125',
  };

  it('says "wrong passphrase" when a wrong passphrase yields a key the quick check cannot test', async () => {
    // Bug caught (seen in CI, `rekey` then `verify` with the old passphrase): the decoy key went to
    // openpgp.js and the error called a sound object "corrupted or truncated".
    const wrong = decryptToSink(TWOFISH_DECOY.message, { passphrase: TWOFISH_DECOY.wrong });
    await expect(wrong).rejects.toThrow(CryptoError);
    await expect(wrong).rejects.toThrow(
      /^wrong passphrase, or the object is damaged \(the passphrase gives a twofish key, which cannot be checked before decrypting; decrypting with it failed: .+\); everything decrypted from it must be discarded$/,
    );
    const right = await decryptToSink(TWOFISH_DECOY.message, { passphrase: TWOFISH_DECOY.right });
    expect(right.bytes).toBe('dumpvault fixture: a passphrase-encrypted object\n'.length);
  });

  it('fails when a passphrase is given for an object encrypted to a key', async () => {
    const run = decryptToSink(keyCiphertext, { passphrase: 'anything' });

    await expect(run).rejects.toThrow(/encrypted to key id [0-9A-F]{16}, not with a passphrase/);
  });

  it('uses the key when given a key and a passphrase for an object encrypted to the key only', async () => {
    const output = await decryptToSink(keyCiphertext, { privateKeys: [privateKey], passphrase: 'unused' });

    expect(output.bytes).toBe(3 * MB);
  });

  it('fails when a key is given for an object encrypted with a passphrase', async () => {
    const run = decryptToSink(passCiphertext, { privateKeys: [privateKey] });

    await expect(run).rejects.toThrow(/encrypted with a passphrase, not to a key/);
  });

  it('errors at the end of the stream, after releasing data, when one data byte in the middle was flipped', async () => {
    const tampered = Buffer.from(keyCiphertext);
    const middle = Math.floor(tampered.length / 2) + 12345;
    tampered[middle] = tampered[middle]! ^ 0x01;
    const sink = new HashSink();

    const run = pipeline(bufferStream(tampered), decryptStage({ privateKeys: [privateKey] }), sink);

    await expect(run).rejects.toThrow(IntegrityError);
    await expect(run).rejects.toThrow(/integrity check \(MDC\) failed/);
    expect(sink.bytes).toBeGreaterThan(2 * MB); // streamed to the end, and yet the run failed
  });

  it('errors when a flipped byte garbles an inner packet header', async () => {
    const tampered = Buffer.from(keyCiphertext);
    const middle = Math.floor(tampered.length / 2);
    tampered[middle] = tampered[middle]! ^ 0x01;

    const run = decryptToSink(tampered, { privateKeys: [privateKey], stallMs: 1000 });

    await expect(run).rejects.toThrow(IntegrityError);
    await expect(run).rejects.toThrow(/must be discarded/);
  });

  it('fails within its stall limit, instead of waiting forever, when a flipped bit leaves openpgp.js stuck', async () => {
    // 18 bytes into an outer partial-length chunk of the encrypted packet: this bit garbles the
    // inner literal packet's framing in a way openpgp.js's streaming parser waits on forever
    // (it neither reads more input nor produces output; found by flipping every byte near the
    // middle of 3 MB messages). The stall guard turns that into an IntegrityError.
    const tampered = Buffer.from(keyCiphertext);
    let pos = 2 + tampered[1]! + 1; // after the PKESK packet and the SEIPD packet's tag
    const chunkHeaders: number[] = [];
    while (tampered[pos]! >= 224 && tampered[pos]! < 255) {
      chunkHeaders.push(pos);
      pos += 1 + 2 ** (tampered[pos]! & 0x1f);
    }
    expect(chunkHeaders.length).toBeGreaterThan(10);
    const at = chunkHeaders[Math.floor(chunkHeaders.length / 2)]! + 18;
    tampered[at] = tampered[at]! ^ 0x01;
    const started = Date.now();

    const run = decryptToSink(tampered, { privateKeys: [privateKey], stallMs: 1000 });

    await expect(run).rejects.toThrow(IntegrityError);
    await expect(run).rejects.toThrow(/must be discarded/);
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it('errors when the message is truncated', async () => {
    const truncated = keyCiphertext.subarray(0, Math.floor(keyCiphertext.length * 0.6));

    const run = decryptToSink(truncated, { privateKeys: [privateKey] });

    await expect(run).rejects.toThrow(IntegrityError);
  });

  it('errors when only the last byte (inside the MDC) is missing', async () => {
    const run = decryptToSink(keyCiphertext.subarray(0, keyCiphertext.length - 1), {
      privateKeys: [privateKey],
    });

    await expect(run).rejects.toThrow(IntegrityError);
  });

  it('errors when the input is not an OpenPGP message, saying what it looks like', async () => {
    const gzipLike = Buffer.concat([Buffer.from([0x1f, 0x8b, 0x08, 0x00]), Buffer.alloc(100)]);

    await expect(
      decryptToSink(Buffer.from('plain text, not encrypted'), { passphrase: 'x' }),
    ).rejects.toThrow(/is not an OpenPGP message/);
    await expect(decryptToSink(gzipLike, { passphrase: 'x' })).rejects.toThrow(
      /not an OpenPGP message \(it looks like gzip data/,
    );
    await expect(decryptToSink(Buffer.alloc(0), { passphrase: 'x' })).rejects.toThrow(IntegrityError);
  });

  it('fails at once when neither keys nor a passphrase are given', () => {
    expect(() => decryptStage({})).toThrow(CryptoError);
    expect(() => encryptStage({})).toThrow(/at least one recipient public key or a non-empty passphrase/);
  });

  it('reports the input failure, not an OpenPGP error, when the source fails while decrypting', async () => {
    const failing = bufferStream(keyCiphertext);
    let sent = 0;
    failing.on('data', (chunk: Buffer) => {
      sent += chunk.length;
      if (sent > MB) failing.destroy(new Error('S3 connection reset'));
    });

    const run = pipeline(failing, decryptStage({ privateKeys: [privateKey] }), new HashSink());

    await expect(run).rejects.toThrow('S3 connection reset');
  });

  it('reports the input failure, not an OpenPGP error, when the source fails while encrypting', async () => {
    const failing = bufferStream(Buffer.alloc(MB));
    let sent = 0;
    failing.on('data', (chunk: Buffer) => {
      sent += chunk.length;
      if (sent > 256 * 1024) failing.destroy(new Error('pg_dump exited with code 1'));
    });

    const run = pipeline(failing, encryptStage({ recipients }), new HashSink());

    await expect(run).rejects.toThrow('pg_dump exited with code 1');
  });
});
