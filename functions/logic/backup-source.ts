/**
 * Where the restore steps read manifests: the job's S3 destinations, in config order, as the
 * restore task reads them. The manifests there are the source of truth (DESIGN.md §5), so the
 * state machine finds backups even after the history table was lost; Resolve takes the first
 * destination with a valid copy (core/pipeline/copies.ts), so one store that lost a copy or is
 * down does not stop a restore.
 */
import { type Config, type Job, jobDestinations } from '../../core/config/schema.ts';
import { ConfigError } from '../../core/errors.ts';
import { registerSecret } from '../../core/redact.ts';
import { createDestination, type Destination } from '../../core/storage/index.ts';
import type { SecretFetcher } from './secrets.ts';

export { type SecretFetcher, secretsManagerFetcher } from './secrets.ts';

export interface BackupSourceOptions {
  /** The stack's bucket: what `"bucket": "managed"` means. */
  readonly managedBucket: string;
  readonly fetchSecret: SecretFetcher;
}

/**
 * Opens the job's S3 destinations in config order (AWS cannot reach the others; they are left
 * out). Throws a ConfigError when the job has none. A foreign store's credentials come from
 * its `credentialsSecret`.
 */
export async function openBackupSources(
  config: Config,
  job: Job,
  options: BackupSourceOptions,
): Promise<Destination[]> {
  const names = jobDestinations(job).map((d) => d.name);
  const reachable = names.filter((name) => config.destinations[name]?.type === 's3');
  if (reachable.length === 0) {
    throw new ConfigError(
      `job ${job.name} has no S3 destination to restore from in AWS (${names.join(', ') || 'none'}); add one`,
    );
  }
  return Promise.all(reachable.map((name) => openS3Source(config, job, name, options)));
}

/** Opens one S3 destination of a job: the managed bucket, or a foreign store with its `credentialsSecret`. */
export async function openS3Source(
  config: Config,
  job: Job,
  name: string,
  options: BackupSourceOptions,
): Promise<Destination> {
  const destination = config.destinations[name];
  if (destination?.type !== 's3')
    throw new ConfigError(`job ${job.name}: destination ${name} is not an S3 destination`);
  let s3Credentials: { accessKeyId: string; secretAccessKey: string } | undefined;
  if (destination.credentialsSecret) {
    const text = await options.fetchSecret(destination.credentialsSecret);
    registerSecret(text);
    let parsed: { accessKeyId?: unknown; secretAccessKey?: unknown } = {};
    try {
      parsed = JSON.parse(text) as typeof parsed;
    } catch {
      // reported below
    }
    if (typeof parsed.accessKeyId !== 'string' || typeof parsed.secretAccessKey !== 'string') {
      throw new ConfigError(
        `destinations.${name}.credentialsSecret: expected JSON {"accessKeyId": …, "secretAccessKey": …}`,
      );
    }
    registerSecret(parsed.secretAccessKey);
    s3Credentials = { accessKeyId: parsed.accessKeyId, secretAccessKey: parsed.secretAccessKey };
  }
  return createDestination(name, destination, {
    baseDir: '/',
    bucketOverride: options.managedBucket,
    ...(s3Credentials ? { s3Credentials } : {}),
  });
}
