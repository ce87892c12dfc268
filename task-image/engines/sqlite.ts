/**
 * The SQLite engine: the sqlite3 CLI's `.dump`, safe on a live database.
 *
 * `.dump` runs inside `SAVEPOINT dump` (sqlite3's shell.c), i.e. one read transaction, so it
 * sees one consistent state while other processes write: in WAL mode writers carry on, in
 * rollback-journal mode they wait for the dump (up to their busy timeout). dumpvault opens an
 * explicit transaction around both the row counts and `.dump`, so the counts describe
 * exactly the dumped data.
 */
import { randomBytes } from 'node:crypto';
import { open, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { sqlitePath } from '../../core/config/load.ts';
import { DUMP_FORMATS } from '../../core/contracts/dump-formats.ts';
import type {
  BackupContents,
  Connection,
  ContentsOptions,
  DumpOptions,
  DumpSession,
  Engine,
  RestoreOptions,
  ServerInfo,
  TableStats,
} from '../../core/engine.ts';
import { ToolError, UserError } from '../../core/errors.ts';
import type { DumpChecker, ObjectCounts } from '../../core/formats/checker.ts';
import { SqliteDumpChecker } from '../../core/formats/sqlite-dump.ts';
import { scanTableNames, TABLE_LINES } from '../../core/formats/table-names.ts';
import { processInput, processOutput, runCommand } from '../../core/process.ts';
import { deferred, deferredOutput } from './deferred-output.ts';
import { explainFailure, type FailureHint } from './failure-hints.ts';
import { abandonInput } from './restore-input.ts';
import { claimScratch, forgetScratch, rememberScratch, scratchIdentifier } from './scratch.ts';
import { parseObjectCounts, parseTableCounts } from './table-counts.ts';

/** The manifest's `dumpFormat` value of this engine. */
export const SQLITE_DUMP_FORMAT = DUMP_FORMATS.sqlite;

const SQLITE3 = 'sqlite3';

/** How long a read waits for a writer's lock before giving up (rollback-journal mode). */
const BUSY_TIMEOUT_MS = 30_000;

const HINTS: readonly FailureHint[] = [
  {
    when: /file is not a database|database disk image is malformed/i,
    fix: 'the file is not a healthy SQLite database; check the path, or run PRAGMA integrity_check on it',
  },
  {
    when: /database is locked/i,
    fix: 'another process held a write lock for too long; retry, or switch the database to WAL mode',
  },
  { when: /unable to open database/i, fix: 'check the path and its permissions' },
];

const explain = (err: unknown): Error => explainFailure(err, HINTS);

/** sqlite3's error lines (`Error: …`, `Parse error near line 3: …`). */
const SQLITE3_ERROR_LINES = [/^(?:Parse |Runtime )?[Ee]rror(?: near line \d+)?: /];

/**
 * The absolute file of a `sqlite:` URL. The CLI resolves paths relative to the config file
 * before handing URLs to engines; a relative path that still arrives here is taken relative
 * to the current directory.
 */
export function sqliteFile(conn: Connection): string {
  if (!conn.url.startsWith('sqlite:')) {
    throw new UserError(`expected a URL like sqlite:./data/app.db, got ${JSON.stringify(conn.url)}`);
  }
  const file = sqlitePath(conn.url);
  if (!file)
    throw new UserError(`expected a file path in ${JSON.stringify(conn.url)}, like sqlite:./data/app.db`);
  return path.resolve(file);
}

/** A `sqlite:` URL for an absolute path (`%` escaped, since sqlitePath() percent-decodes). */
function sqliteUrl(file: string): string {
  return `sqlite:${file.replace(/%/g, '%25')}`;
}

async function fileSize(file: string): Promise<number | undefined> {
  try {
    return (await stat(file)).size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

async function requireFile(file: string): Promise<void> {
  // sqlite3 would silently create a missing file and dump nothing.
  if ((await fileSize(file)) === undefined) {
    throw new UserError(`SQLite database ${file} does not exist: fix the path in the source URL`);
  }
}

function quoteIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

function quoteLiteral(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

/** Real tables (virtual tables are skipped: their rows live in shadow tables, which are counted). */
const LIST_TABLES_SQL =
  "SELECT json_group_array(name) FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND sql NOT LIKE 'CREATE VIRTUAL%';";

const COUNT_OBJECTS_SQL = `SELECT json_object(
  'tables', (SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND sql NOT LIKE 'CREATE VIRTUAL%'),
  'views', (SELECT count(*) FROM sqlite_master WHERE type = 'view'),
  'triggers', (SELECT count(*) FROM sqlite_master WHERE type = 'trigger'));`;

function countRowsSql(tables: readonly string[]): string {
  if (tables.length === 0) return "SELECT '{}';";
  const parts = tables.map(
    (t) => `SELECT ${quoteLiteral(t)} AS n, (SELECT count(*) FROM ${quoteIdentifier(t)}) AS c`,
  );
  return `SELECT json_group_object(n, c) FROM (${parts.join(' UNION ALL ')});`;
}

/** Runs a script in sqlite3 without writing: `-readonly`, `-safe` (no .shell and friends), `-bail`. */
async function readOnly(file: string, script: string): Promise<string> {
  try {
    return await runCommand({ command: SQLITE3, args: ['-readonly', '-safe', '-bail', file] }, script);
  } catch (err) {
    throw explain(err);
  }
}

async function listTables(file: string): Promise<string[]> {
  const listed: unknown = JSON.parse((await readOnly(file, LIST_TABLES_SQL)).trim() || '[]');
  if (!Array.isArray(listed) || !listed.every((n): n is string => typeof n === 'string')) {
    throw new ToolError(`sqlite3 listed tables as ${JSON.stringify(listed)}; expected names`);
  }
  return listed;
}

/**
 * Splits sqlite3's output into the stats line (the first line) and the dump (the rest). Whether
 * the dump is complete (`.dump` reports errors it meets half-way by writing `ROLLBACK; -- due
 * to errors` instead of `COMMIT;` and still exits 0) is the dump checker's to judge
 * (core/formats/sqlite-dump.ts).
 */
export class StatsLineSplitter extends Transform {
  private head: Buffer | undefined = Buffer.alloc(0);

  constructor(
    private readonly onStats: (line: string) => void,
    private readonly file: string,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    let rest = chunk;
    if (this.head) {
      const joined = Buffer.concat([this.head, chunk]);
      const newline = joined.indexOf(0x0a);
      if (newline === -1) {
        this.head = joined;
        callback();
        return;
      }
      this.onStats(joined.subarray(0, newline).toString('utf8'));
      this.head = undefined;
      rest = joined.subarray(newline + 1);
    }
    if (rest.length) this.push(rest);
    callback();
  }

  override _flush(callback: TransformCallback): void {
    if (this.head) {
      callback(new ToolError(`sqlite3 printed no row counts for ${this.file}`));
      return;
    }
    callback();
  }
}

/** SQLite files through the sqlite3 command-line shell. */
export class SqliteEngine implements Engine {
  readonly name = 'sqlite' as const;

  /** The tables the `.dump` script creates (its `CREATE TABLE` lines); no selective restore. */
  async contents(input: Readable, options: ContentsOptions): Promise<BackupContents> {
    if (options.dumpFormat !== SQLITE_DUMP_FORMAT) {
      throw new UserError(`the sqlite engine cannot read a "${options.dumpFormat}" dump`);
    }
    return { tables: await scanTableNames(input, TABLE_LINES.sqlite, options.signal) };
  }

  /** Always `sql`. */
  dumpExtension(_options: DumpOptions): string {
    return 'sql';
  }

  /** Always `sqlite3-sql`. */
  dumpFormat(_options: DumpOptions): string {
    return SQLITE_DUMP_FORMAT;
  }

  /** The dump's closing `COMMIT;`. */
  dumpChecker(_options: DumpOptions): DumpChecker {
    return new SqliteDumpChecker();
  }

  /** Checks the file exists and is a database; server and tool version are both the sqlite3 library's. */
  async inspect(conn: Connection): Promise<ServerInfo> {
    const file = sqliteFile(conn);
    await requireFile(file);
    const version = (await readOnly(file, 'SELECT sqlite_version();')).trim();
    return { serverVersion: version, tool: { name: 'sqlite3', version }, database: file };
  }

  /** Exact row counts per table name, in one statement. */
  async stats(conn: Connection): Promise<TableStats> {
    const file = sqliteFile(conn);
    await requireFile(file);
    return parseTableCounts(await readOnly(file, countRowsSql(await listTables(file))), 'sqlite3');
  }

  /**
   * Tables, views and triggers, as the dump checker counts the CREATE statements of `.dump`
   * (core/formats/sqlite-dump.ts): internal `sqlite_` tables and virtual tables are not counted
   * (`.dump` writes no CREATE TABLE for them), a virtual table's shadow tables are.
   */
  async objects(conn: Connection): Promise<ObjectCounts> {
    const file = sqliteFile(conn);
    await requireFile(file);
    return parseObjectCounts(await readOnly(file, COUNT_OBJECTS_SQL), 'sqlite3');
  }

  /**
   * `.dump` and the row counts in one read transaction. The file is opened read-only; the
   * caller never sees the stats line, only the SQL that recreates the database.
   */
  dump(conn: Connection, _options: DumpOptions): DumpSession {
    const stats = deferred<TableStats>();
    const output = deferredOutput(
      async () => {
        const file = sqliteFile(conn);
        await requireFile(file);
        // Tables are listed before the transaction starts (SQL cannot build the count query
        // itself); a table dropped in between makes the counts fail, which fails the dump.
        const tables = await listTables(file);
        const script = [
          `.timeout ${BUSY_TIMEOUT_MS}`,
          'BEGIN;',
          countRowsSql(tables),
          '.dump',
          'COMMIT;',
          '',
        ].join('\n');
        const tool = processOutput(
          { command: SQLITE3, args: ['-readonly', '-safe', '-bail', file], errorLines: SQLITE3_ERROR_LINES },
          Readable.from([Buffer.from(script)]),
        );
        const splitter = new StatsLineSplitter((line) => {
          try {
            stats.resolve(parseTableCounts(line, 'sqlite3'));
          } catch (err) {
            splitter.destroy(err as Error);
          }
        }, file);
        // Errors of either stage end up on `splitter`, which the caller reads.
        pipeline(tool, splitter).catch(() => {});
        return splitter;
      },
      {
        onSettled: (error) => {
          if (error) stats.reject(error);
        },
        mapError: explain,
      },
    );
    return { output, stats: stats.promise };
  }

  /**
   * Restores into a new file beside the target and renames it into place only after sqlite3
   * exited 0, so a failed restore never leaves a half-written database behind. An existing
   * non-empty target is refused unless `drop`, in which case it is replaced (its -wal/-shm/
   * -journal files are removed first, or SQLite would replay them into the new file). Nothing
   * may have the target open while it is replaced.
   */
  async restore(target: Connection, input: Readable, options: RestoreOptions): Promise<void> {
    let temp: string | undefined;
    try {
      const file = sqliteFile(target);
      if (options.dumpFormat !== SQLITE_DUMP_FORMAT) {
        throw new UserError(
          `the sqlite engine cannot restore a "${options.dumpFormat}" dump; restore it with the engine that made it`,
        );
      }
      if (!options.drop && !(await this.isEmpty(target))) {
        throw new UserError(
          `${file} already holds a database: restore with --drop to replace it, or into a new file`,
        );
      }
      temp = path.join(
        path.dirname(file),
        `.${path.basename(file)}.restoring-${randomBytes(6).toString('hex')}`,
      );
      // sqlite3 would create the file with the umask's mode (0644 under umask 022); a restored
      // database is as private as the backup it came from. An empty file is an empty database.
      await (await open(temp, 'wx', 0o600)).close();
      // -safe: a dump is a script, and a tampered one must not be able to run .shell or write files.
      await processInput(
        {
          command: SQLITE3,
          args: ['-safe', '-bail', temp],
          ...(options.signal ? { signal: options.signal } : {}),
        },
        input,
      );
      await removeSidecars(file);
      await rename(temp, file);
      temp = undefined;
    } catch (err) {
      const error = explain(err);
      abandonInput(input, error);
      throw error;
    } finally {
      if (temp) {
        await rm(temp, { force: true });
        await removeSidecars(temp);
      }
    }
  }

  /** True when the file does not exist, is empty, or has no tables, views, indexes or triggers. */
  async isEmpty(target: Connection): Promise<boolean> {
    const file = sqliteFile(target);
    const size = await fileSize(file);
    if (size === undefined || size === 0) return true;
    const out = await readOnly(
      file,
      "SELECT count(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\';",
    );
    return Number(out.trim()) === 0;
  }

  /** Creates an empty file named after `name` (sanitised, `.db`) beside the source. Fails if it exists. */
  async createScratch(source: Connection, name: string): Promise<Connection> {
    const file = path.join(path.dirname(sqliteFile(source)), `${scratchIdentifier(name, 200)}.db`);
    try {
      // An empty file is a valid, empty SQLite database; 'wx' fails if the file exists.
      await (await open(file, 'wx', 0o600)).close();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
        throw new UserError(`scratch database ${file} already exists: remove it or choose another name`);
      }
      throw new UserError(
        `cannot create scratch database ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)}): check that its directory is writable`,
        { cause: err },
      );
    }
    const url = sqliteUrl(file);
    rememberScratch(this.name, url);
    return { url };
  }

  /** Removes a file made by {@link createScratch}, with its -wal/-shm/-journal companions. */
  async dropScratch(scratch: Connection): Promise<void> {
    const file = sqliteFile(scratch);
    const url = sqliteUrl(file);
    claimScratch(this.name, url, file);
    await rm(file, { force: true });
    await removeSidecars(file);
    forgetScratch(this.name, url);
  }
}

/** Removes the journal files SQLite keeps next to a database. */
async function removeSidecars(file: string): Promise<void> {
  await Promise.all(['-wal', '-shm', '-journal'].map((suffix) => rm(`${file}${suffix}`, { force: true })));
}
