/**
 * The manifest's `dumpFormat` values: written by the engines (task-image/engines), read by the
 * completeness checkers (core/formats) when a stored backup is verified. Existing manifests
 * carry these strings; they never change.
 */
export const DUMP_FORMATS = {
  /** `pg_dump --format=custom` archive. */
  pgCustom: 'pg_dump-custom',
  /** `pg_dump --format=plain` SQL script. */
  pgPlain: 'pg_dump-plain',
  /** mariadb-dump / mysqldump SQL script. */
  mysql: 'mysqldump-sql',
  /** sqlite3 `.dump` SQL script. */
  sqlite: 'sqlite3-sql',
  /** `mongodump --archive` stream. */
  mongodb: 'mongodump-archive',
} as const;

export type DumpFormat = (typeof DUMP_FORMATS)[keyof typeof DUMP_FORMATS];
