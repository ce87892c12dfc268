/**
 * The contract between start-backup and the Fargate task (documented for operators at the top
 * of functions/start-backup.ts): environment variable names, how a task is recognised as a
 * dumpvault run, and the single-job config handed to it.
 */
import { type Config, type Job, jobDestinations } from '../../core/config/schema.ts';

/** Environment variables of the task container (core/contracts/task-env.ts). */
export { TaskEnv } from '../../core/contracts/task-env.ts';

/** ECS caps the JSON of all overrides of one RunTask at 8 KiB. */
export const MAX_OVERRIDE_BYTES = 8192;

/** `startedBy` of a dumpvault task (ECS allows letters, digits, `-`, `_` and `/`, ≤ 128). */
export function startedByOf(job: string, runId: string): string {
  return `dumpvault/${job}/${runId}`;
}

/** Parses a `startedBy` written by {@link startedByOf}; undefined for any other task. */
export function parseStartedBy(startedBy: string | undefined): { job: string; runId: string } | undefined {
  const m = /^dumpvault\/([a-z0-9-]+)\/([0-9a-z]+)$/.exec(startedBy ?? '');
  return m ? { job: m[1]!, runId: m[2]! } : undefined;
}

/**
 * The config the task needs for one job: that job, only the destinations and the encryption it
 * names, the prefix and `metaBackup` (the backup task writes the meta-backup from this config:
 * without it a deployed task never wrote one). It holds ARNs and names only, never a secret
 * value (the schema has no field for one), and it is itself a valid config.
 */
export function singleJobConfig(config: Config, job: Job): Config {
  const destinations: Config['destinations'] = {};
  for (const { name } of jobDestinations(job)) {
    const destination = config.destinations[name];
    if (destination) destinations[name] = destination;
  }
  const encryption: Config['encryption'] = {};
  if (job.encryption !== undefined) {
    const entry = config.encryption[job.encryption];
    if (entry) encryption[job.encryption] = entry;
  }
  return {
    prefix: config.prefix,
    destinations,
    encryption,
    jobs: [job],
    ...(config.metaBackup ? { metaBackup: config.metaBackup } : {}),
  };
}
