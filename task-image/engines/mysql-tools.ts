/**
 * The MySQL / MariaDB client tools the engine runs, and how to read their versions.
 */
import { ToolError } from '../../core/errors.ts';

/** The dump tools, in order of preference. */
export const MYSQL_DUMP_TOOLS = ['mariadb-dump', 'mysqldump'] as const;
/** The SQL clients, in order of preference. */
export const MYSQL_CLIENTS = ['mariadb', 'mysql'] as const;
/** The package to install when no tool is found. */
export const MYSQL_CLIENT_PACKAGE = 'mariadb-client (or mysql-client)';

/** The dump tool's version line: `10.11.19-MariaDB` or `8.0.36`. */
export function parseMysqlToolVersion(output: string): { version: string; mariadb: boolean } {
  const m =
    /Distrib\s+([^\s,]+)/.exec(output) ?? /from\s+([^\s,]+)/.exec(output) ?? /Ver\s+([^\s,]+)/.exec(output);
  if (!m) throw new ToolError(`cannot read a version from ${JSON.stringify(output.trim())}`);
  return { version: m[1]!, mariadb: /mariadb/i.test(output) };
}
