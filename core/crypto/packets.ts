/**
 * Just enough OpenPGP packet parsing (RFC 9580 §4.2) to find the start of a message's SEIPD v1
 * packet and run the "quick check" of RFC 9580 §5.7 / RFC 4880 §5.13: the last two octets of
 * the random prefix are repeated, so a wrong session key (wrong passphrase) is recognised
 * before any plaintext is released. openpgp.js skips this check; without it a wrong passphrase
 * would stream garbage until the MDC fails at the very end of the object.
 */
import { createDecipheriv } from 'node:crypto';

const TAG_PKESK = 1;
const TAG_SKESK = 3;
const TAG_MARKER = 10;
const TAG_SEIPD = 18;

interface PacketHeader {
  readonly tag: number;
  readonly headerLength: number;
  /** Body length, or of the first chunk when `partial`; undefined = to the end of the data. */
  readonly bodyLength: number | undefined;
  readonly partial: boolean;
}

function readHeader(buf: Buffer, at: number): PacketHeader | undefined {
  const first = buf[at];
  if (first === undefined || (first & 0x80) === 0) return undefined;
  if (first & 0x40) {
    const tag = first & 0x3f;
    const l0 = buf[at + 1];
    if (l0 === undefined) return undefined;
    if (l0 < 192) return { tag, headerLength: 2, bodyLength: l0, partial: false };
    if (l0 < 224) {
      const l1 = buf[at + 2];
      if (l1 === undefined) return undefined;
      return { tag, headerLength: 3, bodyLength: ((l0 - 192) << 8) + l1 + 192, partial: false };
    }
    if (l0 < 255) return { tag, headerLength: 2, bodyLength: 1 << (l0 & 0x1f), partial: true };
    if (at + 6 > buf.length) return undefined;
    return { tag, headerLength: 6, bodyLength: buf.readUInt32BE(at + 2), partial: false };
  }
  const tag = (first >> 2) & 0x0f;
  const lengthType = first & 0x03;
  if (lengthType === 3) return { tag, headerLength: 1, bodyLength: undefined, partial: false };
  const octets = [1, 2, 4][lengthType]!;
  if (at + 1 + octets > buf.length) return undefined;
  return { tag, headerLength: 1 + octets, bodyLength: buf.readUIntBE(at + 1, octets), partial: false };
}

/**
 * Where a message's SEIPD v1 packet starts in its first bytes (after the key and marker
 * packets), or undefined when `head` does not show one (another layout, SEIPD v2, a head too
 * short).
 */
export function seipdV1Offset(head: Buffer): number | undefined {
  let at = 0;
  while (at < head.length) {
    const header = readHeader(head, at);
    if (!header) return undefined;
    if (header.tag === TAG_SEIPD) return head[at + header.headerLength] === 1 ? at : undefined;
    const skippable = header.tag === TAG_PKESK || header.tag === TAG_SKESK || header.tag === TAG_MARKER;
    if (!skippable || header.partial || header.bodyLength === undefined) return undefined;
    at += header.headerLength + header.bodyLength;
  }
  return undefined;
}

/**
 * The first `count` octets of the encrypted body of a message's SEIPD v1 packet, found in the
 * message's first bytes, or undefined when `head` does not show them (another layout, SEIPD v2,
 * or a head too short).
 */
export function seipdV1Start(head: Buffer, count: number): Buffer | undefined {
  let at = 0;
  while (at < head.length) {
    const header = readHeader(head, at);
    if (!header) return undefined;
    const body = at + header.headerLength;
    if (header.tag === TAG_SEIPD) {
      const available = header.bodyLength === undefined ? head.length - body : header.bodyLength;
      if (head[body] !== 1 || available < 1 + count || body + 1 + count > head.length) return undefined;
      return head.subarray(body + 1, body + 1 + count);
    }
    const skippable = header.tag === TAG_PKESK || header.tag === TAG_SKESK || header.tag === TAG_MARKER;
    if (!skippable || header.partial || header.bodyLength === undefined) return undefined;
    at = body + header.bodyLength;
  }
  return undefined;
}

const CFB_CIPHERS: Readonly<Record<string, string>> = {
  aes128: 'aes-128-cfb',
  aes192: 'aes-192-cfb',
  aes256: 'aes-256-cfb',
};

/**
 * Whether `sessionKey` passes the quick check on a SEIPD v1 body that starts with `start`.
 * Returns undefined when the check cannot be made (a cipher other than AES, or no start bytes):
 * the MDC at the end of the message still catches a wrong key.
 */
export function quickCheck(
  sessionKey: { data: Uint8Array; algorithm: string | null },
  head: Buffer,
): boolean | undefined {
  const cipher = sessionKey.algorithm ? CFB_CIPHERS[sessionKey.algorithm] : undefined;
  if (!cipher) return undefined;
  const blockSize = 16;
  const start = seipdV1Start(head, blockSize + 2);
  if (!start) return undefined;
  try {
    const decipher = createDecipheriv(cipher, sessionKey.data, Buffer.alloc(blockSize));
    const prefix = decipher.update(start);
    return prefix[blockSize - 2] === prefix[blockSize] && prefix[blockSize - 1] === prefix[blockSize + 1];
  } catch {
    return false; // a session key of the wrong length for its cipher
  }
}
