/**
 * How S3 requests sign their bodies (hash once, issue 17): over HTTPS with a CRC checksum header
 * (AWS), the body is signed UNSIGNED-PAYLOAD instead of by a second SHA-256; custom endpoints,
 * which get no CRC, keep the signed payload hash. Requests are captured before they leave.
 * Bugs caught: every part hashed twice on AWS; a custom endpoint's parts sent with neither a
 * CRC nor a signed payload hash.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { S3Client, UploadPartCommand } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import {
  type S3ClientSettings,
  s3ClientConfig,
  signChecksummedBodiesUnsigned,
} from '../../../core/storage/s3-client.ts';

interface Captured {
  readonly protocol: string;
  readonly headers: Record<string, string>;
}

/** Sends one UploadPart through a client configured as dumpvault configures it, and captures the request. */
async function uploadPart(settings: Omit<S3ClientSettings, 'credentials'>, body: Buffer): Promise<Captured> {
  const captured: Captured[] = [];
  const client = new S3Client({
    ...s3ClientConfig({
      ...settings,
      credentials: {
        accessKeyId: 'AKIDEXAMPLE',
        secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
      },
    }),
    requestHandler: {
      handle: async (request: Captured) => {
        captured.push({ protocol: request.protocol, headers: { ...request.headers } });
        return { response: { statusCode: 200, headers: { etag: '"etag"' }, body: Readable.from([]) } };
      },
    },
  });
  signChecksummedBodiesUnsigned(client);
  const wantsChecksums = (await client.config.requestChecksumCalculation()) === 'WHEN_SUPPORTED';
  await client.send(
    new UploadPartCommand({
      Bucket: 'bucket',
      Key: 'job/object',
      UploadId: 'upload',
      PartNumber: 1,
      Body: body,
      ContentLength: body.length,
      // What MultipartWriter asks for when the client computes checksums.
      ...(wantsChecksums && { ChecksumAlgorithm: 'CRC32' }),
    }),
  );
  expect(captured).toHaveLength(1);
  return captured[0]!;
}

const body = Buffer.from('a part of a backup, '.repeat(1000));
const sha256 = createHash('sha256').update(body).digest('hex');
const signedHeaders = (c: Captured) =>
  /SignedHeaders=([^,]+)/.exec(c.headers.authorization ?? '')?.[1]?.split(';');

describe('S3 body signing', () => {
  it('signs a part to AWS over HTTPS UNSIGNED-PAYLOAD, with its CRC32 among the signed headers', async () => {
    const request = await uploadPart({ region: 'eu-central-1' }, body);
    expect(request.protocol).toBe('https:');
    expect(request.headers['x-amz-content-sha256']).toBe('UNSIGNED-PAYLOAD');
    expect(request.headers['x-amz-checksum-crc32']).toMatch(/^[A-Za-z0-9+/]{6}==$/);
    expect(signedHeaders(request)).toEqual(
      expect.arrayContaining(['x-amz-checksum-crc32', 'x-amz-content-sha256']),
    );
  });

  it('keeps the signed payload hash for a custom endpoint over plain HTTP (no CRC there)', async () => {
    const request = await uploadPart({ endpoint: 'http://127.0.0.1:4568' }, body);
    expect(request.headers['x-amz-content-sha256']).toBe(sha256);
    expect(Object.keys(request.headers).filter((h) => h.startsWith('x-amz-checksum-'))).toEqual([]);
  });

  it('keeps the signed payload hash for a custom HTTPS endpoint, which gets no CRC either', async () => {
    const request = await uploadPart({ endpoint: 'https://account.r2.cloudflarestorage.com' }, body);
    expect(request.headers['x-amz-content-sha256']).toBe(sha256);
  });
});
