/**
 * The PostgreSQL standby swap (issue 16 §2). The next standby is restored into
 * `<db>__dv_next` on the standby's server; the swap is ONE transaction on the maintenance
 * database that
 *   1. locks the standby and the next database against new connections (COMMENT ON DATABASE
 *      takes a lock that conflicts with the one a connecting session takes),
 *   2. terminates the sessions connected to either,
 *   3. renames the standby to `<db>__dv_prev` and the next database to `<db>`, and records
 *      which backup it holds as the database's comment,
 * and commits. Renames of databases are transactional in PostgreSQL: no session ever sees the
 * name missing or half-swapped after the commit. What a reader observes (docs/standby.md): a
 * session connected to the old standby is terminated; a connection attempt made during the
 * transaction (milliseconds, at most the 5 s PostgreSQL waits for terminated sessions to exit)
 * waits for it and then fails once with `database "<db>" does not exist … It seems to have
 * just been dropped or renamed`; every connection made after the commit gets the new standby.
 */

import { STANDBY_NEXT_SUFFIX, STANDBY_PREV_SUFFIX } from '../../core/config/standby-schema.ts';
import type { Connection, Engine } from '../../core/engine.ts';
import { UserError } from '../../core/errors.ts';
import { runCommand } from '../../core/process.ts';
import type { StandbySwap, SwapOutcome } from '../../core/standby/swap.ts';
import { explainPgFailure } from './pg-failures.ts';
import { type PgTarget, pgTarget, psqlArgs, withDatabase } from './pg-target.ts';
import { DEFAULT_PG_LIB_ROOTS, locatePgTool, type PgToolSearch } from './pg-tools.ts';

/** Comments of databases dumpvault swapped in start with this. */
export const PG_STANDBY_COMMENT = 'dumpvault standby:';

/** The standby server's maintenance database, where every standby statement runs. */
function maintenanceOf(conn: Connection): { t: PgTarget; database: string } {
  const t = pgTarget(conn);
  return {
    t: { ...withDatabase(t, 'postgres'), env: { ...t.env, PGAPPNAME: 'dumpvault-standby' } },
    database: t.database,
  };
}

function connectionTo(conn: Connection, database: string): Connection {
  return { ...conn, url: withDatabase(pgTarget(conn), database).url };
}

/** Terminates the other sessions of the databases named by the psql variables. */
const TERMINATE_SQL = (names: string) =>
  `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname IN (${names}) AND pid <> pg_backend_pid();`;

/** DROP DATABASE of the psql variable `:'drop'`, forcing sessions off on PostgreSQL 13+. */
const DROP_SQL =
  "SELECT format('DROP DATABASE IF EXISTS %I', :'drop') || CASE WHEN current_setting('server_version_num')::int >= 130000 THEN ' WITH (FORCE)' ELSE '' END \\gexec";

/** PostgreSQL standbys: `<db>`, `<db>__dv_next`, `<db>__dv_prev` on the standby's server. */
export class PostgresStandbySwap implements StandbySwap {
  private readonly search: PgToolSearch;

  constructor(
    private readonly engine: Engine,
    options: { env?: NodeJS.ProcessEnv } = {},
  ) {
    this.search = { libRoots: DEFAULT_PG_LIB_ROOTS, env: options.env ?? process.env };
  }

  async checkStandby(standby: Connection): Promise<void> {
    const { t, database } = maintenanceOf(standby);
    const comment = await this.psql(
      t,
      "SELECT coalesce(shobj_description(oid, 'pg_database'), '') FROM pg_database WHERE datname = :'standby';",
      { standby: database },
    );
    if (comment.startsWith(PG_STANDBY_COMMENT)) return;
    if (await this.engine.isEmpty(standby)) return;
    throw new UserError(
      `the standby database ${database} at ${t.where} holds data that dumpvault did not put there (its comment does not start with "${PG_STANDBY_COMMENT}"): a standby is replaced by every backup, so name an empty or new database in standby.url`,
    );
  }

  async prepareNext(standby: Connection): Promise<Connection> {
    const { t, database } = maintenanceOf(standby);
    const next = `${database}${STANDBY_NEXT_SUFFIX}`;
    await this.psql(t, DROP_SQL, { drop: next });
    // The standby's encoding and locale when it exists, else the server's default database's.
    await this.psql(
      t,
      "SELECT format('CREATE DATABASE %I TEMPLATE template0 ENCODING %L LC_COLLATE %L LC_CTYPE %L', :'next', pg_encoding_to_char(encoding), datcollate, datctype) FROM pg_database WHERE datname = coalesce((SELECT datname FROM pg_database WHERE datname = :'standby'), current_database()) \\gexec",
      { next, standby: database },
    );
    return connectionTo(standby, next);
  }

  async swap(standby: Connection, next: Connection, label: string): Promise<SwapOutcome> {
    const { t, database } = maintenanceOf(standby);
    const nextName = pgTarget(next).database;
    const prev = `${database}${STANDBY_PREV_SUFFIX}`;
    // The standby before last goes first: DROP DATABASE cannot run inside the swap's transaction.
    await this.psql(t, DROP_SQL, { drop: prev });
    const out = await this.psql(
      t,
      [
        'BEGIN;',
        "SET LOCAL lock_timeout = '30s';",
        // Locks first (new sessions wait on them), then the sessions already there are ended.
        "SELECT format('COMMENT ON DATABASE %I IS %L', datname, shobj_description(oid, 'pg_database')) FROM pg_database WHERE datname IN (:'standby', :'next') \\gexec",
        TERMINATE_SQL(":'standby', :'next'"),
        "SELECT format('ALTER DATABASE %I RENAME TO %I', :'standby', :'prev') FROM pg_database WHERE datname = :'standby' \\gexec",
        'ALTER DATABASE :"next" RENAME TO :"standby";',
        `COMMENT ON DATABASE :"standby" IS :'label';`,
        "SELECT count(*) FROM pg_database WHERE datname = :'prev';",
        'COMMIT;',
      ].join('\n'),
      { standby: database, next: nextName, prev, label: `${PG_STANDBY_COMMENT} ${label}` },
    );
    const hadPrevious = out.trim().split('\n').at(-1) === '1';
    return { standby: database, ...(hadPrevious ? { previous: prev } : {}) };
  }

  async discardNext(next: Connection): Promise<void> {
    const { t, database } = maintenanceOf(next);
    await this.psql(t, DROP_SQL, { drop: database });
  }

  /** Runs `sql` on the maintenance database with psql variables (values never reach argv as SQL). */
  private async psql(t: PgTarget, sql: string, vars: Record<string, string>): Promise<string> {
    const psql = await locatePgTool('psql', undefined, this.search);
    const varArgs = Object.entries(vars).flatMap(([k, v]) => ['-v', `${k}=${v}`]);
    try {
      return await runCommand(
        { command: psql, args: [...psqlArgs(t, varArgs), '--file', '-'], env: t.env },
        `${sql}\n`,
      );
    } catch (err) {
      throw explainPgFailure(err);
    }
  }
}
