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
  /** The next bytes of the raw dump. */
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

  constructor(
    prefixes: readonly string[],
    private readonly onLine: (prefix: number, line: string) => void,
    private readonly lineLimit = 1024,
  ) {
    this.needles = prefixes.map((p) => Buffer.from(`\n${p}`, 'latin1'));
    this.cursors = prefixes.map(() => 0);
  }

  write(chunk: Buffer): void {
    const buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    let keep = buf.length;
    for (let k = 0; k < this.needles.length; k++) {
      const pos = this.scan(k, buf, this.cursors[k]!, false);
      this.cursors[k] = pos;
      if (pos < keep) keep = pos;
    }
    for (let k = 0; k < this.cursors.length; k++) this.cursors[k]! -= keep;
    this.buf = buf.subarray(keep);
  }

  /** Reports lines still waiting for their end (the stream's last line has no newline). */
  end(): void {
    for (let k = 0; k < this.needles.length; k++) this.scan(k, this.buf, this.cursors[k]!, true);
    this.buf = Buffer.alloc(0);
  }

  /** Reports prefix `k`'s lines in `buf` from `pos`; returns where the next search must start. */
  private scan(k: number, buf: Buffer, from: number, atEnd: boolean): number {
    const needle = this.needles[k]!;
    let pos = from;
    for (;;) {
      const at = buf.indexOf(needle, pos);
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
