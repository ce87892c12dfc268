/**
 * The PostgreSQL `--drop` restore: the target ends up equal to the backup, or unchanged.
 */
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { processInput, processOutput } from '../../core/process.ts';
import { WIPE_DATABASE_SQL } from './pg-catalog-sql.ts';
import type { PgTarget } from './pg-target.ts';
import type { PgToolName } from './pg-tools.ts';

/**
 * The `drop` restore: wipe and dump in one transaction (`psql --single-transaction`). psql
 * commits only at the end of its input, and its input ends only after pg_restore exited 0;
 * any failure before that kills psql, and PostgreSQL rolls the open transaction back.
 * `archive` says the input is a custom-format archive, turned into its SQL script by
 * `pg_restore --file=-`; otherwise it is a plain script already.
 */
export async function restoreReplacing(
  t: PgTarget,
  input: Readable,
  archive: boolean,
  locate: (tool: PgToolName) => Promise<string>,
  signal?: AbortSignal,
): Promise<void> {
  const script = archive
    ? processOutput(
        {
          command: await locate('pg_restore'),
          args: ['--no-owner', '--file=-'],
          env: t.env,
        },
        input,
      )
    : input;
  const feed = new PassThrough({ highWaterMark: 1 << 20 });
  feed.write(WIPE_DATABASE_SQL);
  // Either side failing fails the other: a dead pg_restore errors `feed`, which kills psql;
  // a dead psql destroys `feed`, which stops pg_restore (and its input).
  const feeding = pipeline(script, feed);
  feeding.catch(() => {});
  await processInput(
    {
      command: await locate('psql'),
      args: [
        '-X',
        '--no-password',
        '-q',
        '-v',
        'ON_ERROR_STOP=1',
        '--single-transaction',
        '--dbname',
        t.url,
        '--file',
        '-',
      ],
      env: t.env,
      // psql may hold all its input and still be working (waiting on a lock, committing): an
      // abort stops it there too, and PostgreSQL rolls the open transaction back.
      ...(signal ? { signal } : {}),
    },
    feed,
  );
  await feeding;
}
