/**
 * A bound on mariadb-dump's lock waits, kept from outside. mariadb-dump (10.11) and Oracle's
 * mysqldump have no lock wait option and no init command, and their session keeps the server's
 * `lock_wait_timeout` (a year by default): a table another session holds with `LOCK TABLES …
 * WRITE`, or a long `ALTER TABLE`, would stall a backup for as long as it is held.
 *
 * While the dump runs, the watch asks the server every few seconds for threads of the backup
 * user in the dumped database, connected after the dump started, that have waited for a lock
 * for at least the bound, and reports the first one: the dump then fails and its process is
 * stopped, and the server drops the waiting statement with the connection. A user sees its own
 * threads in the process list without the PROCESS privilege.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { ToolError } from '../../core/errors.ts';

/** What the watch needs from the engine. */
export interface LockWatchOptions {
  /**
   * Runs one statement with the backup user's client, connected to the dumped database, and
   * returns what it printed; stops the client when `signal` aborts.
   */
  readonly query: (sql: string, signal: AbortSignal) => Promise<string>;
  /** The connection id taken just before the dump connected: the dump's are greater. */
  readonly after: number;
  /** The bound (the job's `lockWaitTimeoutSeconds`). */
  readonly seconds: number;
  /** Ends the watch (the dump ended, failed or was stopped). */
  readonly signal: AbortSignal;
  /** Told once, when a statement has waited for a lock at least `seconds`. */
  readonly onStuck: (error: ToolError) => void;
}

/** How often the server is asked: a quarter of the bound, between 0.5 s and 15 s. */
export function lockWatchIntervalMs(seconds: number): number {
  return Math.min(15_000, Math.max(500, (seconds * 1000) / 4));
}

/** The process-list query: the dump's statements that have waited for a lock `seconds` or longer. */
export function lockWaitsSql(after: number, seconds: number): string {
  return `SELECT COALESCE(JSON_ARRAYAGG(JSON_OBJECT('id', ID, 'time', TIME, 'state', STATE, 'info', LEFT(INFO, 200))), '[]')
  FROM information_schema.PROCESSLIST
  WHERE ID > ${Math.trunc(after)} AND ID <> CONNECTION_ID()
    AND USER = SUBSTRING_INDEX(USER(), '@', 1) AND DB = DATABASE()
    AND STATE LIKE 'Waiting for%lock%' AND TIME >= ${Math.trunc(seconds)};`.replace(/\s*\n\s*/g, ' ');
}

interface Waiting {
  readonly time?: number;
  readonly state?: string;
  readonly info?: string | null;
}

/** The JSON array the client printed (its last line). */
function parseWaiting(stdout: string): Waiting[] {
  const line = stdout.trim().split('\n').pop() ?? '';
  const value: unknown = JSON.parse(line);
  if (!Array.isArray(value)) throw new ToolError(`the mysql client printed ${line}; expected a JSON array`);
  return value.filter((w): w is Waiting => typeof w === 'object' && w !== null);
}

/**
 * Watches until `signal` aborts or a lock wait reached the bound (then `onStuck`). A failed
 * look at the process list is not the dump's failure: the next one is tried.
 */
export async function watchLockWaits(options: LockWatchOptions): Promise<void> {
  const sql = lockWaitsSql(options.after, options.seconds);
  const interval = lockWatchIntervalMs(options.seconds);
  while (!options.signal.aborted) {
    try {
      await sleep(interval, undefined, { signal: options.signal });
    } catch {
      return; // stopped
    }
    let waiting: Waiting[];
    try {
      waiting = parseWaiting(await options.query(sql, options.signal));
    } catch {
      continue;
    }
    const first = waiting[0];
    if (first === undefined || options.signal.aborted) continue;
    const statement = (first.info ?? '').replace(/\s+/g, ' ').trim();
    options.onStuck(
      new ToolError(
        `the dump waited more than ${options.seconds} s for a table lock (lockWaitTimeoutSeconds): ${first.state ?? 'waiting for a lock'}${statement ? ` at ${statement}` : ''}; another session holds a lock on that table: find it with SHOW PROCESSLIST, or raise the job's lockWaitTimeoutSeconds`,
      ),
    );
    return;
  }
}
