/**
 * Builds destinations from the config: the one place that knows which implementation a
 * `type` means, how relative paths resolve, and which wrappers every destination gets.
 */
import { isAbsolute, join, resolve } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Destination as DestinationConfig } from '../config/schema.ts';
import { StorageError } from '../errors.ts';
import type { Destination } from './destination.ts';
import { FileDestination } from './file.ts';
import { withDestinationName } from './named.ts';
import { type RetryOptions, withRetry } from './retry.ts';
import { createS3Client, type S3Credentials, S3Destination } from './s3.ts';

export type { Destination, ObjectInfo, WriteResult } from './destination.ts';
export { FileDestination } from './file.ts';
export { destinationPrefix, nameDestinationError, withDestinationName } from './named.ts';
export { isPermanentError, type RetryOptions, withRetry } from './retry.ts';
export { createS3Client, type S3Credentials, S3Destination, s3ClientConfig } from './s3.ts';

/** The bucket name in the config that stands for the bucket the CDK stack creates. */
export const MANAGED_BUCKET = 'managed';

export interface CreateDestinationOptions {
  /** Directory that relative file paths resolve against (the config file's directory). */
  readonly baseDir: string;
  /**
   * An extra root inside the destination, after an S3 destination's own `prefix` (for a file
   * destination, a sub-folder of its path). Not the config's top-level `prefix`: that one is
   * part of every key the pipeline builds.
   * @default ""
   */
  readonly prefix?: string;
  /**
   * Credentials for an S3 destination, already resolved from env variables or Secrets Manager
   * and registered with redact() by the caller.
   * @default - the SDK's default chain (task role, environment, profile)
   */
  readonly s3Credentials?: S3Credentials;
  /**
   * A ready client for an S3 destination (tests, or a caller sharing one client).
   * @default - a client built from the destination config
   */
  readonly s3Client?: S3Client;
  /**
   * The real name of the stack's bucket, used when the config says `"bucket": "managed"`.
   * @default - none: a "managed" destination is refused
   */
  readonly bucketOverride?: string;
  /**
   * Retry policy of the wrapper around the destination.
   * @default { attempts: 4, baseDelayMs: 500 }
   */
  readonly retry?: RetryOptions;
}

const DEFAULT_RETRY: RetryOptions = { attempts: 4, baseDelayMs: 500 };
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
  if (config.type === 'file') {
    const base = isAbsolute(config.path) ? config.path : resolve(options.baseDir, config.path);
    return new FileDestination(name, extra === '' ? base : join(base, ...extra.split('/').filter(Boolean)));
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
    objectSettings: {
      ...(config.serverSideEncryption && { serverSideEncryption: config.serverSideEncryption }),
      ...(config.storageClass && { storageClass: config.storageClass }),
      ...(config.tags && { tags: config.tags }),
    },
  });
}

function joinPrefixes(...prefixes: string[]): string {
  return prefixes
    .filter((p) => p !== '')
    .map((p) => (p.endsWith('/') ? p : `${p}/`))
    .join('');
}
