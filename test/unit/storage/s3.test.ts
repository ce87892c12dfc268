/**
 * S3Destination against aws-sdk-client-mock: the failure paths s3rver cannot produce on
 * demand (a part failing, an abort racing completion, an abort that never gets through),
 * list pagination (s3rver's continuation tokens need DES, which Node 20's OpenSSL refuses),
 * and the mapping of every S3 error to the error kind and message the operator sees.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { setImmediate as idle } from 'node:timers/promises';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { IntegrityError, NotFoundError, StorageError } from '../../../core/errors.ts';
import { S3Destination } from '../../../core/storage/s3.ts';
import { s3ClientConfig } from '../../../core/storage/s3-client.ts';

const MiB = 1024 * 1024;

function serviceError(name: string, status: number, message = `${name} happened`): S3ServiceException {
  return new S3ServiceException({
    name,
    $fault: status >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode: status },
    message,
  });
}

function networkError(code: string): Error {
  return Object.assign(new Error(`connect ${code} 10.0.0.1:443`), { code });
}

/** A body of `total` random bytes produced on demand, remembering how much was pulled. */
function countingBody(total: number) {
  const state = { pulled: 0 };
  const body = new Readable({
    highWaterMark: MiB,
    read() {
      if (state.pulled >= total) return void this.push(null);
      state.pulled += MiB;
      this.push(randomBytes(MiB));
    },
  });
  return { body, state };
}

const client = new S3Client({
  region: 'eu-west-1',
  credentials: { accessKeyId: 'AKIAUNIT', secretAccessKey: 'unit-secret' },
});
const s3 = mockClient(client);

function destination(overrides: Partial<ConstructorParameters<typeof S3Destination>[0]> = {}): S3Destination {
  return new S3Destination({
    name: 'offsite',
    bucket: 'b',
    prefix: 'root/',
    client,
    partSizeBytes: 5 * MiB,
    queueSize: 2,
    abortRetry: { attempts: 3, baseDelayMs: 1 },
    ...overrides,
  });
}

beforeEach(() => {
  s3.reset();
  s3.on(CreateMultipartUploadCommand).resolves({ UploadId: 'upload-1' });
  s3.on(UploadPartCommand).resolves({ ETag: '"part"' });
  s3.on(CompleteMultipartUploadCommand).resolves({ ETag: '"whole-2"' });
  s3.on(AbortMultipartUploadCommand).resolves({});
  s3.on(DeleteObjectCommand).resolves({});
  s3.on(PutObjectCommand).resolves({ ETag: '"small"' });
});

describe('S3Destination.write', () => {
  it('completes one multipart upload under the root prefix and reports the bytes written', async () => {
    const { body } = countingBody(12 * MiB);

    const result = await destination().write('job/a.dump', body, { contentType: 'application/octet-stream' });

    expect(result).toEqual({ bytes: 12 * MiB, etag: '"whole-2"', versionId: undefined });
    expect(s3.commandCalls(CreateMultipartUploadCommand)[0]?.args[0].input).toMatchObject({
      Bucket: 'b',
      Key: 'root/job/a.dump',
      ContentType: 'application/octet-stream',
    });
    expect(s3.commandCalls(UploadPartCommand)).toHaveLength(3);
    expect(s3.commandCalls(AbortMultipartUploadCommand)).toHaveLength(0);
  });

  it('stops reading the body and aborts the upload as soon as a part upload fails', async () => {
    s3.on(UploadPartCommand).callsFake((input: { PartNumber?: number }) =>
      input.PartNumber === 2
        ? Promise.reject(serviceError('SlowDown', 503))
        : Promise.resolve({ ETag: '"p"' }),
    );
    const { body, state } = countingBody(200 * MiB);

    const error = await destination()
      .write('job/a.dump', body)
      .catch((err: unknown) => err);

    expect(error).toBeInstanceOf(StorageError);
    expect((error as StorageError).permanent).toBe(false);
    expect((error as Error).message).toBe(
      'could not write s3://b/root/job/a.dump at AWS (503 SlowDown): SlowDown happened',
    );
    expect(state.pulled).toBeLessThan(40 * MiB);
    expect(body.destroyed).toBe(true);
    const aborts = s3.commandCalls(AbortMultipartUploadCommand).map((c) => c.args[0].input);
    expect(aborts.length).toBeGreaterThan(0);
    for (const input of aborts)
      expect(input).toEqual({ Bucket: 'b', Key: 'root/job/a.dump', UploadId: 'upload-1' });
    expect(s3.commandCalls(CompleteMultipartUploadCommand)).toHaveLength(0);
  });

  it('sends AbortMultipartUpload only after the parts in flight have settled', async () => {
    const order: string[] = [];
    let partOneSent!: () => void;
    const partOneOnWire = new Promise<void>((resolve) => (partOneSent = resolve));
    let releasePartOne!: () => void;
    const partOneReleased = new Promise<void>((resolve) => (releasePartOne = resolve));
    s3.on(UploadPartCommand).callsFake(async (input: { PartNumber?: number }) => {
      if (input.PartNumber === 1) partOneSent();
      // Part 1 stays on the wire until the test lets it go: an abort sent without waiting for
      // it would come first (bug: no `await writer.settled()` before the clean-up).
      if (input.PartNumber === 1) await partOneReleased;
      order.push(`part ${input.PartNumber} settled`);
      return { ETag: '"p"' };
    });
    s3.on(AbortMultipartUploadCommand).callsFake(async () => {
      order.push('abort');
      return {};
    });
    const controller = new AbortController();
    const { body } = countingBody(200 * MiB);
    const writing = destination().write('job/a.dump', body, { signal: controller.signal });
    await partOneOnWire;

    controller.abort();
    // Everything the abort sets off short of waiting for part 1 runs in ticks (the body is in
    // memory, the client mocked): by the check phase, a clean-up that did not wait has sent its abort.
    await idle();
    releasePartOne();

    await expect(writing).rejects.toMatchObject({ name: 'AbortError' });
    expect(order).toContain('part 1 settled');
    expect(order.indexOf('abort')).toBeGreaterThan(order.indexOf('part 1 settled'));
    expect(order.at(-1)).toBe('abort');
  });

  it('deletes the object when the signal aborts while the upload is being completed', async () => {
    const controller = new AbortController();
    s3.on(CompleteMultipartUploadCommand).callsFake(async () => {
      controller.abort();
      // The abort is handled while Complete is still out (its listener runs at once; `idle`
      // lets whatever it set off run too), and Complete then succeeds.
      await idle();
      return { ETag: '"whole"' };
    });
    const { body } = countingBody(12 * MiB);

    await expect(
      destination().write('job/a.dump', body, { signal: controller.signal }),
    ).rejects.toMatchObject({
      name: 'AbortError',
    });

    expect(s3.commandCalls(DeleteObjectCommand).map((c) => c.args[0].input)).toEqual([
      { Bucket: 'b', Key: 'root/job/a.dump' },
    ]);
  });

  it('names the multipart upload it could not abort, keeping the original cause', async () => {
    s3.on(AbortMultipartUploadCommand).rejects(networkError('ECONNREFUSED'));
    const { body } = countingBody(7 * MiB);
    const boom = new Error('pg_dump exited with code 1');
    const failing = Readable.from(
      (async function* () {
        for await (const chunk of body) yield chunk as Buffer;
        throw boom;
      })(),
    );

    const error = await destination()
      .write('job/a.dump', failing)
      .catch((err: unknown) => err);

    expect(error).toBeInstanceOf(StorageError);
    expect((error as StorageError).cause).toBe(boom);
    expect((error as Error).message).toMatch(
      /^write of s3:\/\/b\/root\/job\/a\.dump failed \(pg_dump exited with code 1\); upload s3:\/\/b\/root\/job\/a\.dump \(upload id upload-1\) could not be aborted: .*; the bucket's AbortIncompleteMultipartUpload lifecycle rule removes it$/,
    );
    expect(s3.commandCalls(AbortMultipartUploadCommand).length).toBeGreaterThanOrEqual(3);
  });

  it('asks for a larger part size when the upload runs out of parts, and aborts it', async () => {
    const { body } = countingBody(12 * MiB);

    const error = await destination({ maxParts: 2 })
      .write('job/huge.dump', body)
      .catch((err: unknown) => err);

    expect(error).toBeInstanceOf(StorageError);
    expect((error as StorageError).permanent).toBe(true);
    expect((error as Error).message).toBe(
      's3://b/root/job/huge.dump is larger than the 10 MiB that 2 parts starting at 5 MiB hold: raise destinations.offsite.partSizeMiB',
    );
    expect(s3.commandCalls(UploadPartCommand)).toHaveLength(2);
    expect(s3.commandCalls(AbortMultipartUploadCommand).map((c) => c.args[0].input)).toEqual([
      { Bucket: 'b', Key: 'root/job/huge.dump', UploadId: 'upload-1' },
    ]);
    expect(s3.commandCalls(CompleteMultipartUploadCommand)).toHaveLength(0);
  });

  it('looks for and aborts the uploads of the key when CreateMultipartUpload got no answer', async () => {
    s3.on(CreateMultipartUploadCommand).rejects(networkError('ECONNRESET'));
    s3.on(ListMultipartUploadsCommand)
      .resolvesOnce({
        Uploads: [
          { Key: 'root/job/a.dump', UploadId: 'lost-1' },
          { Key: 'root/job/a.dump.other', UploadId: 'not-ours' },
        ],
        IsTruncated: true,
        NextKeyMarker: 'root/job/a.dump',
        NextUploadIdMarker: 'lost-1',
      })
      .resolvesOnce({ Uploads: [{ Key: 'root/job/a.dump', UploadId: 'lost-2' }], IsTruncated: false });

    const error = await destination()
      .write('job/a.dump', countingBody(12 * MiB).body)
      .catch((err: unknown) => err);

    expect((error as Error).message).toBe(
      'could not write s3://b/root/job/a.dump at AWS (ECONNRESET): connect ECONNRESET 10.0.0.1:443',
    );
    expect(s3.commandCalls(ListMultipartUploadsCommand).map((c) => c.args[0].input)).toEqual([
      { Bucket: 'b', Prefix: 'root/job/a.dump', KeyMarker: undefined, UploadIdMarker: undefined },
      { Bucket: 'b', Prefix: 'root/job/a.dump', KeyMarker: 'root/job/a.dump', UploadIdMarker: 'lost-1' },
    ]);
    expect(s3.commandCalls(AbortMultipartUploadCommand).map((c) => c.args[0].input.UploadId)).toEqual([
      'lost-1',
      'lost-2',
    ]);
  });

  it('says so when the uploads of a CreateMultipartUpload without answer cannot be looked for', async () => {
    s3.on(CreateMultipartUploadCommand).rejects(networkError('ECONNRESET'));
    s3.on(ListMultipartUploadsCommand).rejects(serviceError('AccessDenied', 403));

    const error = await destination()
      .write('job/a.dump', countingBody(12 * MiB).body)
      .catch((err: unknown) => err);

    expect(error).toBeInstanceOf(StorageError);
    expect((error as Error).message).toMatch(
      /^could not write s3:\/\/b\/root\/job\/a\.dump at AWS \(ECONNRESET\): connect ECONNRESET 10\.0\.0\.1:443; an upload of s3:\/\/b\/root\/job\/a\.dump the store may have made \(CreateMultipartUpload got no answer\) could not be looked for: access to s3:\/\/b\/root\/ at AWS was denied/,
    );
  });

  it('does not look for uploads when the store refused CreateMultipartUpload outright', async () => {
    s3.on(CreateMultipartUploadCommand).rejects(serviceError('AccessDenied', 403));

    const error = await destination()
      .write('job/a.dump', countingBody(12 * MiB).body)
      .catch((err: unknown) => err);

    expect((error as StorageError).permanent).toBe(true);
    expect((error as Error).message).toMatch(
      /^access to s3:\/\/b\/root\/ at AWS was denied \(403 AccessDenied when asked to write job\/a\.dump\)/,
    );
    expect(s3.commandCalls(ListMultipartUploadsCommand)).toHaveLength(0);
    expect(s3.commandCalls(AbortMultipartUploadCommand)).toHaveLength(0);
  });

  it('writes a body smaller than one part with a single PutObject', async () => {
    const result = await destination().write('job/m', Readable.from([Buffer.from('tiny')]));

    expect(result.bytes).toBe(4);
    expect(s3.commandCalls(PutObjectCommand)).toHaveLength(1);
    expect(s3.commandCalls(CreateMultipartUploadCommand)).toHaveLength(0);
  });
});

describe('S3Destination requests', () => {
  it('puts small objects with a Content-MD5 the store can check', async () => {
    await destination().put('job/x.manifest.json', '{"a":1}', { contentType: 'application/json' });

    expect(s3.commandCalls(PutObjectCommand)[0]?.args[0].input).toMatchObject({
      Bucket: 'b',
      Key: 'root/job/x.manifest.json',
      ContentMD5: createHash('md5').update('{"a":1}').digest('base64'),
      ContentType: 'application/json',
      ContentLength: 7,
    });
  });

  it('sends If-Match with a pinned read', async () => {
    s3.on(GetObjectCommand).resolves({ ETag: '"e1"', Body: Readable.from([Buffer.from('x')]) as never });

    await destination().read('job/x', { ifMatch: '"e1"' });

    expect(s3.commandCalls(GetObjectCommand)[0]?.args[0].input).toEqual({
      Bucket: 'b',
      Key: 'root/job/x',
      IfMatch: '"e1"',
    });
  });

  it('follows ListObjectsV2 continuation tokens and returns keys relative to the root', async () => {
    const pages: Record<string, { keys: string[]; next?: string }> = {
      first: { keys: ['root/job/1', 'root/job/2'], next: 't1' },
      t1: { keys: ['root/job/3', 'root/job/4'], next: 't2' },
      t2: { keys: ['root/job/5'] },
    };
    s3.on(ListObjectsV2Command).callsFake((input: { ContinuationToken?: string }) => {
      const page = pages[input.ContinuationToken ?? 'first']!;
      return {
        Contents: page.keys.map((Key) => ({ Key, Size: 1, ETag: '"e"' })),
        IsTruncated: page.next !== undefined,
        NextContinuationToken: page.next,
      };
    });

    const listed = await destination().list('job/');

    expect(listed.map((o) => o.key)).toEqual(['job/1', 'job/2', 'job/3', 'job/4', 'job/5']);
    expect(
      s3
        .commandCalls(ListObjectsV2Command)
        .map((c) => [c.args[0].input.Prefix, c.args[0].input.ContinuationToken]),
    ).toEqual([
      ['root/job/', undefined],
      ['root/job/', 't1'],
      ['root/job/', 't2'],
    ]);
  });

  it('treats a 404 on delete as already deleted', async () => {
    s3.on(DeleteObjectCommand).rejects(serviceError('NoSuchKey', 404));

    await expect(destination().remove('job/gone')).resolves.toBeUndefined();
  });
});

describe('S3Destination error mapping', () => {
  const cases: [string, unknown, (err: unknown) => boolean][] = [
    ['a missing object (HEAD 404)', serviceError('NotFound', 404), (e) => e instanceof NotFoundError],
    [
      'a failed If-Match (412)',
      serviceError('PreconditionFailed', 412),
      (e) =>
        e instanceof IntegrityError && e.message === 'object s3://b/root/job/x changed since it was verified',
    ],
    [
      'access denied (403)',
      serviceError('AccessDenied', 403),
      (e) =>
        e instanceof StorageError &&
        e.permanent &&
        /^access to s3:\/\/b\/root\/ at AWS was denied \(403 \S+ when asked to stat job\/x\): grant the role .* or fix the credentials of destinations\.offsite$/.test(
          e.message,
        ),
    ],
    [
      'a wrong secret key',
      serviceError('SignatureDoesNotMatch', 403),
      (e) =>
        e instanceof StorageError &&
        e.permanent &&
        /secret access key of destinations\.offsite/.test(e.message),
    ],
    [
      'a bucket in another region',
      serviceError('PermanentRedirect', 301),
      (e) => e instanceof StorageError && e.permanent && /set destinations\.offsite\.region$/.test(e.message),
    ],
    [
      'no credentials at all',
      Object.assign(new Error('Could not load credentials from any providers'), {
        name: 'CredentialsProviderError',
      }),
      (e) =>
        e instanceof StorageError &&
        e.permanent &&
        /^no credentials found for destinations\.offsite/.test(e.message),
    ],
    [
      'no region',
      new Error('Region is missing'),
      (e) =>
        e instanceof StorageError &&
        e.permanent &&
        /set destinations\.offsite\.region or AWS_REGION$/.test(e.message),
    ],
    ['throttling (503)', serviceError('SlowDown', 503), (e) => e instanceof StorageError && !e.permanent],
    [
      'a slow socket (400 RequestTimeout)',
      serviceError('RequestTimeout', 400),
      (e) => e instanceof StorageError && !e.permanent,
    ],
    ['a refused connection', networkError('ECONNREFUSED'), (e) => e instanceof StorageError && !e.permanent],
  ];

  it.each(cases)('maps %s', async (_what, failure, check) => {
    s3.on(HeadObjectCommand).rejects(failure as Error);
    s3.on(GetObjectCommand).rejects(failure as Error);

    const statError = await destination()
      .stat('job/x')
      .catch((err: unknown) => err);
    const readError = await destination()
      .read('job/x')
      .catch((err: unknown) => err);

    expect(check(statError)).toBe(true);
    expect((readError as Error).constructor).toBe((statError as Error).constructor);
  });

  it('never puts credentials in messages', async () => {
    s3.on(HeadObjectCommand).rejects(serviceError('AccessDenied', 403, 'denied for AKIAUNIT'));

    const error = await destination()
      .stat('job/x')
      .catch((err: unknown) => err);

    expect((error as Error).message).not.toContain('AKIAUNIT');
    expect((error as Error).message).not.toContain('unit-secret');
  });
});

describe('s3ClientConfig', () => {
  it('uses path-style, us-east-1 and checksums only when required for a custom endpoint', () => {
    expect(s3ClientConfig({ endpoint: 'http://127.0.0.1:4568' })).toMatchObject({
      endpoint: 'http://127.0.0.1:4568',
      forcePathStyle: true,
      region: 'us-east-1',
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  });

  it('honours an explicit region and path-style setting', () => {
    expect(
      s3ClientConfig({
        endpoint: 'https://acct.r2.cloudflarestorage.com',
        region: 'auto',
        forcePathStyle: false,
      }),
    ).toMatchObject({ region: 'auto', forcePathStyle: false });
  });

  it('keeps the SDK defaults for AWS S3: region chain, virtual-hosted style, default checksums', () => {
    const config = s3ClientConfig({});

    expect(config.region).toBeUndefined();
    expect(config.forcePathStyle).toBe(false);
    expect(config.requestChecksumCalculation).toBeUndefined();
    expect(config.credentials).toBeUndefined();
  });

  it('passes explicit credentials to the client', () => {
    const config = s3ClientConfig({ credentials: { accessKeyId: 'AKIAX', secretAccessKey: 's' } });

    expect(config.credentials).toEqual({ accessKeyId: 'AKIAX', secretAccessKey: 's' });
  });
});
