/**
 * The PostgreSQL engine: pg_dump (custom or plain) in a snapshot shared with a psql session
 * that counts rows, pg_restore or psql to restore. Connections are libpq URLs without a
 * password; the password travels in PGPASSWORD, never on a command line.
 */
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DUMP_FORMATS } from '../../core/contracts/dump-formats.ts';
import { LOCK_WAIT_TIMEOUT_SECONDS } from '../../core/contracts/timeouts.ts';
import type {
  Connection,
  DumpOptions,
  DumpSession,
  Engine,
  ProbeOptions,
  RestoreOptions,
  ServerInfo,
  TableStats,
} from '../../core/engine.ts';
import { ToolError, UserError } from '../../core/errors.ts';
import type { DumpChecker, ObjectCounts } from '../../core/formats/checker.ts';
import { PgCustomChecker } from '../../core/formats/pg-custom.ts';
import { PgPlainChecker } from '../../core/formats/pg-plain.ts';
import { processInput, processOutput, runCommand, type SpawnSpec } from '../../core/process.ts';
import { redactUrl, registerSecret } from '../../core/redact.ts';
import { deferred, deferredOutput } from './deferred-output.ts';
import { explainFailure, type FailureHint } from './failure-hints.ts';
import { PgSnapshotSession } from './pg-snapshot-session.ts';
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

const HINTS: readonly FailureHint[] = [
  { when: /database "[^"]*" does not exist/, fix: 'create the database or fix its name in the URL' },
  { when: /role "[^"]*" does not exist/, fix: 'fix the user name in the URL' },
  {
    when: /password authentication failed|no password supplied|authentication failed/i,
    fix: 'check the user name and the password (passwordEnv / passwordSecret)',
  },
  {
    when: /could not translate host name|Connection refused|could not connect|timeout expired|No route to host/i,
    fix: 'check the host and port in the URL and that the server accepts connections from here',
  },
  {
    when: /permission denied/i,
    fix: 'grant the backup user read access to every table (e.g. GRANT pg_read_all_data TO <user>)',
  },
  {
    when: /server version mismatch/i,
    fix: 'install a pg_dump at least as new as the server (or set PG_DUMP_PATH)',
  },
  {
    // Standbys can export snapshots only from PostgreSQL 10 on.
    when: /during recovery/i,
    fix: 'dump from the primary, or from a standby running PostgreSQL 10 or later',
  },
  {
    // A --drop restore is one transaction: every dropped and every restored table holds a lock.
    when: /max_locks_per_transaction/i,
    fix: 'a --drop restore runs in one transaction: raise max_locks_per_transaction on the server, or restore into an empty database without --drop',
  },
  {
    when: /unsupported version .* in file header/i,
    fix: 'install a pg_restore at least as new as the pg_dump that made the backup (or set PG_DUMP_PATH)',
  },
];

const explain = (err: unknown): Error => explainFailure(err, HINTS);

/**
 * A lock wait that ran out: pg_dump's `--lock-wait-timeout` ends its `LOCK TABLE` with a
 * statement timeout (its stderr then names the table), the row-count session's `lock_timeout`
 * with a lock timeout.
 */
function lockWaitHint(seconds: number): FailureHint {
  return {
    when: /lock timeout|statement timeout\b.*\bLOCK TABLE/i,
    fix: `another session held a lock on a table the dump reads for longer than ${seconds} s (lockWaitTimeoutSeconds): find it in pg_locks and pg_stat_activity, or raise the job's lockWaitTimeoutSeconds`,
  };
}

/** pg_dump's own error lines: a run that printed one failed, whatever its exit code. */
const PG_DUMP_ERROR_LINES = [/^pg_dump: error: /];

/** How long a failed pg_dump waits for its snapshot session to tell why the snapshot went away. */
const SESSION_CAUSE_WAIT_MS = 5_000;

/**
 * The real cause of a pg_dump failure. "invalid snapshot identifier" means the session that
 * exported the snapshot ended before pg_dump imported it — because that session failed (its
 * row count hit "permission denied for table x", say): that failure is the cause to report.
 */
async function dumpFailureCause(err: unknown, counted: Promise<void>): Promise<unknown> {
  if (!(err instanceof Error) || !/invalid snapshot identifier/i.test(err.message)) return err;
  let timer: NodeJS.Timeout | undefined;
  const sessionError = await Promise.race([
    counted.then(
      () => undefined,
      (sessionErr: unknown) => sessionErr,
    ),
    new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), SESSION_CAUSE_WAIT_MS);
      timer.unref();
    }),
  ]);
  clearTimeout(timer);
  return sessionError ?? err;
}

/** A parsed connection: what the tools are given, and how to name it in messages. */
interface PgTarget {
  /** libpq URL (no password) for --dbname. */
  readonly url: string;
  readonly database: string;
  /** `host:port`, for messages. */
  readonly where: string;
  /** PGPASSWORD and friends: the child environment beyond the allow-list of core/child-env.ts. */
  readonly env: Record<string, string | undefined>;
}

function pgTarget(conn: Connection): PgTarget {
  let url: URL;
  try {
    url = new URL(conn.url);
  } catch {
    throw new UserError(
      `expected a PostgreSQL URL like postgres://app@db:5432/app, got ${redactUrl(conn.url)}`,
    );
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new UserError(`expected a postgres:// URL, got ${redactUrl(conn.url)}`);
  }
  if (url.password) {
    throw new UserError(
      'the PostgreSQL URL contains a password: remove it and use passwordEnv or passwordSecret',
    );
  }
  const database = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (!database) {
    throw new UserError(
      `add the database name to the URL, like postgres://app@db:5432/app (got ${conn.url})`,
    );
  }
  registerSecret(conn.password);
  const env: Record<string, string | undefined> = {
    // Fail fast instead of hanging on an unreachable host, unless the operator chose otherwise.
    PGCONNECT_TIMEOUT: process.env.PGCONNECT_TIMEOUT ?? '15',
    PGAPPNAME: process.env.PGAPPNAME ?? 'dumpvault',
  };
  if (conn.password !== undefined) env.PGPASSWORD = conn.password;
  return { url: conn.url, database, where: `${url.hostname || 'localhost'}:${url.port || '5432'}`, env };
}

/** The same server and credentials, another database. */
function withDatabase(target: PgTarget, database: string): PgTarget {
  const url = new URL(target.url);
  url.pathname = `/${encodeURIComponent(database)}`;
  return { ...target, url: url.toString(), database };
}

/** Arguments every psql invocation gets: no psqlrc, no prompts, unaligned tuples only, stop on error. */
function psqlArgs(target: PgTarget, extra: readonly string[] = []): string[] {
  return ['-X', '--no-password', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', ...extra, '--dbname', target.url];
}

/** Exact row counts of every user table; partitions are counted through their root table. */
function countRowsSql(serverVersionNum: number): string {
  const notPartition = serverVersionNum >= 100000 ? 'AND NOT c.relispartition' : '';
  const kinds = serverVersionNum >= 100000 ? "('r', 'p')" : "('r')";
  return `SELECT coalesce(json_object_agg(t.name, t.n), '{}') FROM (
  SELECT format('%s.%s', n.nspname, c.relname) AS name,
    (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I', n.nspname, c.relname), false, true, '')))[1]::text::bigint AS n
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ${kinds} ${notPartition}
    AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'
    AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
  ORDER BY 1) t;`.replace(/\s*\n\s*/g, ' ');
}

/**
 * How many tables, views, routines, triggers and sequences a database holds, counted the way
 * the dump checkers count pg_dump's TOC entries (core/formats/pg-custom.ts, pg-plain.ts): user
 * schemas only, extension members excluded; tables include partitioned tables and partitions,
 * views include materialized views, routines are functions and procedures (not aggregates),
 * triggers are those pg_dump writes (not internal ones, not a partition's clone of its parent's).
 */
function countObjectsSql(serverVersionNum: number): string {
  const tableKinds = serverVersionNum >= 100000 ? "('r', 'p')" : "('r')";
  const routine = serverVersionNum >= 110000 ? "p.prokind IN ('f', 'p', 'w')" : 'NOT p.proisagg';
  const ownTrigger = serverVersionNum >= 130000 ? 'AND t.tgparentid = 0' : '';
  return `WITH user_ns AS (
  SELECT oid FROM pg_namespace WHERE nspname <> 'information_schema' AND nspname !~ '^pg_'),
ext AS (SELECT classid, objid FROM pg_depend WHERE deptype = 'e'),
rel AS (SELECT c.oid, c.relkind FROM pg_class c JOIN user_ns n ON n.oid = c.relnamespace
  WHERE NOT EXISTS (SELECT 1 FROM ext WHERE ext.classid = 'pg_class'::regclass AND ext.objid = c.oid))
SELECT json_build_object(
  'tables', (SELECT count(*) FROM rel WHERE relkind IN ${tableKinds}),
  'views', (SELECT count(*) FROM rel WHERE relkind IN ('v', 'm')),
  'routines', (SELECT count(*) FROM pg_proc p JOIN user_ns n ON n.oid = p.pronamespace
    WHERE ${routine}
      AND NOT EXISTS (SELECT 1 FROM ext WHERE ext.classid = 'pg_proc'::regclass AND ext.objid = p.oid)),
  'triggers', (SELECT count(*) FROM pg_trigger t JOIN rel ON rel.oid = t.tgrelid
    WHERE NOT t.tgisinternal ${ownTrigger}),
  'sequences', (SELECT count(*) FROM rel WHERE relkind = 'S'));`.replace(/\s*\n\s*/g, ' ');
}

/** Counts user objects that a restore could collide with (extension members excluded). */
const COUNT_USER_OBJECTS_SQL = `WITH user_ns AS (
  SELECT oid, nspname FROM pg_namespace WHERE nspname <> 'information_schema' AND nspname !~ '^pg_'),
ext AS (SELECT objid FROM pg_depend WHERE deptype = 'e')
SELECT (SELECT count(*) FROM pg_class c JOIN user_ns n ON n.oid = c.relnamespace
          WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f', 'c') AND c.oid NOT IN (SELECT objid FROM ext))
     + (SELECT count(*) FROM pg_proc p JOIN user_ns n ON n.oid = p.pronamespace
          WHERE p.oid NOT IN (SELECT objid FROM ext))
     + (SELECT count(*) FROM pg_type t JOIN user_ns n ON n.oid = t.typnamespace
          WHERE t.typtype IN ('e', 'd', 'r') AND t.oid NOT IN (SELECT objid FROM ext))
     + (SELECT count(*) FROM user_ns n WHERE n.nspname <> 'public' AND n.oid NOT IN (SELECT objid FROM ext));`.replace(
  /\s*\n\s*/g,
  ' ',
);

/**
 * Empties a database of everything pg_dump could have written, so that what the dump then
 * creates is all there is: event triggers, publications, extensions (except those every
 * database is created with: OID below FirstNormalObjectId, which pg_dump leaves out too), every
 * schema but public, every object in public, large objects, and the casts, foreign servers
 * and foreign-data wrappers no extension owns. public itself stays (pg_dump does not create
 * it), with its owner and privileges. Objects that another object owns (a range type's
 * constructors, a table's row type) go with their owner. It runs in the restore's transaction,
 * so a drop that is refused ("must be owner of …") rolls everything back; its lock waits are
 * bounded like the dump's.
 */
const WIPE_DATABASE_SQL = `SET client_min_messages = warning;
SET LOCAL lock_timeout = '${LOCK_WAIT_TIMEOUT_SECONDS}s';
DO $dumpvault_wipe$
DECLARE
  r record;
BEGIN
  FOR r IN SELECT evtname FROM pg_event_trigger LOOP
    EXECUTE format('DROP EVENT TRIGGER %I', r.evtname);
  END LOOP;
  FOR r IN SELECT pubname FROM pg_publication LOOP
    EXECUTE format('DROP PUBLICATION %I', r.pubname);
  END LOOP;
  FOR r IN SELECT extname FROM pg_extension WHERE oid >= 16384 LOOP
    EXECUTE format('DROP EXTENSION IF EXISTS %I CASCADE', r.extname);
  END LOOP;
  FOR r IN SELECT nspname FROM pg_namespace
      WHERE nspname !~ '^pg_' AND nspname NOT IN ('information_schema', 'public') LOOP
    EXECUTE format('DROP SCHEMA %I CASCADE', r.nspname);
  END LOOP;
  FOR r IN SELECT o.type, o.identity FROM pg_depend d, pg_identify_object(d.classid, d.objid, 0) o
      WHERE d.refclassid = 'pg_namespace'::regclass AND d.deptype = 'n'
        AND d.refobjid = (SELECT oid FROM pg_namespace WHERE nspname = 'public')
        AND NOT EXISTS (SELECT 1 FROM pg_depend x
          WHERE x.classid = d.classid AND x.objid = d.objid AND x.deptype IN ('i', 'e')
            AND (x.refclassid, x.refobjid) <> (d.classid, d.objid)) LOOP
    EXECUTE format('DROP %s IF EXISTS %s CASCADE',
      CASE r.type WHEN 'statistics object' THEN 'STATISTICS' ELSE upper(r.type) END, r.identity);
  END LOOP;
  PERFORM lo_unlink(oid) FROM pg_largeobject_metadata;
  FOR r IN SELECT c.castsource::regtype AS source, c.casttarget::regtype AS target FROM pg_cast c
      WHERE c.oid >= 16384 AND NOT EXISTS (SELECT 1 FROM pg_depend x
        WHERE x.classid = 'pg_cast'::regclass AND x.objid = c.oid AND x.deptype = 'e') LOOP
    EXECUTE format('DROP CAST IF EXISTS (%s AS %s) CASCADE', r.source, r.target);
  END LOOP;
  FOR r IN SELECT s.srvname FROM pg_foreign_server s LOOP
    EXECUTE format('DROP SERVER IF EXISTS %I CASCADE', r.srvname);
  END LOOP;
  FOR r IN SELECT w.fdwname FROM pg_foreign_data_wrapper w WHERE NOT EXISTS (SELECT 1 FROM pg_depend x
      WHERE x.classid = 'pg_foreign_data_wrapper'::regclass AND x.objid = w.oid AND x.deptype = 'e') LOOP
    EXECUTE format('DROP FOREIGN DATA WRAPPER IF EXISTS %I CASCADE', r.fdwname);
  END LOOP;
END
$dumpvault_wipe$;
`;

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
    const { num, text } = await this.serverVersion(target, options.signal);
    const serverMajor = majorFromVersionNum(num);
    const pgDump = await this.locate('pg_dump', serverMajor);
    const tool = await this.toolVersion(pgDump);
    checkPgDumpCanDump(tool, serverMajor, target.where);
    return { serverVersion: text, tool: { name: 'pg_dump', version: tool.text }, database: target.database };
  }

  /** Exact row counts per `schema.table`, read in one statement (one snapshot). */
  async stats(conn: Connection): Promise<TableStats> {
    const target = pgTarget(conn);
    const { num } = await this.serverVersion(target);
    const out = await this.psql(target, countRowsSql(num));
    return parseTableCounts(out, 'psql');
  }
  /** Tables, views, routines, triggers and sequences, counted as pg_dump's TOC lists them. */
  async objects(conn: Connection): Promise<ObjectCounts> {
    const target = pgTarget(conn);
    const { num } = await this.serverVersion(target);
    return parseObjectCounts(await this.psql(target, countObjectsSql(num)), 'psql');
  }

  /**
   * pg_dump inside a snapshot exported by a psql session; the same session counts the rows
   * while pg_dump runs, so `stats` describe exactly the dumped data. The output ends only after
   * pg_dump exited 0 and the session committed cleanly.
   */
  dump(conn: Connection, options: DumpOptions): DumpSession {
    const stats = deferred<TableStats>();
    const lockWaitSeconds = options.lockWaitSeconds ?? LOCK_WAIT_TIMEOUT_SECONDS;
    const hints = [lockWaitHint(lockWaitSeconds), ...HINTS];
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
        mapError: async (err) => explainFailure(await dumpFailureCause(err, counted), hints),
      },
    );
    return { output, stats: stats.promise, piped: options.through !== undefined };
  }

  /**
   * Without `drop`: custom archives go through `pg_restore --no-owner --exit-on-error`, plain
   * dumps through `psql -v ON_ERROR_STOP=1`, into a database that has no user objects (one that
   * does not exist yet is created first).
   *
   * With `drop`, the target ends up equal to the backup, or unchanged: one psql session runs
   * {@link WIPE_DATABASE_SQL} and then the dump (a custom archive turned into its SQL script by
   * `pg_restore --file=-`) as a single transaction, which commits only when the whole dump
   * went in. Objects the backup does not have are gone; a failure anywhere rolls back to the
   * database as it was.
   */
  async restore(target: Connection, input: Readable, options: RestoreOptions): Promise<void> {
    try {
      const t = pgTarget(target);
      if (options.dumpFormat !== PG_DUMP_FORMATS.custom && options.dumpFormat !== PG_DUMP_FORMATS.plain) {
        throw new UserError(
          `the postgres engine cannot restore a "${options.dumpFormat}" dump; restore it with the engine that made it`,
        );
      }
      const state = await this.targetState(t);
      if (state === 'missing') await this.createDatabase(t, undefined);
      else if (state === 'non-empty' && !options.drop) {
        throw new UserError(
          `${t.database} at ${t.where} already has tables: restore with --drop to replace them, or into an empty database`,
        );
      }
      if (options.drop) {
        await this.restoreReplacing(t, input, options.dumpFormat);
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
      await processInput(spec, input);
    } catch (err) {
      const error = explain(err);
      abandonInput(input, error);
      throw error;
    }
  }

  /**
   * The `drop` restore: wipe and dump in one transaction (`psql --single-transaction`). psql
   * commits only at the end of its input, and its input ends only after pg_restore exited 0;
   * any failure before that kills psql, and PostgreSQL rolls the open transaction back.
   */
  private async restoreReplacing(t: PgTarget, input: Readable, dumpFormat: string): Promise<void> {
    const script =
      dumpFormat === PG_DUMP_FORMATS.custom
        ? processOutput(
            {
              command: await this.locate('pg_restore', undefined),
              args: ['--no-owner', '--file=-'],
              env: t.env,
            },
            input,
          )
        : input;
    const feed = new PassThrough({ highWaterMark: 1 << 20 });
    feed.write(WIPE_DATABASE_SQL);
    // Either side failing fails the other: a dead pg_restore errors `feed`, which kills psql;
    // a dead psql destroys `feed`, which stops pg_restore (and its input).
    const feeding = pipeline(script, feed);
    feeding.catch(() => {});
    await processInput(
      {
        command: await this.locate('psql', undefined),
        args: [
          '-X',
          '--no-password',
          '-q',
          '-v',
          'ON_ERROR_STOP=1',
          '--single-transaction',
          '--dbname',
          t.url,
          '--file',
          '-',
        ],
        env: t.env,
      },
      feed,
    );
    await feeding;
  }

  /** True when the database has no user tables, views, sequences, functions or types, or does not exist. */
  async isEmpty(target: Connection): Promise<boolean> {
    return (await this.targetState(pgTarget(target))) !== 'non-empty';
  }

  /**
   * Creates `name` (sanitised) on the source's server with the source's encoding and locale,
   * from template0 so nothing installed in template1 leaks in. Fails if it exists.
   */
  async createScratch(source: Connection, name: string): Promise<Connection> {
    const src = pgTarget(source);
    const scratch = withDatabase(src, scratchIdentifier(name, MAX_IDENTIFIER));
    await this.createDatabase(scratch, src);
    rememberScratch(this.name, scratch.url);
    return { url: scratch.url, ...(source.password !== undefined ? { password: source.password } : {}) };
  }

  /** Drops a database made by {@link createScratch}, disconnecting its sessions (PostgreSQL 13+). */
  async dropScratch(scratch: Connection): Promise<void> {
    const t = pgTarget(scratch);
    claimScratch(this.name, t.url, `${t.database} at ${t.where}`);
    const sql =
      "SELECT format('DROP DATABASE IF EXISTS %I', :'name') || CASE WHEN current_setting('server_version_num')::int >= 130000 THEN ' WITH (FORCE)' ELSE '' END \\gexec";
    await this.onMaintenanceDb(t, (maintenance) => this.psql(maintenance, sql, ['-v', `name=${t.database}`]));
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

  private async psql(
    target: PgTarget,
    sql: string,
    extra: readonly string[] = [],
    signal?: AbortSignal,
  ): Promise<string> {
    const command = await this.locate('psql', undefined);
    try {
      return await runCommand(
        {
          command,
          args: [...psqlArgs(target, extra), '--file', '-'],
          env: target.env,
          ...(signal ? { signal } : {}),
        },
        `${sql}\n`,
      );
    } catch (err) {
      throw explain(err);
    }
  }

  private async serverVersion(
    target: PgTarget,
    signal?: AbortSignal,
  ): Promise<{ num: number; text: string }> {
    const out = await this.psql(
      target,
      "SELECT current_setting('server_version_num'); SELECT current_setting('server_version');",
      [],
      signal,
    );
    const [num, text] = out.trim().split('\n');
    const parsed = Number(num);
    if (!Number.isInteger(parsed) || !text) {
      throw new ToolError(`psql printed an unexpected server version: ${JSON.stringify(out.trim())}`);
    }
    return { num: parsed, text: text.trim() };
  }

  private async targetState(t: PgTarget): Promise<'missing' | 'empty' | 'non-empty'> {
    let out: string;
    try {
      out = await this.psql(t, COUNT_USER_OBJECTS_SQL);
    } catch (err) {
      if (err instanceof Error && /database "[^"]*" does not exist/.test(err.message)) return 'missing';
      throw err;
    }
    return Number(out.trim()) === 0 ? 'empty' : 'non-empty';
  }

  /**
   * Creates `t.database` from template0, copying encoding and locale from `like` when given.
   * CREATE DATABASE cannot run in a transaction block, so it is built with format() and run by
   * psql's \gexec.
   */
  private async createDatabase(t: PgTarget, like: PgTarget | undefined): Promise<void> {
    const run = async (conn: PgTarget) => {
      const sql = like
        ? "SELECT format('CREATE DATABASE %I TEMPLATE template0 ENCODING %L LC_COLLATE %L LC_CTYPE %L', :'name', pg_encoding_to_char(encoding), datcollate, datctype) FROM pg_database WHERE datname = current_database() \\gexec"
        : "SELECT format('CREATE DATABASE %I TEMPLATE template0', :'name') \\gexec";
      await this.psql(conn, sql, ['-v', `name=${t.database}`]);
    };
    try {
      if (like) await run(like);
      else await this.onMaintenanceDb(t, run);
    } catch (err) {
      if (err instanceof Error && /already exists/.test(err.message)) {
        throw new UserError(
          `database ${t.database} already exists at ${t.where}: drop it or choose another name`,
          { cause: err },
        );
      }
      throw err;
    }
  }

  /** Runs `fn` connected to the server's maintenance database (postgres, else template1). */
  private async onMaintenanceDb<T>(t: PgTarget, fn: (maintenance: PgTarget) => Promise<T>): Promise<T> {
    try {
      return await fn(withDatabase(t, 'postgres'));
    } catch (err) {
      if (err instanceof Error && /database "postgres" does not exist/.test(err.message)) {
        return fn(withDatabase(t, 'template1'));
      }
      throw err;
    }
  }
}
