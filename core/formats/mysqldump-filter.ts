/**
 * A streaming filter over a mariadb-dump / mysqldump script that keeps only some tables: the
 * header (session settings), each kept table's structure and data sections (its triggers
 * follow its data in the same section), and the footer that restores the settings. Views,
 * sequences, routines and events are left out.
 *
 * Sections begin at the tools' marker comments (`-- Table structure for table `t``, `--
 * Dumping data for table `t``, …) and the footer at the first line that restores a setting
 * from an `@OLD_` variable. Row data never starts a line with `--` or `/*!` (its newlines are
 * escaped), so only line starts are looked at, and a line is held in memory only as far as
 * needed to tell whether it is a marker: long INSERT lines pass through unbuffered.
 */
import { Transform, type TransformCallback } from 'node:stream';

/** How much of a line starting with `-` or `/` is read to recognise a marker. */
const HEAD_LIMIT = 1024;

const TABLE_SECTION = /^-- (?:Table structure|Dumping data) for table `((?:[^`]|``)+)`/;
const OTHER_SECTION =
  /^-- (?:Temporary table structure for view|Temporary view structure for view|Final view structure for view|Sequence structure for|Dumping events for database|Dumping routines for database) /;
const FOOTER = /^\/\*!\d+ SET [A-Z_]+ *= *@OLD_/;

/** The name inside backticks, with doubled backticks undone. */
export function unquoteBackticks(quoted: string): string {
  return quoted.replace(/``/g, '`');
}

/** The table a `-- Table structure for table `t`` line names, if it is one. */
export function mysqldumpTableOf(line: string): string | undefined {
  const m = /^-- Table structure for table `((?:[^`]|``)+)`/.exec(line);
  return m ? unquoteBackticks(m[1]!) : undefined;
}

/** Keeps the named tables of a mysqldump script; see the file comment. */
export class MysqldumpTableFilter extends Transform {
  private keep = true;
  private inFooter = false;
  private atLineStart = true;
  /** The start of a line being read to decide whether it is a marker. */
  private head: Buffer[] = [];
  private headBytes = 0;

  constructor(private readonly tables: ReadonlySet<string>) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    let pos = 0;
    while (pos < chunk.length) {
      if (this.headBytes > 0 || (this.atLineStart && (chunk[pos] === 0x2d || chunk[pos] === 0x2f))) {
        // Collecting a line start until its newline or HEAD_LIMIT bytes.
        const nl = chunk.indexOf(10, pos);
        const room = HEAD_LIMIT - this.headBytes;
        const end = nl < 0 ? Math.min(chunk.length, pos + room) : Math.min(nl + 1, pos + room);
        this.head.push(chunk.subarray(pos, end));
        this.headBytes += end - pos;
        pos = end;
        const complete = (nl >= 0 && end === nl + 1) || this.headBytes >= HEAD_LIMIT;
        if (!complete) continue;
        const line = Buffer.concat(this.head);
        this.head = [];
        this.headBytes = 0;
        this.decide(line.toString('utf8'));
        if (this.keep) this.push(line);
        this.atLineStart = line[line.length - 1] === 10;
        continue;
      }
      const nl = chunk.indexOf(10, pos);
      const end = nl < 0 ? chunk.length : nl + 1;
      if (this.keep) this.push(chunk.subarray(pos, end));
      this.atLineStart = nl >= 0;
      pos = end;
    }
    done();
  }

  override _flush(done: TransformCallback): void {
    if (this.headBytes > 0) {
      const line = Buffer.concat(this.head);
      this.decide(line.toString('utf8'));
      if (this.keep) this.push(line);
    }
    done();
  }

  private decide(line: string): void {
    if (this.inFooter) return;
    const table = TABLE_SECTION.exec(line);
    if (table) this.keep = this.tables.has(unquoteBackticks(table[1]!));
    else if (OTHER_SECTION.test(line)) this.keep = false;
    else if (FOOTER.test(line)) {
      this.inFooter = true;
      this.keep = true;
    }
  }
}
