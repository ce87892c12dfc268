/**
 * The completeness checker of each dump format, by the manifest's `dumpFormat` value, so that
 * a backup run (the engine names its format) and `verify` (the manifest does) check the same
 * way.
 */
import { DUMP_FORMATS } from '../contracts/dump-formats.ts';
import type { DumpChecker } from './checker.ts';
import { MongoArchiveChecker } from './mongo-archive.ts';
import { MysqldumpChecker } from './mysqldump.ts';
import { PgCustomChecker } from './pg-custom.ts';
import { PgPlainChecker } from './pg-plain.ts';
import { SqliteDumpChecker } from './sqlite-dump.ts';

export { type DumpChecker, OBJECT_KINDS, type ObjectCounts, type Verdict } from './checker.ts';

const CHECKERS: Record<string, () => DumpChecker> = {
  [DUMP_FORMATS.pgCustom]: () => new PgCustomChecker(),
  [DUMP_FORMATS.pgPlain]: () => new PgPlainChecker(),
  [DUMP_FORMATS.mysql]: () => new MysqldumpChecker(),
  [DUMP_FORMATS.sqlite]: () => new SqliteDumpChecker(),
  [DUMP_FORMATS.mongodb]: () => new MongoArchiveChecker(),
};

/**
 * A new checker for `dumpFormat`, or undefined for a format dumpvault does not write (a
 * manifest from a newer version): such a dump is not judged rather than judged wrongly.
 */
export function checkerFor(dumpFormat: string): DumpChecker | undefined {
  return Object.hasOwn(CHECKERS, dumpFormat) ? CHECKERS[dumpFormat]!() : undefined;
}
