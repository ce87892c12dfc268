/**
 * A MySQL / MariaDB database through the client: running SQL on it, counting its rows and its
 * objects, and dropping every object it has (the `drop` restore).
 */
import type { TableStats } from '../../core/engine.ts';
import { ToolError } from '../../core/errors.ts';
import { runCommand } from '../../core/process.ts';
import { requireTool } from './executables.ts';
import {
  countRowsSql,
  identifier,
  LIST_TABLES_SQL,
  listObjectsSql,
  literal,
  lockWaitSettings,
  objectTotalSql,
} from './mysql-catalog-sql.ts';
import { explainMysqlFailure } from './mysql-failures.ts';
import type { MyTarget } from './mysql-target.ts';
import { MYSQL_CLIENT_PACKAGE, MYSQL_CLIENTS } from './mysql-tools.ts';
import { lastJsonObject, parseTableCounts } from './table-counts.ts';

/**
 * Runs SQL through the client (on stdin, so long statements never hit argv limits); the
 * client is stopped when `signal` aborts.
 */
export async function mysqlQuery(
  t: MyTarget,
  sql: string,
  database: string | null,
  signal?: AbortSignal,
): Promise<string> {
  const client = await requireTool(MYSQL_CLIENTS, MYSQL_CLIENT_PACKAGE);
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
    throw explainMysqlFailure(err);
  }
}

/** Row counts in sessions whose lock waits end after `lockWaitSeconds`. */
export async function countMysqlRows(
  t: MyTarget,
  lockWaitSeconds: number,
  signal?: AbortSignal,
): Promise<TableStats> {
  const settings = lockWaitSettings(lockWaitSeconds);
  const listed: unknown = JSON.parse(
    (await mysqlQuery(t, `${settings} ${LIST_TABLES_SQL}`, t.database, signal)).trim() || '[]',
  );
  if (!Array.isArray(listed) || !listed.every((n): n is string => typeof n === 'string')) {
    throw new ToolError(`the mysql client listed tables as ${JSON.stringify(listed)}; expected names`);
  }
  const out = await mysqlQuery(t, `${settings} ${countRowsSql(listed)}`, t.database, signal);
  return parseTableCounts(out, 'mysql client');
}

/**
 * Drops every table, view, sequence, routine and event of the database (the `drop` restore):
 * lists them, then drops them in one session with foreign key checks off, views first.
 */
export async function dropMysqlObjects(t: MyTarget): Promise<void> {
  const db = literal(t.database);
  const lists = (await mysqlQuery(t, listObjectsSql(db), null))
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
  await mysqlQuery(t, statements.join('\n'), null);
}

/** Tables, views, routines and events in the database; undefined when it does not exist. */
export async function countMysqlObjects(t: MyTarget): Promise<number | undefined> {
  const out = await mysqlQuery(t, objectTotalSql(literal(t.database)), null);
  const result = lastJsonObject(out, 'mysql client');
  if (Number(result.exists) === 0) return undefined;
  return Number(result.objects);
}
