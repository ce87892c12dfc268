/**
 * S3Destination.removeMany against aws-sdk-client-mock, asserting the exact DeleteObjects
 * requests: s3rver answers every DeleteObjects with all keys deleted, so the split into
 * requests of 1000 keys and the per-key errors of an answer can only be checked here.
 */
import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  type DeleteObjectsCommandInput,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import type { GcsDestinationConfig } from '../../../core/config/schema.ts';
import { StorageError } from '../../../core/errors.ts';
import { createGcsDestination } from '../../../core/storage/gcs.ts';
import { withRetry } from '../../../core/storage/retry.ts';
import { S3Destination } from '../../../core/storage/s3.ts';
import { DELETE_OBJECTS_MAX_KEYS } from '../../../core/storage/s3-delete.ts';

const client = new S3Client({ region: 'eu-west-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
const s3 = mockClient(client);

const dest = () => new S3Destination({ name: 'offsite', bucket: 'dv', client, prefix: 'root/' });
const keysOf = (n: number) => Array.from({ length: n }, (_, i) => `app/obj-${String(i).padStart(5, '0')}`);
/** Answers each DeleteObjects with every key deleted, except those `errors` names. */
function answerDeleted(errors: Record<string, { Code: string; Message: string }> = {}) {
  s3.on(DeleteObjectsCommand).callsFake((input: DeleteObjectsCommandInput) => {
    const keys = input.Delete!.Objects!.map((o) => o.Key!);
    return {
      Deleted: keys.filter((k) => !errors[k]).map((Key) => ({ Key })),
      Errors: keys.filter((k) => errors[k]).map((Key) => ({ Key, ...errors[Key]! })),
    };
  });
}
const requests = () => s3.commandCalls(DeleteObjectsCommand).map((c) => c.args[0].input);

beforeEach(() => {
  s3.reset();
});

describe('S3Destination.removeMany', () => {
  // Bug caught: more than 1000 keys in one DeleteObjects (S3 refuses the whole request with
  // MalformedXML), keys sent without the destination's root, or a key dropped at a batch edge.
  it('splits 2500 keys into DeleteObjects requests of 1000, 1000 and 500, under the root, not quiet', async () => {
    answerDeleted();
    const keys = keysOf(2500);

    const failures = await dest().removeMany(keys);

    expect(failures).toEqual([]);
    expect(DELETE_OBJECTS_MAX_KEYS).toBe(1000);
    expect(requests().map((r) => r.Delete!.Objects!.length)).toEqual([1000, 1000, 500]);
    expect(requests().flatMap((r) => r.Delete!.Objects!.map((o) => o.Key))).toEqual(
      keys.map((k) => `root/${k}`),
    );
    for (const r of requests()) {
      expect(r).toMatchObject({ Bucket: 'dv', Delete: { Quiet: false } });
    }
    expect(s3.commandCalls(DeleteObjectCommand)).toHaveLength(0);
  });

  // Bug caught: DeleteObjects answers 200 with per-key errors; reading the status alone counts
  // a refused object as deleted (and prune then deletes its manifest).
  it('reports each key the answer lists under Errors, by key, and counts NoSuchKey as deleted', async () => {
    answerDeleted({
      'root/app/obj-01234': { Code: 'AccessDenied', Message: 'Access Denied' },
      'root/app/obj-02001': { Code: 'InternalError', Message: 'We encountered an internal error' },
      'root/app/obj-00007': { Code: 'NoSuchKey', Message: 'The specified key does not exist.' },
    });

    const failures = await dest().removeMany(keysOf(2500));

    expect(failures.map((f) => f.key)).toEqual(['app/obj-01234', 'app/obj-02001']);
    const [denied, internal] = failures.map((f) => f.error as StorageError);
    expect(denied).toBeInstanceOf(StorageError);
    expect(denied!.message).toBe(
      'could not remove s3://dv/root/app/obj-01234 at AWS (AccessDenied: Access Denied): grant the prune role s3:DeleteObject on it, or check its Object Lock (a locked version cannot be deleted)',
    );
    expect(denied!.permanent).toBe(true);
    expect(internal!.permanent).toBe(false);
  });

  // Bug caught: a key the answer names neither deleted nor failed taken as deleted.
  it('fails a key the answer does not mention', async () => {
    s3.on(DeleteObjectsCommand).resolves({ Deleted: [{ Key: 'root/app/a' }] });

    const failures = await dest().removeMany(['app/a', 'app/b']);

    expect(failures.map((f) => [f.key, (f.error as Error).message])).toEqual([
      [
        'app/b',
        "could not remove s3://dv/root/app/b at AWS: the store's DeleteObjects answer reported it neither deleted nor failed",
      ],
    ]);
  });

  // Bug caught: one failed request (403 on the whole batch) thrown away the other batches' results
  // or reported without the keys it concerned.
  it('fails every key of a request that failed as a whole, and still sends the next batch', async () => {
    s3.on(DeleteObjectsCommand)
      .rejectsOnce(
        new S3ServiceException({
          name: 'AccessDenied',
          $fault: 'client',
          $metadata: { httpStatusCode: 403 },
          message: 'Access Denied',
        }),
      )
      .callsFake((input: DeleteObjectsCommandInput) => ({
        Deleted: input.Delete!.Objects!.map((o) => ({ Key: o.Key })),
      }));

    const failures = await dest().removeMany(keysOf(1500));

    expect(requests()).toHaveLength(2);
    expect(failures).toHaveLength(1000);
    expect(failures[0]!.key).toBe('app/obj-00000');
    expect((failures[0]!.error as StorageError).permanent).toBe(true);
    expect((failures[0]!.error as Error).message).toMatch(
      /was denied \(403 AccessDenied when asked to remove app\/obj-00000\)/,
    );
  });

  // Bug caught: a retry wrapper that asks again for every key, or gives up on a transient
  // per-key error (SlowDown, InternalError) that the next attempt gets past.
  it('asks again, with retries, only for the keys that failed transiently', async () => {
    let call = 0;
    s3.on(DeleteObjectsCommand).callsFake((input: DeleteObjectsCommandInput) => {
      call++;
      const keys = input.Delete!.Objects!.map((o) => o.Key!);
      const slow = call === 1 ? ['root/app/b'] : [];
      const denied = ['root/app/c'];
      return {
        Deleted: keys.filter((k) => !slow.includes(k) && !denied.includes(k)).map((Key) => ({ Key })),
        Errors: [
          ...keys
            .filter((k) => slow.includes(k))
            .map((Key) => ({ Key, Code: 'SlowDown', Message: 'Reduce your request rate.' })),
          ...keys
            .filter((k) => denied.includes(k))
            .map((Key) => ({ Key, Code: 'AccessDenied', Message: 'Access Denied' })),
        ],
      };
    });
    const retried = withRetry(dest(), { attempts: 3, baseDelayMs: 1, sleep: async () => {} });

    const failures = await retried.removeMany!(['app/a', 'app/b', 'app/c']);

    expect(requests().map((r) => r.Delete!.Objects!.map((o) => o.Key))).toEqual([
      ['root/app/a', 'root/app/b', 'root/app/c'],
      ['root/app/b'],
    ]);
    expect(failures.map((f) => f.key)).toEqual(['app/c']);
  });
});

describe('GCS removeMany', () => {
  // Bug caught: DeleteObjects sent to GCS, whose XML API has no multi-object delete (every
  // prune of a gcs destination would fail).
  it('sends one DeleteObject per key and no DeleteObjects', async () => {
    s3.on(DeleteObjectCommand).resolves({});
    const config: GcsDestinationConfig = {
      type: 'gcs',
      bucket: 'dv-gcs',
      prefix: '',
      partSizeMiB: 8,
      queueSize: 2,
    };
    const gcs = createGcsDestination('far', config, { prefix: 'p/', client });

    expect(await gcs.removeMany(['app/a', 'app/b'])).toEqual([]);

    expect(s3.commandCalls(DeleteObjectsCommand)).toHaveLength(0);
    expect(s3.commandCalls(DeleteObjectCommand).map((c) => c.args[0].input)).toEqual([
      { Bucket: 'dv-gcs', Key: 'p/app/a' },
      { Bucket: 'dv-gcs', Key: 'p/app/b' },
    ]);
  });
});
