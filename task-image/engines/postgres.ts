/**
 * The PostgreSQL engine: pg_dump (custom or plain) in a snapshot shared with a psql session
 * that counts rows, pg_restore or psql to restore. Connections are libpq URLs without a
 * password; the password travels in PGPASSWORD, never on a command line.
 */
import type { Readable } from 'node:stream';
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
import { UserError } from '../../core/errors.ts';
import type { DumpChecker, ObjectCounts } from '../../core/formats/checker.ts';
import { PgCustomChecker } from '../../core/formats/pg-custom.ts';
import { PgPlainChecker } from '../../core/formats/pg-plain.ts';
import { processInput, processOutput, type SpawnSpec } from '../../core/process.ts';
import { deferred, deferredOutput } from './deferred-output.ts';
import { explainFailure } from './failure-hints.ts';
import { countObjectsSql, countRowsSql } from './pg-catalog-sql.ts';
import { createPgDatabase, dropPgDatabase, pgServerVersion, pgTargetState, runPsql } from './pg-databases.ts';
import {
  explainPgFailure,
  PG_DUMP_ERROR_LINES,
  PG_HINTS,
  pgDumpFailureCause,
  pgLockWaitHint,
} from './pg-failures.ts';
import { pgDumpGlobals, pgRestoreGlobals } from './pg-globals.ts';
import { restoreReplacing } from './pg-replace-restore.ts';
import { pgContents, restoreSelected } from './pg-selective.ts';
import { PgSnapshotSession } from './pg-snapshot-session.ts';
import { pgTarget, psqlArgs, withDatabase } from './pg-target.ts';
import {
  checkPgDumpCanDump,
  DEFAULT_PG_LIB_ROOTS,
  locatePgTool,
  majorFromVersionNum,
  type PgToolName,
  type PgToolSearch,
  type PgVersion,
  pgToolVersion,
} from './pg-tools.ts';
import { abandonInput } from './restore-input.ts';
import { claimScratch, forgetScratch, rememberScratch, scratchIdentifier } from './scratch.ts';
import { parseObjectCounts, parseTableCounts } from './table-counts.ts';

/** The manifest's `dumpFormat` values this engine writes and restores. */
export const PG_DUMP_FORMATS = { custom: DUMP_FORMATS.pgCustom, plain: DUMP_FORMATS.pgPlain } as const;

/** PostgreSQL's limit on identifier length (NAMEDATALEN - 1). */
const MAX_IDENTIFIER = 63;

/** Where the engine looks for its tools; the defaults suit the task image. */
export interface PostgresEngineOptions {
  /**
   * Directories with one sub-directory per major version (`<root>/<major>/bin/pg_dump`).
   * @default ['/usr/lib/postgresql']
   */
  readonly libRoots?: readonly string[];
  /**
   * Environment used to find the tools (PATH, PG_DUMP_PATH).
   * @default process.env
   */
  readonly env?: NodeJS.ProcessEnv;
}

/** PostgreSQL through pg_dump, pg_restore and psql. */
export class PostgresEngine implements Engine {
  readonly name = 'postgres' as const;
  readonly selects = { tables: true, schemas: true } as const;
  private readonly search: PgToolSearch;
  /** `--version` of each tool binary, asked once per engine (inspect and dump both need pg_dump's). */
  private readonly toolVersions = new Map<string, Promise<PgVersion>>();

  constructor(options: PostgresEngineOptions = {}) {
    this.search = { libRoots: options.libRoots ?? DEFAULT_PG_LIB_ROOTS, env: options.env ?? process.env };
  }

  /** `pgdump` for the custom format, `sql` for plain. */
  dumpExtension(options: DumpOptions): string {
    return options.format === 'plain' ? 'sql' : 'pgdump';
  }

  /** `pg_dump-custom` or `pg_dump-plain`. */
  dumpFormat(options: DumpOptions): string {
    return options.format === 'plain' ? PG_DUMP_FORMATS.plain : PG_DUMP_FORMATS.custom;
  }

  /** The custom-format archive's structure, or the plain script's completion trailer. */
  dumpChecker(options: DumpOptions): DumpChecker {
    return options.format === 'plain' ? new PgPlainChecker() : new PgCustomChecker();
  }

  /**
   * Reads the server version, then refuses (UserError naming the package to install) when the
   * pg_dump that would be used is older than the server.
   */
  async inspect(conn: Connection, options: ProbeOptions = {}): Promise<ServerInfo> {
    const target = pgTarget(conn);
    const { num, text } = await pgServerVersion(await this.psqlPath(), target, options.signal);
    const serverMajor = majorFromVersionNum(num);
    const pgDump = await this.locate('pg_dump', serverMajor);
    const tool = await this.toolVersion(pgDump);
    checkPgDumpCanDump(tool, serverMajor, target.where);
    return { serverVersion: text, tool: { name: 'pg_dump', version: tool.text }, database: target.database };
  }

  /** Exact row counts per `schema.table`, read in one statement (one snapshot). */
  async stats(conn: Connection): Promise<TableStats> {
    const target = pgTarget(conn);
    const psql = await this.psqlPath();
    const { num } = await pgServerVersion(psql, target);
    const out = await runPsql(psql, target, countRowsSql(num));
    return parseTableCounts(out, 'psql');
  }
  /** Tables, views, routines, triggers and sequences, counted as pg_dump's TOC lists them. */
  async objects(conn: Connection): Promise<ObjectCounts> {
    const target = pgTarget(conn);
    const psql = await this.psqlPath();
    const { num } = await pgServerVersion(psql, target);
    return parseObjectCounts(await runPsql(psql, target, countObjectsSql(num)), 'psql');
  }

  /**
   * pg_dump inside a snapshot exported by a psql session; the same session counts the rows
   * while pg_dump runs, so `stats` describe exactly the dumped data. The output ends only after
   * pg_dump exited 0 and the session committed cleanly.
   */
  dump(conn: Connection, options: DumpOptions): DumpSession {
    const stats = deferred<TableStats>();
    const lockWaitSeconds = options.lockWaitSeconds ?? LOCK_WAIT_TIMEOUT_SECONDS;
    const hints = [pgLockWaitHint(lockWaitSeconds), ...PG_HINTS];
    let session: PgSnapshotSession | undefined;
    let counted: Promise<void> = Promise.resolve();
    const output = deferredOutput(
      async (signal, fail) => {
        const target = pgTarget(conn);
        const psql = await this.locate('psql', undefined);
        session = await PgSnapshotSession.open(
          { command: psql, args: psqlArgs(target), env: target.env, signal },
          lockWaitSeconds,
        );
        signal.throwIfAborted();
        const serverMajor = majorFromVersionNum(session.serverVersionNum);
        const pgDump = await this.locate('pg_dump', serverMajor);
        checkPgDumpCanDump(await this.toolVersion(pgDump), serverMajor, target.where);
        signal.throwIfAborted();
        const open = session;
        // Counting runs next to pg_dump, in the same snapshot: neither waits for the other.
        counted = open.query(countRowsSql(open.serverVersionNum)).then(
          (line) => stats.resolve(parseTableCounts(line, 'psql')),
          (err: unknown) => {
            stats.reject(explainFailure(err, hints));
            throw err;
          },
        );
        // A count that failed (a lock wait ran out, a table it may not read) fails the dump now,
        // not when pg_dump has finished.
        counted.catch(fail);
        const format =
          options.format === 'plain'
            ? // Ownership is never restored (pg_restore runs with --no-owner), so plain dumps
              // leave it out too and stay restorable by any user.
              ['--format=plain', '--no-owner']
            : // The pipeline compresses; compressing inside the archive too only burns CPU.
              ['--format=custom', '--compress=0'];
        return processOutput(
          {
            command: pgDump,
            args: [
              ...format,
              `--snapshot=${open.snapshotId}`,
              // pg_dump locks every table it dumps before reading any; a lock another session
              // holds must not stall the run for as long as it is held.
              `--lock-wait-timeout=${Math.round(lockWaitSeconds * 1000)}`,
              '--no-password',
              '--dbname',
              target.url,
            ],
            env: target.env,
            errorLines: PG_DUMP_ERROR_LINES,
          },
          undefined,
          options.through,
        );
      },
      {
        beforeEnd: async () => {
          await counted;
          await session?.close();
        },
        onSettled: async (error) => {
          if (error) stats.reject(error);
          await session?.abort();
        },
        mapError: async (err) => explainFailure(await pgDumpFailureCause(err, counted), hints),
      },
    );
    return { output, stats: stats.promise, piped: options.through !== undefined };
  }

  /** The archive's tables and schemas from its table of contents (pg_restore --list), or a plain script's. */
  contents(input: Readable, options: ContentsOptions): Promise<BackupContents> {
    return pgContents(() => this.locate('pg_restore', undefined), input, options);
  }

  /** `pg_dumpall --globals-only` of the server, by a pg_dumpall at least as new as the server. */
  async dumpGlobals(conn: Connection, signal?: AbortSignal): Promise<Buffer> {
    const t = pgTarget(conn);
    const major = majorFromVersionNum((await pgServerVersion(await this.psqlPath(), t, signal)).num);
    return pgDumpGlobals(t, await this.locate('pg_dumpall', major), signal);
  }

  /** Runs a globals script on the target's server (pg-globals.ts: existing roles are left alone). */
  async restoreGlobals(target: Connection, script: string, signal?: AbortSignal): Promise<string> {
    return pgRestoreGlobals(pgTarget(target), await this.locate('psql', undefined), script, signal);
  }

  /**
   * Without `drop`: custom archives go through `pg_restore --no-owner --exit-on-error`, plain
   * dumps through `psql -v ON_ERROR_STOP=1`, into a database that has no user objects (one that
   * does not exist yet is created first).
   *
   * With `drop`, the target ends up equal to the backup, or unchanged: one psql session runs
   * `WIPE_DATABASE_SQL` (pg-catalog-sql.ts) and then the dump (a custom archive turned into its
   * SQL script by `pg_restore --file=-`) as a single transaction, which commits only when the
   * whole dump went in (pg-replace-restore.ts). Objects the backup does not have are gone; a
   * failure anywhere rolls back to the database as it was.
   */
  async restore(target: Connection, input: Readable, options: RestoreOptions): Promise<void> {
    try {
      const t = pgTarget(target);
      if (options.dumpFormat !== PG_DUMP_FORMATS.custom && options.dumpFormat !== PG_DUMP_FORMATS.plain) {
        throw new UserError(
          `the postgres engine cannot restore a "${options.dumpFormat}" dump; restore it with the engine that made it`,
        );
      }
      const psql = await this.psqlPath();
      const state = await pgTargetState(psql, t);
      if (state === 'missing') await createPgDatabase(psql, t, undefined);
      else if (state === 'non-empty' && !options.drop) {
        throw new UserError(
          `${t.database} at ${t.where} already has tables: restore with --drop to replace them, or into an empty database`,
        );
      }
      if (options.select) {
        const pgRestore = await this.locate('pg_restore', undefined);
        return await restoreSelected(t, pgRestore, input, options);
      }
      if (options.drop) {
        await restoreReplacing(
          t,
          input,
          options.dumpFormat === PG_DUMP_FORMATS.custom,
          (tool) => this.locate(tool, undefined),
          options.signal,
        );
        return;
      }
      let spec: SpawnSpec;
      if (options.dumpFormat === PG_DUMP_FORMATS.custom) {
        spec = {
          command: await this.locate('pg_restore', undefined),
          args: ['--no-owner', '--exit-on-error', '--no-password', '--dbname', t.url],
          env: t.env,
        };
      } else {
        spec = {
          command: await this.locate('psql', undefined),
          args: ['-X', '--no-password', '-q', '-v', 'ON_ERROR_STOP=1', '--dbname', t.url, '--file', '-'],
          env: t.env,
        };
      }
      await processInput({ ...spec, ...(options.signal ? { signal: options.signal } : {}) }, input);
    } catch (err) {
      const error = explainPgFailure(err);
      abandonInput(input, error);
      throw error;
    }
  }

  /** True when the database has no user tables, views, sequences, functions or types, or does not exist. */
  async isEmpty(target: Connection): Promise<boolean> {
    return (await pgTargetState(await this.psqlPath(), pgTarget(target))) !== 'non-empty';
  }

  /**
   * Creates `name` (sanitised) on the source's server with the source's encoding and locale,
   * from template0 so nothing installed in template1 leaks in. Fails if it exists.
   */
  async createScratch(source: Connection, name: string): Promise<Connection> {
    const src = pgTarget(source);
    const scratch = withDatabase(src, scratchIdentifier(name, MAX_IDENTIFIER));
    await createPgDatabase(await this.psqlPath(), scratch, src);
    rememberScratch(this.name, scratch.url);
    return { url: scratch.url, ...(source.password !== undefined ? { password: source.password } : {}) };
  }

  /** Drops a database made by {@link createScratch}, disconnecting its sessions (PostgreSQL 13+). */
  async dropScratch(scratch: Connection): Promise<void> {
    const t = pgTarget(scratch);
    claimScratch(this.name, t.url, `${t.database} at ${t.where}`);
    await dropPgDatabase(await this.psqlPath(), t);
    forgetScratch(this.name, t.url);
  }

  private toolVersion(file: string): Promise<PgVersion> {
    let version = this.toolVersions.get(file);
    if (!version) {
      version = pgToolVersion(file);
      // A failed ask is not remembered: the next caller asks again (and reports the failure).
      version.catch(() => this.toolVersions.delete(file));
      this.toolVersions.set(file, version);
    }
    return version;
  }

  private async locate(tool: PgToolName, minMajor: number | undefined): Promise<string> {
    return locatePgTool(tool, minMajor, this.search);
  }

  private psqlPath(): Promise<string> {
    return this.locate('psql', undefined);
  }
}
