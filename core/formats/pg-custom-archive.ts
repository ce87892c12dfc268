/**
 * The building blocks of a `pg_dump --format=custom` archive as pg-custom.ts reads it: format
 * constants and archive versions, the field reader, TOC entries, and the chunk skipper of the
 * data section (the layout is described in pg-custom.ts).
 */
import type { ObjectCounts } from './checker.ts';

export const MAGIC = 'PGDMP';
export const FORMAT_CUSTOM = 1;
export const BLK_DATA = 1;
export const BLK_BLOBS = 3;
export const OFFSET_NO_DATA = 3;
export const VALID_OFFSET_FLAGS = new Set([1, 2, 3]);

export const version = (major: number, minor: number, rev = 0) => (major * 256 + minor) * 256 + rev;
export const V1_12 = version(1, 12);
export const V1_14 = version(1, 14);
export const V1_15 = version(1, 15);
export const V1_16 = version(1, 16);
export const V1_17 = version(1, 17);

/** TOC descs counted as each kind of object (what `pg_restore -l` lists). */
export const KIND_OF_DESC: Record<string, keyof ObjectCounts> = {
  TABLE: 'tables',
  VIEW: 'views',
  'MATERIALIZED VIEW': 'views',
  FUNCTION: 'routines',
  PROCEDURE: 'routines',
  TRIGGER: 'triggers',
  SEQUENCE: 'sequences',
};

/** Thrown by {@link Reader} when the buffered bytes end before the field does. */
export class NeedMore {
  constructor(readonly upTo: number) {}
}

/** Thrown when the bytes cannot be a custom-format archive. */
export class Malformed {
  constructor(readonly problem: string) {}
}

export const BYTE_WEIGHT = [1, 2 ** 8, 2 ** 16, 2 ** 24, 2 ** 32, 2 ** 40, 2 ** 48, 2 ** 56];

/** Reads the archive's fields from a buffer, as ReadInt/ReadStr/ReadOffset do. */
export class Reader {
  pos = 0;
  constructor(
    private readonly buf: Buffer,
    public intSize: number,
    public offSize: number,
  ) {}

  private need(n: number): void {
    if (this.pos + n > this.buf.length) throw new NeedMore(this.pos + n);
  }

  byte(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }

  bytes(n: number): Buffer {
    this.need(n);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  int(): number {
    this.need(1 + this.intSize);
    const negative = this.buf[this.pos] !== 0;
    let value = 0;
    for (let b = 0; b < this.intSize; b++) value += this.buf[this.pos + 1 + b]! * BYTE_WEIGHT[b]!;
    this.pos += 1 + this.intSize;
    return negative ? -value : value;
  }

  /** A string (null for a null one); `decode: false` skips its bytes. */
  str(decode = true): string | null {
    const length = this.int();
    if (length < 0) return null;
    this.need(length);
    const text = decode ? this.buf.toString('utf8', this.pos, this.pos + length) : '';
    this.pos += length;
    return text;
  }

  offsetFlag(): number {
    this.need(1 + this.offSize);
    const flag = this.buf[this.pos]!;
    this.pos += 1 + this.offSize;
    return flag;
  }
}

export interface TocEntry {
  readonly dumpId: number;
  readonly desc: string;
  /** `schema.tag` or the tag, for messages. */
  readonly name: string;
  readonly hasData: boolean;
}

/**
 * Skips whole chunks (an int length, then that many bytes) from `from`, the hot path of the
 * data section: one chunk per row. A plain function, so its type feedback is its own from the
 * first call. Stops before a length that is not positive (the end of a block: the caller's
 * state machine handles it) or that the buffer cuts; a chunk the buffer cuts leaves its
 * missing byte count in `cut.left`. Returns the offset reached.
 */
export function skipChunks(buf: Buffer, from: number, intSize: number, cut: { left: number }): number {
  const length = buf.length;
  const intBytes = 1 + intSize;
  let i = from;
  cut.left = 0;
  while (i + intBytes <= length) {
    if (buf[i] !== 0) return i;
    let value = 0;
    for (let b = 0; b < intSize; b++) value += buf[i + 1 + b]! * BYTE_WEIGHT[b]!;
    if (value === 0) return i;
    i += intBytes;
    if (value > length - i) {
      cut.left = value - (length - i);
      return length;
    }
    i += value;
  }
  return i;
}

export function describeTocEntry(entry: TocEntry | undefined): string {
  if (!entry) return 'an unknown entry';
  return entry.desc === 'BLOBS' ? 'the large objects' : `${entry.desc} ${entry.name}`;
}
