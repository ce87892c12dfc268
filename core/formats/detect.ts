/**
 * Recognises what a stored object is from its first bytes, so a foreign file restored without
 * a manifest (`pg_dump -Fc | gzip | gpg -e`, in any combination) can be unwrapped layer by layer.
 */

/** What {@link detectFormat} recognises. */
export const DETECTED_FORMATS = ['openpgp', 'gzip', 'zstd', 'pgdump-custom', 'unknown'] as const;
export type DetectedFormat = (typeof DETECTED_FORMATS)[number];

/** How many leading bytes {@link detectFormat} needs to decide; fewer may give 'unknown'. */
export const DETECT_HEAD_BYTES = 16;

const GZIP_MAGIC = [0x1f, 0x8b, 0x08] as const; // ID1 ID2 CM=deflate (RFC 1952 §2.3.1)
const ZSTD_MAGIC = [0x28, 0xb5, 0x2f, 0xfd] as const; // frame magic 0xFD2FB528 little-endian (RFC 8878 §3.1.1)
const PGDUMP_MAGIC = Buffer.from('PGDMP', 'latin1'); // pg_dump custom format header
const ARMOR_MESSAGE = Buffer.from('-----BEGIN PGP MESSAGE-----', 'latin1');

/**
 * OpenPGP packet tags that may open a message (RFC 9580 §10.3 grammar, plus the marker packet
 * GnuPG sometimes emits), with a check of the first body octet so that random data whose first
 * byte happens to look like a packet header is not taken for OpenPGP.
 */
const MESSAGE_OPENERS: ReadonlyMap<number, (first: number) => boolean> = new Map([
  [1, (v: number) => v === 3 || v === 6], // public-key encrypted session key: version 3 or 6
  [3, (v: number) => v === 4 || v === 5 || v === 6], // symmetric-key encrypted session key
  [2, (v: number) => v === 3 || v === 4 || v === 6], // signature
  [4, (v: number) => v === 3 || v === 6], // one-pass signature
  [8, (v: number) => v <= 3], // compressed data: algorithm 0-3
  [9, () => true], // symmetrically encrypted data (legacy, no MDC)
  [10, (v: number) => v === 0x50], // marker: "PGP"
  [11, (v: number) => 'btul1m'.includes(String.fromCharCode(v))], // literal data: format octet
  [18, (v: number) => v === 1 || v === 2], // SEIPD v1 / v2
  [20, (v: number) => v === 1], // AEAD encrypted data (LibrePGP)
]);

function startsWith(head: Buffer, magic: readonly number[] | Buffer): boolean {
  if (head.length < magic.length) return false;
  for (let i = 0; i < magic.length; i++) if (head[i] !== magic[i]) return false;
  return true;
}

/** The offset of a packet's first body octet, or undefined when the header is incomplete/invalid. */
function packetBodyOffset(head: Buffer): { tag: number; bodyOffset: number } | undefined {
  const first = head[0];
  if (first === undefined || (first & 0x80) === 0) return undefined;
  if (first & 0x40) {
    // New format (RFC 9580 §4.2.1): tag in the low 6 bits, then a 1, 2, 5-octet or partial length.
    const tag = first & 0x3f;
    const len0 = head[1];
    if (len0 === undefined) return undefined;
    if (len0 < 192) return { tag, bodyOffset: 2 };
    if (len0 < 224) return { tag, bodyOffset: 3 };
    if (len0 < 255) return { tag, bodyOffset: 2 }; // partial body length: the chunk starts right after
    return { tag, bodyOffset: 6 };
  }
  // Legacy format (RFC 9580 §4.2.2): tag in bits 5-2, length type in bits 1-0.
  const tag = (first >> 2) & 0x0f;
  const lengthType = first & 0x03;
  const lengthOctets = [1, 2, 4, 0][lengthType]!;
  return { tag, bodyOffset: 1 + lengthOctets };
}

/** `-----BEGIN PGP MESSAGE-----`, or as much of it as `head` holds (at least 16 bytes). */
function isArmoredMessage(head: Buffer): boolean {
  const n = Math.min(head.length, ARMOR_MESSAGE.length);
  return n >= DETECT_HEAD_BYTES && head.subarray(0, n).equals(ARMOR_MESSAGE.subarray(0, n));
}

function looksLikeOpenPgp(head: Buffer): boolean {
  if (isArmoredMessage(head)) return true;
  const header = packetBodyOffset(head);
  if (!header) return false;
  const check = MESSAGE_OPENERS.get(header.tag);
  const firstBodyOctet = head[header.bodyOffset];
  return check !== undefined && firstBodyOctet !== undefined && check(firstBodyOctet);
}

/**
 * The format of a byte stream from its first bytes (give at least {@link DETECT_HEAD_BYTES}):
 * an OpenPGP message (binary, or ASCII-armored), gzip, zstd, a pg_dump custom-format archive,
 * or 'unknown'. Magic numbers are checked before OpenPGP because OpenPGP has none: it is
 * recognised by a plausible first packet header.
 */
export function detectFormat(head: Buffer): DetectedFormat {
  if (startsWith(head, GZIP_MAGIC)) return 'gzip';
  if (startsWith(head, ZSTD_MAGIC)) return 'zstd';
  if (startsWith(head, PGDUMP_MAGIC)) return 'pgdump-custom';
  if (looksLikeOpenPgp(head)) return 'openpgp';
  return 'unknown';
}
