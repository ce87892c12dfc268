/**
 * OpenPGP packet framing (RFC 9580 §4.2) for data that arrives piece by piece: writing a
 * packet with partial body lengths ({@link PartialFramer}) and reading one packet's body
 * through its header and length octets ({@link PacketReader}). core/crypto/seipd.ts frames its
 * encrypted and literal data packets with these.
 */

/** RFC 4880 §4.2.2.4: the first partial body length must be at least 512 octets. */
const MIN_PARTIAL = 512;
/** The largest partial body length (2^30). */
const MAX_PARTIAL_BITS = 30;

/** A new-format length octet sequence for a definite (final) body length. */
export function finalLength(length: number): Buffer {
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
export class PartialFramer {
  private readonly held: Buffer[] = [];
  private heldBytes = 0;
  private started = false;

  constructor(
    private readonly tag: number,
    private readonly flushAt: number,
    private readonly emit: (bytes: Buffer) => void,
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
    // The header and data slices one by one: joining them would copy every byte into fresh
    // memory, which costs more than passing a few more chunks on (docs/performance.md).
    for (const part of parts) this.emit(part);
  }
}

/**
 * A new-format body length from its octets (RFC 9580 §4.2.1), or undefined while `octets` is
 * still incomplete. `last` is false for a partial length (more lengths follow).
 */
function newFormatLength(octets: readonly number[]): { length: number; last: boolean } | undefined {
  const l0 = octets[0]!;
  if (l0 < 192) return { length: l0, last: true };
  if (l0 < 224)
    return octets.length < 2 ? undefined : { length: ((l0 - 192) << 8) + octets[1]! + 192, last: true };
  if (l0 < 255) return { length: 1 << (l0 & 0x1f), last: false };
  return octets.length < 5
    ? undefined
    : { length: Buffer.from(octets.slice(1, 5)).readUInt32BE(0), last: true };
}

/** Why a SEIPD packet could not be read; the caller turns it into an IntegrityError. */
export class SeipdError extends Error {}

/**
 * Reads one packet's body through its header and length octets, chunk by chunk: `push` hands
 * each run of body octets to `body`. New-format headers with partial or definite lengths; with
 * `oldFormat`, also the old format's definite and indeterminate (to the end) lengths.
 */
export class PacketReader {
  private header: number[] = [];
  private started = false;
  private left = 0;
  private last = false;
  ended = false;

  constructor(
    private readonly tag: number,
    private readonly oldFormat: boolean,
    private readonly body: (bytes: Buffer) => void,
    private readonly afterEnd: string,
  ) {}

  push(bytes: Buffer): void {
    let at = 0;
    while (at < bytes.length) {
      if (this.ended) throw new SeipdError(this.afterEnd);
      if (this.left === 0) {
        this.header.push(bytes[at++]!);
        this.readHeader();
        continue;
      }
      const take = Math.min(this.left, bytes.length - at);
      this.body(bytes.subarray(at, at + take));
      at += take;
      this.left -= take;
      if (this.left === 0 && this.last) this.ended = true;
    }
  }

  /** The packet's tag octet (first time), then each length: parsed once complete. */
  private readHeader(): void {
    const h = this.header;
    if (this.started) {
      const length = newFormatLength(h);
      if (length) this.set(length.length, length.last);
      return;
    }
    const first = h[0]!;
    if (first === (0xc0 | this.tag)) {
      this.started = true;
      this.header = [];
      return;
    }
    // Old format: tag in bits 5-2, length type in bits 1-0 (3: to the end of the data).
    if (!this.oldFormat || (first & 0xc0) !== 0x80 || ((first >> 2) & 0x0f) !== this.tag)
      throw new SeipdError(
        `expected OpenPGP packet ${this.tag}, found a header octet 0x${first.toString(16)}`,
      );
    const type = first & 0x03;
    if (type === 3) {
      this.started = true;
      this.set(Number.POSITIVE_INFINITY, true);
      return;
    }
    const octets = [1, 2, 4][type]!;
    if (h.length < 1 + octets) return;
    this.started = true;
    this.set(Buffer.from(h.slice(1)).readUIntBE(0, octets), true);
  }

  private set(length: number, last: boolean): void {
    this.header = [];
    this.left = length;
    this.last = last;
    if (length === 0 && last) this.ended = true;
  }
}
