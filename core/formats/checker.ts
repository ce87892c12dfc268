/**
 * Completeness checkers: one per dump format, fed the raw dump bytes as they stream by (no
 * second read). A dump tool that writes part of its output and still exits 0 must not become
 * a backup; the checker is what notices.
 */

/**
 * How many schema objects of each kind a dump defines or a database holds. Only the kinds the
 * engine has are present (SQLite has no routines or sequences; MongoDB records none).
 */
export interface ObjectCounts {
  readonly tables?: number;
  readonly views?: number;
  /** Functions and procedures (not aggregates). */
  readonly routines?: number;
  readonly triggers?: number;
  readonly sequences?: number;
}

/** The kinds of {@link ObjectCounts}, in the order messages list them. */
export const OBJECT_KINDS = ['tables', 'views', 'routines', 'triggers', 'sequences'] as const;
export type ObjectKind = (typeof OBJECT_KINDS)[number];

/** What a checker concluded once the stream ended. */
export type Verdict =
  | {
      readonly complete: true;
      /** The objects the dump defines, where the format lets them be counted. */
      readonly objects?: ObjectCounts;
    }
  | {
      readonly complete: false;
      /** What is missing or wrong, as a phrase: `it ends inside the data of public.orders`. */
      readonly missing: string;
    };

/**
 * Reads one dump format as it streams. `write` never throws and keeps bounded state (a
 * problem is remembered and reported by `finish`), so it can sit on the hot path of a backup.
 */
export interface DumpChecker {
  /**
   * The next bytes of the raw dump. The buffer is reused once the call returns (the backup's
   * relay reads into the same few buffers): bytes kept for later are copied.
   */
  write(chunk: Buffer): void;
  /** After the last byte: whether the dump is complete, and what it defines. */
  finish(): Verdict;
}

/** Keeps the last `size` bytes of a stream (for trailers). */
export class StreamTail {
  private tail = Buffer.alloc(0);
  constructor(private readonly size: number) {}

  push(chunk: Buffer): void {
    if (chunk.length >= this.size) this.tail = Buffer.from(chunk.subarray(chunk.length - this.size));
    else {
      const joined = Buffer.concat([this.tail, chunk]);
      this.tail = joined.length > this.size ? joined.subarray(joined.length - this.size) : joined;
    }
  }

  text(): string {
    return this.tail.toString('latin1');
  }
}

/**
 * Finds the lines of a text stream that start with given prefixes without looking at every
 * line: each prefix is searched for with Buffer.indexOf (native code), and a prefix or line cut
 * by a chunk boundary is completed from the next chunk. `onLine` gets the line from the prefix
 * on, at most `lineLimit` bytes of it (a prefix may itself span lines, e.g. `DELIMITER ;;\n`:
 * the line then ends at the first newline after the prefix). Lines of different prefixes are
 * reported per prefix, not in stream order.
 */
export class LinePrefixScanner {
  private readonly needles: Buffer[];
  /** Bytes not yet searched by every prefix; starts with a newline so the first line counts. */
  private buf: Buffer = Buffer.from('\n');
  private readonly cursors: number[];
  private readonly longest: number;

  constructor(
    prefixes: readonly string[],
    private readonly onLine: (prefix: number, line: string) => void,
    private readonly lineLimit = 1024,
  ) {
    this.needles = prefixes.map((p) => Buffer.from(`\n${p}`, 'latin1'));
    this.longest = Math.max(...this.needles.map((n) => n.length));
    this.cursors = prefixes.map(() => 0);
  }

  write(chunk: Buffer): void {
    const left = this.buf;
    // A line that starts in the bytes kept from the last chunk is whole (or cut at lineLimit)
    // within this window of the next one.
    const window = this.lineLimit + this.longest;
    if (chunk.length < window) {
      const buf = Buffer.concat([left, chunk]);
      this.keep(
        buf,
        this.needles.map((_, k) => this.scan(k, buf, this.cursors[k]!, false)),
      );
      return;
    }
    // Without joining every chunk to the last one's rest (fresh memory for every byte of the
    // dump): the lines that start in that rest are read from a small joined window, and the
    // chunk itself from where they end.
    const head = Buffer.concat([left, chunk.subarray(0, window)]);
    const ends = this.needles.map((_, k) => {
      const pos = this.scan(k, head, this.cursors[k]!, false, left.length);
      return this.scan(k, chunk, Math.max(pos, left.length) - left.length, false);
    });
    this.keep(chunk, ends);
  }

  /** Keeps `buf` from the first byte a prefix must search again (a copy: `buf` may be reused). */
  private keep(buf: Buffer, ends: readonly number[]): void {
    const keep = Math.min(...ends);
    for (let k = 0; k < ends.length; k++) this.cursors[k] = ends[k]! - keep;
    this.buf = Buffer.from(buf.subarray(keep));
  }

  /** Reports lines still waiting for their end (the stream's last line has no newline). */
  end(): void {
    for (let k = 0; k < this.needles.length; k++) this.scan(k, this.buf, this.cursors[k]!, true);
    this.buf = Buffer.alloc(0);
  }

  /**
   * Reports prefix `k`'s lines in `buf` from `pos`; returns where the next search must start.
   * With `startsBefore`, only lines whose prefix starts before it, and returns where the last
   * one ended.
   */
  private scan(k: number, buf: Buffer, from: number, atEnd: boolean, startsBefore?: number): number {
    const needle = this.needles[k]!;
    let pos = from;
    for (;;) {
      const at = buf.indexOf(needle, pos);
      if (startsBefore !== undefined && (at < 0 || at >= startsBefore)) return pos;
      if (at < 0) return Math.max(pos, buf.length - needle.length + 1);
      const start = at + 1;
      let end = buf.indexOf(10, at + needle.length);
      if (end < 0) {
        if (!atEnd && buf.length - start < this.lineLimit) return at;
        end = buf.length;
      }
      if (end - start > this.lineLimit) end = start + this.lineLimit;
      this.onLine(k, buf.toString('utf8', start, end));
      pos = end;
    }
  }
}

/** `count` objects of a kind, as a phrase: `1 routine`, `3 tables`. */
export function describeCount(kind: ObjectKind, count: number): string {
  return `${count} ${count === 1 ? kind.replace(/s$/, '') : kind}`;
}
