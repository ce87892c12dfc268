/**
 * Completeness of a sqlite3 `.dump` script, read as it streams. `.dump` wraps the whole dump
 * in `BEGIN TRANSACTION;` … `COMMIT;`; when it meets errors half-way (a damaged file) it writes
 * `ROLLBACK; -- due to errors` instead and still exits 0, and a dump cut short has neither.
 *
 * Objects are counted by the statements that create them, which SQLite stores normalised
 * (`CREATE TABLE`, `CREATE VIEW`, `CREATE TRIGGER` at the start of a line; row data never
 * starts a line with CREATE, its newlines are written as char(10)). A virtual table is written
 * as an INSERT into sqlite_schema and not counted; its shadow tables are.
 */
import { type DumpChecker, LinePrefixScanner, StreamTail, type Verdict } from './checker.ts';

const COMMIT = 'COMMIT;\n';
const ROLLBACK = /ROLLBACK; -- due to errors\n?$/;

/** Checks a sqlite3 `.dump` script; see the file comment. */
export class SqliteDumpChecker implements DumpChecker {
  private readonly counts = { tables: 0, views: 0, triggers: 0 };
  private readonly tail = new StreamTail(64);
  private bytes = 0;
  private readonly lines = new LinePrefixScanner(
    ['CREATE '],
    (_prefix, line) => {
      if (line.startsWith('CREATE TABLE ')) this.counts.tables++;
      else if (line.startsWith('CREATE VIEW ')) this.counts.views++;
      else if (line.startsWith('CREATE TRIGGER ')) this.counts.triggers++;
    },
    64,
  );

  write(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.bytes += chunk.length;
    this.tail.push(chunk);
    this.lines.write(chunk);
  }

  finish(): Verdict {
    this.lines.end();
    if (this.bytes === 0) return { complete: false, missing: 'it is empty' };
    const tail = this.tail.text();
    if (ROLLBACK.test(tail)) {
      return {
        complete: false,
        missing:
          'it ends with "ROLLBACK; -- due to errors": sqlite3 met errors reading the file (run PRAGMA integrity_check on it)',
      };
    }
    if (!tail.endsWith(COMMIT)) {
      return { complete: false, missing: 'it does not end its transaction with "COMMIT;"' };
    }
    return { complete: true, objects: { ...this.counts } };
  }
}
