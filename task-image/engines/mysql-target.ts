/**
 * A MySQL / MariaDB connection as the tools take it: `--host`, `--port` and `--user` options
 * (never the password, which travels in MYSQL_PWD) and the database name.
 */
import type { Connection } from '../../core/engine.ts';
import { UserError } from '../../core/errors.ts';
import { redactUrl, registerSecret } from '../../core/redact.ts';

/** A parsed connection: the tools' connection options, and how to name it in messages. */
export interface MyTarget {
  readonly database: string;
  /** `host:port`, for messages. */
  readonly where: string;
  /** --host/--port/--user; never the password. */
  readonly connectArgs: readonly string[];
  readonly env: Record<string, string | undefined>;
  readonly url: string;
}

/** Parses and checks a mysql:// URL; a password, URL parameters or a missing database are refused. */
export function myTarget(conn: Connection): MyTarget {
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

/** The same server and credentials, another database. */
export function withDatabase(t: MyTarget, database: string): MyTarget {
  const url = new URL(t.url);
  url.pathname = `/${encodeURIComponent(database)}`;
  return { ...t, database, url: url.toString() };
}
