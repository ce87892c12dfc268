import { createHash, randomBytes } from 'node:crypto';
import { EventEmitter, once } from 'node:events';
import { PassThrough, Readable } from 'node:stream';
import { setImmediate as idle } from 'node:timers/promises';
import {
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  ListObjectsV2Command,
  type S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NotFoundError, StorageError } from '../../../core/errors.ts';
import { clearSecrets, registerSecret } from '../../../core/redact.ts';
import { createDestination } from '../../../core/storage/index.ts';
import { MultipartWriter } from '../../../core/storage/multipart.ts';
import { S3Destination, type S3DestinationOptions } from '../../../core/storage/s3.ts';
import { describeDestination, digest, feed, MiB, randomBody } from '../../support/destination-suite.ts';
import { type S3rverHandle, s3rverClient, startS3rver } from '../../support/s3rver.ts';

let s3: S3rverHandle;
let buckets = 0;

beforeAll(async () => {
  s3 = await startS3rver({ buckets: [] });
});
afterAll(async () => {
  await s3.stop();
});

/** Emits 'failed' each time a `command` request of `client` fails (one attempt each with maxAttempts 1). */
function failedAttemptsOf(client: S3Client, command: string): EventEmitter {
  const attempts = new EventEmitter();
  client.middlewareStack.add(
    (next, context) => async (args) => {
      try {
        return await next(args);
      } catch (err) {
        if (context.commandName === command) attempts.emit('failed', err);
        throw err;
      }
    },
    { step: 'initialize', name: `failedAttemptsOf${command}` },
  );
  return attempts;
}

async function freshBucket(): Promise<string> {
  const bucket = `bucket-${++buckets}`;
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

describeDestination('S3Destination on s3rver', async () => {
  const bucket = await freshBucket();
  return {
    destination: s3Destination(bucket),
    leftovers: () => s3.pendingUploads(bucket),
    dispose: async () => {},
  };
});

describeDestination('S3Destination from createDestination (root prefix, retry wrapper)', async () => {
  const bucket = await freshBucket();
  const destination = createDestination(
    'offsite',
    { type: 's3', bucket, endpoint: s3.endpoint, prefix: 'dumpvault', partSizeMiB: 5, queueSize: 2 },
    { baseDir: '/', s3Client: s3.client },
  );
  return { destination, leftovers: () => s3.pendingUploads(bucket), dispose: async () => {} };
});

describe('S3 object settings (serverSideEncryption, storageClass, tags)', () => {
  // Bug caught: a destination's SSE, storage class or tags set in the config but never sent,
  // so a "GLACIER_IR, KMS-encrypted, tagged" off-site copy is in fact STANDARD and untagged.
  it('sends them on the probe, on every multipart upload and on every PutObject', async () => {
    const bucket = await freshBucket();
    const dest = createDestination(
      'archive',
      {
        type: 's3',
        bucket,
        prefix: '',
        endpoint: s3.endpoint,
        partSizeMiB: 5,
        queueSize: 2,
        serverSideEncryption: { type: 'SSE-KMS', kmsKeyId: 'alias/backups', bucketKey: true },
        storageClass: 'STANDARD_IA', // s3rver knows no GLACIER_IR; the config test covers the name
        tags: { team: 'db', 'cost center': 'ops&infra' },
      },
      { baseDir: '/', s3Client: s3.client },
    );
    const seen = s3.requests.length;

    await dest.checkWritable('app/');
    await dest.write('app/big.sql.zst', randomBody(6 * MiB).body);
    await dest.put('app/big.manifest.json', '{}');
    await dest.write('app/small.sql.zst', Readable.from([Buffer.from('tiny')]));

    const writes = s3.requests
      .slice(seen)
      .filter(
        (r) =>
          (r.method === 'POST' && 'uploads' in r.query) || (r.method === 'PUT' && !('partNumber' in r.query)),
      );
    expect(writes.map((r) => `${r.method} ${r.path.split('/').at(-1)}`)).toEqual([
      expect.stringMatching(/^POST \.dumpvault-probe-/),
      'POST big.sql.zst',
      'PUT big.manifest.json',
      'PUT small.sql.zst',
    ]);
    for (const request of writes) {
      expect(request.headers).toMatchObject({
        'x-amz-server-side-encryption': 'aws:kms',
        'x-amz-server-side-encryption-aws-kms-key-id': 'alias/backups',
        'x-amz-server-side-encryption-bucket-key-enabled': 'true',
        'x-amz-storage-class': 'STANDARD_IA',
        'x-amz-tagging': 'team=db&cost+center=ops%26infra',
      });
    }
  });

  it('locks every object it writes (probe, multipart create, PutObject) until the write time + days, and stat reports it', async () => {
    // Bug caught: a destination's objectLock never sent, or sent on the manifest only (the
    // multipart Create carries its own headers), so the off-site copy can be deleted at once.
    const bucket = await freshBucket();
    const writtenAt = new Date('2026-11-22T03:00:00.000Z');
    const dest = s3Destination(bucket, {
      objectSettings: { objectLock: { mode: 'COMPLIANCE', days: 30 } },
      now: () => writtenAt,
    });
    const seen = s3.requests.length;

    await dest.checkWritable('app/');
    await dest.write('app/big.sql.zst', randomBody(6 * MiB).body);
    await dest.put('app/big.manifest.json', '{}');
    await dest.write('app/small.sql.zst', Readable.from([Buffer.from('tiny')]));

    const writes = s3.requests
      .slice(seen)
      .filter(
        (r) =>
          (r.method === 'POST' && 'uploads' in r.query) || (r.method === 'PUT' && !('partNumber' in r.query)),
      );
    expect(writes).toHaveLength(4);
    for (const request of writes) {
      expect(request.headers).toMatchObject({
        'x-amz-object-lock-mode': 'COMPLIANCE',
        'x-amz-object-lock-retain-until-date': '2026-12-22T03:00:00Z',
        // S3 takes a lock only with a body checksum: Content-MD5 on whole objects.
        ...(request.method === 'PUT' && { 'content-md5': expect.any(String) }),
      });
    }
    // s3rver keeps no locks; the harness reports the ones it was sent, as S3's HeadObject does.
    expect((await dest.stat('app/big.sql.zst')).retainUntil).toEqual(new Date('2026-12-22T03:00:00.000Z'));
    expect((await s3Destination(bucket).stat('app/small.sql.zst')).retainUntil).toEqual(
      new Date('2026-12-22T03:00:00.000Z'),
    );
  });

  it('sends SSE-S3 as AES256, and nothing when no setting is given', async () => {
    const bucket = await freshBucket();
    const plain = createDestination(
      'plain',
      { type: 's3', bucket, prefix: '', endpoint: s3.endpoint, partSizeMiB: 5, queueSize: 2 },
      { baseDir: '/', s3Client: s3.client },
    );
    const sse = createDestination(
      'sse',
      {
        type: 's3',
        bucket,
        prefix: '',
        endpoint: s3.endpoint,
        partSizeMiB: 5,
        queueSize: 2,
        serverSideEncryption: { type: 'SSE-S3' },
      },
      { baseDir: '/', s3Client: s3.client },
    );
    const seen = s3.requests.length;
    await plain.put('a.json', '{}');
    await sse.put('b.json', '{}');
    const [a, b] = s3.requests.slice(seen).filter((r) => r.method === 'PUT');
    expect(Object.keys(a!.headers).filter((h) => /encryption|storage-class|tagging/.test(h))).toEqual([]);
    expect(b!.headers['x-amz-server-side-encryption']).toBe('AES256');
  });
});

describe('S3Destination', () => {
  it("removeUnfinished aborts the pending uploads of the keys under a prefix (a killed backup's), and no others", async () => {
    // Prepare: uploads a backup killed mid-upload leaves, beside another run's, under a root prefix.
    const bucket = await freshBucket();
    const dest = createDestination(
      'offsite',
      { type: 's3', bucket, endpoint: s3.endpoint, prefix: 'dumpvault', partSizeMiB: 5, queueSize: 2 },
      { baseDir: '/', s3Client: s3.client },
    );
    for (const key of [
      'dumpvault/app/2026-12-01T030000Z-aaa.sql.gz',
      'dumpvault/app/2026-12-01T030000Z-aaa.manifest.json',
      'dumpvault/app/2026-12-02T030000Z-bbb.sql.gz',
    ]) {
      await s3.client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
    }

    // Act
    const removed = await dest.removeUnfinished!('app/2026-12-01T030000Z-aaa.');

    // Assess
    expect(removed.sort()).toEqual([
      `s3://${bucket}/dumpvault/app/2026-12-01T030000Z-aaa.manifest.json`,
      `s3://${bucket}/dumpvault/app/2026-12-01T030000Z-aaa.sql.gz`,
    ]);
    expect(await s3.pendingUploads(bucket)).toEqual(['dumpvault/app/2026-12-02T030000Z-bbb.sql.gz']);
  });

  it('checks writability without writing or deleting an object: list, start and abort a multipart upload', async () => {
    const bucket = await freshBucket();
    const dest = s3Destination(bucket);
    const before = s3.requests.length;

    await dest.checkWritable('job/');

    const sent = s3.requests.slice(before).map((r) => {
      const kind =
        'uploads' in r.query
          ? 'CreateMultipartUpload'
          : 'uploadId' in r.query
            ? 'AbortMultipartUpload'
            : 'list-type' in r.query
              ? 'ListObjectsV2'
              : `${r.method}`;
      return `${kind} ${r.status}`;
    });
    expect(sent).toEqual(['ListObjectsV2 200', 'CreateMultipartUpload 200', 'AbortMultipartUpload 204']);
    expect(await s3.pendingUploads(bucket)).toEqual([]);
    const listed = await s3.client.send(new ListObjectsV2Command({ Bucket: bucket }));
    expect(listed.Contents ?? []).toEqual([]);
  });

  it('names the probe upload it could not abort, with its id, when the abort is refused', async () => {
    const bucket = await freshBucket();
    const dest = s3Destination(bucket);
    const refusal = s3.failRequests((r) => r.method === 'DELETE' && 'uploadId' in r.query, {
      status: 403,
      code: 'AccessDenied',
    });

    const error = (await dest.checkWritable('job/').then(
      () => undefined,
      (err: unknown) => err,
    )) as Error;
    refusal.restore();

    const [pending] = await s3.pendingUploads(bucket);
    expect(error).toBeInstanceOf(StorageError);
    expect(error.message).toMatch(
      new RegExp(
        `^upload s3://${bucket}/${pending} \\(upload id [^)]+\\) could not be aborted: access to s3://${bucket}/ at http:\\S+ was denied \\(403 AccessDenied when asked to abort the upload of ${pending}\\): .*; the bucket's AbortIncompleteMultipartUpload lifecycle rule removes it$`,
      ),
    );
  });

  it('sends AbortMultipartUpload for the started upload when the body fails after a part was stored', async () => {
    const bucket = await freshBucket();
    const dest = s3Destination(bucket);
    const body = new PassThrough();
    const writing = dest.write('job/x.sql.gz', body);
    writing.catch(() => {});
    const requestsFor = () => s3.requests.filter((r) => r.path === `/${bucket}/job/x.sql.gz`);
    await feed(body, 6 * MiB);
    await s3.nextRequest(
      (r) => r.path === `/${bucket}/job/x.sql.gz` && r.query['partNumber'] === '1' && r.status === 200,
    );
    const boom = new Error('mysqldump: Got error 2013');

    body.destroy(boom);

    await expect(writing).rejects.toBe(boom);
    const aborts = requestsFor().filter((r) => r.method === 'DELETE' && r.query['uploadId'] !== undefined);
    expect(aborts.map((r) => r.status)).toContain(204);
    expect(requestsFor().some((r) => r.method === 'POST' && r.query['uploadId'] !== undefined)).toBe(false);
    expect(await s3.pendingUploads(bucket)).toEqual([]);
    await expect(dest.stat('job/x.sql.gz')).rejects.toBeInstanceOf(NotFoundError);
  });

  it('stores keys under its root prefix and lists them relative to it', async () => {
    const bucket = await freshBucket();
    const dest = s3Destination(bucket, { prefix: 'team/backups' });

    await dest.put('job/a.manifest.json', '{}');

    const raw = await s3.client.send(new ListObjectsV2Command({ Bucket: bucket }));
    expect(raw.Contents?.map((o) => o.Key)).toEqual(['team/backups/job/a.manifest.json']);
    expect((await dest.list('')).map((o) => o.key)).toEqual(['job/a.manifest.json']);
    expect(dest.description).toBe(`s3://${bucket}/team/backups/ at ${s3.endpoint}`);
  });

  it('rejects, and leaves no object and no pending upload, when the store goes away mid-upload and comes back', async () => {
    const bucket = await freshBucket();
    // One attempt per request so the outage is noticed at once; the abort keeps trying until the store is back.
    const client = s3rverClient(s3.endpoint, { maxAttempts: 1 });
    const dest = s3Destination(bucket, {
      client,
      abortRetry: { attempts: 40, baseDelayMs: 100, maxDelayMs: 500 },
    });
    const abortAttempts = failedAttemptsOf(client, 'AbortMultipartUploadCommand');
    const body = new PassThrough();
    const writing = dest.write('job/outage.dump', body);
    writing.catch(() => {});

    await feed(body, 6 * MiB);
    await s3.nextRequest(
      (r) => r.path === `/${bucket}/job/outage.dump` && r.query['partNumber'] === '1' && r.status === 200,
    );
    await s3.interrupt();
    const feeding = feed(body, 6 * MiB);
    // The write destroys its body once part 2 failed; the store stays away until an
    // AbortMultipartUpload attempt has failed too, so the abort must be retried.
    await once(abortAttempts, 'failed');
    await s3.restart();

    const error = await writing.then(
      () => undefined,
      (err: unknown) => err,
    );
    await feeding;
    expect(error).toBeInstanceOf(StorageError);
    expect((error as StorageError).permanent).toBe(false);
    expect((error as StorageError).message).toMatch(
      /^could not write s3:\/\/bucket-\d+\/job\/outage\.dump at http:\S+ \(/,
    );
    const aborts = s3.requests.filter(
      (r) => r.path === `/${bucket}/job/outage.dump` && r.method === 'DELETE',
    );
    expect(aborts.map((r) => r.status)).toContain(204);
    expect((error as StorageError).message).not.toMatch(/could not be aborted/);
    expect(body.destroyed).toBe(true);
    expect(await s3.pendingUploads(bucket)).toEqual([]);
    await expect(dest.stat('job/outage.dump')).rejects.toBeInstanceOf(NotFoundError);
    expect(await dest.list('')).toEqual([]);
    client.destroy();
  });

  it('aborts the uploads the store made when every CreateMultipartUpload answer was lost', async () => {
    const bucket = await freshBucket();
    // Two attempts: the SDK's retry makes a second upload whose answer is lost too.
    const client = s3rverClient(s3.endpoint, { maxAttempts: 2 });
    const dest = s3Destination(bucket, { client, abortRetry: { attempts: 3, baseDelayMs: 10 } });
    const lost = s3.loseCreateAnswers();

    const error = await dest
      .write('job/lost.dump', randomBody(12 * MiB).body)
      .then(
        () => undefined,
        (err: unknown) => err,
      )
      .finally(() => lost.restore());

    expect(error).toBeInstanceOf(StorageError);
    expect((error as StorageError).message).toMatch(
      /^could not write s3:\/\/bucket-\d+\/job\/lost\.dump at http:\S+ \(/,
    );
    expect((error as StorageError).message).not.toMatch(/could not be/);
    const creates = s3.requests.filter(
      (r) => r.path === `/${bucket}/job/lost.dump` && r.method === 'POST' && 'uploads' in r.query,
    );
    expect(creates).toHaveLength(2);
    const aborts = s3.requests.filter((r) => r.path === `/${bucket}/job/lost.dump` && r.method === 'DELETE');
    expect(aborts.map((r) => r.status)).toEqual([204, 204]);
    expect(await s3.pendingUploads(bucket)).toEqual([]);
    expect(await dest.list('')).toEqual([]);
    client.destroy();
  });

  it('aborts the upload a retried CreateMultipartUpload left behind once the object is complete', async () => {
    const bucket = await freshBucket();
    const client = s3rverClient(s3.endpoint, { maxAttempts: 2 });
    const dest = s3Destination(bucket, { client });
    const lost = s3.loseCreateAnswers(1);
    const { body, sha256 } = randomBody(12 * MiB);

    const result = await dest.write('job/retried.dump', body).finally(() => lost.restore());

    expect(result.bytes).toBe(12 * MiB);
    const creates = s3.requests.filter(
      (r) => r.path === `/${bucket}/job/retried.dump` && r.method === 'POST' && 'uploads' in r.query,
    );
    expect(creates).toHaveLength(2); // the one whose answer was lost, and the SDK's retry
    expect(await s3.pendingUploads(bucket)).toEqual([]);
    expect(await digest(await dest.read('job/retried.dump'))).toEqual({ sha256: sha256(), bytes: 12 * MiB });
    client.destroy();
  });

  it('stores an object whose parts grew on the way byte for byte', async () => {
    const bucket = await freshBucket();
    const { body, sha256 } = randomBody(33 * MiB);
    const writer = new MultipartWriter({
      client: s3.client,
      bucket,
      key: 'job/grown.dump',
      partSize: 5 * MiB,
      queueSize: 2,
      growEvery: 1,
    });

    await writer.write(body);

    const parts = s3.requests.filter(
      (r) => r.path === `/${bucket}/job/grown.dump` && 'partNumber' in r.query,
    );
    expect(parts).toHaveLength(3); // 5 + 10 + the last 18 MiB
    expect(await digest(await s3Destination(bucket).read('job/grown.dump'))).toEqual({
      sha256: sha256(),
      bytes: 33 * MiB,
    });
  });

  it('reads no more than queueSize + 1 parts ahead of what the store has accepted', async () => {
    const bucket = await freshBucket();
    const dest = s3Destination(bucket, { partSizeBytes: 5 * MiB, queueSize: 2 });
    const hash = createHash('sha256');
    let pulled = 0;
    const total = 64 * MiB;
    const body = new Readable({
      highWaterMark: MiB,
      read() {
        if (pulled >= total) return void this.push(null);
        const chunk = randomBytes(MiB);
        hash.update(chunk);
        pulled += chunk.byteLength;
        this.push(chunk);
      },
    });
    const hold = s3.holdPartUploads();

    const writing = dest.write('job/big.dump', body);
    // Once s3rver holds part 2, queueSize parts are on the wire. The writer filled its next buffer
    // in the ticks after sending part 2, long before that request crossed the socket (the body is
    // in memory), and reads nothing more until a part is answered; `idle` lets any tick still
    // queued run. A writer reading further ahead (bug: a slot too many, or not waiting for one)
    // has read more by then.
    await s3.nextRequest((r) => r.path === `/${bucket}/job/big.dump` && r.query['partNumber'] === '2');
    await idle();
    const pulledWhileHeld = pulled;
    hold.release();
    const result = await writing;

    // queueSize parts on the wire, one full buffer waiting for a slot, and the body's own read-ahead.
    expect(pulledWhileHeld).toBeLessThanOrEqual((2 + 1) * 5 * MiB + MiB);
    expect(result.bytes).toBe(total);
    expect(await digest(await dest.read('job/big.dump'))).toEqual({
      sha256: hash.digest('hex'),
      bytes: total,
    });
  });

  it('starts with bigger parts when the upload would not hold four times the expected object', async () => {
    const bucket = await freshBucket();
    const sent: string[] = [];
    const client = new Proxy(s3.client, {
      get(target, property, receiver) {
        if (property !== 'send') return Reflect.get(target, property, receiver);
        return (command: { constructor: { name: string } }) => {
          sent.push(command.constructor.name);
          return target.send(command as never);
        };
      },
    });
    const dest = s3Destination(bucket, { partSizeBytes: 5 * MiB, client });
    const body = () => Readable.from([randomBytes(6 * MiB), randomBytes(6 * MiB)]);

    await dest.write('job/small-parts.dump', body());
    const configuredParts = sent.filter((c) => c === 'UploadPartCommand').length;
    sent.length = 0;
    // Four times 200 GB in 10,000 parts doubling every 2,000: 13 MiB first parts, so 12 MiB goes up in one request.
    const sized = await dest.write('job/sized-parts.dump', body(), { expectedBytes: 200e9 });

    expect(configuredParts).toBe(3);
    expect(sent).toEqual(['PutObjectCommand']);
    expect(sized.bytes).toBe(12 * MiB);
    expect(dest.partSizeFor(undefined)).toBe(5 * MiB);
    expect(dest.partSizeFor(1e9)).toBe(5 * MiB);
    expect(dest.partSizeFor(40e9)).toBe(5 * MiB);
    expect(dest.partSizeFor(200e9)).toBe(13 * MiB);
    expect(dest.partSizeFor(1e15)).toBe(5 * 1024 * MiB);
  });

  describe('refusals that name what to fix', () => {
    it('fails with a permanent one-sentence StorageError when the access key id is unknown', async () => {
      const bucket = await freshBucket();
      const client = s3rverClient(s3.endpoint, {
        credentials: { accessKeyId: 'AKIAWRONGKEY', secretAccessKey: 'not-the-secret' },
      });
      const dest = s3Destination(bucket, { client });
      const expected = `the access key id of destinations.offsite is not known at ${s3.endpoint} (403 InvalidAccessKeyId): fix the credentials of destinations.offsite (accessKeyIdEnv, credentialsSecret or the task role)`;

      for (const attempt of [
        () => dest.put('job/m.json', '{}'),
        () => dest.list('job/'),
        () => dest.checkWritable('job/'),
        () => dest.write('job/d', randomBody(6 * MiB).body),
      ]) {
        await expect(attempt()).rejects.toSatisfy(
          (err: unknown) => err instanceof StorageError && err.permanent && err.message === expected,
        );
      }
      client.destroy();
    });

    it('is not retried by the wrapper, and never shows the credentials', async () => {
      const bucket = await freshBucket();
      registerSecret('not-the-secret-value');
      const dest = createDestination(
        'offsite',
        { type: 's3', bucket, endpoint: s3.endpoint, prefix: '', partSizeMiB: 5, queueSize: 2 },
        {
          baseDir: '/',
          s3Credentials: { accessKeyId: 'AKIAWRONGKEY', secretAccessKey: 'not-the-secret-value' },
        },
      );
      const before = s3.requests.length;

      const error = await dest.put('job/m.json', '{}').catch((err: unknown) => err);

      expect(error).toBeInstanceOf(StorageError);
      expect(s3.requests.length - before).toBe(1);
      for (const text of [dest.description, (error as Error).message]) {
        expect(text).not.toContain('not-the-secret-value');
        expect(text).not.toContain('AKIAWRONGKEY');
      }
      clearSecrets();
    });

    it('fails with a permanent StorageError naming the bucket setting when the bucket does not exist', async () => {
      const dest = s3Destination('no-such-bucket');
      const expected = `bucket no-such-bucket does not exist at ${s3.endpoint} (404 NoSuchBucket): create it or fix destinations.offsite.bucket`;

      for (const attempt of [
        () => dest.checkWritable('job/'),
        () => dest.put('job/m.json', '{}'),
        () => dest.read('job/m.json'),
        () => dest.write('job/d', Readable.from([Buffer.from('small')])),
      ]) {
        await expect(attempt()).rejects.toSatisfy(
          (err: unknown) => err instanceof StorageError && err.permanent && err.message === expected,
        );
      }
    });
  });
});
