/**
 * How the PostgreSQL engine explains a failure: the hints that turn a tool's error into a
 * sentence naming what to fix, and the real cause behind a pg_dump that lost its snapshot.
 */
import { explainFailure, type FailureHint } from './failure-hints.ts';

/** What to fix, by the tool error that tells it. */
export const PG_HINTS: readonly FailureHint[] = [
  { when: /database "[^"]*" does not exist/, fix: 'create the database or fix its name in the URL' },
  { when: /role "[^"]*" does not exist/, fix: 'fix the user name in the URL' },
  {
    when: /password authentication failed|no password supplied|authentication failed/i,
    fix: 'check the user name and the password (passwordEnv / passwordSecret)',
  },
  {
    when: /could not translate host name|Connection refused|could not connect|timeout expired|No route to host/i,
    fix: 'check the host and port in the URL and that the server accepts connections from here',
  },
  {
    when: /permission denied/i,
    fix: 'grant the backup user read access to every table (e.g. GRANT pg_read_all_data TO <user>)',
  },
  {
    when: /server version mismatch/i,
    fix: 'install a pg_dump at least as new as the server (or set PG_DUMP_PATH)',
  },
  {
    // Standbys can export snapshots only from PostgreSQL 10 on.
    when: /during recovery/i,
    fix: 'dump from the primary, or from a standby running PostgreSQL 10 or later',
  },
  {
    // A --drop restore is one transaction: every dropped and every restored table holds a lock.
    when: /max_locks_per_transaction/i,
    fix: 'a --drop restore runs in one transaction: raise max_locks_per_transaction on the server, or restore into an empty database without --drop',
  },
  {
    when: /unsupported version .* in file header/i,
    fix: 'install a pg_restore at least as new as the pg_dump that made the backup (or set PG_DUMP_PATH)',
  },
];

/** A tool failure, with the fix its message points to. */
export const explainPgFailure = (err: unknown): Error => explainFailure(err, PG_HINTS);

/**
 * A lock wait that ran out: pg_dump's `--lock-wait-timeout` ends its `LOCK TABLE` with a
 * statement timeout (its stderr then names the table), the row-count session's `lock_timeout`
 * with a lock timeout.
 */
export function pgLockWaitHint(seconds: number): FailureHint {
  return {
    when: /lock timeout|statement timeout\b.*\bLOCK TABLE/i,
    fix: `another session held a lock on a table the dump reads for longer than ${seconds} s (lockWaitTimeoutSeconds): find it in pg_locks and pg_stat_activity, or raise the job's lockWaitTimeoutSeconds`,
  };
}

/** pg_dump's own error lines: a run that printed one failed, whatever its exit code. */
export const PG_DUMP_ERROR_LINES = [/^pg_dump: error: /];

/** How long a failed pg_dump waits for its snapshot session to tell why the snapshot went away. */
const SESSION_CAUSE_WAIT_MS = 5_000;

/**
 * The real cause of a pg_dump failure. "invalid snapshot identifier" means the session that
 * exported the snapshot ended before pg_dump imported it — because that session failed (its
 * row count hit "permission denied for table x", say): that failure is the cause to report.
 */
export async function pgDumpFailureCause(err: unknown, counted: Promise<void>): Promise<unknown> {
  if (!(err instanceof Error) || !/invalid snapshot identifier/i.test(err.message)) return err;
  let timer: NodeJS.Timeout | undefined;
  const sessionError = await Promise.race([
    counted.then(
      () => undefined,
      (sessionErr: unknown) => sessionErr,
    ),
    new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), SESSION_CAUSE_WAIT_MS);
      timer.unref();
    }),
  ]);
  clearTimeout(timer);
  return sessionError ?? err;
}
