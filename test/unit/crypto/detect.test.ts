import { pipeline } from 'node:stream/promises';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { encryptStage, generateKeyPair, loadRecipients } from '../../../core/crypto/openpgp.ts';
import { DETECT_HEAD_BYTES, detectFormat } from '../../../core/formats/detect.ts';
import { bufferStream, CollectSink } from './support.ts';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('detectFormat', () => {
  it('recognises gzip, zstd and pg_dump custom archives by their magic bytes', () => {
    expect(detectFormat(gzipSync(Buffer.from('hello')))).toBe('gzip');
    expect(detectFormat(hex('28b52ffd 2400 0000'))).toBe('zstd');
    expect(detectFormat(Buffer.from('PGDMP\x01\x0e\x00\x04\x08\x01\x01'))).toBe('pgdump-custom');
  });

  it.each([
    ['gpg --encrypt, legacy-format PKESK (0x84)', '845e 03 1122334455667788 12'],
    ['gpg --encrypt with an RSA key, 2-octet length (0x85)', '85010c 03 1122334455667788 01'],
    ['gpg --symmetric, legacy-format SKESK (0x8c)', '8c0d 04 09 03 02'],
    ['openpgp.js PKESK, new format (0xc1)', 'c15e 03 1122334455667788 12'],
    ['openpgp.js SKESK, new format (0xc3)', 'c32e 04 09 03 08'],
    ['SEIPD v1 straight away (0xd2, partial length)', 'd2e0 01 aabbccdd'],
    ['a signed message (one-pass signature, 0x90)', '900d 03 00 08 01'],
    ['a compressed message (0xa3, indeterminate length)', 'a3 01 ed'],
    ['a literal data packet (0xcb)', 'cb0a 62 00 00000000 6869'],
  ])('recognises an OpenPGP message: %s', (_what, bytes) => {
    expect(detectFormat(hex(bytes))).toBe('openpgp');
  });

  it('recognises an ASCII-armored message from its first 16 bytes', () => {
    expect(detectFormat(Buffer.from('-----BEGIN PGP MESSAGE-----\n\nwcFMA'))).toBe('openpgp');
    expect(detectFormat(Buffer.from('-----BEGIN PGP MESSAGE-----').subarray(0, DETECT_HEAD_BYTES))).toBe(
      'openpgp',
    );
    expect(detectFormat(Buffer.from('-----BEGIN PGP PUBLIC KEY BLOCK-----'))).toBe('unknown');
  });

  it('recognises what encryptStage writes', async () => {
    const pair = await generateKeyPair({ name: 'D', email: 'd@example.com' });
    const { mkdtemp, writeFile } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = await mkdtemp(join(tmpdir(), 'dv-detect-'));
    await writeFile(join(dir, 'd.asc'), pair.publicKey);
    for (const options of [{ recipients: await loadRecipients(['d.asc'], dir) }, { passphrase: 'p' }]) {
      const sink = new CollectSink();
      await pipeline(bufferStream(Buffer.from('x')), encryptStage(options), sink);
      expect(detectFormat(sink.data().subarray(0, DETECT_HEAD_BYTES))).toBe('openpgp');
    }
  });

  it.each([
    ['empty input', ''],
    ['plain SQL', Buffer.from('-- PostgreSQL database dump\n').toString('hex')],
    ['a byte with the high bit set but an implausible body (0x84 then version 9)', '8405 09 000000'],
    ['a new-format PKESK header with version 5', 'c10c 05 00'],
    ['a lone packet-header byte', '84'],
    ['bzip2', Buffer.from('BZh91AY&SY').toString('hex')],
  ])('says unknown for %s', (_what, bytes) => {
    expect(detectFormat(hex(bytes))).toBe('unknown');
  });
});
