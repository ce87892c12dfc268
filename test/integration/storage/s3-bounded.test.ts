/**
 * Every wait on an S3 store is bounded (DESIGN.md §6): a store that accepts connections and
 * never answers, one that answers some calls and holds others, and one that does not even
 * answer the clean-up. Real SDK, real HTTP: s3rver with requests held at its door, and a bare
 * TCP server that accepts and says nothing.
 */
import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NotFoundError, StorageError } from '../../../core/errors.ts';
import { S3Destination, type S3DestinationOptions } from '../../../core/storage/s3.ts';
import { s3ClientConfig } from '../../../core/storage/s3-client.ts';
import { feed, MiB } from '../../support/destination-suite.ts';
import { S3_CALLS, S3RVER_CREDENTIALS, type S3rverHandle, startS3rver } from '../../support/s3rver.ts';

let s3: S3rverHandle;
let buckets = 0;

beforeAll(async () => {
  s3 = await startS3rver({ buckets: [] });
});
afterAll(async () => {
  await s3.stop();
});

async function freshBucket(): Promise<string> {
  const bucket = `bounded-${++buckets}`;
  await s3.client.send(new CreateBucketCommand({ Bucket: bucket }));
  return bucket;
}

function s3Destination(bucket: string, options: Partial<S3DestinationOptions> = {}): S3Destination {
  return new S3Destination({
    name: 'offsite',
    bucket,
    client: s3.client,
    endpoint: s3.endpoint,
    partSizeBytes: 5 * MiB,
    queueSize: 2,
    ...options,
  });
}

/** Writes `bytes` to `key` and settles with the write's error (or undefined) and how long it took. */
async function timedWrite(
  dest: S3Destination,
  key: string,
  bytes: number,
): Promise<{ error: unknown; seconds: number }> {
  const started = Date.now();
  const body = new PassThrough();
  const writing = dest.write(key, body);
  // The body is fed as far as the write reads it; a write that failed has destroyed it.
  void feed(body, bytes).then(
    () => body.end(),
    () => {},
  );
  const error = await writing.then(
    () => undefined,
    (err: unknown) => err,
  );
  return { error, seconds: (Date.now() - started) / 1000 };
}

/** The pending multipart uploads of `key` (a held part released after the abort can leave s3rver a nameless one). */
async function pendingOf(bucket: string, key: string): Promise<string[]> {
  return (await s3.pendingUploads(bucket)).filter((k) => k === key);
}

describe('S3Destination.write against a store that stops answering', () => {
  it('fails with "destination offsite: no progress for 1.5 s" and aborts the upload when UploadPart is never answered', async () => {
    const bucket = await freshBucket();
    const hold = s3.holdRequests(S3_CALLS.uploadPart);
    try {
      const { error, seconds } = await timedWrite(
        s3Destination(bucket, { stallTimeoutMs: 1500 }),
        'job/stalled.dump',
        12 * MiB,
      );

      expect(error).toBeInstanceOf(StorageError);
      expect((error as Error).message).toBe('destination offsite: no progress for 1.5 s');
      // Bounded: the stall timeout, the watch's tick and the abort, not the SDK's retries.
      expect(seconds).toBeLessThan(15);
    } finally {
      hold.release();
    }
    expect(await pendingOf(bucket, 'job/stalled.dump')).toEqual([]);
    await expect(s3Destination(bucket).stat('job/stalled.dump')).rejects.toBeInstanceOf(NotFoundError);
  });

  it('cancels a CompleteMultipartUpload that is never answered, and removes whatever it may have made', async () => {
    const bucket = await freshBucket();
    const hold = s3.holdRequests(S3_CALLS.completeMultipartUpload);
    try {
      // Long enough that the parts are surely stored first on a busy machine.
      const { error, seconds } = await timedWrite(
        s3Destination(bucket, { stallTimeoutMs: 4000 }),
        'job/complete.dump',
        7 * MiB,
      );

      expect((error as Error).message).toBe('destination offsite: no progress for 4 s');
      expect(seconds).toBeLessThan(15);
    } finally {
      hold.release();
    }
    const calls = s3.requests.filter((r) => r.path === `/${bucket}/job/complete.dump`);
    expect(calls.some((r) => S3_CALLS.abortMultipartUpload(r) && r.status === 204)).toBe(true);
    expect(calls.some((r) => r.method === 'DELETE' && r.query['uploadId'] === undefined)).toBe(true);
    expect(await pendingOf(bucket, 'job/complete.dump')).toEqual([]);
  });

  it('gives the clean-up a deadline of its own and names the upload it could not abort when the store answers nothing', async () => {
    const bucket = await freshBucket();
    const parts = s3.holdRequests(S3_CALLS.uploadPart);
    const aborts = s3.holdRequests(S3_CALLS.abortMultipartUpload);
    try {
      const { error, seconds } = await timedWrite(
        s3Destination(bucket, { stallTimeoutMs: 1000, cleanupTimeoutMs: 1500 }),
        'job/deaf.dump',
        12 * MiB,
      );

      expect((error as Error).message).toMatch(
        /^destination offsite: no progress for 1 s; upload s3:\/\/\S+\/job\/deaf\.dump \(upload id \S+\) could not be aborted: the store did not answer within 1\.5 s; the bucket's AbortIncompleteMultipartUpload lifecycle rule removes it$/,
      );
      expect(seconds).toBeLessThan(15);
    } finally {
      parts.release();
      aborts.release();
    }
  });
});

describe('S3 requests to a store that accepts connections and never answers', () => {
  let server: Server;
  let endpoint: string;
  const sockets = new Set<Socket>();

  beforeAll(async () => {
    // Reads whatever it is sent and never writes a byte back.
    server = createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.resume();
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    endpoint = `http://127.0.0.1:${address.port}`;
  });
  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });

  function deafDestination(requestTimeoutMs: number): { dest: S3Destination; client: S3Client } {
    const client = new S3Client({
      ...s3ClientConfig({ endpoint, credentials: S3RVER_CREDENTIALS, requestTimeoutMs }),
      maxAttempts: 2,
    });
    // The stall timeout is far away: the request timeout alone must end these waits.
    const dest = new S3Destination({
      name: 'offsite',
      bucket: 'b',
      client,
      endpoint,
      partSizeBytes: 5 * MiB,
      stallTimeoutMs: 600_000,
      cleanupTimeoutMs: 3000,
    });
    return { dest, client };
  }

  it('fails a put within the request timeout (times the attempts) and says the store stopped answering', async () => {
    const { dest, client } = deafDestination(800);
    const started = Date.now();

    const error = await dest.put('job/a.manifest.json', '{}').catch((err: unknown) => err);

    expect(error).toBeInstanceOf(StorageError);
    expect((error as Error).message).toMatch(
      /^destination offsite: the store at http:\/\/127\.0\.0\.1:\d+ stopped answering \(put of s3:\/\/b\/job\/a\.manifest\.json timed out\); check that it is up and reachable, or raise destinations\.offsite\.requestTimeoutSeconds$/,
    );
    expect((Date.now() - started) / 1000).toBeLessThan(15);
    client.destroy();
  });

  it('fails a write whose CreateMultipartUpload is never answered, without waiting for the stall timeout', async () => {
    const { dest, client } = deafDestination(800);
    const { error, seconds } = await timedWrite(dest, 'job/deaf.dump', 7 * MiB);

    expect((error as Error).message).toMatch(
      /^destination offsite: the store at \S+ stopped answering \(write of s3:\/\/b\/job\/deaf\.dump timed out\).*; an upload of s3:\/\/b\/job\/deaf\.dump the store may have made \(CreateMultipartUpload got no answer\) could not be looked for: the store did not answer within 3 s; the bucket's AbortIncompleteMultipartUpload lifecycle rule removes it$/,
    );
    // Two attempts of 0.8 s, then a clean-up that looks for the upload until its 3 s deadline.
    expect(seconds).toBeLessThan(20);
    client.destroy();
  });
});

describe('s3ClientConfig', () => {
  it('gives the request handler a connect timeout and an inactivity timeout, 10 s and 120 s by default', () => {
    expect(s3ClientConfig({}).requestHandler).toEqual({ connectionTimeout: 10_000, socketTimeout: 120_000 });
    expect(s3ClientConfig({ connectTimeoutMs: 2000, requestTimeoutMs: 5000 }).requestHandler).toEqual({
      connectionTimeout: 2000,
      socketTimeout: 5000,
    });
  });
});
