/**
 * What the MySQL user may read: its grants, and the views, routines and tables it sees but
 * cannot read (mysql-access.ts turns them into sentences naming the grant to add).
 */
import { ToolError } from '../../core/errors.ts';
import { type AccessFacts, coversDatabase, parseGrants, serverKind } from './mysql-access.ts';
import { identifier } from './mysql-catalog-sql.ts';
import { lastJsonObject } from './table-counts.ts';

/** Runs SQL in the source database through the client; its output, as printed. */
export type MysqlQuery = (sql: string, signal?: AbortSignal) => Promise<string>;

/**
 * What the user sees but cannot read: views without their definition (no SHOW VIEW) and
 * routines without their body; and who the server takes the user for.
 */
const ACCESS_FACTS_SQL = `SELECT JSON_OBJECT('user', CURRENT_USER(),
  'views', (SELECT COALESCE(JSON_ARRAYAGG(TABLE_NAME), JSON_ARRAY()) FROM information_schema.VIEWS
    WHERE TABLE_SCHEMA = DATABASE() AND COALESCE(VIEW_DEFINITION, '') = ''),
  'routines', (SELECT COALESCE(JSON_ARRAYAGG(JSON_OBJECT('type', ROUTINE_TYPE, 'name', ROUTINE_NAME)), JSON_ARRAY())
    FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE() AND ROUTINE_DEFINITION IS NULL));`;

/** Tables and views the user sees but cannot SELECT every column of. */
const UNREADABLE_TABLES_SQL = `SELECT JSON_OBJECT('tables', COALESCE(JSON_ARRAYAGG(t.TABLE_NAME), JSON_ARRAY()))
  FROM information_schema.TABLES t LEFT JOIN (SELECT TABLE_NAME, MIN(FIND_IN_SET('select', PRIVILEGES) > 0) AS readable
    FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() GROUP BY TABLE_NAME) c ON c.TABLE_NAME = t.TABLE_NAME
  WHERE t.TABLE_SCHEMA = DATABASE() AND COALESCE(c.readable, 0) = 0;`;

function names(value: unknown, what: string): string[] {
  if (!Array.isArray(value) || !value.every((n): n is string => typeof n === 'string')) {
    throw new ToolError(`the mysql client listed ${what} as ${JSON.stringify(value)}; expected names`);
  }
  return [...value].sort();
}

/** The user's grants and what information_schema shows it cannot read. */
export async function readAccessFacts(
  query: MysqlQuery,
  database: string,
  serverVersion: string,
  signal?: AbortSignal,
): Promise<AccessFacts> {
  const server = serverKind(serverVersion);
  let showGrants = 'SHOW GRANTS;';
  if (!server.mariadb && server.major >= 8) {
    // MySQL 8 lists a role's privileges only when asked to expand the roles in use.
    const roles = (await query('SELECT CURRENT_ROLE();', signal)).trim();
    if (roles && roles !== 'NONE') showGrants = `SHOW GRANTS FOR CURRENT_USER() USING ${roles};`;
  }
  const out = await query(`${showGrants}\n${ACCESS_FACTS_SQL}`, signal);
  const grants = parseGrants(out.split('\n'));
  const facts = lastJsonObject(out, 'mysql client');
  const routines = Array.isArray(facts.routines) ? facts.routines : [];
  // Only without database-wide SELECT can a table be in sight but unreadable.
  const tables = coversDatabase(grants, 'SELECT', database)
    ? []
    : names(lastJsonObject(await query(UNREADABLE_TABLES_SQL, signal), 'mysql client').tables, 'tables');
  return {
    database,
    user: String(facts.user),
    server,
    grants,
    unreadable: {
      tables,
      views: names(facts.views, 'views'),
      routines: routines
        .map((r: { type?: unknown; name?: unknown }) => `${String(r.type)} ${identifier(String(r.name))}`)
        .sort(),
    },
  };
}
