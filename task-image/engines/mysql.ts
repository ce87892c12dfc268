/**
 * The MySQL / MariaDB engine: mariadb-dump (or mysqldump) in one consistent InnoDB
 * transaction, restored through the mariadb (or mysql) client. The password travels in
 * MYSQL_PWD, never on a command line. Names from the URL reach the tools only as option values
 * (`--host=…`, `--user=…`, `--database=…`) or after `--`, so none can be read as an option.
 */
import path from 'node:path';
import { pipeline as chain, type Readable } from 'node:stream';
import { DUMP_FORMATS } from '../../core/contracts/dump-formats.ts';
import { LOCK_WAIT_TIMEOUT_SECONDS } from '../../core/contracts/timeouts.ts';
import type {
  BackupContents,
  Connection,
  ContentsOptions,
  DumpOptions,
  DumpSession,
  Engine,
  ProbeOptions,
  RestoreOptions,
  ServerInfo,
  TableStats,
} from '../../core/engine.ts';
import { SourceAccessError, UserError } from '../../core/errors.ts';
import type { DumpChecker, ObjectCounts } from '../../core/formats/checker.ts';
import { MysqldumpChecker } from '../../core/formats/mysqldump.ts';
import { MysqldumpTableFilter } from '../../core/formats/mysqldump-filter.ts';
import { scanTableNames, TABLE_LINES } from '../../core/formats/table-names.ts';
import { processInput, processOutput, runCommand } from '../../core/process.ts';
import { deferred, deferredOutput } from './deferred-output.ts';
import { requireTool } from './executables.ts';
import { explainFailure } from './failure-hints.ts';
import { unreadableSentences } from './mysql-access.ts';
import { readAccessFacts } from './mysql-access-facts.ts';
import { identifier, literal, objectCountsSql } from './mysql-catalog-sql.ts';
import { countMysqlObjects, countMysqlRows, dropMysqlObjects, mysqlQuery } from './mysql-databases.ts';
import {
  explainMysqlFailure,
  MYSQL_DUMP_ERROR_LINES,
  MYSQL_HINTS,
  mysqlLockWaitHint,
} from './mysql-failures.ts';
import { watchLockWaits } from './mysql-lock-watch.ts';
import { myTarget, withDatabase } from './mysql-target.ts';
import {
  MYSQL_CLIENT_PACKAGE,
  MYSQL_CLIENTS,
  MYSQL_DUMP_TOOLS,
  parseMysqlToolVersion,
} from './mysql-tools.ts';
import { abandonInput } from './restore-input.ts';
import { claimScratch, forgetScratch, rememberScratch, scratchIdentifier } from './scratch.ts';
import { parseObjectCounts } from './table-counts.ts';

/** The manifest's `dumpFormat` value of this engine. */
export const MYSQL_DUMP_FORMAT = DUMP_FORMATS.mysql;

/** MySQL's limit on database name length. */
const MAX_IDENTIFIER = 64;

/** MySQL and MariaDB through mariadb-dump / mysqldump and the mariadb / mysql client. */
export class MysqlEngine implements Engine {
  readonly name = 'mysql' as const;
  /** Tables only: a MySQL database has no schemas inside it. */
  readonly selects = { tables: true, schemas: false } as const;
  /** `--version` of each dump tool, asked once per process. */
  private readonly versions = new Map<string, Promise<{ version: string; mariadb: boolean }>>();

  /** The tables the script creates (its `-- Table structure for table` lines). */
  async contents(input: Readable, options: ContentsOptions): Promise<BackupContents> {
    if (options.dumpFormat !== MYSQL_DUMP_FORMAT) {
      throw new UserError(`the mysql engine cannot read a "${options.dumpFormat}" dump`);
    }
    return { tables: await scanTableNames(input, TABLE_LINES.mysqldump, options.signal) };
  }

  /** Always `sql`. */
  dumpExtension(_options: DumpOptions): string {
    return 'sql';
  }

  /** Always `mysqldump-sql`. */
  dumpFormat(_options: DumpOptions): string {
    return MYSQL_DUMP_FORMAT;
  }

  /** The dump's closing `-- Dump completed` line. */
  dumpChecker(_options: DumpOptions): DumpChecker {
    return new MysqldumpChecker();
  }

  /**
   * Connects to the database (so a wrong name or password fails here), reads both versions and
   * fails with a UserError naming every kind of object the user cannot read (and the grant to
   * add): the dump tool would leave those out and still exit 0.
   */
  async inspect(conn: Connection, options: ProbeOptions = {}): Promise<ServerInfo> {
    const t = myTarget(conn);
    const serverVersion = (await mysqlQuery(t, 'SELECT VERSION();', t.database, options.signal)).trim();
    const unreadable = unreadableSentences(
      await readAccessFacts(
        (sql, signal) => mysqlQuery(t, sql, t.database, signal),
        t.database,
        serverVersion,
        options.signal,
      ),
    );
    if (unreadable.length) throw new SourceAccessError(unreadable);
    const dumpTool = await requireTool(MYSQL_DUMP_TOOLS, MYSQL_CLIENT_PACKAGE);
    const tool = await this.toolVersion(dumpTool);
    return {
      serverVersion,
      tool: { name: path.basename(dumpTool), version: tool.version },
      database: t.database,
    };
  }

  /** Exact `COUNT(*)` of every base table, by unqualified table name. */
  async stats(conn: Connection): Promise<TableStats> {
    return countMysqlRows(myTarget(conn), LOCK_WAIT_TIMEOUT_SECONDS);
  }

  /**
   * Tables (system-versioned ones too), views, routines, triggers and sequences (MariaDB), as
   * the dump checker counts them in mariadb-dump's output (core/formats/mysqldump.ts).
   */
  async objects(conn: Connection): Promise<ObjectCounts> {
    const t = myTarget(conn);
    const out = await mysqlQuery(t, objectCountsSql(literal(t.database)), null);
    return parseObjectCounts(out, 'mysql client');
  }

  /**
   * Counts rows while it dumps with `--single-transaction` (consistent for InnoDB; MyISAM tables
   * have no transactions and may change during the dump). No `--databases`, so the dump has
   * no CREATE DATABASE / USE and restores into a database of any name.
   *
   * Lock waits are bounded by `options.lockWaitSeconds`: the counting sessions set their
   * `lock_wait_timeout`, and the dump tool, which has no such option, is watched
   * (mysqlLockWatch.ts). The counts and the watch are stopped with the dump.
   */
  dump(conn: Connection, options: DumpOptions): DumpSession {
    const stats = deferred<TableStats>();
    const lockWaitSeconds = options.lockWaitSeconds ?? LOCK_WAIT_TIMEOUT_SECONDS;
    const hints = [mysqlLockWaitHint(lockWaitSeconds), ...MYSQL_HINTS];
    let counted: Promise<void> | undefined;
    const watching = new AbortController();
    const output = deferredOutput(
      async (signal, fail) => {
        const t = myTarget(conn);
        const dumpTool = await requireTool(MYSQL_DUMP_TOOLS, MYSQL_CLIENT_PACKAGE);
        const { mariadb } = await this.toolVersion(dumpTool, signal);
        // The dump connects after this; its connection ids are greater (the watch's filter).
        const before = Number((await mysqlQuery(t, 'SELECT CONNECTION_ID();', t.database, signal)).trim());
        signal.throwIfAborted();
        // MySQL has no way to share the dump's snapshot, so the counts run next to the dump, in
        // a read view of their own taken as the dump starts; the output ends only after them.
        counted = countMysqlRows(t, lockWaitSeconds, signal).then(stats.resolve, (err: unknown) => {
          stats.reject(explainFailure(err, hints));
          throw err;
        });
        // A count that failed (a lock wait ran out) fails the dump now, not when it has finished.
        counted.catch(fail);
        const watchSignal = AbortSignal.any([signal, watching.signal]);
        if (Number.isSafeInteger(before)) {
          void watchLockWaits({
            query: (sql, querySignal) => mysqlQuery(t, sql, t.database, querySignal),
            after: before,
            seconds: lockWaitSeconds,
            signal: watchSignal,
            onStuck: fail,
          });
        }
        return processOutput(
          {
            command: dumpTool,
            args: [
              ...t.connectArgs,
              '--single-transaction',
              '--routines',
              '--triggers',
              '--events',
              '--hex-blob',
              '--default-character-set=utf8mb4',
              // Tablespace statements need the PROCESS privilege and do not restore elsewhere.
              '--no-tablespaces',
              '--skip-dump-date',
              '--max-allowed-packet=1G',
              // Oracle's mysqldump would write SET @@GLOBAL.GTID_PURGED, which fails on any
              // target that already has GTIDs; MariaDB's tool has no such option.
              ...(mariadb ? [] : ['--set-gtid-purged=OFF']),
              // After `--`, a database name is never read as an option (`--database=other`).
              '--',
              t.database,
            ],
            env: t.env,
            errorLines: MYSQL_DUMP_ERROR_LINES,
          },
          undefined,
          options.through,
        );
      },
      {
        beforeEnd: async () => {
          await counted;
        },
        onSettled: (error) => {
          watching.abort();
          if (error) stats.reject(error);
        },
        mapError: (err) => explainFailure(err, hints),
      },
    );
    return { output, stats: stats.promise, piped: options.through !== undefined };
  }

  /**
   * Feeds the dump to the mariadb / mysql client, which stops at the first error. A missing
   * database is created first. With `drop`, every table, view, sequence, routine and event
   * the database has is dropped before the dump goes in (triggers go with their tables), so
   * afterwards it holds exactly the backup's objects; the database itself, its character set
   * and the grants on it stay. MySQL cannot roll DDL back: a restore that fails after the
   * drops leaves the target partly restored (and the run FAILED).
   */
  async restore(target: Connection, input: Readable, options: RestoreOptions): Promise<void> {
    try {
      const t = myTarget(target);
      if (options.dumpFormat !== MYSQL_DUMP_FORMAT) {
        throw new UserError(
          `the mysql engine cannot restore a "${options.dumpFormat}" dump; restore it with the engine that made it`,
        );
      }
      const objects = await countMysqlObjects(t);
      if (objects === undefined) await mysqlQuery(t, `CREATE DATABASE ${identifier(t.database)};`, null);
      else if (objects > 0) {
        if (!options.drop) {
          throw new UserError(
            `${t.database} at ${t.where} already has tables: restore with --drop to replace them, or into an empty database`,
          );
        }
        await dropMysqlObjects(t);
      }
      const client = await requireTool(MYSQL_CLIENTS, MYSQL_CLIENT_PACKAGE);
      // --table: only the kept tables' statements (and the session settings) reach the client.
      const tables = options.select?.tables;
      const statements = tables ? chain(input, new MysqldumpTableFilter(new Set(tables)), () => {}) : input;
      await processInput(
        {
          command: client,
          args: [
            ...t.connectArgs,
            '--batch',
            '--default-character-set=utf8mb4',
            '--max-allowed-packet=1G',
            `--database=${t.database}`,
          ],
          env: t.env,
          ...(options.signal ? { signal: options.signal } : {}),
        },
        statements,
      );
    } catch (err) {
      const error = explainMysqlFailure(err);
      abandonInput(input, error);
      throw error;
    }
  }

  /** True when the database has no tables, views, routines or events, or does not exist. */
  async isEmpty(target: Connection): Promise<boolean> {
    return ((await countMysqlObjects(myTarget(target))) ?? 0) === 0;
  }

  /** Creates `name` (sanitised) with the source database's character set and collation. */
  async createScratch(source: Connection, name: string): Promise<Connection> {
    const src = myTarget(source);
    const scratch = withDatabase(src, scratchIdentifier(name, MAX_IDENTIFIER));
    const sql = `SET @create = (SELECT CONCAT('CREATE DATABASE ${identifier(scratch.database)} CHARACTER SET ', DEFAULT_CHARACTER_SET_NAME, ' COLLATE ', DEFAULT_COLLATION_NAME) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = DATABASE()); PREPARE create_scratch FROM @create; EXECUTE create_scratch;`;
    try {
      await mysqlQuery(src, sql, src.database);
    } catch (err) {
      if (err instanceof Error && /database exists/i.test(err.message)) {
        throw new UserError(
          `database ${scratch.database} already exists at ${scratch.where}: drop it or choose another name`,
          { cause: err },
        );
      }
      throw err;
    }
    rememberScratch(this.name, scratch.url);
    return { url: scratch.url, ...(source.password !== undefined ? { password: source.password } : {}) };
  }

  /** Drops a database made by {@link createScratch}. */
  async dropScratch(scratch: Connection): Promise<void> {
    const t = myTarget(scratch);
    claimScratch(this.name, t.url, `${t.database} at ${t.where}`);
    await mysqlQuery(t, `DROP DATABASE IF EXISTS ${identifier(t.database)};`, null);
    forgetScratch(this.name, t.url);
  }

  private toolVersion(file: string, signal?: AbortSignal): Promise<{ version: string; mariadb: boolean }> {
    let version = this.versions.get(file);
    if (!version) {
      version = runCommand({ command: file, args: ['--version'], ...(signal ? { signal } : {}) }).then(
        parseMysqlToolVersion,
      );
      version.catch(() => this.versions.delete(file));
      this.versions.set(file, version);
    }
    return version;
  }
}
