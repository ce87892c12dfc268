/**
 * The S3 client dumpvault uses: bounded requests, checksums that S3-compatible stores accept,
 * and bodies hashed once (see {@link signChecksummedBodiesUnsigned}).
 */
import {
  S3Client,
  type S3ClientConfig,
  type ServiceInputTypes,
  type ServiceOutputTypes,
} from '@aws-sdk/client-s3';
import type { FinalizeRequestMiddleware } from '@smithy/types';
import { S3_CONNECT_TIMEOUT_SECONDS, S3_REQUEST_TIMEOUT_SECONDS } from '../contracts/timeouts.ts';

/** Static credentials resolved by the caller (env variables or Secrets Manager) and registered with redact. */
export interface S3Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

/** How to reach a bucket: the subset of the destination config the client needs. */
export interface S3ClientSettings {
  /**
   * Custom endpoint of an S3-compatible store.
   * @default - AWS S3 in `region`
   */
  readonly endpoint?: string;
  /**
   * Region.
   * @default - "us-east-1" with a custom endpoint, otherwise the SDK's chain (AWS_REGION, profile)
   */
  readonly region?: string;
  /**
   * Path-style addressing (`https://host/bucket/key`).
   * @default - true with a custom endpoint, false on AWS
   */
  readonly forcePathStyle?: boolean;
  /**
   * Explicit credentials.
   * @default - the SDK's default chain (task role, environment, profile)
   */
  readonly credentials?: S3Credentials;
  /**
   * How long opening a connection may take before the request fails (and is retried).
   * @default 10 s
   */
  readonly connectTimeoutMs?: number;
  /**
   * How long a request may send and receive nothing before it fails (and is retried): a store
   * that accepts connections and never answers costs this, times the SDK's attempts.
   * @default 120 s
   */
  readonly requestTimeoutMs?: number;
}

/**
 * The S3Client configuration for `settings`. With a custom endpoint, checksums are only sent
 * where an operation requires them: the SDK's default CRC checksums corrupt streamed uploads
 * to s3rver and are rejected by R2. On AWS the defaults stay, giving per-part CRC32 integrity.
 */
export function s3ClientConfig(settings: S3ClientSettings): S3ClientConfig {
  const custom = settings.endpoint !== undefined;
  const config: S3ClientConfig = {
    forcePathStyle: settings.forcePathStyle ?? custom,
    // A connection that cannot be opened, or a store that stops answering, fails the request
    // over to the retry logic instead of hanging a backup. The inactivity timeout, not a total
    // one: a big part on a slow link may take long, but never goes silent.
    requestHandler: {
      connectionTimeout: settings.connectTimeoutMs ?? S3_CONNECT_TIMEOUT_SECONDS * 1000,
      socketTimeout: settings.requestTimeoutMs ?? S3_REQUEST_TIMEOUT_SECONDS * 1000,
    },
  };
  const region = settings.region ?? (custom ? 'us-east-1' : undefined);
  if (region !== undefined) config.region = region;
  if (custom) {
    config.endpoint = settings.endpoint;
    config.requestChecksumCalculation = 'WHEN_REQUIRED';
    config.responseChecksumValidation = 'WHEN_REQUIRED';
  }
  if (settings.credentials) config.credentials = { ...settings.credentials };
  return config;
}

/** A client for `settings` (see {@link s3ClientConfig}), signing checksummed HTTPS bodies unsigned. */
export function createS3Client(settings: S3ClientSettings): S3Client {
  const client = new S3Client(s3ClientConfig(settings));
  signChecksummedBodiesUnsigned(client);
  return client;
}

/**
 * Hash once: SigV4 signs a body by its SHA-256, which for every part is a second SHA-256 over
 * bytes the backup already hashes for the manifest (README Performance, docs/performance.md).
 * Where the SDK adds a CRC checksum header (on AWS: `requestChecksumCalculation` left at
 * `WHEN_SUPPORTED`) and the connection is HTTPS, the request is signed with `UNSIGNED-PAYLOAD`
 * instead, as the AWS CLI does: the CRC header is among the signed headers, so S3 still rejects
 * a part whose bytes changed, and TLS protects them on the way. Custom endpoints keep
 * `WHEN_REQUIRED` (the SDK's default checksums break streamed uploads to s3rver and R2), carry no
 * CRC, and so keep the signed payload hash: over plain HTTP it is the only check the bytes get.
 */
export function signChecksummedBodiesUnsigned(client: S3Client): void {
  const middleware: FinalizeRequestMiddleware<ServiceInputTypes, ServiceOutputTypes> =
    (next) => async (args) => {
      const request = args.request as { protocol?: string; headers?: Record<string, string> };
      const headers = request.headers;
      if (
        request.protocol === 'https:' &&
        headers &&
        Object.keys(headers).some((h) => h.toLowerCase().startsWith('x-amz-checksum-')) &&
        !Object.keys(headers).some((h) => h.toLowerCase() === 'x-amz-content-sha256')
      ) {
        headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
      }
      return next(args);
    };
  client.middlewareStack.addRelativeTo(middleware, {
    name: 'dumpvaultUnsignedChecksummedPayload',
    relation: 'before',
    toMiddleware: 'httpSigningMiddleware',
    override: true,
  });
}
