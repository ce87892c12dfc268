/**
 * The Guard's probe of a PostgreSQL target: tables, views, sequences, functions, types and
 * schemas other than `public`, outside the system schemas and not members of an extension,
 * counted like the engine's `isEmpty` (task-image/engines/pg-catalog-sql.ts); a missing
 * database is empty.
 */
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import pg from 'pg';
import { messageOf } from '../../core/errors.ts';
import { connectFirst, connectionParts, unreachable, unreadable } from './probe-connection.ts';
import { RestoreInputError } from './restore-contract.ts';
import {
  nonZero,
  PROBE_APPLICATION_NAME,
  PROBE_CONNECT_TIMEOUT_MS,
  PROBE_QUERY_TIMEOUT_MS,
  type ProbeTarget,
  type TargetInventory,
} from './target-inventory.ts';

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
    application_name: PROBE_APPLICATION_NAME,
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
 * count (task-image/engines/pg-catalog-sql.ts COUNT_USER_OBJECTS_SQL), split by kind for the message.
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
