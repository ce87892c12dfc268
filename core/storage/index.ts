import type { Destination as DestinationConfig } from '../config/schema.ts';
import { createAzureBareDestination } from './azure-create.ts';
import type { CreateDestinationOptions } from './create-options.ts';
import type { Destination } from './destination.ts';
import { fileDestination } from './file.ts';
import { withDestinationName } from './named.ts';
import { DEFAULT_RETRY, withRetry } from './retry.ts';
import { createS3BareDestination } from './s3-create.ts';

export { AzureDestination } from './azure.ts';
export { type AzureCredentials, createAzureContainerClient } from './azure-client.ts';
export type { CreateDestinationOptions } from './create-options.ts';
export type { Destination, ObjectInfo, WriteResult } from './destination.ts';
export { FileDestination } from './file.ts';
export { destinationPrefix, nameDestinationError, withDestinationName } from './named.ts';
export { isPermanentError, type RetryOptions, withRetry } from './retry.ts';
export { S3Destination } from './s3.ts';
export { createS3Client, type S3Credentials, s3ClientConfig } from './s3-client.ts';
export { MANAGED_BUCKET } from './s3-create.ts';

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
  if (config.type === 'file') return fileDestination(name, config, options);
  if (config.type === 'azure') return createAzureBareDestination(name, config, options);
  return createS3BareDestination(name, config, options);
}
