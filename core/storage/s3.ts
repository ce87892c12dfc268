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
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  type GetObjectCommandOutput,
  HeadObjectCommand,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { S3_CLEANUP_TIMEOUT_SECONDS, S3_STALL_TIMEOUT_SECONDS } from '../contracts/timeouts.ts';
import { IntegrityError, NotFoundError, StorageError } from '../errors.ts';
import { redactUrl } from '../redact.ts';
import type { Destination, ObjectInfo, RemoveFailure, WriteOptions, WriteResult } from './destination.ts';
import { assertKeyPrefix, compareKeys } from './keys.ts';
import { firstPartSizeFor, MAX_PARTS } from './part-sizes.ts';
import { removeEach } from './remove-many.ts';
import type { RetryOptions } from './retry.ts';
import { deleteObjectsInBatches } from './s3-delete.ts';
import { mapS3Error, objectKeyIn, type S3Place, urlIn } from './s3-errors.ts';
import { objectParams, type S3ObjectParams, type S3ObjectSettings } from './s3-object-settings.ts';
import { S3UploadCleanup } from './s3-uploads.ts';
import { writeStreamed } from './s3-write.ts';

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
  /**
   * Whether `removeMany` sends DeleteObjects (1000 keys a request); false sends one DeleteObject
   * per key, for stores without DeleteObjects (GCS's XML API).
   * @default true
   */
  readonly batchDeletes?: boolean;
  /** Server-side encryption, storage class, tags and Object Lock of every object written. */
  readonly objectSettings?: S3ObjectSettings;
  /**
   * The clock an object's Object Lock retain-until date counts from.
   * @default - the system clock
   */
  readonly now?: () => Date;
}

const MiB = 1024 * 1024;
/** How many times the expected size a write's parts must hold (backups grow; parts cannot). */
const PART_HEADROOM = 4;

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
  private readonly listPageSize: number;
  private readonly stallTimeoutMs: number;
  private readonly place: S3Place;
  private readonly cleanup: S3UploadCleanup;

  private readonly objectSettings: S3ObjectSettings | undefined;
  private readonly now: () => Date;
  private readonly batchDeletes: boolean;

  constructor(options: S3DestinationOptions) {
    this.batchDeletes = options.batchDeletes ?? true;
    this.objectSettings = options.objectSettings;
    this.now = options.now ?? (() => new Date());
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
    this.listPageSize = options.listPageSize ?? 1000;
    this.stallTimeoutMs = options.stallTimeoutMs ?? S3_STALL_TIMEOUT_SECONDS * 1000;
    this.place = { name: this.name, bucket: this.bucket, root: this.root, where: this.endpoint ?? 'AWS' };
    this.cleanup = new S3UploadCleanup({
      client: this.client,
      place: this.place,
      abortRetry: options.abortRetry ?? { attempts: 6, baseDelayMs: 500 },
      cleanupTimeoutMs:
        options.cleanupTimeoutMs ?? Math.min(this.stallTimeoutMs, S3_CLEANUP_TIMEOUT_SECONDS * 1000),
    });
    this.description = `s3://${this.bucket}/${this.root}${this.endpoint ? ` at ${this.endpoint}` : ''}`;
  }

  /**
   * One multipart upload of `body` (a single PutObject when it is smaller than one part),
   * completed only when the body ended cleanly. See the module comment for the failure path.
   */
  async write(key: string, body: Readable, options: WriteOptions = {}): Promise<WriteResult> {
    return writeStreamed(
      {
        client: this.client,
        place: this.place,
        cleanup: this.cleanup,
        partSize: this.partSizeFor(options.expectedBytes),
        queueSize: this.queueSize,
        maxParts: this.maxParts,
        objectParams: this.objectParams(),
        stallMs: this.stallTimeoutMs,
      },
      key,
      body,
      options,
    );
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
          ...this.objectParams(),
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

  /** HeadObject, with the object's Object Lock retention and legal hold when the store reports them. */
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
        ...(output.ObjectLockRetainUntilDate && { retainUntil: output.ObjectLockRetainUntilDate }),
        ...(output.ObjectLockLegalHoldStatus === 'ON' && { legalHold: true }),
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

  /** DeleteObjects in requests of 1000 keys (see s3-delete.ts), or one DeleteObject per key without `batchDeletes`. */
  async removeMany(keys: readonly string[]): Promise<RemoveFailure[]> {
    if (!this.batchDeletes) return removeEach(this, keys);
    return deleteObjectsInBatches(this.client, this.place, keys);
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
          ...this.objectParams(),
        }),
      );
      uploadId = created.UploadId;
    } catch (err) {
      throw this.mapError(err, 'start an upload of', key);
    }
    if (!uploadId) {
      throw new StorageError(
        `the store at ${this.place.where} started an upload of ${this.urlOf(key)} without an upload id`,
      );
    }
    const deadline = this.cleanup.deadline();
    try {
      await this.cleanup.abortMultipartUpload(key, uploadId, deadline);
    } catch (err) {
      const cause = this.cleanup.causeOf(err, deadline);
      throw new StorageError(this.cleanup.orphanedUpload(key, uploadId, cause), {
        cause: err,
        permanent: err instanceof StorageError && err.permanent,
      });
    }
  }

  /** The object settings of a write that starts now (its lock counts from now). */
  private objectParams(): S3ObjectParams {
    return objectParams(this.objectSettings, this.now());
  }

  private objectKey(key: string): string {
    return objectKeyIn(this.place, key);
  }

  private urlOf(key: string): string {
    return urlIn(this.place, key);
  }

  /**
   * Aborts the pending multipart uploads of keys starting with `keyPrefix`: what a backup killed
   * mid-upload leaves (stored parts that are billed and never become an object). Bounded by the
   * clean-up deadline.
   */
  async removeUnfinished(keyPrefix: string): Promise<string[]> {
    assertKeyPrefix(this.name, keyPrefix);
    return this.cleanup.abortUploadsOf(keyPrefix, this.cleanup.deadline(), 'prefix');
  }

  private mapError(err: unknown, operation: string, key: string): unknown {
    return mapS3Error(this.place, err, operation, key);
  }
}
