/**
 * What an S3 destination asks the store to apply to every object it writes: server-side
 * encryption, storage class, tags and Object Lock retention, as request fields.
 */
import type { PutObjectCommandInput, StorageClass } from '@aws-sdk/client-s3';

/** What a destination asks S3 to apply to every object it writes (config: see S3DestinationSchema). */
export interface S3ObjectSettings {
  readonly serverSideEncryption?: {
    readonly type: 'SSE-S3' | 'SSE-KMS';
    readonly kmsKeyId?: string;
    readonly bucketKey?: boolean;
  };
  readonly storageClass?: StorageClass;
  readonly tags?: Readonly<Record<string, string>>;
  /** Object Lock retention of every object, counted in days from its write. */
  readonly objectLock?: { readonly mode: 'GOVERNANCE' | 'COMPLIANCE'; readonly days: number };
}

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * The fields of CreateMultipartUpload and PutObject that carry {@link S3ObjectSettings}, for a
 * write that starts at `now` (its Object Lock lasts until `now` + days).
 */
export function objectParams(settings: S3ObjectSettings | undefined, now: Date): S3ObjectParams {
  if (!settings) return {};
  const lock = settings.objectLock;
  const sse = settings.serverSideEncryption;
  const tags = Object.entries(settings.tags ?? {});
  return {
    ...(sse && { ServerSideEncryption: sse.type === 'SSE-KMS' ? 'aws:kms' : 'AES256' }),
    ...(sse?.kmsKeyId && { SSEKMSKeyId: sse.kmsKeyId }),
    ...(sse?.bucketKey !== undefined && { BucketKeyEnabled: sse.bucketKey }),
    ...(settings.storageClass && { StorageClass: settings.storageClass }),
    ...(tags.length > 0 && { Tagging: new URLSearchParams(tags).toString() }),
    ...(lock && {
      ObjectLockMode: lock.mode,
      ObjectLockRetainUntilDate: new Date(now.getTime() + lock.days * DAY_MS),
    }),
  };
}

/** Server-side encryption, storage class, tags and lock of an object (see {@link S3ObjectSettings}). */
export type S3ObjectParams = Pick<
  PutObjectCommandInput,
  | 'ServerSideEncryption'
  | 'SSEKMSKeyId'
  | 'BucketKeyEnabled'
  | 'StorageClass'
  | 'Tagging'
  | 'ObjectLockMode'
  | 'ObjectLockRetainUntilDate'
>;
