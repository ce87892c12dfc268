/**
 * What a restore target already holds, seen by the Guard step through a database driver before
 * any task starts. "Empty" means what the engines mean by it (task-image/engines/*.ts
 * `isEmpty`), counted the same way so the Guard and the restore task never disagree:
 *
 * - PostgreSQL: tables, views, sequences, functions, types and schemas other than `public`,
 *   outside the system schemas and not members of an extension; a missing database is empty.
 * - MySQL / MariaDB: tables, views, sequences, routines and events of the database; a missing
 *   database is empty.
 * - MongoDB: collections other than `system.*` (a database exists only once it has one).
 *
 * Each engine's probe takes a connection factory, so tests hand in the real driver against a
 * real server, or a stand-in client where no server can run.
 */
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import { MongoClient } from 'mongodb';
import mysql from 'mysql2/promise';
import pg from 'pg';
import type { EngineName } from '../../core/config/schema.ts';
import { messageOf } from '../../core/errors.ts';
import { redact, registerSecret } from '../../core/redact.ts';
import { RestoreInputError, TargetUnreachableError } from './restore-contract.ts';

/** A restore target as the Guard reaches it: the execution input's URL and the password its secret holds. */
export interface ProbeTarget {
  readonly url: string;
  readonly password?: string;
}

/** What a probe found in a target. */
export interface TargetInventory {
  /**
   * True when the database is known not to exist (the restore creates it). MongoDB creates a
   * database on its first write and cannot tell a missing database from an empty one, so its
   * probe never says missing.
   */
  readonly missing: boolean;
  /**
   * What a restore could collide with, by kind (`tables`, `views`, `collections`, …) in a fixed
   * order; kinds with none are left out, so `{}` means empty.
   */
  readonly objects: Readonly<Record<string, number>>;
}

/** How long a probe waits for a connection, per attempt (the Guard Lambda allows two). */
export const PROBE_CONNECT_TIMEOUT_MS = 10_000;
/** How long a probe waits for its one catalog query. */
export const PROBE_QUERY_TIMEOUT_MS = 15_000;
/** The application name the probe's sessions carry (visible in pg_stat_activity, server logs). */
const APPLICATION_NAME = 'dumpvault-guard';

const SINGULAR: Readonly<Record<string, string>> = {
  tables: 'table',
  views: 'view',
  sequences: 'sequence',
  functions: 'function',
  types: 'type',
  schemas: 'schema',
  routines: 'routine',
  events: 'event',
  collections: 'collection',
};

/** The objects in words: `3 tables`, `3 tables and 1 view`, `2 tables, 1 view and 4 functions`. */
export function describeObjects(objects: TargetInventory['objects']): string {
  const parts = Object.entries(objects).map(
    ([kind, n]) => `${n} ${n === 1 ? (SINGULAR[kind] ?? kind) : kind}`,
  );
  if (parts.length <= 1) return parts[0] ?? 'nothing';
  return `${parts.slice(0, -1).join(', ')} and ${parts.at(-1)}`;
}

/** The number of objects of an inventory. */
export function objectCount(inventory: TargetInventory): number {
  return Object.values(inventory.objects).reduce((sum, n) => sum + n, 0);
}

/** Keeps the kinds that have objects, in the order given. */
function nonZero(counts: ReadonlyArray<readonly [string, unknown]>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [kind, value] of counts) {
    const n = Number(value);
    if (!Number.isFinite(n)) throw new Error(`the target's catalog answered ${String(value)} for ${kind}`);
    if (n > 0) out[kind] = n;
  }
  return out;
}

/** What went wrong in a driver call, in one line; AggregateErrors (every address refused) included. */
function reasonOf(err: unknown): string {
  if (err instanceof AggregateError && err.errors.length) {
    return [...new Set(err.errors.map(reasonOf))].join('; ');
  }
  const code = (err as { code?: unknown }).code;
  const message = messageOf(err).split('\n')[0]?.trim() ?? '';
  if (!message) return typeof code === 'string' ? code : 'unknown error';
  return message;
}

function unreachable(where: string, err: unknown): TargetUnreachableError {
  return new TargetUnreachableError(
    redact(
      `cannot connect to the target ${where}: ${reasonOf(err)}; check the URL and its password secret, and that the database accepts connections from the deployment's task security group`,
    ),
    { cause: err },
  );
}

function unreadable(where: string, err: unknown): TargetUnreachableError {
  return new TargetUnreachableError(
    redact(`cannot read the catalog of the target ${where}: ${reasonOf(err)}`),
    { cause: err },
  );
}

/**
 * Connects with the first settings that work: the next ones are tried only when `fallBack`
 * says the failure was about them (a server without TLS, for instance), not about the target.
 */
async function connectFirst<S, C>(
  attempts: readonly S[],
  connect: (settings: S) => Promise<C>,
  fallBack: (err: unknown) => boolean,
): Promise<C> {
  let last: unknown;
  for (const [i, settings] of attempts.entries()) {
    try {
      return await connect(settings);
    } catch (err) {
      last = err;
      if (i === attempts.length - 1 || !fallBack(err)) throw err;
    }
  }
  throw last;
}

function parseUrl(url: string, example: string): URL {
  try {
    return new URL(url);
  } catch {
    throw new RestoreInputError(`target.url: expected a URL like ${example}, got ${redact(url)}`);
  }
}

function databaseOf(url: URL, example: string): string {
  const database = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (!database) {
    throw new RestoreInputError(
      `target.url: add the database name, like ${example} (got ${redact(url.href)})`,
    );
  }
  return database;
}

/** `db.internal:5432`, `[::1]:5432`. */
const hostOf = (url: URL) => url.hostname.replace(/^\[(.*)\]$/, '$1');

// --- PostgreSQL -------------------------------------------------------------------------------

/** Where and how a PostgreSQL probe connects (the `pg` Client settings it uses). */
export interface PgProbeSettings {
  readonly host: string;
  readonly port: number;
  readonly user?: string;
  readonly password?: string;
  readonly database: string;
  /** `false` for a plain connection, else the TLS options. */
  readonly ssl: false | TlsOptions;
}

/** The part of a `pg` Client a probe uses. */
export interface PgProbeClient {
  query(sql: string): Promise<{ rows: unknown[] }>;
  end(): Promise<void>;
}

/** Opens a connected client, or fails with the driver's error. */
export type PgConnect = (settings: PgProbeSettings) => Promise<PgProbeClient>;

/** The `pg` driver. */
export const connectPostgres: PgConnect = async (settings) => {
  const client = new pg.Client({
    ...settings,
    connectionTimeoutMillis: PROBE_CONNECT_TIMEOUT_MS,
    query_timeout: PROBE_QUERY_TIMEOUT_MS,
    application_name: APPLICATION_NAME,
  });
  // An error after connecting (the server went away) must not crash the Lambda: queries report it.
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => undefined);
    throw err;
  }
  return client;
};

/**
 * The TLS attempts of an `sslmode`, as libpq makes them: `prefer` (the default) tries TLS and
 * falls back to a plain connection when the server has no TLS; `require` encrypts without
 * checking the certificate; `verify-ca` / `verify-full` check it (the Lambda trusts the RDS
 * certificate authorities through NODE_EXTRA_CA_CERTS).
 */
function pgTlsAttempts(sslmode: string | null): Array<false | TlsOptions> {
  const unchecked: TlsOptions = { rejectUnauthorized: false };
  switch (sslmode ?? 'prefer') {
    case 'disable':
      return [false];
    case 'allow':
      return [false, unchecked];
    case 'prefer':
      return [unchecked, false];
    case 'require':
      return [unchecked];
    case 'verify-ca':
      return [{ rejectUnauthorized: true, checkServerIdentity: () => undefined }];
    case 'verify-full':
      return [{ rejectUnauthorized: true }];
    default:
      throw new RestoreInputError(
        `target.url: sslmode must be disable, allow, prefer, require, verify-ca or verify-full, got ${JSON.stringify(sslmode)}`,
      );
  }
}

const PG_INVALID_CATALOG_NAME = '3D000';
const PG_INVALID_AUTHORIZATION = '28000';

/**
 * User objects by kind: the same objects, with the same exclusions, as the PostgreSQL engine's
 * count (task-image/engines/postgres.ts COUNT_USER_OBJECTS_SQL), split by kind for the message.
 */
const PG_OBJECTS_SQL = `WITH user_ns AS (
  SELECT oid, nspname FROM pg_namespace WHERE nspname <> 'information_schema' AND nspname !~ '^pg_'),
ext AS (SELECT objid FROM pg_depend WHERE deptype = 'e'),
rel AS (SELECT c.relkind FROM pg_class c JOIN user_ns n ON n.oid = c.relnamespace
          WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f', 'c') AND c.oid NOT IN (SELECT objid FROM ext))
SELECT (SELECT count(*) FROM rel WHERE relkind IN ('r', 'p', 'f')) AS tables,
       (SELECT count(*) FROM rel WHERE relkind IN ('v', 'm')) AS views,
       (SELECT count(*) FROM rel WHERE relkind = 'S') AS sequences,
       (SELECT count(*) FROM pg_proc p JOIN user_ns n ON n.oid = p.pronamespace
          WHERE p.oid NOT IN (SELECT objid FROM ext)) AS functions,
       (SELECT count(*) FROM rel WHERE relkind = 'c')
     + (SELECT count(*) FROM pg_type t JOIN user_ns n ON n.oid = t.typnamespace
          WHERE t.typtype IN ('e', 'd', 'r') AND t.oid NOT IN (SELECT objid FROM ext)) AS types,
       (SELECT count(*) FROM user_ns n WHERE n.nspname <> 'public' AND n.oid NOT IN (SELECT objid FROM ext)) AS schemas`;

/**
 * The parts of a target URL every SQL probe needs: the database, the URL as it may be shown,
 * and host/port/user/password as driver options (the password never goes into a URL).
 */
function connectionParts(target: ProbeTarget, example: string, defaultPort: number) {
  const url = parseUrl(target.url, example);
  const database = databaseOf(url, example);
  registerSecret(target.password);
  const user = decodeURIComponent(url.username);
  return {
    url,
    database,
    where: redact(target.url),
    login: {
      host: hostOf(url),
      port: Number(url.port || defaultPort),
      ...(user ? { user } : {}),
      ...(target.password !== undefined ? { password: target.password } : {}),
    },
  };
}

/** What a PostgreSQL target holds; a database that does not exist is missing (and empty). */
export async function probePostgres(
  target: ProbeTarget,
  connect: PgConnect = connectPostgres,
): Promise<TargetInventory> {
  const { url, database, where, login } = connectionParts(
    target,
    'postgres://restore@db.internal:5432/app',
    5432,
  );
  const base = { ...login, database };
  const tls = pgTlsAttempts(url.searchParams.get('sslmode'));
  let client: PgProbeClient;
  try {
    client = await connectFirst(
      tls.map((ssl) => ({ ...base, ssl })),
      connect,
      (err) =>
        /server does not support SSL/i.test(messageOf(err)) ||
        (err as { code?: unknown }).code === PG_INVALID_AUTHORIZATION,
    );
  } catch (err) {
    if ((err as { code?: unknown }).code === PG_INVALID_CATALOG_NAME) return { missing: true, objects: {} };
    throw unreachable(where, err);
  }
  try {
    const { rows } = await client.query(PG_OBJECTS_SQL);
    const row = (rows[0] ?? {}) as Record<string, unknown>;
    const kinds = ['tables', 'views', 'sequences', 'functions', 'types', 'schemas'] as const;
    return { missing: false, objects: nonZero(kinds.map((k) => [k, row[k]] as const)) };
  } catch (err) {
    throw unreadable(where, err);
  } finally {
    await client.end().catch(() => undefined);
  }
}

// --- MySQL / MariaDB --------------------------------------------------------------------------

/** Where and how a MySQL probe connects (no database: a missing one is not an error). */
export interface MysqlProbeSettings {
  readonly host: string;
  readonly port: number;
  readonly user?: string;
  readonly password?: string;
  /** TLS (without checking the certificate, like ssl-mode PREFERRED), or undefined for a plain connection. */
  readonly ssl?: { readonly rejectUnauthorized: false };
}

/** The part of a `mysql2/promise` connection a probe uses. */
export interface MysqlProbeConnection {
  query(options: { sql: string; values: unknown[]; timeout: number }): Promise<[unknown, unknown]>;
  end(): Promise<void>;
}

/** Opens a connection, or fails with the driver's error. */
export type MysqlConnect = (settings: MysqlProbeSettings) => Promise<MysqlProbeConnection>;

/** The `mysql2` driver. */
export const connectMysql: MysqlConnect = async (settings) => {
  const connection = await mysql.createConnection({
    host: settings.host,
    port: settings.port,
    ...(settings.user ? { user: settings.user } : {}),
    ...(settings.password !== undefined ? { password: settings.password } : {}),
    ...(settings.ssl ? { ssl: settings.ssl } : {}),
    connectTimeout: PROBE_CONNECT_TIMEOUT_MS,
  });
  connection.on('error', () => undefined);
  return connection;
};

/**
 * Objects by kind of one database: what the MySQL engine counts (TABLES, ROUTINES, EVENTS of
 * information_schema), with TABLES split into base tables, views and (MariaDB) sequences.
 */
const MYSQL_OBJECTS_SQL = `SELECT
  (SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?) AS present,
  (SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE NOT IN ('VIEW', 'SEQUENCE')) AS tables,
  (SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'VIEW') AS views,
  (SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'SEQUENCE') AS sequences,
  (SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ?) AS routines,
  (SELECT COUNT(*) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ?) AS events`;

/** What a MySQL or MariaDB target holds; a database that does not exist is missing (and empty). */
export async function probeMysql(
  target: ProbeTarget,
  connect: MysqlConnect = connectMysql,
): Promise<TargetInventory> {
  const {
    database,
    where,
    login: base,
  } = connectionParts(target, 'mysql://restore@db.internal:3306/app', 3306);
  let connection: MysqlProbeConnection;
  try {
    // Like the mysql client's default ssl-mode PREFERRED: TLS when the server offers it.
    connection = await connectFirst(
      [{ ...base, ssl: { rejectUnauthorized: false } }, base],
      connect,
      (err) => (err as { code?: unknown }).code === 'HANDSHAKE_NO_SSL_SUPPORT',
    );
  } catch (err) {
    throw unreachable(where, err);
  }
  try {
    const [rows] = await connection.query({
      sql: MYSQL_OBJECTS_SQL,
      values: Array(6).fill(database),
      timeout: PROBE_QUERY_TIMEOUT_MS,
    });
    const row = ((Array.isArray(rows) ? rows[0] : undefined) ?? {}) as Record<string, unknown>;
    if (Number(row['present']) === 0) return { missing: true, objects: {} };
    const kinds = ['tables', 'views', 'sequences', 'routines', 'events'] as const;
    return { missing: false, objects: nonZero(kinds.map((k) => [k, row[k]] as const)) };
  } catch (err) {
    throw unreadable(where, err);
  } finally {
    await connection.end().catch(() => undefined);
  }
}

// --- MongoDB ----------------------------------------------------------------------------------

/** The MongoClient options a probe sets. */
export interface MongoProbeOptions {
  readonly auth?: { readonly username: string; readonly password: string };
  readonly serverSelectionTimeoutMS: number;
  readonly connectTimeoutMS: number;
  readonly appName: string;
}

/** The part of a MongoClient a probe uses. */
export interface MongoProbeClient {
  db(name: string): {
    listCollections(
      filter: Record<string, never>,
      options: { nameOnly: true; authorizedCollections: true },
    ): { toArray(): Promise<Array<{ name: string }>> };
  };
  close(): Promise<void>;
}

/** Opens a connected client, or fails with the driver's error. */
export type MongoConnect = (url: string, options: MongoProbeOptions) => Promise<MongoProbeClient>;

/** The `mongodb` driver. */
export const connectMongo: MongoConnect = (url, options) => MongoClient.connect(url, options);

const MONGO_URL = /^(mongodb(?:\+srv)?):\/\/(?:([^@/]*)@)?([^/?]+)(?:\/([^?]*))?(?:\?(.*))?$/;

/**
 * What a MongoDB target holds: its collections, `system.*` aside (views count: a restore would
 * collide with them too). The password goes in the client's `auth` option, never in the URL.
 */
export async function probeMongo(
  target: ProbeTarget,
  connect: MongoConnect = connectMongo,
): Promise<TargetInventory> {
  const example = 'mongodb://restore@db.internal:27017/app';
  const m = MONGO_URL.exec(target.url);
  if (!m)
    throw new RestoreInputError(`target.url: expected a URL like ${example}, got ${redact(target.url)}`);
  const [, scheme, userinfo = '', hosts, rawDb = '', query] = m;
  const database = decodeURIComponent(rawDb);
  if (!database) {
    throw new RestoreInputError(
      `target.url: add the database name, like ${example} (got ${redact(target.url)})`,
    );
  }
  registerSecret(target.password);
  const where = redact(target.url);
  const withAuth = userinfo !== '' && target.password !== undefined;
  const url = withAuth
    ? `${scheme}://${hosts}/${rawDb}${query !== undefined ? `?${query}` : ''}`
    : target.url;
  let client: MongoProbeClient;
  try {
    client = await connect(url, {
      ...(withAuth ? { auth: { username: decodeURIComponent(userinfo), password: target.password! } } : {}),
      serverSelectionTimeoutMS: PROBE_CONNECT_TIMEOUT_MS,
      connectTimeoutMS: PROBE_CONNECT_TIMEOUT_MS,
      appName: APPLICATION_NAME,
    });
  } catch (err) {
    throw unreachable(where, err);
  }
  try {
    const collections = await client
      .db(database)
      .listCollections({}, { nameOnly: true, authorizedCollections: true })
      .toArray();
    const count = collections.filter((c) => !c.name.startsWith('system.')).length;
    return { missing: false, objects: nonZero([['collections', count]]) };
  } catch (err) {
    throw unreadable(where, err);
  } finally {
    await client.close().catch(() => undefined);
  }
}

// --- dispatch ---------------------------------------------------------------------------------

/** A connection factory per engine. */
export interface TargetConnectors {
  readonly postgres: PgConnect;
  readonly mysql: MysqlConnect;
  readonly mongodb: MongoConnect;
}

/** The real drivers. */
export const DRIVER_CONNECTORS: TargetConnectors = {
  postgres: connectPostgres,
  mysql: connectMysql,
  mongodb: connectMongo,
};

/** What the target of a job with `engine` holds. SQLite files are out of the Guard's reach. */
export async function probeTarget(
  engine: EngineName,
  target: ProbeTarget,
  connectors: TargetConnectors = DRIVER_CONNECTORS,
): Promise<TargetInventory> {
  switch (engine) {
    case 'postgres':
      return probePostgres(target, connectors.postgres);
    case 'mysql':
      return probeMysql(target, connectors.mysql);
    case 'mongodb':
      return probeMongo(target, connectors.mongodb);
    case 'sqlite':
      throw new RestoreInputError(
        'a SQLite file is no restore target in AWS: restore it where the file lives',
      );
  }
}
