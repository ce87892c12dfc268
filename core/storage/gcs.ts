/**
 * Google Cloud Storage through its S3-compatible XML API: an {@link S3Destination} whose client
 * has the settings GCS needs. Authentication is an HMAC key (access id + secret) of a service
 * account, signed with SigV4 as for S3.
 *
 * What GCS's XML API needs from the AWS SDK:
 * - endpoint `https://storage.googleapis.com`, region `auto` (GCS ignores the region in the
 *   signature scope but the SDK needs one), path-style addressing (bucket names with dots
 *   cannot be virtual-hosted under TLS);
 * - `requestChecksumCalculation` / `responseChecksumValidation` `WHEN_REQUIRED`: the SDK's
 *   default CRC32 checksums add `x-amz-checksum-*` / `x-amz-sdk-checksum-algorithm` headers and
 *   an aws-chunked body that GCS's multipart upload does not accept; with `WHEN_REQUIRED` the
 *   writer asks for no checksum algorithm and sends plain bodies signed by their SHA-256;
 * - no S3-only object settings (SSE-KMS, storage classes of AWS, tags): the `gcs` type has none;
 * - no DeleteObjects: GCS's XML API has no multi-object delete, so `batchDeletes` is off and
 *   prune sends one DeleteObject per key.
 */
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import type { GcsDestinationConfig } from '../config/schema.ts';
import { S3Destination } from './s3.ts';
import {
  type S3ClientSettings,
  type S3Credentials,
  s3ClientConfig,
  signChecksummedBodiesUnsigned,
} from './s3-client.ts';

/** GCS's XML API endpoint. */
export const GCS_ENDPOINT = 'https://storage.googleapis.com';
/** The region the SDK signs with for GCS. */
export const GCS_REGION = 'auto';

const MiB = 1024 * 1024;

/** The S3 client settings of a `gcs` destination. */
export function gcsClientSettings(
  config: Pick<GcsDestinationConfig, 'endpoint' | 'connectTimeoutSeconds' | 'requestTimeoutSeconds'>,
  credentials: S3Credentials | undefined,
): S3ClientSettings {
  return {
    endpoint: config.endpoint ?? GCS_ENDPOINT,
    region: GCS_REGION,
    forcePathStyle: true,
    ...(credentials ? { credentials } : {}),
    ...(config.connectTimeoutSeconds ? { connectTimeoutMs: config.connectTimeoutSeconds * 1000 } : {}),
    ...(config.requestTimeoutSeconds ? { requestTimeoutMs: config.requestTimeoutSeconds * 1000 } : {}),
  };
}

/**
 * The S3Client configuration of a `gcs` destination: {@link gcsClientSettings} through
 * s3ClientConfig, with the checksum settings stated here again so that a change to the S3
 * defaults cannot silently give GCS the SDK's default checksums.
 */
export function gcsClientConfig(
  config: Pick<GcsDestinationConfig, 'endpoint' | 'connectTimeoutSeconds' | 'requestTimeoutSeconds'>,
  credentials: S3Credentials | undefined,
): S3ClientConfig {
  return {
    ...s3ClientConfig(gcsClientSettings(config, credentials)),
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  };
}

/** A client for GCS's XML API (see the module comment). */
export function createGcsClient(
  config: Pick<GcsDestinationConfig, 'endpoint' | 'connectTimeoutSeconds' | 'requestTimeoutSeconds'>,
  credentials: S3Credentials | undefined,
): S3Client {
  const client = new S3Client(gcsClientConfig(config, credentials));
  signChecksummedBodiesUnsigned(client);
  return client;
}

/** The destination `name` of a `gcs` config: an S3Destination on GCS's XML API. */
export function createGcsDestination(
  name: string,
  config: GcsDestinationConfig,
  options: { prefix: string; credentials?: S3Credentials; client?: S3Client },
): S3Destination {
  const client = options.client ?? createGcsClient(config, options.credentials);
  return new S3Destination({
    name,
    bucket: config.bucket,
    client,
    prefix: options.prefix,
    endpoint: config.endpoint ?? GCS_ENDPOINT,
    partSizeBytes: config.partSizeMiB * MiB,
    queueSize: config.queueSize,
    batchDeletes: false,
    ...(config.stallTimeoutSeconds ? { stallTimeoutMs: config.stallTimeoutSeconds * 1000 } : {}),
  });
}
