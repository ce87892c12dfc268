/**
 * Batch deletes of an S3 destination: DeleteObjects, up to 1000 keys a request (S3's limit).
 * S3 answers 200 for a request whose keys partly failed and lists the failures per key in the
 * response: each becomes a failure of its key, never a success. A key the response names
 * neither deleted nor failed is a failure too, so nothing is counted gone on a store's silence.
 */
import { DeleteObjectsCommand, type S3Client } from '@aws-sdk/client-s3';
import { StorageError } from '../errors.ts';
import { redact } from '../redact.ts';
import type { RemoveFailure } from './destination.ts';
import { mapS3Error, objectKeyIn, type S3Place, urlIn } from './s3-errors.ts';

/** The most keys one DeleteObjects request may carry. */
export const DELETE_OBJECTS_MAX_KEYS = 1000;

/** Per-key error codes of DeleteObjects that a later attempt can get past. */
const TRANSIENT_CODES = new Set([
  'InternalError',
  'SlowDown',
  'ServiceUnavailable',
  'RequestTimeout',
  'OperationAborted',
]);

/** The failure of `key` as DeleteObjects reported it (`code`, `message`), naming what to fix. */
export function deleteFailure(place: S3Place, key: string, code: string, message: string): StorageError {
  const url = urlIn(place, key);
  const answer = `${code}${message ? `: ${message}` : ''}`;
  const fix =
    code === 'AccessDenied'
      ? `: grant the prune role s3:DeleteObject on it, or check its Object Lock (a locked version cannot be deleted)`
      : '';
  return new StorageError(redact(`could not remove ${url} at ${place.where} (${answer})${fix}`), {
    permanent: !TRANSIENT_CODES.has(code),
  });
}

/**
 * Deletes `keys` (relative to the place's root) with DeleteObjects, `batchSize` keys a request,
 * one request after another. Resolves with the keys not deleted and why; a missing key is
 * deleted (S3 reports it so). A request that fails as a whole fails each of its keys.
 */
export async function deleteObjectsInBatches(
  client: S3Client,
  place: S3Place,
  keys: readonly string[],
  batchSize = DELETE_OBJECTS_MAX_KEYS,
): Promise<RemoveFailure[]> {
  const unique = [...new Set(keys)];
  const failures: RemoveFailure[] = [];
  for (let start = 0; start < unique.length; start += batchSize) {
    const batch = unique.slice(start, start + batchSize);
    const relative = new Map(batch.map((key) => [objectKeyIn(place, key), key]));
    let output: Awaited<ReturnType<typeof sendDelete>>;
    try {
      output = await sendDelete(client, place.bucket, [...relative.keys()]);
    } catch (err) {
      for (const key of batch) failures.push({ key, error: mapS3Error(place, err, 'remove', key) });
      continue;
    }
    const unanswered = new Set(relative.keys());
    for (const deleted of output.Deleted ?? []) if (deleted.Key !== undefined) unanswered.delete(deleted.Key);
    for (const error of output.Errors ?? []) {
      const key = error.Key === undefined ? undefined : relative.get(error.Key);
      if (key === undefined || !unanswered.delete(error.Key!)) continue;
      if (error.Code === 'NoSuchKey') continue;
      failures.push({ key, error: deleteFailure(place, key, error.Code ?? 'Error', error.Message ?? '') });
    }
    for (const objectKey of unanswered) {
      const key = relative.get(objectKey)!;
      failures.push({
        key,
        error: new StorageError(
          `could not remove ${urlIn(place, key)} at ${place.where}: the store's DeleteObjects answer reported it neither deleted nor failed`,
        ),
      });
    }
  }
  return failures;
}

function sendDelete(client: S3Client, bucket: string, objectKeys: string[]) {
  return client.send(
    new DeleteObjectsCommand({
      Bucket: bucket,
      // Not quiet: a key counts as deleted only when the answer says so.
      Delete: { Objects: objectKeys.map((Key) => ({ Key })), Quiet: false },
    }),
  );
}
