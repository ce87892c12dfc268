/**
 * Where the restore steps read manifests: the job's first destination, as the restore task
 * reads it. The manifests there are the source of truth (DESIGN.md §5), so the state machine
 * finds backups even after the history table was lost.
 */
import type { Config, Job, S3DestinationConfig } from '../../core/config/schema.ts';
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
 * Opens the job's first destination. Only S3 destinations can be read from AWS; a foreign
 * store's credentials come from its `credentialsSecret`.
 */
export async function openBackupSource(
  config: Config,
  job: Job,
  options: BackupSourceOptions,
): Promise<Destination> {
  const name = job.destinations[0];
  const destination = name !== undefined ? config.destinations[name] : undefined;
  if (!name || !destination) throw new ConfigError(`job ${job.name} has no destination to restore from`);
  if (destination.type !== 's3') {
    throw new ConfigError(
      `job ${job.name} restores from its first destination "${name}", a ${destination.type} destination that AWS cannot reach; list an S3 destination first`,
    );
  }
  return openS3Destination(name, destination, options);
}

/** Opens an S3 destination of the config: the managed bucket, or a foreign store with its `credentialsSecret`. */
export async function openS3Destination(
  name: string,
  destination: S3DestinationConfig,
  options: BackupSourceOptions,
): Promise<Destination> {
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
