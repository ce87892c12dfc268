import { createCipheriv, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { quickCheck, seipdV1Start } from '../../../core/crypto/packets.ts';

/** A fake message: an SKESK packet, then a SEIPD v1 packet whose body starts with a CFB-encrypted prefix. */
function message(key: Buffer, repeatOk: boolean): Buffer {
  const prefix = randomBytes(16);
  const quick = repeatOk ? prefix.subarray(14, 16) : Buffer.from([prefix[14]! ^ 0xff, prefix[15]!]);
  const plain = Buffer.concat([prefix, quick, Buffer.from('literal data follows')]);
  const cipher = createCipheriv('aes-256-cfb', key, Buffer.alloc(16));
  const encrypted = Buffer.concat([cipher.update(plain), cipher.final()]);
  const skesk = Buffer.from('c30b0409030800000000000000', 'hex'); // SKESK v4, AES-256, salted S2K;
  const seipdBody = Buffer.concat([Buffer.from([1]), encrypted]);
  return Buffer.concat([skesk, Buffer.from([0xd2, seipdBody.length]), seipdBody]);
}

describe('SEIPD quick check', () => {
  it('finds the SEIPD v1 body after the session-key packets', () => {
    const msg = message(randomBytes(32), true);

    const body = 13 + 2 + 1; // after the SKESK, the SEIPD header and its version octet
    expect(seipdV1Start(msg, 18)).toEqual(msg.subarray(body, body + 18));
  });

  it('accepts the right session key and rejects a wrong one', () => {
    const key = randomBytes(32);
    const msg = message(key, true);

    expect(quickCheck({ data: key, algorithm: 'aes256' }, msg)).toBe(true);
    expect(quickCheck({ data: randomBytes(32), algorithm: 'aes256' }, msg)).toBe(false);
  });

  it('rejects a message whose prefix does not repeat', () => {
    const key = randomBytes(32);

    expect(quickCheck({ data: key, algorithm: 'aes256' }, message(key, false))).toBe(false);
  });

  it('cannot decide for non-AES ciphers or when the SEIPD start is not in the head', () => {
    const key = randomBytes(32);
    const msg = message(key, true);

    expect(quickCheck({ data: key, algorithm: 'cast5' }, msg)).toBeUndefined();
    expect(quickCheck({ data: key, algorithm: 'aes256' }, msg.subarray(0, 20))).toBeUndefined();
  });
});
