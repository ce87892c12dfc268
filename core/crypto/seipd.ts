/**
 * The symmetrically encrypted part of a dumpvault message, written with node:crypto: one SEIPD
 * v1 packet (RFC 4880 §5.13, RFC 9580 §5.13.1) holding one binary literal data packet, both with
 * partial body lengths as data arrives, and the MDC packet at the end.
 *
 * openpgp.js writes the same bytes but spends several times the CPU of GnuPG doing it (its CFB
 * and SHA-1 run in JavaScript over Web Streams); OpenSSL's AES-CFB and SHA-1 do the same work for
 * a fraction. openpgp.js still chooses the session key and writes the key packets (PKESK/SKESK),
 * where the cost is per message, not per byte. Measured in `npm run bench` (docs: README
 * Performance); proved by the interop tests: GnuPG and openpgp.js decrypt what this writes.
 */
import { type Cipher, createCipheriv, createHash, type Hash, randomBytes } from 'node:crypto';

const TAG_LITERAL = 11;
const TAG_SEIPD = 18;
const TAG_MDC = 19;

/** The AES ciphers the session key may name (its algorithm as openpgp.js spells it). */
const CFB: Readonly<Record<string, { readonly cipher: string; readonly keyBytes: number }>> = {
  aes128: { cipher: 'aes-128-cfb', keyBytes: 16 },
  aes192: { cipher: 'aes-192-cfb', keyBytes: 24 },
  aes256: { cipher: 'aes-256-cfb', keyBytes: 32 },
};

const BLOCK = 16;
/** RFC 4880 §4.2.2.4: the first partial body length must be at least 512 octets. */
const MIN_PARTIAL = 512;
/** The largest partial body length (2^30). */
const MAX_PARTIAL_BITS = 30;

/** Whether the session key's cipher is one this writer handles (AES); others go to openpgp.js. */
export function nativeSeipdSupports(algorithm: string): boolean {
  return algorithm in CFB;
}

/** A new-format length octet sequence for a definite (final) body length. */
function finalLength(length: number): Buffer {
  if (length < 192) return Buffer.from([length]);
  if (length < 8384) {
    const rest = length - 192;
    return Buffer.from([(rest >> 8) + 192, rest & 0xff]);
  }
  const out = Buffer.alloc(5);
  out[0] = 0xff;
  out.writeUInt32BE(length, 1);
  return out;
}

/**
 * Frames a packet body that arrives piece by piece with partial body lengths: holds what it is
 * given until at least `flushAt` octets are there, then emits the largest power of two it holds
 * (never less than 512) as one partial; `end()` emits the rest with a final length.
 */
class PartialFramer {
  private readonly held: Buffer[] = [];
  private heldBytes = 0;
  private started = false;

  constructor(
    private readonly tag: number,
    private readonly flushAt: number,
    private readonly emit: (bytes: Buffer) => void,
    /** Emit each partial as one buffer (true), or its header and data slices one by one (no copy). */
    private readonly joined: boolean,
  ) {}

  push(bytes: Buffer): void {
    if (bytes.length === 0) return;
    this.held.push(bytes);
    this.heldBytes += bytes.length;
    while (this.heldBytes >= Math.max(this.flushAt, MIN_PARTIAL)) {
      const bits = Math.min(MAX_PARTIAL_BITS, Math.floor(Math.log2(this.heldBytes)));
      this.flush(1 << bits, Buffer.from([0xe0 | bits]));
    }
  }

  end(): void {
    this.flush(this.heldBytes, finalLength(this.heldBytes));
  }

  /** Emits the packet tag (first time), `header`, then the first `count` held octets. */
  private flush(count: number, header: Buffer): void {
    const parts: Buffer[] = [];
    if (!this.started) {
      parts.push(Buffer.from([0xc0 | this.tag]));
      this.started = true;
    }
    parts.push(header);
    let left = count;
    while (left > 0) {
      const first = this.held[0]!;
      if (first.length <= left) {
        parts.push(first);
        this.held.shift();
        left -= first.length;
      } else {
        parts.push(first.subarray(0, left));
        this.held[0] = first.subarray(left);
        left = 0;
      }
    }
    this.heldBytes -= count;
    if (this.joined) this.emit(parts.length === 1 ? parts[0]! : Buffer.concat(parts));
    else for (const part of parts) this.emit(part);
  }
}

/**
 * Encrypts a stream into one SEIPD v1 packet under `sessionKey` (AES: see nativeSeipdSupports).
 * Yields the packet's bytes as they are ready; the caller writes the key packets before them.
 * `now` is the literal data packet's date.
 */
export async function* seipdV1(
  source: AsyncIterable<Buffer>,
  sessionKey: { readonly data: Uint8Array; readonly algorithm: string },
  now: Date = new Date(),
): AsyncGenerator<Buffer> {
  const spec = CFB[sessionKey.algorithm];
  if (!spec || sessionKey.data.length !== spec.keyBytes)
    throw new Error(`no native SEIPD writer for a ${sessionKey.algorithm} session key`);
  const cipher: Cipher = createCipheriv(spec.cipher, sessionKey.data, Buffer.alloc(BLOCK));
  const mdc: Hash = createHash('sha1');
  const out: Buffer[] = [];
  // Outer packet: tag 18, version 1, then the ciphertext.
  const seipd = new PartialFramer(TAG_SEIPD, 1 << 16, (bytes) => out.push(bytes), true);
  seipd.push(Buffer.from([1]));
  const encrypt = (plain: Buffer): void => {
    mdc.update(plain);
    seipd.push(cipher.update(plain));
  };
  // The random prefix with its last two octets repeated (the "quick check").
  const prefix = randomBytes(BLOCK + 2);
  prefix[BLOCK] = prefix[BLOCK - 2]!;
  prefix[BLOCK + 1] = prefix[BLOCK - 1]!;
  encrypt(prefix);
  // Inner packet: tag 11, format 'b', no file name, the date; its framing goes straight into
  // the cipher, piece by piece (no copy of the data for the inner framing).
  const literal = new PartialFramer(TAG_LITERAL, 1 << 16, encrypt, false);
  const literalHeader = Buffer.alloc(6);
  literalHeader[0] = 0x62; // 'b'
  literalHeader[1] = 0; // file name length
  literalHeader.writeUInt32BE(Math.floor(now.getTime() / 1000) >>> 0, 2);
  literal.push(literalHeader);
  for await (const chunk of source) {
    literal.push(chunk);
    if (out.length > 0) yield* out.splice(0);
  }
  literal.end();
  // MDC: SHA-1 over the prefix, the literal packet and the MDC packet's own two header octets.
  const mdcHeader = Buffer.from([0xc0 | TAG_MDC, 20]);
  mdc.update(mdcHeader);
  const digest = mdc.digest();
  seipd.push(cipher.update(Buffer.concat([mdcHeader, digest])));
  const tail = cipher.final();
  if (tail.length) seipd.push(tail);
  seipd.end();
  yield* out.splice(0);
}
