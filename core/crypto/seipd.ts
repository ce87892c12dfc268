/**
 * The symmetrically encrypted part of a dumpvault message, written with node:crypto: one SEIPD
 * v1 packet (RFC 4880 §5.13, RFC 9580 §5.13.1) holding one binary literal data packet, both with
 * partial body lengths as data arrives, and the MDC packet at the end.
 *
 * openpgp.js writes the same bytes but spends several times the CPU of GnuPG doing it (its CFB
 * and SHA-1 run in JavaScript over Web Streams); OpenSSL's AES-CFB and SHA-1 do the same work for
 * a fraction. openpgp.js still chooses the session key and writes the key packets (PKESK/SKESK),
 * where the cost is per message, not per byte. Measured in `npm run bench` (docs/performance.md);
 * proved by the interop tests: GnuPG and openpgp.js decrypt what this writes.
 */
import {
  type Cipher,
  createCipheriv,
  createDecipheriv,
  createHash,
  type Hash,
  randomBytes,
} from 'node:crypto';
import { finalLength, PacketReader, PartialFramer, SeipdError } from './packet-framing.ts';

export { SeipdError } from './packet-framing.ts';

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

/** Whether the session key's cipher is one this writer handles (AES); others go to openpgp.js. */
export function nativeSeipdSupports(algorithm: string): boolean {
  return algorithm in CFB;
}

/**
 * Ciphertext goes out in runs of 2^RUN_BITS octets (256 KiB), each one whole partial body of the
 * SEIPD packet behind its one-octet length header: two buffers per run downstream, and one
 * `cipher.update` per run over plaintext gathered in a buffer allocated once. The size is a
 * measured choice (docs/performance.md, one core: 64 KiB runs saved nothing).
 */
const RUN_BITS = 18;
const RUN_BYTES = 1 << RUN_BITS;

/**
 * Encrypts a stream into one SEIPD v1 packet under `sessionKey` (AES: see nativeSeipdSupports).
 * Yields the packet's bytes as they are ready; the caller writes the key packets before them.
 * `now` is the literal data packet's date.
 *
 * The plaintext (random prefix, the literal data packet with its own partial lengths, the MDC
 * packet) is copied into one reused buffer and encrypted a run at a time, so the ciphertext of a
 * run is exactly one partial body of the outer packet (the first run one octet short, for the
 * version octet in front of it): no partial body cuts a ciphertext buffer, and the number of
 * calls and buffers does not depend on how the input is chunked.
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
  const plain = Buffer.allocUnsafe(RUN_BYTES);
  // The first run is one octet short: the outer packet's version octet goes in front of it.
  let room = RUN_BYTES - 1;
  let used = 0;
  let first = true;
  /** The outer packet's header (first time), a length, and the version octet (first time). */
  const header = (length: Buffer): Buffer =>
    first ? Buffer.concat([Buffer.of(0xc0 | TAG_SEIPD), length, Buffer.of(1)]) : length;
  const gather = (bytes: Buffer): void => {
    let at = 0;
    while (at < bytes.length) {
      const n = Math.min(room - used, bytes.length - at);
      bytes.copy(plain, used, at, at + n);
      used += n;
      at += n;
      if (used < room) continue;
      // A full run is one partial body (more follows: at least the MDC's digest).
      const run = plain.subarray(0, used);
      mdc.update(run);
      out.push(header(Buffer.of(0xe0 | RUN_BITS)), cipher.update(run));
      first = false;
      used = 0;
      room = RUN_BYTES;
    }
  };
  // The random prefix with its last two octets repeated (the "quick check").
  const prefix = randomBytes(BLOCK + 2);
  prefix[BLOCK] = prefix[BLOCK - 2]!;
  prefix[BLOCK + 1] = prefix[BLOCK - 1]!;
  gather(prefix);
  // Inner packet: tag 11, format 'b', no file name, the date; its framing is gathered with the
  // data it frames.
  const literal = new PartialFramer(TAG_LITERAL, RUN_BYTES, gather);
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
  gather(Buffer.from([0xc0 | TAG_MDC, 20]));
  const tail = plain.subarray(0, used);
  mdc.update(tail);
  const last = [cipher.update(tail), cipher.update(mdc.digest()), cipher.final()];
  // The final (definite) length: what follows the last partial header.
  const length = last.reduce((sum, b) => sum + b.length, 0);
  out.push(header(finalLength(first ? length + 1 : length)), ...last.filter((b) => b.length > 0));
  yield* out.splice(0);
}

const MDC_BYTES = 22;

/**
 * The plaintext of a SEIPD v1 packet: strips the random prefix, the literal data packet's
 * framing and header, and checks the MDC at the end. Data is released as it is decrypted; a
 * modified or truncated packet fails after the last chunk (the MDC covers everything).
 */
class LiteralReader {
  private readonly mdc: Hash = createHash('sha1');
  private prefixLeft = BLOCK + 2;
  /** The last MDC_BYTES of plaintext seen, held back until the end. */
  private tail: Buffer = Buffer.alloc(0);
  private readonly packet: PacketReader;
  private literalHeader: number[] | undefined = [];
  private literalSkip = 0;

  constructor(private readonly out: (data: Buffer) => void) {
    this.packet = new PacketReader(
      TAG_LITERAL,
      true,
      (bytes) => this.body(bytes),
      'data follows the literal data packet',
    );
  }

  push(plain: Buffer): void {
    // Everything but the last MDC_BYTES octets seen so far is data; those are held back.
    if (plain.length >= MDC_BYTES) {
      if (this.tail.length) this.data(this.tail);
      this.tail = Buffer.from(plain.subarray(plain.length - MDC_BYTES));
      this.data(plain.subarray(0, plain.length - MDC_BYTES));
      return;
    }
    const all = Buffer.concat([this.tail, plain]);
    const cut = Math.max(0, all.length - MDC_BYTES);
    this.tail = all.subarray(cut);
    if (cut > 0) this.data(all.subarray(0, cut));
  }

  end(): void {
    const tail = this.tail;
    if (tail.length < MDC_BYTES || tail[0] !== (0xc0 | TAG_MDC) || tail[1] !== 20)
      throw new SeipdError('the message ends without its integrity check (MDC): it is truncated');
    if (!this.packet.ended)
      throw new SeipdError('the literal data packet is cut short: the message is truncated');
    this.mdc.update(tail.subarray(0, 2));
    if (!this.mdc.digest().equals(tail.subarray(2)))
      throw new SeipdError('Modification detected: the MDC does not match the message');
  }

  private data(bytes: Buffer): void {
    this.mdc.update(bytes);
    let at = 0;
    if (this.prefixLeft > 0) {
      at = Math.min(this.prefixLeft, bytes.length);
      this.prefixLeft -= at;
    }
    if (at < bytes.length) this.packet.push(at === 0 ? bytes : bytes.subarray(at));
  }
  /** Literal packet body: format, file name length and name, date, then the data. */
  private body(bytes: Buffer): void {
    let at = 0;
    if (this.literalHeader) {
      while (this.literalHeader.length < 2 && at < bytes.length) this.literalHeader.push(bytes[at++]!);
      if (this.literalHeader.length < 2) return;
      if (this.literalSkip === 0) this.literalSkip = this.literalHeader[1]! + 4;
      const skip = Math.min(this.literalSkip, bytes.length - at);
      at += skip;
      this.literalSkip -= skip;
      if (this.literalSkip > 0) return;
      this.literalHeader = undefined;
    }
    if (at < bytes.length) this.out(at === 0 ? bytes : bytes.subarray(at));
  }
}

/**
 * Whether `head` (the message's first bytes, from its SEIPD packet on) decrypts under
 * `sessionKey` to a literal data packet right after the prefix: what openSeipdV1 reads. A
 * compressed packet (gpg's default) or anything else is left to openpgp.js.
 */
export function opensNatively(seipd: Buffer, sessionKey: { data: Uint8Array; algorithm: string }): boolean {
  const spec = CFB[sessionKey.algorithm];
  if (!spec || sessionKey.data.length !== spec.keyBytes) return false;
  // Tag octet, one length octet of a partial (≥ 512) or two/five of a definite length, version.
  const l0 = seipd[1];
  if (seipd[0] !== (0xc0 | TAG_SEIPD) || l0 === undefined) return false;
  const lengthOctets = l0 < 192 ? 1 : l0 < 224 ? 2 : l0 < 255 ? 1 : 5;
  const body = 1 + lengthOctets;
  const firstRun =
    l0 < 192
      ? l0
      : l0 < 224
        ? ((l0 - 192) << 8) + (seipd[2] ?? 0) + 192
        : l0 < 255
          ? 1 << (l0 & 0x1f)
          : seipd.readUInt32BE(2);
  const need = 1 + BLOCK + 2 + 1;
  if (firstRun < need || seipd.length < body + need || seipd[body] !== 1) return false;
  const decipher = createDecipheriv(spec.cipher, sessionKey.data, Buffer.alloc(BLOCK));
  const first = decipher.update(seipd.subarray(body + 1, body + need))[BLOCK + 2]!;
  const tag = (first & 0xc0) === 0xc0 ? first & 0x3f : (first & 0x80) !== 0 ? (first >> 2) & 0x0f : -1;
  return tag === TAG_LITERAL;
}

/**
 * Decrypts a SEIPD v1 packet (from its first octet on, `head` then the rest from `rest`) with
 * node:crypto and yields the literal data. Throws SeipdError for a modified or truncated
 * packet (at the end, when the MDC is checked, unless the framing breaks earlier); a failure of
 * `rest` passes through unchanged.
 */
export async function* openSeipdV1(
  head: Buffer,
  rest: AsyncIterator<Uint8Array>,
  sessionKey: { readonly data: Uint8Array; readonly algorithm: string },
): AsyncGenerator<Buffer> {
  const spec = CFB[sessionKey.algorithm];
  if (!spec) throw new SeipdError(`no native SEIPD reader for a ${sessionKey.algorithm} session key`);
  const decipher = createDecipheriv(spec.cipher, sessionKey.data, Buffer.alloc(BLOCK));
  const out: Buffer[] = [];
  const literal = new LiteralReader((data) => out.push(data));
  let version = true;
  const packet = new PacketReader(
    TAG_SEIPD,
    false,
    (bytes) => {
      let body = bytes;
      if (version) {
        version = false;
        body = body.subarray(1);
      }
      if (body.length) literal.push(decipher.update(body));
    },
    'data follows the encrypted packet',
  );
  packet.push(head);
  if (out.length) yield* out.splice(0);
  for (;;) {
    const next = await rest.next();
    if (next.done) break;
    const chunk = next.value;
    packet.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    if (out.length) yield* out.splice(0);
  }
  if (!packet.ended) throw new SeipdError('the encrypted packet is cut short: the message is truncated');
  const tail = decipher.final();
  if (tail.length) literal.push(tail);
  literal.end();
  yield* out.splice(0);
}
