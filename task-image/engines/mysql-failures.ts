/**
 * How the MySQL engine explains a failure: the hints that turn a client or dump tool error
 * into a sentence naming what to fix, and the lines that mark a failed dump.
 */
import { explainFailure, type FailureHint } from './failure-hints.ts';

/** What to fix, by the client or dump tool error that tells it. */
export const MYSQL_HINTS: readonly FailureHint[] = [
  { when: /Unknown database/i, fix: 'create the database or fix its name in the URL' },
  {
    when: /Access denied for user/i,
    fix: 'check the user name and the password (passwordEnv / passwordSecret)',
  },
  {
    when: /Can't connect|Unknown (MySQL|MariaDB) server host|Lost connection/i,
    fix: 'check the host and port in the URL and that the server accepts connections from here',
  },
  {
    when: /you need (at least one of )?the .* privilege|command denied/i,
    fix: 'grant the backup user the privilege named above (docs/configuration.md, "Database privileges", lists the grants a complete dump needs)',
  },
];

/** A tool failure, with the fix its message points to. */
export const explainMysqlFailure = (err: unknown): Error => explainFailure(err, MYSQL_HINTS);

/** A row count whose session's `lock_wait_timeout` ran out (ERROR 1205). */
export function mysqlLockWaitHint(seconds: number): FailureHint {
  return {
    when: /Lock wait timeout exceeded/i,
    fix: `another session held a lock on a table the dump reads for longer than ${seconds} s (lockWaitTimeoutSeconds): find it with SHOW PROCESSLIST, or raise the job's lockWaitTimeoutSeconds`,
  };
}

/**
 * What mariadb-dump / mysqldump print when a statement failed; with some failures (a lost
 * connection while dumping a table: `Error 2013: Lost connection to server during query when
 * dumping table …`) they still exit 0.
 */
export const MYSQL_DUMP_ERROR_LINES = [
  /^(?:\S*\/)?(?:mysqldump|mariadb-dump): (?:Error|Couldn't execute|Got error)/i,
];
