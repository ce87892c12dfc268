/**
 * The databases of a PostgreSQL server, through psql: running SQL on one, the server's version,
 * whether a target database is missing, empty or not, and creating and dropping databases.
 */
import { ToolError, UserError } from '../../core/errors.ts';
import { runCommand } from '../../core/process.ts';
import { COUNT_USER_OBJECTS_SQL } from './pg-catalog-sql.ts';
import { explainPgFailure } from './pg-failures.ts';
import { type PgTarget, psqlArgs, withDatabase } from './pg-target.ts';

/** Runs `sql` on `target` through psql (`--file -`); a failure is explained (pg-failures.ts). */
export async function runPsql(
  psql: string,
  target: PgTarget,
  sql: string,
  extra: readonly string[] = [],
  signal?: AbortSignal,
): Promise<string> {
  try {
    return await runCommand(
      {
        command: psql,
        args: [...psqlArgs(target, extra), '--file', '-'],
        env: target.env,
        ...(signal ? { signal } : {}),
      },
      `${sql}\n`,
    );
  } catch (err) {
    throw explainPgFailure(err);
  }
}

/** The server's `server_version_num` and `server_version`. */
export async function pgServerVersion(
  psql: string,
  target: PgTarget,
  signal?: AbortSignal,
): Promise<{ num: number; text: string }> {
  const out = await runPsql(
    psql,
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

/** Whether the target database is missing, has no user objects, or has some. */
export async function pgTargetState(psql: string, t: PgTarget): Promise<'missing' | 'empty' | 'non-empty'> {
  let out: string;
  try {
    out = await runPsql(psql, t, COUNT_USER_OBJECTS_SQL);
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
export async function createPgDatabase(psql: string, t: PgTarget, like: PgTarget | undefined): Promise<void> {
  const run = async (conn: PgTarget) => {
    const sql = like
      ? "SELECT format('CREATE DATABASE %I TEMPLATE template0 ENCODING %L LC_COLLATE %L LC_CTYPE %L', :'name', pg_encoding_to_char(encoding), datcollate, datctype) FROM pg_database WHERE datname = current_database() \\gexec"
      : "SELECT format('CREATE DATABASE %I TEMPLATE template0', :'name') \\gexec";
    await runPsql(psql, conn, sql, ['-v', `name=${t.database}`]);
  };
  try {
    if (like) await run(like);
    else await onMaintenanceDb(t, run);
  } catch (err) {
    // Two creates of one name at once: the later one fails on the catalog's unique index.
    if (err instanceof Error && /already exists|"pg_database_datname_index"/.test(err.message)) {
      throw new UserError(
        `database ${t.database} already exists at ${t.where}: drop it or choose another name`,
        { cause: err },
      );
    }
    throw err;
  }
}

/** Runs `fn` connected to the server's maintenance database (postgres, else template1). */
async function onMaintenanceDb<T>(t: PgTarget, fn: (maintenance: PgTarget) => Promise<T>): Promise<T> {
  try {
    return await fn(withDatabase(t, 'postgres'));
  } catch (err) {
    if (err instanceof Error && /database "postgres" does not exist/.test(err.message)) {
      return fn(withDatabase(t, 'template1'));
    }
    throw err;
  }
}

/** Drops `t.database` if it exists, disconnecting its sessions (PostgreSQL 13+). */
export async function dropPgDatabase(psql: string, t: PgTarget): Promise<void> {
  const sql =
    "SELECT format('DROP DATABASE IF EXISTS %I', :'name') || CASE WHEN current_setting('server_version_num')::int >= 130000 THEN ' WITH (FORCE)' ELSE '' END \\gexec";
  await onMaintenanceDb(t, (maintenance) => runPsql(psql, maintenance, sql, ['-v', `name=${t.database}`]));
}
