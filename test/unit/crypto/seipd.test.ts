/**
 * The node:crypto SEIPD v1 writer and reader (seipd.ts) against each other, directly: the
 * stage tests and the gpg interop tests prove the messages are standard; these prove the reader
 * itself (not an openpgp.js fallback) releases the data and catches every kind of damage.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { openSeipdV1, opensNatively, SeipdError, seipdV1 } from '../../../core/crypto/seipd.ts';

const key = { data: new Uint8Array(randomBytes(32)), algorithm: 'aes256' };

async function seal(data: Buffer, chunk = 70_001): Promise<Buffer> {
  async function* source() {
    for (let at = 0; at < data.length; at += chunk) yield data.subarray(at, at + chunk);
  }
  const parts: Buffer[] = [];
  for await (const part of seipdV1(source(), key)) parts.push(part);
  return Buffer.concat(parts);
}

async function open(packet: Buffer, chunk = 65_536, sessionKey = key): Promise<Buffer> {
  async function* rest() {
    for (let at = 1000; at < packet.length; at += chunk) yield packet.subarray(at, at + chunk);
  }
  const parts: Buffer[] = [];
  for await (const part of openSeipdV1(packet.subarray(0, 1000), rest(), sessionKey)) parts.push(part);
  return Buffer.concat(parts);
}

describe('the node:crypto SEIPD reader', () => {
  it('reads back what the writer wrote, for every length class and chunking', async () => {
    for (const size of [0, 1, 21, 22, 23, 505, 512, 8378, 65_536, 1_000_003]) {
      const data = randomBytes(size);
      const packet = await seal(data, (size % 7) + 1000);
      expect(opensNatively(packet, key)).toBe(true);
      for (const chunk of [1, 977, 65_536]) {
        if (size > 100_000 && chunk === 1) continue;
        expect((await open(packet, chunk)).equals(data), `${size} bytes in ${chunk}-byte chunks`).toBe(true);
      }
    }
  });

  // Bug caught: a reader that trusts the data without checking the MDC at the end.
  it('fails at the end when any byte of the ciphertext was flipped', async () => {
    const data = randomBytes(300_000);
    const packet = await seal(data);
    for (const at of [40, 1000, 150_000, packet.length - 30, packet.length - 1]) {
      const tampered = Buffer.from(packet);
      tampered[at]! ^= 0x01;
      await expect(open(tampered), `flip at ${at}`).rejects.toBeInstanceOf(SeipdError);
    }
  });

  // Bug caught: a reader that ends cleanly when the object was cut short.
  it('fails when the message is truncated anywhere, the MDC included', async () => {
    const packet = await seal(randomBytes(200_000));
    for (const length of [1200, 65_540, 100_000, packet.length - 22, packet.length - 1]) {
      await expect(open(packet.subarray(0, length)), `cut at ${length}`).rejects.toBeInstanceOf(SeipdError);
    }
  });

  it('fails for bytes after the packet, and for a wrong session key (MDC)', async () => {
    const packet = await seal(randomBytes(10_000));
    await expect(open(Buffer.concat([packet, Buffer.from([0xc0 | 18, 1, 1])]))).rejects.toBeInstanceOf(
      SeipdError,
    );
    const wrong = { data: new Uint8Array(randomBytes(32)), algorithm: 'aes256' };
    await expect(open(packet, 65_536, wrong)).rejects.toBeInstanceOf(SeipdError);
  });

  // Cost, not format: every buffer the writer yields costs a trip through the pipeline's
  // stages, so it yields whole partial bodies, not one piece per input chunk (docs/performance.md).
  it('yields two buffers per 256 KiB of ciphertext however finely the input is chunked', async () => {
    const data = randomBytes(1_000_000);
    for (const chunk of [1000, 65_536, 300_001]) {
      async function* source() {
        for (let at = 0; at < data.length; at += chunk) yield data.subarray(at, at + chunk);
      }
      const parts: Buffer[] = [];
      for await (const part of seipdV1(source(), key)) parts.push(part);
      const runs = Math.ceil(1_000_000 / 262_144);
      expect(parts.length, `${chunk}-byte chunks`).toBeLessThanOrEqual(2 * runs + 2);
      // Each partial body is whole: a length octet for 2^18, then that many octets.
      expect(parts[0]!.subarray(0, 3)).toEqual(Buffer.from([0xc0 | 18, 0xe0 | 18, 1]));
      expect(parts[1]!.length).toBe(262_144 - 1);
      expect(parts[2]).toEqual(Buffer.from([0xe0 | 18]));
      expect(parts[3]!.length).toBe(262_144);
      expect((await open(Buffer.concat(parts))).equals(data)).toBe(true);
    }
  });

  it('leaves packets under a cipher it does not handle to openpgp.js', async () => {
    const packet = await seal(randomBytes(1000));
    expect(opensNatively(packet, { data: key.data, algorithm: 'twofish' })).toBe(false);
  });
});
