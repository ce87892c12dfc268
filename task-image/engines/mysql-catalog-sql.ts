/**
 * The SQL the MySQL engine runs against information_schema and the tables: quoting, lock
 * wait bounds, table and object lists, row counts.
 */

/** Bounds every lock wait of the statements that follow in the same session. */
export function lockWaitSettings(seconds: number): string {
  const s = Math.max(1, Math.round(seconds));
  return `SET SESSION lock_wait_timeout = ${s}, SESSION innodb_lock_wait_timeout = ${s};`;
}

/** A string literal that survives any sql_mode and any character in the value. */
export function literal(value: string): string {
  return `CONVERT(X'${Buffer.from(value, 'utf8').toString('hex')}' USING utf8mb4)`;
}

/** A quoted identifier: backticks, any backtick in the name doubled. */
export function identifier(name: string): string {
  return `\`${name.replace(/`/g, '``')}\``;
}

/** Base tables (and MariaDB system-versioned ones) of the current database. */
export const LIST_TABLES_SQL =
  "SELECT COALESCE(JSON_ARRAYAGG(TABLE_NAME), '[]') FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED');";

/**
 * The objects of database `db` (an SQL literal), one JSON array a line: views, tables (base,
 * system-versioned and sequences), routines as [type, name], events.
 */
export function listObjectsSql(db: string): string {
  return [
    `SELECT COALESCE(JSON_ARRAYAGG(TABLE_NAME), '[]') FROM information_schema.TABLES WHERE TABLE_SCHEMA = ${db} AND TABLE_TYPE = 'VIEW';`,
    `SELECT COALESCE(JSON_ARRAYAGG(TABLE_NAME), '[]') FROM information_schema.TABLES WHERE TABLE_SCHEMA = ${db} AND TABLE_TYPE <> 'VIEW';`,
    `SELECT COALESCE(JSON_ARRAYAGG(JSON_ARRAY(ROUTINE_TYPE, ROUTINE_NAME)), '[]') FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ${db};`,
    `SELECT COALESCE(JSON_ARRAYAGG(EVENT_NAME), '[]') FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ${db};`,
  ].join('\n');
}

/** One statement, so all counts come from the same InnoDB read view. */
export function countRowsSql(tables: readonly string[]): string {
  if (tables.length === 0) return "SELECT '{}';";
  const parts = tables.map((t) => `SELECT ${literal(t)} AS n, COUNT(*) AS c FROM ${identifier(t)}`);
  return `SELECT COALESCE(JSON_OBJECTAGG(counts.n, counts.c), '{}') FROM (${parts.join(' UNION ALL ')}) AS counts;`;
}

/**
 * Tables (system-versioned ones too), views, routines, triggers and sequences (MariaDB) of
 * database `db` (an SQL literal), as one JSON object.
 */
export function objectCountsSql(db: string): string {
  const tables = (types: string) =>
    `(SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ${db} AND TABLE_TYPE IN (${types}))`;
  return `SELECT JSON_OBJECT('tables', ${tables("'BASE TABLE', 'SYSTEM VERSIONED'")},
        'views', ${tables("'VIEW'")},
        'routines', (SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ${db} AND ROUTINE_TYPE IN ('FUNCTION', 'PROCEDURE')),
        'triggers', (SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ${db}),
        'sequences', ${tables("'SEQUENCE'")});`;
}

/**
 * Whether database `db` (an SQL literal) exists, and how many tables, views, routines and
 * events it holds, as one JSON object.
 */
export function objectTotalSql(db: string): string {
  return `SELECT JSON_OBJECT('exists', (SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ${db}),
        'objects', (SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ${db})
          + (SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ${db})
          + (SELECT COUNT(*) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ${db}));`;
}
