/**
 * The MySQL / MariaDB engine: mariadb-dump (or mysqldump) in one consistent InnoDB
 * transaction, restored through the mariadb (or mysql) client. The password travels in
 * MYSQL_PWD, never on a command line. Names from the URL reach the tools only as option values
 * (`--host=…`, `--user=…`, `--database=…`) or after `--`, so none can be read as an option.
 */
import path from 'node:path';
import type { Readable } from 'node:stream';
import { DUMP_FORMATS } from '../../core/contracts/dump-formats.ts';
import type {
  Connection,
  DumpOptions,
  DumpSession,
  Engine,
  RestoreOptions,
  ServerInfo,
  TableStats,
} from '../../core/engine.ts';
import { ToolError, UserError } from '../../core/errors.ts';
import type { DumpChecker, ObjectCounts } from '../../core/formats/checker.ts';
import { MysqldumpChecker } from '../../core/formats/mysqldump.ts';
import { processInput, processOutput, runCommand } from '../../core/process.ts';
import { redactUrl, registerSecret } from '../../core/redact.ts';
import { deferred, deferredOutput } from './deferredOutput.ts';
import { requireTool } from './executables.ts';
import { explainFailure, type FailureHint } from './failureHints.ts';
import { abandonInput } from './restoreInput.ts';
import { claimScratch, forgetScratch, rememberScratch, scratchIdentifier } from './scratch.ts';
import { lastJsonObject, parseObjectCounts, parseTableCounts } from './tableCounts.ts';

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
    fix: 'grant the backup user the privilege named above (dumps need SELECT, SHOW VIEW, TRIGGER, EVENT and LOCK TABLES or PROCESS)',
  },
];

const explain = (err: unknown): Error => explainFailure(err, HINTS);

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

  /** Connects to the database (so a wrong name or password fails here) and reads both versions. */
  async inspect(conn: Connection): Promise<ServerInfo> {
    const t = myTarget(conn);
    const serverVersion = (await this.query(t, 'SELECT VERSION();', t.database)).trim();
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
    return this.countRows(myTarget(conn));
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
   */
  dump(conn: Connection, options: DumpOptions): DumpSession {
    const stats = deferred<TableStats>();
    let counted: Promise<void> | undefined;
    const output = deferredOutput(
      async () => {
        const t = myTarget(conn);
        const dumpTool = await requireTool(DUMP_TOOLS, INSTALL);
        const { mariadb } = await this.toolVersion(dumpTool);
        // MySQL has no way to share the dump's snapshot, so the counts run next to the dump, in
        // a read view of their own taken as the dump starts; the output ends only after them.
        counted = this.countRows(t).then(stats.resolve, (err: unknown) => {
          stats.reject(explain(err));
          throw err;
        });
        counted.catch(() => {});
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
          if (error) stats.reject(error);
        },
        mapError: explain,
      },
    );
    return { output, stats: stats.promise, piped: options.through !== undefined };
  }

  /**
   * Feeds the dump to the mariadb / mysql client, which stops at the first error. The dump
   * drops and recreates each table it contains; `drop` only lifts the refusal to restore
   * into a database that already has objects. A missing database is created first.
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
      else if (objects > 0 && !options.drop) {
        throw new UserError(
          `${t.database} at ${t.where} already has tables: restore with --drop to replace them, or into an empty database`,
        );
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

  private toolVersion(file: string): Promise<{ version: string; mariadb: boolean }> {
    let version = this.versions.get(file);
    if (!version) {
      version = runCommand({ command: file, args: ['--version'] }).then(parseMysqlToolVersion);
      version.catch(() => this.versions.delete(file));
      this.versions.set(file, version);
    }
    return version;
  }

  /** Runs SQL through the client (on stdin, so long statements never hit argv limits). */
  private async query(t: MyTarget, sql: string, database: string | null): Promise<string> {
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
        },
        sql,
      );
    } catch (err) {
      throw explain(err);
    }
  }

  private async countRows(t: MyTarget): Promise<TableStats> {
    const listed: unknown = JSON.parse((await this.query(t, LIST_TABLES_SQL, t.database)).trim() || '[]');
    if (!Array.isArray(listed) || !listed.every((n): n is string => typeof n === 'string')) {
      throw new ToolError(`the mysql client listed tables as ${JSON.stringify(listed)}; expected names`);
    }
    const out = await this.query(t, countRowsSql(listed), t.database);
    return parseTableCounts(out, 'mysql client');
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
