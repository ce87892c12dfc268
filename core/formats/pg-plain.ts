/**
 * Completeness of a `pg_dump --format=plain` script, read as it streams. pg_dump ends every
 * plain dump with
 *
 *   --
 *   -- PostgreSQL database dump complete
 *   --
 *
 * and, since the \restrict fix (17.6, 16.10, 15.14, 14.19, 13.22), a `\unrestrict <key>` line
 * matching the `\restrict <key>` line near its start. Every object comes with a comment header
 * `-- Name: <tag>; Type: <desc>; Schema: …` (the TOC entry), which is what objects are counted
 * by; a table's rows follow its `-- Data for Name: …; Type: TABLE DATA` header as a COPY block
 * ending in a `\.` line, skipped without looking at each row.
 */
import { type DumpChecker, type ObjectCounts, StreamTail, type Verdict } from './checker.ts';

const TRAILER = '--\n-- PostgreSQL database dump complete\n--\n\n';
const HEADER = /^-- (Data for )?Name: (.*); Type: (.+?); Schema: /;
const RESTRICT = /^\\restrict (\S+)$/m;

const KIND_OF_DESC: Record<string, keyof ObjectCounts> = {
  TABLE: 'tables',
  VIEW: 'views',
  'MATERIALIZED VIEW': 'views',
  FUNCTION: 'routines',
  PROCEDURE: 'routines',
  TRIGGER: 'triggers',
  SEQUENCE: 'sequences',
};

const COMMENT = Buffer.from('\n-- ');
const COPY_START = Buffer.from('FROM stdin;\n');
const COPY_END = Buffer.from('\n\\.\n');
/** Header lines longer than this are cut (names are at most 63 bytes; the rest is not needed). */
const LINE_LIMIT = 4096;
const HEAD_BYTES = 4096;

type State = 'sql' | 'before-copy' | 'copy';

/** Checks a plain pg_dump script; see the file comment. */
export class PgPlainChecker implements DumpChecker {
  /** Bytes not processed yet; starts with a newline so a first-line header is found too. */
  private buf: Buffer = Buffer.from('\n');
  private state: State = 'sql';
  private table = '';
  private head = '';
  private readonly tail = new StreamTail(TRAILER.length + 256);
  private readonly counts = { tables: 0, views: 0, routines: 0, triggers: 0, sequences: 0 };
  private bytes = 0;

  write(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.bytes += chunk.length;
    if (this.head.length < HEAD_BYTES)
      this.head += chunk.toString('latin1', 0, HEAD_BYTES - this.head.length);
    this.tail.push(chunk);
    const buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const rest = buf.subarray(this.process(buf, false));
    this.buf = buf === chunk ? Buffer.from(rest) : rest; // the chunk itself is reused
  }

  finish(): Verdict {
    this.process(this.buf, true);
    this.buf = Buffer.alloc(0);
    if (this.bytes === 0) return { complete: false, missing: 'it is empty' };
    if (this.state !== 'sql') {
      return { complete: false, missing: `it ends inside the data of table ${this.table}` };
    }
    const key = RESTRICT.exec(this.head)?.[1];
    const ending = key === undefined ? TRAILER : `${TRAILER}\\unrestrict ${key}\n\n`;
    if (!this.tail.text().endsWith(ending)) {
      return {
        complete: false,
        missing:
          key === undefined
            ? 'it does not end with pg_dump\'s "-- PostgreSQL database dump complete" trailer'
            : `it does not end with pg_dump's "-- PostgreSQL database dump complete" trailer and the \\unrestrict line its \\restrict line calls for`,
      };
    }
    return { complete: true, objects: { ...this.counts } };
  }

  /** Processes `buf` as far as it can; returns the offset of the first byte it must see again. */
  private process(buf: Buffer, atEnd: boolean): number {
    let pos = 0;
    for (;;) {
      if (this.state === 'sql') {
        const at = buf.indexOf(COMMENT, pos);
        if (at < 0) return Math.max(pos, buf.length - COMMENT.length + 1);
        let end = buf.indexOf(10, at + 1);
        if (end < 0) {
          if (!atEnd && buf.length - at < LINE_LIMIT) return at;
          end = buf.length;
        }
        this.header(buf.toString('utf8', at + 1, Math.min(end, at + 1 + LINE_LIMIT)));
        pos = end;
      } else if (this.state === 'before-copy') {
        const at = buf.indexOf(COPY_START, pos);
        if (at < 0) return Math.max(pos, buf.length - COPY_START.length + 1);
        // The COPY line's newline may be the one that starts the `\.` line of an empty table.
        pos = at + COPY_START.length - 1;
        this.state = 'copy';
      } else {
        const at = buf.indexOf(COPY_END, pos);
        if (at < 0) return Math.max(pos, buf.length - COPY_END.length + 1);
        pos = at + COPY_END.length - 1;
        this.state = 'sql';
      }
    }
  }

  private header(line: string): void {
    const m = HEADER.exec(line);
    if (!m) return;
    const [, data, name, desc] = m;
    if (data) {
      if (desc === 'TABLE DATA') {
        this.table = name!;
        this.state = 'before-copy';
      }
      return;
    }
    const kind = KIND_OF_DESC[desc!];
    if (kind) this.counts[kind]++;
  }
}
