/**
 * One streamed write to S3: a {@link MultipartWriter} fed from the body, the first failure (of
 * the body, the store or the signal) kept and the body destroyed at once, the clean-up run once
 * every request settled, and one error that names what could not be cleaned up.
 */
import type { Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { StorageError } from '../errors.ts';
import { redact } from '../redact.ts';
import type { WriteOptions, WriteResult } from './destination.ts';
import { MultipartWriter } from './multipart.ts';
import { TooManyPartsError } from './part-sizes.ts';
import { mapS3Error, objectKeyIn, type S3Place, urlIn } from './s3-errors.ts';
import type { S3ObjectParams } from './s3-object-settings.ts';
import type { S3UploadCleanup } from './s3-uploads.ts';

/** What a streamed write needs of its destination. */
export interface S3StreamedWrite {
  readonly client: S3Client;
  readonly place: S3Place;
  readonly cleanup: S3UploadCleanup;
  /** The first part size (see S3Destination.partSizeFor). */
  readonly partSize: number;
  readonly queueSize: number;
  readonly maxParts: number;
  readonly objectParams: S3ObjectParams;
  /** See MultipartWriterParams.stallMs. */
  readonly stallMs: number;
}

function asError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}

function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error) return reason;
  return Object.assign(new Error('the write was aborted'), { name: 'AbortError', cause: reason });
}

export async function writeStreamed(
  setup: S3StreamedWrite,
  key: string,
  body: Readable,
  options: WriteOptions = {},
): Promise<WriteResult> {
  const { signal } = options;
  const objectKey = objectKeyIn(setup.place, key);
  let failure: { error: Error; fromStore: boolean } | undefined;
  const fail = (err: unknown, fromStore: boolean) => {
    failure ??= { error: asError(err), fromStore };
    // Destroying the body stops the writer reading it and, through its pipeline, the dump.
    if (!body.destroyed) body.destroy(failure.error);
  };
  // The cause of a failure is kept in `failure`; this keeps a late 'error' from going unhandled.
  body.on('error', () => {});
  const writer = new MultipartWriter({
    client: setup.client,
    bucket: setup.place.bucket,
    key: objectKey,
    contentType: options.contentType,
    partSize: setup.partSize,
    queueSize: setup.queueSize,
    signal,
    maxParts: setup.maxParts,
    objectParams: setup.objectParams,
    onRequestFailed: (err) => fail(err, true),
    stallMs: setup.stallMs,
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
      await setup.cleanup.abortUploadsOf(key, setup.cleanup.deadline()).catch(() => {});
    }
    return { bytes: writer.bytes, etag: output.etag, versionId: output.versionId };
  } catch (err) {
    fail(err, err instanceof TooManyPartsError);
    const cause = failure ?? { error: asError(err), fromStore: true };
    const leftover = await setup.cleanup.afterFailedWrite(key, writer);
    throw writeError(setup.place, cause.error, cause.fromStore, key, leftover);
  } finally {
    signal?.removeEventListener('abort', onAbort);
    writer.close();
  }
}

/** The error a failed write rejects with: the body's own error as is, S3 failures mapped. */
function writeError(
  place: S3Place,
  cause: Error,
  fromStore: boolean,
  key: string,
  leftover: string | undefined,
): Error {
  let error: Error = cause;
  if (fromStore) {
    const mapped = mapS3Error(place, cause, 'write', key);
    error = mapped instanceof Error ? mapped : cause;
  }
  if (leftover === undefined) return error;
  if (error instanceof StorageError) {
    return new StorageError(`${error.message}; ${leftover}`, { cause, permanent: error.permanent });
  }
  return new StorageError(`write of ${urlIn(place, key)} failed (${redact(error.message)}); ${leftover}`, {
    cause,
  });
}
