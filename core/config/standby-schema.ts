/**
 * A job's standby target (issue 16 §2): a database kept equal to the job's newest backup, ready
 * to fail over to. Its own file so the job schema stays readable; schema.ts composes it.
 */
import { z } from 'zod';
import { envName, nonEmpty, secretArn, show } from './schema-fields.ts';

/** Suffix of the database a standby run restores into before the swap. */
export const STANDBY_NEXT_SUFFIX = '__dv_next';
/** Suffix of the previous standby, kept until the next swap. */
export const STANDBY_PREV_SUFFIX = '__dv_prev';

export const StandbySchema = z
  .strictObject({
    url: nonEmpty('a database URL').describe(
      `The standby database (postgres:// or mysql:// like the source, never the source itself). Each new backup is restored into "<database>${STANDBY_NEXT_SUFFIX}" beside it, verified, then swapped in; the previous standby stays as "<database>${STANDBY_PREV_SUFFIX}" until the next swap.`,
    ),
    passwordEnv: envName.optional().describe('Locally: env variable holding the standby password.'),
    passwordSecret: secretArn.optional().describe('Secrets Manager ARN of the standby password.'),
    lagAlarmHours: z
      .number({ error: (iss) => `expected a number of hours > 0, got ${show(iss.input)}` })
      .positive({ error: (iss) => `expected a number of hours > 0, got ${show(iss.input)}` })
      .optional()
      .describe(
        'Alarm when the backup the standby holds is older than this many hours (dumpvault_standby_lag_seconds, CloudWatch StandbyLagSeconds); default 2 × the longest schedule gap, 26 without a schedule.',
      ),
  })
  .describe('A database kept equal to the newest backup (PostgreSQL and MySQL/MariaDB jobs).');

export type StandbyConfig = z.output<typeof StandbySchema>;
