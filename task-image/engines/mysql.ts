/**
 * The MySQL / MariaDB engine: mariadb-dump (or mysqldump) in one consistent InnoDB
 * transaction, restored through the mariadb (or mysql) client. The password travels in
 * MYSQL_PWD, never on a command line. Names from the URL reach the tools only as option values
 * (`--host=…`, `--user=…`, `--database=…`) or after `--`, so none can be read as an option.
 */
import path from 'node:path';
import type { Readable } from 'node:stream';
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
import { SourceAccessError, ToolError, UserError } from '../../core/errors.ts';
import type { DumpChecker, ObjectCounts } from '../../core/formats/checker.ts';
import { MysqldumpChecker } from '../../core/formats/mysqldump.ts';
import { processInput, processOutput, runCommand } from '../../core/process.ts';
import { redactUrl, registerSecret } from '../../core/redact.ts';
import { deferred, deferredOutput } from './deferred-output.ts';
import { requireTool } from './executables.ts';
import { explainFailure, type FailureHint } from './failure-hints.ts';
import {
  type AccessFacts,
  coversDatabase,
  parseGrants,
  serverKind,
  unreadableSentences,
} from './mysql-access.ts';
import { watchLockWaits } from './mysql-lock-watch.ts';
import { abandonInput } from './restore-input.ts';
import { claimScratch, forgetScratch, rememberScratch, scratchIdentifier } from './scratch.ts';
import { lastJsonObject, parseObjectCounts, parseTableCounts } from './table-counts.ts';

/** The manifest's `dumpFormat` value of this engine. */
export const MYSQL_DUMP_FORMAT = DUMP_FORMATS.mysql;

/** MySQL's limit on database name length. */
const MAX_IDENTIFIER = 64;

const DUMP_TOOLS = ['mariadb-dump', 'mysqldump'] as const;
const CLIENTS = ['mariadb', 'mysql'] as const;
const INSTALL = 'mariadb-client (or mysql-client)';

const HINTS: readonly FailureHint[] = [
  { when: /Unknown database/i, fix: 'create the database or fix its name in the URL' },
  {
    when: /Access denied for user/i,
    fix: 'check the user name and the password (passwordEnv / passwordSecret)',
  },
  {
    when: /Can't connect|Unknown (MySQL|MariaDB) server host|Lost connection/i,
    fix: 'check the host and port in the URL and that the server accepts connections from here',
  },
  {
    when: /you need (at least one of )?the .* privilege|command denied/i,
    fix: 'grant the backup user the privilege named above (docs/configuration.md, "Database privileges", lists the grants a complete dump needs)',
  },
];

const explain = (err: unknown): Error => explainFailure(err, HINTS);

/** A row count whose session's `lock_wait_timeout` ran out (ERROR 1205). */
function lockWaitHint(seconds: number): FailureHint {
  return {
    when: /Lock wait timeout exceeded/i,
    fix: `another session held a lock on a table the dump reads for longer than ${seconds} s (lockWaitTimeoutSeconds): find it with SHOW PROCESSLIST, or raise the job's lockWaitTimeoutSeconds`,
  };
}

/** Bounds every lock wait of the statements that follow in the same session. */
function lockWaitSettings(seconds: number): string {
  const s = Math.max(1, Math.round(seconds));
  return `SET SESSION lock_wait_timeout = ${s}, SESSION innodb_lock_wait_timeout = ${s};`;
}

/**
 * What mariadb-dump / mysqldump print when a statement failed; with some failures (a lost
 * connection while dumping a table: `Error 2013: Lost connection to server during query when
 * dumping table …`) they still exit 0.
 */
const DUMP_ERROR_LINES = [/^(?:\S*\/)?(?:mysqldump|mariadb-dump): (?:Error|Couldn't execute|Got error)/i];

interface MyTarget {
  readonly database: string;
  /** `host:port`, for messages. */
  readonly where: string;
  /** --host/--port/--user; never the password. */
  readonly connectArgs: readonly string[];
  readonly env: Record<string, string | undefined>;
  readonly url: string;
}

function myTarget(conn: Connection): MyTarget {
  let url: URL;
  try {
    url = new URL(conn.url);
  } catch {
    throw new UserError(`expected a MySQL URL like mysql://app@db:3306/app, got ${redactUrl(conn.url)}`);
  }
  if (url.protocol !== 'mysql:' && url.protocol !== 'mariadb:') {
    throw new UserError(`expected a mysql:// or mariadb:// URL, got ${redactUrl(conn.url)}`);
  }
  if (url.password) {
    throw new UserError('the MySQL URL contains a password: remove it and use passwordEnv or passwordSecret');
  }
  if (url.search) {
    // Silently ignoring e.g. ?ssl-mode=REQUIRED would connect without TLS; refuse instead.
    throw new UserError(`the mysql engine does not support URL parameters (${url.search}); remove them`);
  }
  const database = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (!database) {
    throw new UserError(`add the database name to the URL, like mysql://app@db:3306/app (got ${conn.url})`);
  }
  registerSecret(conn.password);
  const host = url.hostname || 'localhost';
  const port = url.port || '3306';
  const user = decodeURIComponent(url.username);
  const env: Record<string, string | undefined> = {};
  if (conn.password !== undefined) env.MYSQL_PWD = conn.password;
  return {
    database,
    where: `${host}:${port}`,
    connectArgs: [`--host=${host}`, `--port=${port}`, ...(user ? [`--user=${user}`] : [])],
    env,
    url: conn.url,
  };
}

function withDatabase(t: MyTarget, database: string): MyTarget {
  const url = new URL(t.url);
  url.pathname = `/${encodeURIComponent(database)}`;
  return { ...t, database, url: url.toString() };
}

/** A string literal that survives any sql_mode and any character in the value. */
function literal(value: string): string {
  return `CONVERT(X'${Buffer.from(value, 'utf8').toString('hex')}' USING utf8mb4)`;
}

function identifier(name: string): string {
  return `\`${name.replace(/`/g, '``')}\``;
}

/** Base tables (and MariaDB system-versioned ones) of the current database. */
const LIST_TABLES_SQL =
  "SELECT COALESCE(JSON_ARRAYAGG(TABLE_NAME), '[]') FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED');";

/**
 * The objects of database `db` (an SQL literal), one JSON array a line: views, tables (base,
 * system-versioned and sequences), routines as [type, name], events.
 */
function listObjectsSql(db: string): string {
  return [
    `SELECT COALESCE(JSON_ARRAYAGG(TABLE_NAME), '[]') FROM information_schema.TABLES WHERE TABLE_SCHEMA = ${db} AND TABLE_TYPE = 'VIEW';`,
    `SELECT COALESCE(JSON_ARRAYAGG(TABLE_NAME), '[]') FROM information_schema.TABLES WHERE TABLE_SCHEMA = ${db} AND TABLE_TYPE <> 'VIEW';`,
    `SELECT COALESCE(JSON_ARRAYAGG(JSON_ARRAY(ROUTINE_TYPE, ROUTINE_NAME)), '[]') FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ${db};`,
    `SELECT COALESCE(JSON_ARRAYAGG(EVENT_NAME), '[]') FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ${db};`,
  ].join('\n');
}

/**
 * What the user sees but cannot read: views without their definition (no SHOW VIEW) and
 * routines without their body; and who the server takes the user for.
 */
const ACCESS_FACTS_SQL = `SELECT JSON_OBJECT('user', CURRENT_USER(),
  'views', (SELECT COALESCE(JSON_ARRAYAGG(TABLE_NAME), JSON_ARRAY()) FROM information_schema.VIEWS
    WHERE TABLE_SCHEMA = DATABASE() AND COALESCE(VIEW_DEFINITION, '') = ''),
  'routines', (SELECT COALESCE(JSON_ARRAYAGG(JSON_OBJECT('type', ROUTINE_TYPE, 'name', ROUTINE_NAME)), JSON_ARRAY())
    FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE() AND ROUTINE_DEFINITION IS NULL));`;

/** Tables and views the user sees but cannot SELECT every column of. */
const UNREADABLE_TABLES_SQL = `SELECT JSON_OBJECT('tables', COALESCE(JSON_ARRAYAGG(t.TABLE_NAME), JSON_ARRAY()))
  FROM information_schema.TABLES t LEFT JOIN (SELECT TABLE_NAME, MIN(FIND_IN_SET('select', PRIVILEGES) > 0) AS readable
    FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() GROUP BY TABLE_NAME) c ON c.TABLE_NAME = t.TABLE_NAME
  WHERE t.TABLE_SCHEMA = DATABASE() AND COALESCE(c.readable, 0) = 0;`;

function names(value: unknown, what: string): string[] {
  if (!Array.isArray(value) || !value.every((n): n is string => typeof n === 'string')) {
    throw new ToolError(`the mysql client listed ${what} as ${JSON.stringify(value)}; expected names`);
  }
  return [...value].sort();
}

/** One statement, so all counts come from the same InnoDB read view. */
function countRowsSql(tables: readonly string[]): string {
  if (tables.length === 0) return "SELECT '{}';";
  const parts = tables.map((t) => `SELECT ${literal(t)} AS n, COUNT(*) AS c FROM ${identifier(t)}`);
  return `SELECT COALESCE(JSON_OBJECTAGG(counts.n, counts.c), '{}') FROM (${parts.join(' UNION ALL ')}) AS counts;`;
}

/** The dump tool's version line: `10.11.19-MariaDB` or `8.0.36`. */
export function parseMysqlToolVersion(output: string): { version: string; mariadb: boolean } {
  const m =
    /Distrib\s+([^\s,]+)/.exec(output) ?? /from\s+([^\s,]+)/.exec(output) ?? /Ver\s+([^\s,]+)/.exec(output);
  if (!m) throw new ToolError(`cannot read a version from ${JSON.stringify(output.trim())}`);
  return { version: m[1]!, mariadb: /mariadb/i.test(output) };
}

/** MySQL and MariaDB through mariadb-dump / mysqldump and the mariadb / mysql client. */
export class MysqlEngine implements Engine {
  readonly name = 'mysql' as const;
  /** `--version` of each dump tool, asked once per process. */
  private readonly versions = new Map<string, Promise<{ version: string; mariadb: boolean }>>();

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
    const serverVersion = (await this.query(t, 'SELECT VERSION();', t.database, options.signal)).trim();
    const unreadable = unreadableSentences(await this.accessFacts(t, serverVersion, options.signal));
    if (unreadable.length) throw new SourceAccessError(unreadable);
    const dumpTool = await requireTool(DUMP_TOOLS, INSTALL);
    const tool = await this.toolVersion(dumpTool);
    return {
      serverVersion,
      tool: { name: path.basename(dumpTool), version: tool.version },
      database: t.database,
    };
  }

  /** Exact `COUNT(*)` of every base table, by unqualified table name. */
  async stats(conn: Connection): Promise<TableStats> {
    return this.countRows(myTarget(conn), LOCK_WAIT_TIMEOUT_SECONDS);
  }

  /**
   * Tables (system-versioned ones too), views, routines, triggers and sequences (MariaDB), as
   * the dump checker counts them in mariadb-dump's output (core/formats/mysqldump.ts).
   */
  async objects(conn: Connection): Promise<ObjectCounts> {
    const t = myTarget(conn);
    const db = literal(t.database);
    const tables = (types: string) =>
      `(SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ${db} AND TABLE_TYPE IN (${types}))`;
    const out = await this.query(
      t,
      `SELECT JSON_OBJECT('tables', ${tables("'BASE TABLE', 'SYSTEM VERSIONED'")},
        'views', ${tables("'VIEW'")},
        'routines', (SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ${db} AND ROUTINE_TYPE IN ('FUNCTION', 'PROCEDURE')),
        'triggers', (SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ${db}),
        'sequences', ${tables("'SEQUENCE'")});`,
      null,
    );
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
    const hints = [lockWaitHint(lockWaitSeconds), ...HINTS];
    let counted: Promise<void> | undefined;
    const watching = new AbortController();
    const output = deferredOutput(
      async (signal, fail) => {
        const t = myTarget(conn);
        const dumpTool = await requireTool(DUMP_TOOLS, INSTALL);
        const { mariadb } = await this.toolVersion(dumpTool, signal);
        // The dump connects after this; its connection ids are greater (the watch's filter).
        const before = Number((await this.query(t, 'SELECT CONNECTION_ID();', t.database, signal)).trim());
        signal.throwIfAborted();
        // MySQL has no way to share the dump's snapshot, so the counts run next to the dump, in
        // a read view of their own taken as the dump starts; the output ends only after them.
        counted = this.countRows(t, lockWaitSeconds, signal).then(stats.resolve, (err: unknown) => {
          stats.reject(explainFailure(err, hints));
          throw err;
        });
        // A count that failed (a lock wait ran out) fails the dump now, not when it has finished.
        counted.catch(fail);
        const watchSignal = AbortSignal.any([signal, watching.signal]);
        if (Number.isSafeInteger(before)) {
          void watchLockWaits({
            query: (sql, querySignal) => this.query(t, sql, t.database, querySignal),
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
            errorLines: DUMP_ERROR_LINES,
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
      const objects = await this.countObjects(t);
      if (objects === undefined) await this.query(t, `CREATE DATABASE ${identifier(t.database)};`, null);
      else if (objects > 0) {
        if (!options.drop) {
          throw new UserError(
            `${t.database} at ${t.where} already has tables: restore with --drop to replace them, or into an empty database`,
          );
        }
        await this.dropObjects(t);
      }
      const client = await requireTool(CLIENTS, INSTALL);
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
        },
        input,
      );
    } catch (err) {
      const error = explain(err);
      abandonInput(input, error);
      throw error;
    }
  }

  /** True when the database has no tables, views, routines or events, or does not exist. */
  async isEmpty(target: Connection): Promise<boolean> {
    return ((await this.countObjects(myTarget(target))) ?? 0) === 0;
  }

  /** Creates `name` (sanitised) with the source database's character set and collation. */
  async createScratch(source: Connection, name: string): Promise<Connection> {
    const src = myTarget(source);
    const scratch = withDatabase(src, scratchIdentifier(name, MAX_IDENTIFIER));
    const sql = `SET @create = (SELECT CONCAT('CREATE DATABASE ${identifier(scratch.database)} CHARACTER SET ', DEFAULT_CHARACTER_SET_NAME, ' COLLATE ', DEFAULT_COLLATION_NAME) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = DATABASE()); PREPARE create_scratch FROM @create; EXECUTE create_scratch;`;
    try {
      await this.query(src, sql, src.database);
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
    await this.query(t, `DROP DATABASE IF EXISTS ${identifier(t.database)};`, null);
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

  /**
   * Runs SQL through the client (on stdin, so long statements never hit argv limits); the
   * client is stopped when `signal` aborts.
   */
  private async query(
    t: MyTarget,
    sql: string,
    database: string | null,
    signal?: AbortSignal,
  ): Promise<string> {
    const client = await requireTool(CLIENTS, INSTALL);
    try {
      return await runCommand(
        {
          command: client,
          args: [
            ...t.connectArgs,
            '--batch',
            '--skip-column-names',
            '--raw',
            '--default-character-set=utf8mb4',
            '--connect-timeout=15',
            ...(database === null ? [] : [`--database=${database}`]),
          ],
          env: t.env,
          ...(signal ? { signal } : {}),
        },
        sql,
      );
    } catch (err) {
      throw explain(err);
    }
  }

  /** The user's grants and what information_schema shows it cannot read. */
  private async accessFacts(t: MyTarget, serverVersion: string, signal?: AbortSignal): Promise<AccessFacts> {
    const server = serverKind(serverVersion);
    let showGrants = 'SHOW GRANTS;';
    if (!server.mariadb && server.major >= 8) {
      // MySQL 8 lists a role's privileges only when asked to expand the roles in use.
      const roles = (await this.query(t, 'SELECT CURRENT_ROLE();', t.database, signal)).trim();
      if (roles && roles !== 'NONE') showGrants = `SHOW GRANTS FOR CURRENT_USER() USING ${roles};`;
    }
    const out = await this.query(t, `${showGrants}\n${ACCESS_FACTS_SQL}`, t.database, signal);
    const grants = parseGrants(out.split('\n'));
    const facts = lastJsonObject(out, 'mysql client');
    const routines = Array.isArray(facts.routines) ? facts.routines : [];
    const database = t.database;
    // Only without database-wide SELECT can a table be in sight but unreadable.
    const tables = coversDatabase(grants, 'SELECT', database)
      ? []
      : names(
          lastJsonObject(await this.query(t, UNREADABLE_TABLES_SQL, database, signal), 'mysql client').tables,
          'tables',
        );
    return {
      database,
      user: String(facts.user),
      server,
      grants,
      unreadable: {
        tables,
        views: names(facts.views, 'views'),
        routines: routines
          .map((r: { type?: unknown; name?: unknown }) => `${String(r.type)} ${identifier(String(r.name))}`)
          .sort(),
      },
    };
  }

  /** Row counts in sessions whose lock waits end after `lockWaitSeconds`. */
  private async countRows(t: MyTarget, lockWaitSeconds: number, signal?: AbortSignal): Promise<TableStats> {
    const settings = lockWaitSettings(lockWaitSeconds);
    const listed: unknown = JSON.parse(
      (await this.query(t, `${settings} ${LIST_TABLES_SQL}`, t.database, signal)).trim() || '[]',
    );
    if (!Array.isArray(listed) || !listed.every((n): n is string => typeof n === 'string')) {
      throw new ToolError(`the mysql client listed tables as ${JSON.stringify(listed)}; expected names`);
    }
    const out = await this.query(t, `${settings} ${countRowsSql(listed)}`, t.database, signal);
    return parseTableCounts(out, 'mysql client');
  }

  /**
   * Drops every table, view, sequence, routine and event of the database (the `drop` restore):
   * lists them, then drops them in one session with foreign key checks off, views first.
   */
  private async dropObjects(t: MyTarget): Promise<void> {
    const db = literal(t.database);
    const lists = (await this.query(t, listObjectsSql(db), null))
      .trim()
      .split('\n')
      .map((line): unknown => JSON.parse(line || '[]'));
    if (lists.length !== 4 || !lists.every((l) => Array.isArray(l))) {
      throw new ToolError(`the mysql client listed the objects of ${t.database} as ${JSON.stringify(lists)}`);
    }
    const [views, tables, routines, events] = lists as [string[], string[], [string, string][], string[]];
    const name = (object: string) => `${identifier(t.database)}.${identifier(object)}`;
    const statements = ['SET FOREIGN_KEY_CHECKS = 0;'];
    if (views.length) statements.push(`DROP VIEW IF EXISTS ${views.map(name).join(', ')};`);
    if (tables.length) statements.push(`DROP TABLE IF EXISTS ${tables.map(name).join(', ')};`);
    for (const [kind, routine] of routines) {
      // A package body goes with its package (MariaDB's Oracle mode).
      if (kind === 'PACKAGE BODY') continue;
      statements.push(
        `DROP ${kind === 'PACKAGE' ? 'PACKAGE' : kind === 'FUNCTION' ? 'FUNCTION' : 'PROCEDURE'} IF EXISTS ${name(routine)};`,
      );
    }
    for (const event of events) statements.push(`DROP EVENT IF EXISTS ${name(event)};`);
    await this.query(t, statements.join('\n'), null);
  }

  /** Tables, views, routines and events in the database; undefined when it does not exist. */
  private async countObjects(t: MyTarget): Promise<number | undefined> {
    const db = literal(t.database);
    const out = await this.query(
      t,
      `SELECT JSON_OBJECT('exists', (SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ${db}),
        'objects', (SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ${db})
          + (SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ${db})
          + (SELECT COUNT(*) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ${db}));`,
      null,
    );
    const result = lastJsonObject(out, 'mysql client');
    if (Number(result.exists) === 0) return undefined;
    return Number(result.objects);
  }
}
