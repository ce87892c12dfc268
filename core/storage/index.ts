import type { Destination as DestinationConfig } from '../config/schema.ts';
import { StorageError } from '../errors.ts';
import { AzureDestination } from './azure.ts';
import { createAzureContainerClient } from './azure-client.ts';
import type { CreateDestinationOptions } from './create-options.ts';
import type { Destination } from './destination.ts';
import { fileDestination } from './file.ts';
import { createGcsDestination } from './gcs.ts';
import { withDestinationName } from './named.ts';
import { DEFAULT_RETRY, withRetry } from './retry.ts';
import { S3Destination } from './s3.ts';
import { createS3Client } from './s3-client.ts';

export { AzureDestination } from './azure.ts';
export { type AzureCredentials, createAzureContainerClient } from './azure-client.ts';
export type { CreateDestinationOptions } from './create-options.ts';
export type { Destination, ObjectInfo, WriteResult } from './destination.ts';
export { FileDestination } from './file.ts';
export { destinationPrefix, nameDestinationError, withDestinationName } from './named.ts';
export { isPermanentError, type RetryOptions, withRetry } from './retry.ts';
export { S3Destination } from './s3.ts';
export { createS3Client, type S3Credentials, s3ClientConfig } from './s3-client.ts';

/** The bucket name in the config that stands for the bucket the CDK stack creates. */
export const MANAGED_BUCKET = 'managed';

const MiB = 1024 * 1024;

/**
 * The destination `name` described by `config`, wrapped with retries and with errors that name
 * it (`destination <name>: <cause>`). Throws a permanent StorageError for a "managed" bucket
 * when no `bucketOverride` is known.
 */
export function createDestination(
  name: string,
  config: DestinationConfig,
  options: CreateDestinationOptions,
): Destination {
  return withDestinationName(
    withRetry(createBareDestination(name, config, options), options.retry ?? DEFAULT_RETRY),
  );
}

/** Like {@link createDestination}, without the retry wrapper (for tests and for callers composing their own wrappers). */
export function createBareDestination(
  name: string,
  config: DestinationConfig,
  options: CreateDestinationOptions,
): Destination {
  const extra = options.prefix ?? '';
  if (config.type === 'file') return fileDestination(name, config, options);
  if (config.type === 'azure') {
    if (!options.azureCredentials) {
      throw new StorageError(
        `destination ${name} has no credentials: set connectionStringEnv, accountKeyEnv, sasTokenEnv or credentialsSecret`,
        { permanent: true },
      );
    }
    const container = createAzureContainerClient({
      name,
      container: config.container,
      credentials: options.azureCredentials,
      ...(config.account ? { account: config.account } : {}),
      ...(config.accountUrl ? { accountUrl: config.accountUrl } : {}),
      ...(config.requestTimeoutSeconds ? { requestTimeoutMs: config.requestTimeoutSeconds * 1000 } : {}),
    });
    return new AzureDestination({
      name,
      container,
      prefix: joinPrefixes(config.prefix, extra),
      blockSizeBytes: config.blockSizeMiB * MiB,
      queueSize: config.queueSize,
      ...(config.stallTimeoutSeconds ? { stallTimeoutMs: config.stallTimeoutSeconds * 1000 } : {}),
    });
  }
  if (config.type === 'gcs') {
    return createGcsDestination(name, config, {
      prefix: joinPrefixes(config.prefix, extra),
      ...(options.s3Credentials ? { credentials: options.s3Credentials } : {}),
      ...(options.s3Client ? { client: options.s3Client } : {}),
    });
  }
  let bucket = config.bucket;
  if (bucket === MANAGED_BUCKET) {
    if (!options.bucketOverride) {
      throw new StorageError(
        `destination ${name} uses the stack's managed bucket; set DUMPVAULT_MANAGED_BUCKET or run in AWS`,
        { permanent: true },
      );
    }
    bucket = options.bucketOverride;
  }
  const client =
    options.s3Client ??
    createS3Client({
      endpoint: config.endpoint,
      region: config.region,
      forcePathStyle: config.forcePathStyle,
      credentials: options.s3Credentials,
      ...(config.connectTimeoutSeconds ? { connectTimeoutMs: config.connectTimeoutSeconds * 1000 } : {}),
      ...(config.requestTimeoutSeconds ? { requestTimeoutMs: config.requestTimeoutSeconds * 1000 } : {}),
    });
  return new S3Destination({
    name,
    bucket,
    client,
    prefix: joinPrefixes(config.prefix, extra),
    endpoint: config.endpoint,
    partSizeBytes: config.partSizeMiB * MiB,
    queueSize: config.queueSize,
    ...(config.stallTimeoutSeconds ? { stallTimeoutMs: config.stallTimeoutSeconds * 1000 } : {}),
    ...(options.now && { now: options.now }),
    objectSettings: {
      ...(config.serverSideEncryption && { serverSideEncryption: config.serverSideEncryption }),
      ...(config.storageClass && { storageClass: config.storageClass }),
      ...(config.tags && { tags: config.tags }),
      ...(config.objectLock && { objectLock: config.objectLock }),
    },
  });
}

function joinPrefixes(...prefixes: string[]): string {
  return prefixes
    .filter((p) => p !== '')
    .map((p) => (p.endsWith('/') ? p : `${p}/`))
    .join('');
}
