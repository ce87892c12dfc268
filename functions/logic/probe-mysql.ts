import mysql from 'mysql2/promise';
import { connectFirst, connectionParts, unreachable, unreadable } from './probe-connection.ts';
import {
  nonZero,
  PROBE_CONNECT_TIMEOUT_MS,
  PROBE_QUERY_TIMEOUT_MS,
  type ProbeTarget,
  type TargetInventory,
} from './target-inventory.ts';

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
