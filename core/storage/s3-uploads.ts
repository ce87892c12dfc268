/**
 * Cleaning up after an S3 write that failed: aborting its multipart upload (and any the store
 * may have made for a Create whose answer was lost), deleting an object completed before the
 * failure was noticed. Every step is retried while the store is unreachable, within a deadline;
 * what could not be removed is described in one sentence that says what removes it.
 */
import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  ListMultipartUploadsCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { StorageError, UserError } from '../errors.ts';
import { redact } from '../redact.ts';
import type { MultipartWriter } from './multipart.ts';
import { type RetryOptions, retrying } from './retry.ts';
import { describeFailure, mapS3Error, objectKeyIn, type S3Place, urlIn } from './s3-errors.ts';

/** What removes an incomplete multipart upload dumpvault could not abort (the stack sets it; README for foreign stores). */
const LIFECYCLE_REMOVES_IT = "the bucket's AbortIncompleteMultipartUpload lifecycle rule removes it";

export interface S3UploadCleanupOptions {
  readonly client: S3Client;
  readonly place: S3Place;
  /** How hard each step is retried while the store is unreachable. */
  readonly abortRetry: RetryOptions;
  /** The longest a clean-up may take; what is left then is named. */
  readonly cleanupTimeoutMs: number;
}

/** The clean-up steps of an {@link S3Destination}'s failed writes and probes. */
export class S3UploadCleanup {
  private readonly client: S3Client;
  private readonly place: S3Place;
  private readonly abortRetry: RetryOptions;
  private readonly cleanupTimeoutMs: number;

  constructor(options: S3UploadCleanupOptions) {
    this.client = options.client;
    this.place = options.place;
    this.abortRetry = options.abortRetry;
    this.cleanupTimeoutMs = options.cleanupTimeoutMs;
  }

  /** A deadline for one clean-up. */
  deadline(): AbortSignal {
    return AbortSignal.timeout(this.cleanupTimeoutMs);
  }

  /** Why a clean-up step failed, for messages: the deadline, or the store's redacted answer. */
  causeOf(err: unknown, deadline: AbortSignal): string {
    return deadline.aborted
      ? `the store did not answer within ${Number((this.cleanupTimeoutMs / 1000).toFixed(1))} s`
      : redact(describeFailure(err).message);
  }

  /**
   * After a failed write: waits for the writer's requests to settle (so the abort cannot race
   * an UploadPart), then makes sure nothing is left, within the clean-up deadline. Returns what
   * could not be cleaned up, if anything.
   */
  async afterFailedWrite(key: string, writer: MultipartWriter): Promise<string | undefined> {
    const objectKey = objectKeyIn(this.place, key);
    await writer.settled();
    const deadline = this.deadline();
    const retry = { ...this.abortRetry, signal: deadline };
    const deleteObject = () =>
      retrying('delete', retry, () =>
        this.client
          .send(new DeleteObjectCommand({ Bucket: this.place.bucket, Key: objectKey }), {
            abortSignal: deadline,
          })
          .catch((err: unknown) => Promise.reject(mapS3Error(this.place, err, 'remove', key))),
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
      const cause = this.causeOf(err, deadline);
      if (writer.completed || (writer.completeUncertain && writer.uploadId === undefined)) {
        return `the object ${urlIn(this.place, key)} it may have completed could not be deleted: ${cause}`;
      }
      if (writer.uploadId !== undefined) return this.orphanedUpload(key, writer.uploadId, cause);
      return `an upload of ${urlIn(this.place, key)} the store may have made (CreateMultipartUpload got no answer) could not be looked for: ${cause}; ${LIFECYCLE_REMOVES_IT}`;
    }
  }

  /** The sentence naming an upload left behind: its key, its id, why, and what removes it. */
  orphanedUpload(key: string, uploadId: string, cause: string): string {
    return `upload ${urlIn(this.place, key)} (upload id ${uploadId}) could not be aborted: ${cause}; ${LIFECYCLE_REMOVES_IT}`;
  }

  /**
   * Whether a CreateMultipartUpload that failed may still have made an upload: not when the
   * store refused it outright (credentials, bucket, permissions), which is permanent.
   */
  private mayHaveCreated(err: unknown): boolean {
    const mapped = mapS3Error(this.place, err, 'write', '');
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
  async abortUploadsOf(
    key: string,
    deadline: AbortSignal,
    match: 'exact' | 'prefix' = 'exact',
  ): Promise<string[]> {
    const objectKey = match === 'exact' ? objectKeyIn(this.place, key) : this.place.root + key;
    const aborted: string[] = [];
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    do {
      const page = await retrying('list multipart uploads', { ...this.abortRetry, signal: deadline }, () =>
        this.client
          .send(
            new ListMultipartUploadsCommand({
              Bucket: this.place.bucket,
              Prefix: objectKey,
              KeyMarker: keyMarker,
              UploadIdMarker: uploadIdMarker,
            }),
            { abortSignal: deadline },
          )
          .catch((err: unknown) => Promise.reject(mapS3Error(this.place, err, 'list the uploads of', key))),
      );
      for (const upload of page.Uploads ?? []) {
        const mine = match === 'exact' ? upload.Key === objectKey : upload.Key?.startsWith(objectKey);
        if (!mine || !upload.Key || !upload.UploadId) continue;
        const relative = upload.Key.slice(this.place.root.length);
        await this.abortMultipartUpload(relative, upload.UploadId, deadline);
        aborted.push(urlIn(this.place, relative));
      }
      keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
      uploadIdMarker = page.IsTruncated ? page.NextUploadIdMarker : undefined;
    } while (keyMarker !== undefined);
    return aborted;
  }

  /**
   * AbortMultipartUpload, retried while the store is unreachable until `deadline`; NoSuchUpload
   * means already done.
   */
  async abortMultipartUpload(key: string, uploadId: string, deadline: AbortSignal): Promise<void> {
    const objectKey = objectKeyIn(this.place, key);
    await retrying('abort multipart upload', { ...this.abortRetry, signal: deadline }, async () => {
      try {
        await this.client.send(
          new AbortMultipartUploadCommand({ Bucket: this.place.bucket, Key: objectKey, UploadId: uploadId }),
          { abortSignal: deadline },
        );
      } catch (err) {
        if (describeFailure(err).name === 'NoSuchUpload') return;
        throw mapS3Error(this.place, err, 'abort the upload of', key);
      }
    });
  }
}
