/**
 * A PostgreSQL connection as the tools take it: a libpq URL without a password (the password
 * travels in PGPASSWORD), and the psql arguments every query uses.
 */
import type { Connection } from '../../core/engine.ts';
import { UserError } from '../../core/errors.ts';
import { redactUrl, registerSecret } from '../../core/redact.ts';

/** A parsed connection: what the tools are given, and how to name it in messages. */
export interface PgTarget {
  /** libpq URL (no password) for --dbname. */
  readonly url: string;
  readonly database: string;
  /** `host:port`, for messages. */
  readonly where: string;
  /** PGPASSWORD and friends: the child environment beyond the allow-list of core/child-env.ts. */
  readonly env: Record<string, string | undefined>;
}

/** Parses and checks a postgres:// URL; a password in it or a missing database name is refused. */
export function pgTarget(conn: Connection): PgTarget {
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
export function withDatabase(target: PgTarget, database: string): PgTarget {
  const url = new URL(target.url);
  url.pathname = `/${encodeURIComponent(database)}`;
  return { ...target, url: url.toString(), database };
}

/** Arguments every psql invocation gets: no psqlrc, no prompts, unaligned tuples only, stop on error. */
export function psqlArgs(target: PgTarget, extra: readonly string[] = []): string[] {
  return ['-X', '--no-password', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', ...extra, '--dbname', target.url];
}
