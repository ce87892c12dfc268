/**
 * How the functions open a job's destinations in AWS: every type but `file` (a task's disk does
 * not outlive it, and infra/validate.ts refuses a job's file destination at synth), with the
 * credentials the destination's `credentialsSecret` holds, read through the one secret resolver
 * as the backup task reads them (core/secrets/credentials.ts). The prune function opens them
 * all; the restore steps read manifests from them, the first destination with a valid copy
 * winning (core/pipeline/copies.ts), so one store that lost a copy or is down does not stop a
 * restore. The manifests there are the source of truth (DESIGN.md §5): backups are found even
 * after the history table was lost.
 */
import type { Config, Destination as DestinationConfig, Job } from '../../core/config/schema.ts';
import { jobDestinations } from '../../core/config/schema.ts';
import { ConfigError } from '../../core/errors.ts';
import { resolveDestinationCredentials } from '../../core/secrets/credentials.ts';
import type { SecretFetcher } from '../../core/secrets/resolve.ts';
import { createDestination, type Destination, type RetryOptions } from '../../core/storage/index.ts';

export interface BackupSourceOptions {
  /** The stack's bucket: what `"bucket": "managed"` means. */
  readonly managedBucket: string;
  readonly fetchSecret: SecretFetcher;
  /**
   * Retry policy of each destination (tests shorten it).
   * @default - createDestination's
   */
  readonly retry?: RetryOptions;
}

/** Whether the functions and tasks in AWS can reach a destination of this type (all but `file`). */
export function reachableInAws(destination: DestinationConfig | undefined): boolean {
  return destination !== undefined && destination.type !== 'file';
}

/**
 * Opens every destination of `job`, in config order: what the prune function applies retention
 * to. Throws a ConfigError naming a destination AWS cannot reach (a config that passed synth
 * has none), so retention is never silently skipped on one copy.
 */
export async function openJobDestinations(
  config: Config,
  job: Job,
  options: BackupSourceOptions,
): Promise<Destination[]> {
  const out: Destination[] = [];
  for (const { name } of jobDestinations(job))
    out.push(await openDeployedDestination(config, job, name, options));
  return out;
}

/**
 * Opens the job's destinations AWS can reach, in config order: where the restore steps look
 * for backups. Throws a ConfigError when the job has none.
 */
export async function openBackupSources(
  config: Config,
  job: Job,
  options: BackupSourceOptions,
): Promise<Destination[]> {
  const names = jobDestinations(job).map((d) => d.name);
  const reachable = names.filter((name) => reachableInAws(config.destinations[name]));
  if (reachable.length === 0) {
    throw new ConfigError(
      `job ${job.name} has no destination AWS can restore from (${names.join(', ') || 'none'}); add an s3, azure or gcs destination`,
    );
  }
  return Promise.all(reachable.map((name) => openDeployedDestination(config, job, name, options)));
}

/**
 * Opens one destination of a job: the managed bucket, a foreign S3 store, GCS or Azure, with
 * the credentials its `credentialsSecret` holds (none for an s3 destination without one: the
 * function's role). No env variable is read for credentials: in AWS there are none.
 */
export async function openDeployedDestination(
  config: Config,
  job: Job,
  name: string,
  options: BackupSourceOptions,
): Promise<Destination> {
  const destination = config.destinations[name];
  if (!destination) throw new ConfigError(`job ${job.name}: destination ${name} is not in the config`);
  if (!reachableInAws(destination)) {
    throw new ConfigError(
      `job ${job.name}: destination ${name} is a ${destination.type} destination, which nothing in AWS can reach; remove it from the job's destinations`,
    );
  }
  const credentials = await resolveDestinationCredentials(name, destination, {}, options.fetchSecret);
  return createDestination(name, destination, {
    baseDir: '/',
    bucketOverride: options.managedBucket,
    ...credentials,
    ...(options.retry ? { retry: options.retry } : {}),
  });
}
