/**
 * The MySQL/MariaDB standby swap (issue 16 §2). The next standby is restored into the schema
 * `<db>__dv_next`; the swap moves every table of the standby to `<db>__dv_prev` and every
 * table of the next schema into the standby in ONE `RENAME TABLE` statement, which the server
 * applies atomically (a query sees all old tables or all new ones, never a mix nor a missing
 * table: it waits for the metadata locks instead). Views cannot move between schemas: they
 * stay in the standby schema, where they resolve to the new tables the moment the RENAME
 * commits, and are then replaced by the backup's definitions (docs/standby.md). A backup with
 * triggers, routines or events is refused before the swap: RENAME TABLE cannot move a table
 * with triggers to another schema, and routines do not move at all.
 */

import { STANDBY_NEXT_SUFFIX, STANDBY_PREV_SUFFIX } from '../../core/config/standby-schema.ts';
import type { Connection, Engine } from '../../core/engine.ts';
import { ToolError, UserError } from '../../core/errors.ts';
import { runCommand } from '../../core/process.ts';
import type { StandbySwap, SwapOutcome } from '../../core/standby/swap.ts';
import { requireTool } from './executables.ts';
import { explainMysqlFailure } from './mysql-failures.ts';
import { type MyTarget, myTarget, withDatabase } from './mysql-target.ts';
import { MYSQL_CLIENT_PACKAGE, MYSQL_CLIENTS } from './mysql-tools.ts';

/** How long the swap waits for the metadata locks of readers' open transactions. */
const SWAP_LOCK_WAIT_SECONDS = 60;

function connectionTo(conn: Connection, database: string): Connection {
  return { ...conn, url: withDatabase(myTarget(conn), database).url };
}

/** A string literal that survives any sql_mode and any character in the value. */
function literal(value: string): string {
  return `CONVERT(X'${Buffer.from(value, 'utf8').toString('hex')}' USING utf8mb4)`;
}

function identifier(name: string): string {
  return `\`${name.replace(/`/g, '``')}\``;
}

interface SchemaObjects {
  readonly exists: boolean;
  readonly tables: string[];
  readonly views: { name: string; definition: string; security: string; check: string }[];
  /** Triggers, routines and events: what a swap cannot move. */
  readonly unmovable: number;
}

/** MySQL/MariaDB standbys: schemas `<db>`, `<db>__dv_next`, `<db>__dv_prev` on one server. */
export class MysqlStandbySwap implements StandbySwap {
  constructor(private readonly engine: Engine) {}

  async checkStandby(standby: Connection): Promise<void> {
    const t = myTarget(standby);
    // The previous schema exists from the first swap on: this standby is dumpvault's.
    if ((await this.objects(t, `${t.database}${STANDBY_PREV_SUFFIX}`)).exists) return;
    if (await this.engine.isEmpty(standby)) return;
    throw new UserError(
      `the standby database ${t.database} at ${t.where} holds data that dumpvault did not put there (there is no ${t.database}${STANDBY_PREV_SUFFIX} beside it): a standby is replaced by every backup, so name an empty or new database in standby.url`,
    );
  }

  async prepareNext(standby: Connection): Promise<Connection> {
    const t = myTarget(standby);
    const next = `${t.database}${STANDBY_NEXT_SUFFIX}`;
    await this.query(t, `DROP DATABASE IF EXISTS ${identifier(next)};`);
    await this.query(t, createLikeSql(next, t.database));
    return connectionTo(standby, next);
  }

  async swap(standby: Connection, next: Connection, _label: string): Promise<SwapOutcome> {
    const t = myTarget(standby);
    const nextName = myTarget(next).database;
    const prev = `${t.database}${STANDBY_PREV_SUFFIX}`;
    const incoming = await this.objects(t, nextName);
    if (incoming.unmovable > 0) {
      throw new UserError(
        `the backup defines ${incoming.unmovable} triggers, routines or events, which a MySQL/MariaDB standby swap cannot move atomically; the standby was not replaced (docs/standby.md)`,
      );
    }
    const current = await this.objects(t, t.database);
    if (current.unmovable > 0) {
      throw new UserError(
        `the standby ${t.database} at ${t.where} has triggers, routines or events, which the swap cannot move; drop them (the standby was not replaced)`,
      );
    }
    if (!current.exists) await this.query(t, createLikeSql(t.database, nextName));
    await this.query(t, `DROP DATABASE IF EXISTS ${identifier(prev)};\n${createLikeSql(prev, t.database)}`);
    const moves = [
      ...current.tables.map(
        (name) => `${identifier(t.database)}.${identifier(name)} TO ${identifier(prev)}.${identifier(name)}`,
      ),
      ...incoming.tables.map(
        (name) =>
          `${identifier(nextName)}.${identifier(name)} TO ${identifier(t.database)}.${identifier(name)}`,
      ),
    ];
    if (moves.length) {
      await this.query(
        t,
        `SET SESSION lock_wait_timeout = ${SWAP_LOCK_WAIT_SECONDS};\nRENAME TABLE ${moves.join(',\n  ')};`,
      );
    }
    await this.replaceViews(t, current, incoming, nextName);
    await this.query(t, `DROP DATABASE IF EXISTS ${identifier(nextName)};`);
    return { standby: t.database, ...(current.exists ? { previous: prev } : {}) };
  }

  async discardNext(next: Connection): Promise<void> {
    const t = myTarget(next);
    await this.query(t, `DROP DATABASE IF EXISTS ${identifier(t.database)};`);
  }

  /**
   * The backup's views, re-created in the standby (their names qualified with the next schema
   * rewritten), and the standby's views the backup does not have dropped. A view that refers to
   * another view is created after it: passes repeat while any view still fails.
   */
  private async replaceViews(
    t: MyTarget,
    current: SchemaObjects,
    incoming: SchemaObjects,
    nextName: string,
  ): Promise<void> {
    const qualified = new RegExp(`${identifier(nextName).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.`, 'g');
    const into = `${identifier(t.database)}.`;
    let pending = incoming.views.map(
      (v) =>
        `CREATE OR REPLACE SQL SECURITY ${v.security} VIEW ${into}${identifier(v.name)} AS ${v.definition.replace(qualified, into)}${v.check !== 'NONE' ? ` WITH ${v.check} CHECK OPTION` : ''};`,
    );
    while (pending.length) {
      const failed: string[] = [];
      let lastError: unknown;
      for (const sql of pending) {
        await this.query(t, sql).catch((err: unknown) => {
          failed.push(sql);
          lastError = err;
        });
      }
      if (failed.length === pending.length) throw lastError;
      pending = failed;
    }
    const keep = new Set(incoming.views.map((v) => v.name));
    const gone = current.views.filter((v) => !keep.has(v.name));
    if (gone.length) {
      await this.query(
        t,
        `DROP VIEW IF EXISTS ${gone.map((v) => `${identifier(t.database)}.${identifier(v.name)}`).join(', ')};`,
      );
    }
  }

  private async objects(t: MyTarget, schema: string): Promise<SchemaObjects> {
    const db = literal(schema);
    const out = await this.query(
      t,
      `SELECT JSON_OBJECT(
        'exists', (SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ${db}),
        'tables', (SELECT COALESCE(JSON_ARRAYAGG(TABLE_NAME), JSON_ARRAY()) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ${db} AND TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED', 'SEQUENCE')),
        'views', (SELECT COALESCE(JSON_ARRAYAGG(JSON_OBJECT('name', TABLE_NAME, 'definition', VIEW_DEFINITION, 'security', SECURITY_TYPE, 'check', CHECK_OPTION)), JSON_ARRAY()) FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ${db}),
        'unmovable', (SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ${db})
          + (SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ${db})
          + (SELECT COUNT(*) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ${db}));`,
    );
    const line = out.trim().split('\n').at(-1) ?? '';
    let parsed: { exists: number; tables: string[]; views: SchemaObjects['views']; unmovable: number };
    try {
      parsed = JSON.parse(line) as typeof parsed;
    } catch {
      throw new ToolError(
        `the mysql client listed the objects of ${schema} as ${JSON.stringify(line.slice(0, 200))}`,
      );
    }
    return {
      exists: Number(parsed.exists) > 0,
      tables: parsed.tables,
      views: parsed.views,
      unmovable: Number(parsed.unmovable),
    };
  }

  /** Runs SQL through the client on stdin (never on argv). */
  private async query(t: MyTarget, sql: string): Promise<string> {
    const client = await requireTool(MYSQL_CLIENTS, MYSQL_CLIENT_PACKAGE);
    return runCommand(
      {
        command: client,
        args: [
          ...t.connectArgs,
          '--batch',
          '--skip-column-names',
          '--raw',
          '--default-character-set=utf8mb4',
          '--connect-timeout=15',
        ],
        env: t.env,
      },
      sql,
    ).catch((err: unknown) => {
      throw explainMysqlFailure(err);
    });
  }
}

/** CREATE DATABASE `name` with the character set and collation of `like` when it exists. */
function createLikeSql(name: string, like: string): string {
  return `SET @create = COALESCE((SELECT CONCAT('CREATE DATABASE ${identifier(name).replace(/'/g, "''")} CHARACTER SET ', DEFAULT_CHARACTER_SET_NAME, ' COLLATE ', DEFAULT_COLLATION_NAME) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ${literal(like)}), 'CREATE DATABASE ${identifier(name).replace(/'/g, "''")}'); PREPARE create_standby FROM @create; EXECUTE create_standby; DEALLOCATE PREPARE create_standby;`;
}
