/**
 * The S3 or GCS destination a config describes, without the retry wrapper
 * (core/storage/index.ts `createBareDestination`): a module of its own, so that
 * core/storage/load.ts loads the S3 SDK, and not the Azure one, for an S3 or GCS destination.
 */
import type { Destination as DestinationConfig } from '../config/schema.ts';
import { StorageError } from '../errors.ts';
import { type CreateDestinationOptions, joinPrefixes } from './create-options.ts';
import type { Destination } from './destination.ts';
import { createGcsDestination } from './gcs.ts';
import { S3Destination } from './s3.ts';
import { createS3Client } from './s3-client.ts';

/** The bucket name in the config that stands for the bucket the CDK stack creates. */
export const MANAGED_BUCKET = 'managed';

const MiB = 1024 * 1024;

export function createS3BareDestination(
  name: string,
  config: Extract<DestinationConfig, { type: 's3' | 'gcs' }>,
  options: CreateDestinationOptions,
): Destination {
  const extra = options.prefix ?? '';
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
