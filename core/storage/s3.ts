/**
 * A destination in an S3 bucket or any S3-compatible store (R2, MinIO, s3rver).
 *
 * `write` is one multipart upload (MultipartWriter): memory is a fixed set of part buffers,
 * and the upload is completed only after the body ended cleanly. On any failure (the body
 * errors, the signal aborts, a request fails) the body is destroyed, the writer stops, and once
 * every request of the upload has settled an AbortMultipartUpload is sent (retried while the
 * store is unreachable), so no partial object and no orphaned parts remain. A CreateMultipartUpload
 * that got no answer may still have made an upload: the failed write then looks for the
 * uploads of its key (ListMultipartUploads) and aborts them.
 *
 * Every wait is bounded: each request by a connect and an inactivity timeout (then retried by
 * the SDK), the upload as a whole by its stall timeout (no request completing for that long
 * fails the write), and the clean-up after a failure by a deadline of its own, after which what
 * could not be removed is named in the error.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  type GetObjectCommandOutput,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
  type ServiceInputTypes,
  type ServiceOutputTypes,
  type StorageClass,
} from '@aws-sdk/client-s3';
import type { FinalizeRequestMiddleware } from '@smithy/types';
import {
  S3_CLEANUP_TIMEOUT_SECONDS,
  S3_CONNECT_TIMEOUT_SECONDS,
  S3_REQUEST_TIMEOUT_SECONDS,
  S3_STALL_TIMEOUT_SECONDS,
} from '../contracts/timeouts.ts';
import { IntegrityError, NotFoundError, StorageError, UserError } from '../errors.ts';
import { redact, redactUrl } from '../redact.ts';
import type { Destination, ObjectInfo, WriteOptions, WriteResult } from './destination.ts';
import { assertKeyPrefix, assertObjectKey, compareKeys } from './keys.ts';
import {
  firstPartSizeFor,
  MAX_PARTS,
  MultipartWriter,
  type S3ObjectParams,
  TooManyPartsError,
  UploadStalledError,
} from './multipart.ts';
import { type RetryOptions, retrying } from './retry.ts';

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

export interface S3DestinationOptions {
  /** The destination's name in the config; error messages point at `destinations.<name>`. */
  readonly name: string;
  readonly bucket: string;
  readonly client: S3Client;
  /**
   * Root inside the bucket: every key is relative to it (`backups/` → `backups/<key>`).
   * @default ""
   */
  readonly prefix?: string;
  /**
   * The custom endpoint the client talks to, for messages only (shown redacted).
   * @default - AWS S3
   */
  readonly endpoint?: string;
  /**
   * Multipart part size in bytes (at least 5 MiB).
   * @default 8 MiB
   */
  readonly partSizeBytes?: number;
  /**
   * Parts uploaded in parallel; a write holds (queueSize + 1) × partSizeBytes of part buffers.
   * @default 2
   */
  readonly queueSize?: number;
  /**
   * Parts a write may have (tests lower it to reach the limit without 50 GB).
   * @default 10,000 (S3's limit)
   */
  readonly maxParts?: number;
  /**
   * How hard a failed write tries to abort its multipart upload when the store is unreachable.
   * @default { attempts: 6, baseDelayMs: 500 } (about 15 s)
   */
  readonly abortRetry?: RetryOptions;
  /**
   * Keys requested per ListObjectsV2 page (tests lower it to exercise pagination).
   * @default 1000
   */
  readonly listPageSize?: number;
  /**
   * How long a write may wait on the store with no request completing before it fails with
   * `destination <name>: no progress for N s` and its upload is aborted.
   * @default 300 s
   */
  readonly stallTimeoutMs?: number;
  /**
   * The longest the clean-up of a failed write (aborting its upload, deleting an object it
   * completed) may take; what is left then is named in the error.
   * @default the stall timeout, at most 60 s
   */
  readonly cleanupTimeoutMs?: number;
  /** Server-side encryption, storage class and tags of every object written. */
  readonly objectSettings?: S3ObjectSettings;
}

/** What a destination asks S3 to apply to every object it writes (config: see S3DestinationSchema). */
export interface S3ObjectSettings {
  readonly serverSideEncryption?: {
    readonly type: 'SSE-S3' | 'SSE-KMS';
    readonly kmsKeyId?: string;
    readonly bucketKey?: boolean;
  };
  readonly storageClass?: StorageClass;
  readonly tags?: Readonly<Record<string, string>>;
}

/** The fields of CreateMultipartUpload and PutObject that carry {@link S3ObjectSettings}. */
export function objectParams(settings: S3ObjectSettings | undefined): S3ObjectParams {
  if (!settings) return {};
  const sse = settings.serverSideEncryption;
  const tags = Object.entries(settings.tags ?? {});
  return {
    ...(sse && { ServerSideEncryption: sse.type === 'SSE-KMS' ? 'aws:kms' : 'AES256' }),
    ...(sse?.kmsKeyId && { SSEKMSKeyId: sse.kmsKeyId }),
    ...(sse?.bucketKey !== undefined && { BucketKeyEnabled: sse.bucketKey }),
    ...(settings.storageClass && { StorageClass: settings.storageClass }),
    ...(tags.length > 0 && { Tagging: new URLSearchParams(tags).toString() }),
  };
}

const MiB = 1024 * 1024;
/** How many times the expected size a write's parts must hold (backups grow; parts cannot). */
const PART_HEADROOM = 4;

/** 400 responses that a retry can fix: a slow connection, a body damaged in transit, a token being refreshed. */
const TRANSIENT_400 = new Set([
  'RequestTimeout',
  'BadDigest',
  'IncompleteBody',
  'XAmzContentSHA256Mismatch',
  'ExpiredToken',
  'TokenRefreshRequired',
]);

/** What the SDK puts on a failed request, read structurally (service errors and network errors differ). */
interface FailedRequest {
  readonly name: string;
  readonly message: string;
  readonly status: number | undefined;
  readonly code: string | undefined;
}

function describeFailure(err: unknown): FailedRequest {
  if (!(err instanceof Error))
    return { name: 'Error', message: String(err), status: undefined, code: undefined };
  const meta: unknown = '$metadata' in err ? err.$metadata : undefined;
  const status =
    typeof meta === 'object' &&
    meta !== null &&
    'httpStatusCode' in meta &&
    typeof meta.httpStatusCode === 'number'
      ? meta.httpStatusCode
      : undefined;
  const code = 'code' in err && typeof err.code === 'string' ? err.code : undefined;
  return { name: err.name, message: err.message, status, code };
}

function isAbortError(err: unknown): boolean {
  return err instanceof Error && err.name === 'AbortError';
}

function asError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}

function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error) return reason;
  return Object.assign(new Error('the write was aborted'), { name: 'AbortError', cause: reason });
}

/** What removes an incomplete multipart upload dumpvault could not abort (the stack sets it; README for foreign stores). */
const LIFECYCLE_REMOVES_IT = "the bucket's AbortIncompleteMultipartUpload lifecycle rule removes it";

/** Strips the quotes S3 puts around ETags, so ETags from different calls compare equal. */
function bareEtag(etag: string | undefined): string | undefined {
  return etag?.replace(/^W\//, '').replace(/"/g, '');
}

/** A {@link Destination} in an S3 bucket (or S3-compatible store), under an optional root prefix. */
export class S3Destination implements Destination {
  readonly name: string;
  readonly description: string;
  readonly bucket: string;
  /** Root inside the bucket, `""` or ending with `/`. */
  readonly root: string;
  private readonly client: S3Client;
  private readonly endpoint: string | undefined;
  private readonly partSize: number;
  private readonly queueSize: number;
  private readonly maxParts: number;
  private readonly abortRetry: RetryOptions;
  private readonly listPageSize: number;
  private readonly stallTimeoutMs: number;
  private readonly cleanupTimeoutMs: number;

  /** See {@link S3DestinationOptions}; nothing is sent until the first call. */
  private readonly objectParams: S3ObjectParams;

  constructor(options: S3DestinationOptions) {
    this.objectParams = objectParams(options.objectSettings);
    this.name = options.name;
    this.bucket = options.bucket;
    const prefix = options.prefix ?? '';
    this.root = prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`;
    if (this.root !== '') assertKeyPrefix(options.name, this.root);
    this.client = options.client;
    // An endpoint URL may carry user:password; only its redacted form is ever shown.
    this.endpoint = options.endpoint === undefined ? undefined : redactUrl(options.endpoint);
    this.partSize = options.partSizeBytes ?? 8 * MiB;
    this.queueSize = options.queueSize ?? 2;
    this.maxParts = options.maxParts ?? MAX_PARTS;
    this.abortRetry = options.abortRetry ?? { attempts: 6, baseDelayMs: 500 };
    this.listPageSize = options.listPageSize ?? 1000;
    this.stallTimeoutMs = options.stallTimeoutMs ?? S3_STALL_TIMEOUT_SECONDS * 1000;
    this.cleanupTimeoutMs =
      options.cleanupTimeoutMs ?? Math.min(this.stallTimeoutMs, S3_CLEANUP_TIMEOUT_SECONDS * 1000);
    this.description = `s3://${this.bucket}/${this.root}${this.endpoint ? ` at ${this.endpoint}` : ''}`;
  }

  /**
   * One multipart upload of `body` (a single PutObject when it is smaller than one part),
   * completed only when the body ended cleanly. See the module comment for the failure path.
   */
  async write(key: string, body: Readable, options: WriteOptions = {}): Promise<WriteResult> {
    const { signal } = options;
    const objectKey = this.objectKey(key);
    let failure: { error: Error; fromStore: boolean } | undefined;
    const fail = (err: unknown, fromStore: boolean) => {
      failure ??= { error: asError(err), fromStore };
      // Destroying the body stops the writer reading it and, through its pipeline, the dump.
      if (!body.destroyed) body.destroy(failure.error);
    };
    // The cause of a failure is kept in `failure`; this keeps a late 'error' from going unhandled.
    body.on('error', () => {});
    const writer = new MultipartWriter({
      client: this.client,
      bucket: this.bucket,
      key: objectKey,
      contentType: options.contentType,
      partSize: this.partSizeFor(options.expectedBytes),
      queueSize: this.queueSize,
      signal,
      maxParts: this.maxParts,
      objectParams: this.objectParams,
      onRequestFailed: (err) => fail(err, true),
      stallMs: this.stallTimeoutMs,
    });
    const onAbort = () => {
      if (signal) fail(abortReason(signal), false);
    };
    try {
      if (signal?.aborted) throw abortReason(signal);
      signal?.addEventListener('abort', onAbort, { once: true });
      const output = await writer.write(body);
      // The signal may have fired while the completing request was in flight.
      if (failure) throw failure.error;
      // A retried Create may have left an upload of this key behind; the object is complete, so
      // this is tidying only (the bucket's lifecycle rule is the fallback).
      if (writer.createAttempts > 1) {
        await this.abortUploadsOf(key, AbortSignal.timeout(this.cleanupTimeoutMs)).catch(() => {});
      }
      return { bytes: writer.bytes, etag: output.etag, versionId: output.versionId };
    } catch (err) {
      fail(err, err instanceof TooManyPartsError);
      const cause = failure ?? { error: asError(err), fromStore: true };
      const leftover = await this.cleanUpFailedWrite(key, writer);
      throw this.writeError(cause.error, cause.fromStore, key, leftover);
    } finally {
      signal?.removeEventListener('abort', onAbort);
      writer.close();
    }
  }

  /**
   * The first part size of a write: the configured one, or larger when the object is expected
   * to be so big that an upload starting at the configured size (its parts doubling every
   * 2,000) would not hold four times it.
   */
  partSizeFor(expectedBytes: number | undefined): number {
    if (!expectedBytes || expectedBytes <= 0) return this.partSize;
    return firstPartSizeFor(expectedBytes * PART_HEADROOM, this.partSize);
  }

  /** One PutObject with a Content-MD5, so the store rejects a body damaged on the way. */
  async put(
    key: string,
    data: Buffer | string,
    options: { contentType?: string } = {},
  ): Promise<WriteResult> {
    const objectKey = this.objectKey(key);
    const body = typeof data === 'string' ? Buffer.from(data) : data;
    try {
      const output = await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: objectKey,
          Body: body,
          ContentLength: body.byteLength,
          ContentMD5: createHash('md5').update(body).digest('base64'),
          ContentType: options.contentType,
          ...this.objectParams,
        }),
      );
      return { bytes: body.byteLength, etag: output.ETag, versionId: output.VersionId };
    } catch (err) {
      throw this.mapError(err, 'put', key);
    }
  }

  /**
   * GetObject with `If-Match`. The returned ETag is compared too, because some S3-compatible
   * stores (s3rver among them) ignore `If-Match`.
   */
  async read(key: string, options: { ifMatch?: string } = {}): Promise<Readable> {
    const objectKey = this.objectKey(key);
    let output: GetObjectCommandOutput;
    try {
      output = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: objectKey, IfMatch: options.ifMatch }),
      );
    } catch (err) {
      throw this.mapError(err, 'read', key);
    }
    const body = output.Body;
    if (!(body instanceof Readable)) {
      throw new StorageError(`GetObject of ${this.urlOf(key)} returned no stream`);
    }
    if (options.ifMatch !== undefined && bareEtag(output.ETag) !== bareEtag(options.ifMatch)) {
      body.destroy();
      throw new IntegrityError(`object ${this.urlOf(key)} changed since it was verified`);
    }
    return body;
  }

  /** HeadObject. */
  async stat(key: string): Promise<ObjectInfo> {
    const objectKey = this.objectKey(key);
    try {
      const output = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: objectKey }));
      return {
        key,
        size: output.ContentLength ?? 0,
        lastModified: output.LastModified,
        etag: output.ETag,
        versionId: output.VersionId,
      };
    } catch (err) {
      throw this.mapError(err, 'stat', key);
    }
  }

  /** ListObjectsV2, every page, keys made relative to the root and sorted by UTF-8 bytes. */
  async list(prefix: string): Promise<ObjectInfo[]> {
    assertKeyPrefix(this.name, prefix);
    const infos: ObjectInfo[] = [];
    let token: string | undefined;
    do {
      let page: ListObjectsV2CommandOutput;
      try {
        page = await this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: this.root + prefix,
            ContinuationToken: token,
            MaxKeys: this.listPageSize,
          }),
        );
      } catch (err) {
        throw this.mapError(err, 'list', prefix);
      }
      for (const item of page.Contents ?? []) {
        if (item.Key === undefined || !item.Key.startsWith(this.root)) continue;
        infos.push({
          key: item.Key.slice(this.root.length),
          size: item.Size ?? 0,
          lastModified: item.LastModified,
          etag: item.ETag,
        });
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return infos.sort((a, b) => compareKeys(a.key, b.key));
  }

  /** DeleteObject; a missing key is not an error (S3 says 204, some stores say 404). */
  async remove(key: string): Promise<void> {
    const objectKey = this.objectKey(key);
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: objectKey }));
    } catch (err) {
      const mapped = this.mapError(err, 'remove', key);
      if (mapped instanceof NotFoundError) return;
      throw mapped;
    }
  }

  /**
   * Proves what a backup needs without leaving anything behind: lists under `prefix`
   * (s3:ListBucket), then starts and aborts a multipart upload of a probe key (s3:PutObject, the
   * bucket's KMS key, s3:AbortMultipartUpload). No object is written, so nothing needs deleting
   * (the backup identity need not be allowed to), and nothing stays as a noncurrent version or
   * under Object Lock. An upload it cannot abort is named in the error.
   */
  async checkWritable(prefix: string): Promise<void> {
    assertKeyPrefix(this.name, prefix);
    await this.list(`${prefix}.dumpvault-probe-`);
    const key = `${prefix}.dumpvault-probe-${randomBytes(6).toString('hex')}`;
    let uploadId: string | undefined;
    try {
      const created = await this.client.send(
        new CreateMultipartUploadCommand({
          Bucket: this.bucket,
          Key: this.objectKey(key),
          ContentType: 'text/plain',
          ...this.objectParams,
        }),
      );
      uploadId = created.UploadId;
    } catch (err) {
      throw this.mapError(err, 'start an upload of', key);
    }
    if (!uploadId) {
      throw new StorageError(
        `the store at ${this.where} started an upload of ${this.urlOf(key)} without an upload id`,
      );
    }
    const deadline = AbortSignal.timeout(this.cleanupTimeoutMs);
    try {
      await this.abortMultipartUpload(key, uploadId, deadline);
    } catch (err) {
      const cause = deadline.aborted
        ? `the store did not answer within ${Number((this.cleanupTimeoutMs / 1000).toFixed(1))} s`
        : redact(describeFailure(err).message);
      throw new StorageError(this.orphanedUpload(key, uploadId, cause), {
        cause: err,
        permanent: err instanceof StorageError && err.permanent,
      });
    }
  }

  private objectKey(key: string): string {
    assertObjectKey(this.name, key);
    return this.root + key;
  }

  private urlOf(key: string): string {
    return `s3://${this.bucket}/${this.root}${key}`;
  }

  private get where(): string {
    return this.endpoint ?? 'AWS';
  }

  /**
   * After a failed write: waits for the writer's requests to settle (so the abort cannot race
   * an UploadPart), then makes sure nothing is left, within the clean-up deadline. Returns what
   * could not be cleaned up, if anything.
   */
  private async cleanUpFailedWrite(key: string, writer: MultipartWriter): Promise<string | undefined> {
    const objectKey = this.objectKey(key);
    await writer.settled();
    const deadline = AbortSignal.timeout(this.cleanupTimeoutMs);
    const retry = { ...this.abortRetry, signal: deadline };
    const deleteObject = () =>
      retrying('delete', retry, () =>
        this.client
          .send(new DeleteObjectCommand({ Bucket: this.bucket, Key: objectKey }), { abortSignal: deadline })
          .catch((err: unknown) => Promise.reject(this.mapError(err, 'remove', key))),
      );
    try {
      if (writer.completed) {
        // The object was completed before the failure was noticed (an abort racing the last request).
        await deleteObject();
      } else if (writer.uploadId !== undefined) {
        await this.abortMultipartUpload(key, writer.uploadId, deadline);
        if (writer.createAttempts > 1) await this.abortUploadsOf(key, deadline);
        // A Complete cancelled on the wire may still have made the object (keys are unique per run).
        if (writer.completeUncertain) await deleteObject();
      } else if (writer.completeUncertain) {
        await deleteObject();
      } else if (writer.createFailure && this.mayHaveCreated(writer.createFailure.error)) {
        await this.abortUploadsOf(key, deadline);
      }
      return undefined;
    } catch (err) {
      const cause = deadline.aborted
        ? `the store did not answer within ${Number((this.cleanupTimeoutMs / 1000).toFixed(1))} s`
        : redact(describeFailure(err).message);
      if (writer.completed || (writer.completeUncertain && writer.uploadId === undefined)) {
        return `the object ${this.urlOf(key)} it may have completed could not be deleted: ${cause}`;
      }
      if (writer.uploadId !== undefined) return this.orphanedUpload(key, writer.uploadId, cause);
      return `an upload of ${this.urlOf(key)} the store may have made (CreateMultipartUpload got no answer) could not be looked for: ${cause}; ${LIFECYCLE_REMOVES_IT}`;
    }
  }

  /** The sentence naming an upload left behind: its key, its id, why, and what removes it. */
  private orphanedUpload(key: string, uploadId: string, cause: string): string {
    return `upload ${this.urlOf(key)} (upload id ${uploadId}) could not be aborted: ${cause}; ${LIFECYCLE_REMOVES_IT}`;
  }

  /**
   * Whether a CreateMultipartUpload that failed may still have made an upload: not when the
   * store refused it outright (credentials, bucket, permissions), which is permanent.
   */
  private mayHaveCreated(err: unknown): boolean {
    const mapped = this.mapError(err, 'write', '');
    if (mapped instanceof StorageError) return !mapped.permanent;
    return !(mapped instanceof UserError);
  }

  /**
   * Aborts every pending multipart upload of exactly `key` (ListMultipartUploads by prefix):
   * after a CreateMultipartUpload whose answer was lost (the Create failed, or the SDK retried
   * it), the store may hold uploads the writer never learnt the id of. Keys are unique per run,
   * so every upload of the key is this write's. With `match: 'prefix'`, the uploads of every key
   * starting with `key`. Returns the URLs of the keys whose uploads it aborted.
   */
  private async abortUploadsOf(
    key: string,
    deadline: AbortSignal,
    match: 'exact' | 'prefix' = 'exact',
  ): Promise<string[]> {
    const objectKey = match === 'exact' ? this.objectKey(key) : this.root + key;
    const aborted: string[] = [];
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    do {
      const page = await retrying('list multipart uploads', { ...this.abortRetry, signal: deadline }, () =>
        this.client
          .send(
            new ListMultipartUploadsCommand({
              Bucket: this.bucket,
              Prefix: objectKey,
              KeyMarker: keyMarker,
              UploadIdMarker: uploadIdMarker,
            }),
            { abortSignal: deadline },
          )
          .catch((err: unknown) => Promise.reject(this.mapError(err, 'list the uploads of', key))),
      );
      for (const upload of page.Uploads ?? []) {
        const mine = match === 'exact' ? upload.Key === objectKey : upload.Key?.startsWith(objectKey);
        if (!mine || !upload.Key || !upload.UploadId) continue;
        const relative = upload.Key.slice(this.root.length);
        await this.abortMultipartUpload(relative, upload.UploadId, deadline);
        aborted.push(this.urlOf(relative));
      }
      keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
      uploadIdMarker = page.IsTruncated ? page.NextUploadIdMarker : undefined;
    } while (keyMarker !== undefined);
    return aborted;
  }

  /**
   * Aborts the pending multipart uploads of keys starting with `keyPrefix`: what a backup killed
   * mid-upload leaves (stored parts that are billed and never become an object). Bounded by the
   * clean-up deadline.
   */
  async removeUnfinished(keyPrefix: string): Promise<string[]> {
    assertKeyPrefix(this.name, keyPrefix);
    return this.abortUploadsOf(keyPrefix, AbortSignal.timeout(this.cleanupTimeoutMs), 'prefix');
  }

  /**
   * AbortMultipartUpload, retried while the store is unreachable until `deadline`; NoSuchUpload
   * means already done.
   */
  private async abortMultipartUpload(key: string, uploadId: string, deadline: AbortSignal): Promise<void> {
    const objectKey = this.objectKey(key);
    await retrying('abort multipart upload', { ...this.abortRetry, signal: deadline }, async () => {
      try {
        await this.client.send(
          new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: objectKey, UploadId: uploadId }),
          { abortSignal: deadline },
        );
      } catch (err) {
        if (describeFailure(err).name === 'NoSuchUpload') return;
        throw this.mapError(err, 'abort the upload of', key);
      }
    });
  }

  /** The error a failed write rejects with: the body's own error as is, S3 failures mapped. */
  private writeError(cause: Error, fromStore: boolean, key: string, leftover: string | undefined): Error {
    let error: Error = cause;
    if (fromStore) {
      const mapped = this.mapError(cause, 'write', key);
      error = mapped instanceof Error ? mapped : cause;
    }
    if (leftover === undefined) return error;
    if (error instanceof StorageError) {
      return new StorageError(`${error.message}; ${leftover}`, { cause, permanent: error.permanent });
    }
    return new StorageError(`write of ${this.urlOf(key)} failed (${redact(error.message)}); ${leftover}`, {
      cause,
    });
  }

  /** Maps an SDK error to NotFoundError, IntegrityError or a StorageError that names what to fix. */
  private mapError(err: unknown, operation: string, key: string): unknown {
    if (err instanceof UserError || isAbortError(err)) return err;
    const failed = describeFailure(err);
    const url = this.urlOf(key);
    const config = `destinations.${this.name}`;
    const permanent = (message: string) => new StorageError(redact(message), { cause: err, permanent: true });
    /** What the store answered, as operators look it up: `403 AccessDenied`, `404 NoSuchBucket`. */
    const answer = (status: number | undefined) =>
      [failed.status ?? status, failed.code ?? failed.name].filter((part) => part !== undefined).join(' ');
    switch (failed.name) {
      case 'NoSuchBucket':
        return permanent(
          `bucket ${this.bucket} does not exist at ${this.where} (${answer(404)}): create it or fix ${config}.bucket`,
        );
      case 'NoSuchKey':
      case 'NoSuchUpload':
        return new NotFoundError(`${url} does not exist`, { cause: err });
      case 'InvalidAccessKeyId':
        return permanent(
          `the access key id of ${config} is not known at ${this.where} (${answer(403)}): fix the credentials of ${config} (accessKeyIdEnv, credentialsSecret or the task role)`,
        );
      case 'SignatureDoesNotMatch':
        return permanent(
          `the secret access key of ${config} does not match its access key id at ${this.where} (${answer(403)}): fix the credentials of ${config}`,
        );
      case 'PermanentRedirect':
      case 'AuthorizationHeaderMalformed':
      case 'IllegalLocationConstraintException':
        return permanent(
          `bucket ${this.bucket} is in another region than the client's: set ${config}.region`,
        );
      case 'CredentialsProviderError':
        return permanent(
          `no credentials found for ${config}: run with an AWS role or profile, or set accessKeyIdEnv and secretAccessKeyEnv (or credentialsSecret) in ${config}`,
        );
      case 'PreconditionFailed':
        return new IntegrityError(`object ${url} changed since it was verified`, { cause: err });
    }
    if (err instanceof UploadStalledError) {
      return new StorageError(`destination ${this.name}: no progress for ${err.seconds} s`, { cause: err });
    }
    // The SDK names a reset connection (ECONNRESET, EPIPE) a TimeoutError too; only a code-less
    // one or ETIMEDOUT is a timer that fired.
    if (failed.name === 'TimeoutError' && (failed.code === undefined || failed.code === 'ETIMEDOUT')) {
      const connecting = /without establishing a connection/i.test(failed.message);
      const what = connecting ? 'could not be connected to in time' : 'stopped answering';
      const knob = connecting ? 'connectTimeoutSeconds' : 'requestTimeoutSeconds';
      return new StorageError(
        redact(
          `destination ${this.name}: the store at ${this.where} ${what} (${operation} of ${url} timed out); check that it is up and reachable, or raise ${config}.${knob}`,
        ),
        { cause: err },
      );
    }
    if (err instanceof TooManyPartsError) {
      const partMiB = Math.round(err.partSize / MiB);
      const GiB = 1024 * MiB;
      const capacity =
        err.capacity >= GiB
          ? `${Math.floor(err.capacity / GiB)} GiB`
          : `${Math.floor(err.capacity / MiB)} MiB`;
      return permanent(
        `${url} is larger than the ${capacity} that ${err.maxParts.toLocaleString('en-US')} parts starting at ${partMiB} MiB hold: raise ${config}.partSizeMiB`,
      );
    }
    if (failed.message === 'Region is missing') {
      return permanent(`no region for ${config}: set ${config}.region or AWS_REGION`);
    }
    switch (failed.status) {
      case 404:
        return new NotFoundError(`${url} does not exist`, { cause: err });
      case 412:
        return new IntegrityError(`object ${url} changed since it was verified`, { cause: err });
      case 401:
      case 403:
        return permanent(
          `access to s3://${this.bucket}/${this.root} at ${this.where} was denied (${answer(failed.status)} when asked to ${operation} ${key}): grant the role s3:GetObject, s3:PutObject, s3:DeleteObject and s3:ListBucket on it, or fix the credentials of ${config}`,
        );
      case 301:
      case 400:
        if (TRANSIENT_400.has(failed.name)) break;
        return permanent(
          `the store at ${this.where} refused to ${operation} ${url} (${answer(failed.status)}: ${failed.message}); check ${config}`,
        );
    }
    return new StorageError(
      redact(`could not ${operation} ${url} at ${this.where} (${answer(undefined)}): ${failed.message}`),
      {
        cause: err,
      },
    );
  }
}
