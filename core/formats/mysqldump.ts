/**
 * Completeness of a mariadb-dump / mysqldump script, read as it streams. Both tools end a dump
 * that ran to its end with a `-- Dump completed` line (`-- Dump completed on <date>` without
 * --skip-dump-date); a dump cut short lacks it.
 *
 * Objects are counted by the lines the tools write for them, never inside row data (which is
 * escaped onto lines of its own that start with `INSERT` or `(`):
 *   tables     `-- Table structure for table `…``
 *   sequences  `-- Sequence structure for `…`` (MariaDB 10.3+)
 *   views      `-- Final view structure for view `…`` (the temporary stand-in table is not one)
 *   triggers   a `DELIMITER ;;` line, then a line that opens with the versioned comment
 *              `/*!50003 CREATE` and names `/*!50003 TRIGGER` further on
 *   routines   a `DELIMITER ;;` line, then `CREATE DEFINER=… FUNCTION|PROCEDURE …`
 */
import { type DumpChecker, LinePrefixScanner, StreamTail, type Verdict } from './checker.ts';

const TRAILER = /\n-- Dump completed(?: on [0-9: -]+)?\n$/;
const TRIGGER = /^\/\*!50003 CREATE\*\/ .*\/\*!50003 TRIGGER /;
const ROUTINE = /^CREATE DEFINER=.* (?:AGGREGATE )?(?:FUNCTION|PROCEDURE) /;

/** Checks a mariadb-dump / mysqldump script; see the file comment. */
export class MysqldumpChecker implements DumpChecker {
  private readonly counts = { tables: 0, views: 0, routines: 0, triggers: 0, sequences: 0 };
  private readonly tail = new StreamTail(128);
  private bytes = 0;
  private readonly lines = new LinePrefixScanner(['-- ', 'DELIMITER ;;\n'], (prefix, line) => {
    if (prefix === 0) {
      if (line.startsWith('-- Table structure for table `')) this.counts.tables++;
      else if (line.startsWith('-- Sequence structure for `')) this.counts.sequences++;
      else if (line.startsWith('-- Final view structure for view `')) this.counts.views++;
      return;
    }
    const statement = line.slice('DELIMITER ;;\n'.length);
    if (TRIGGER.test(statement)) this.counts.triggers++;
    else if (ROUTINE.test(statement)) this.counts.routines++;
  });

  write(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.bytes += chunk.length;
    this.tail.push(chunk);
    this.lines.write(chunk);
  }

  finish(): Verdict {
    this.lines.end();
    if (this.bytes === 0) return { complete: false, missing: 'it is empty' };
    if (!TRAILER.test(this.tail.text())) {
      return { complete: false, missing: 'it does not end with the "-- Dump completed" line' };
    }
    return { complete: true, objects: { ...this.counts } };
  }
}
