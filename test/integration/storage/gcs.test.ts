/**
 * A `gcs` destination as far as this machine can prove it: its S3 client, with GCS's settings
 * (region auto, path style, checksums only when required) but pointed at s3rver, passes the
 * shared destination suite, and its multipart requests carry none of the headers GCS's XML API
 * refuses (x-amz-checksum-*, x-amz-sdk-checksum-algorithm, aws-chunked bodies). s3rver is not
 * GCS: GCS's own answers (its error codes, its multipart limits) are not tested here.
 */
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDestination } from '../../../core/storage/index.ts';
import { describeDestination, MiB, randomBody } from '../../support/destination-suite.ts';
import { S3RVER_CREDENTIALS, type S3rverHandle, startS3rver } from '../../support/s3rver.ts';

let s3: S3rverHandle;
let buckets = 0;

beforeAll(async () => {
  s3 = await startS3rver({ buckets: [] });
});
afterAll(async () => {
  await s3.stop();
});

async function freshBucket(): Promise<string> {
  const bucket = `gcs-${++buckets}`;
  await s3.client.send(new CreateBucketCommand({ Bucket: bucket }));
  return bucket;
}

/** A gcs destination built from the config as the CLI builds it, its endpoint moved to s3rver. */
function gcsOnS3rver(bucket: string, prefix = '') {
  return createDestination(
    'gcs',
    {
      type: 'gcs',
      bucket,
      prefix,
      endpoint: s3.endpoint,
      accessKeyIdEnv: 'UNUSED_HERE',
      secretAccessKeyEnv: 'UNUSED_HERE',
      partSizeMiB: 5,
      queueSize: 2,
    },
    { baseDir: '/', s3Credentials: { ...S3RVER_CREDENTIALS } },
  );
}

describeDestination('gcs destination (GCS client settings) on s3rver', async () => {
  const bucket = await freshBucket();
  return {
    destination: gcsOnS3rver(bucket, 'dumpvault'),
    leftovers: () => s3.pendingUploads(bucket),
    dispose: async () => {},
  };
});

describe('gcs destination requests', () => {
  // Bug caught: the SDK's default checksums left on for GCS: every UploadPart then carries
  // x-amz-checksum-crc32 / x-amz-sdk-checksum-algorithm and an aws-chunked body, which GCS's
  // XML API multipart upload refuses; and virtual-hosted addressing of a dotted bucket name.
  it('sends multipart uploads path-style and without checksum headers or aws-chunked bodies', async () => {
    const bucket = await freshBucket();
    const dest = gcsOnS3rver(bucket);
    const seen = s3.requests.length;

    await dest.write('app/big.sql.zst', randomBody(11 * MiB).body);
    await dest.put('app/big.manifest.json', '{}');

    const sent = s3.requests.slice(seen).filter((r) => r.method === 'PUT' || r.method === 'POST');
    expect(sent.length).toBeGreaterThanOrEqual(5); // create, 3 parts, complete, put
    for (const request of sent) {
      expect(request.path.startsWith(`/${bucket}/app/`)).toBe(true);
      const names = Object.keys(request.headers);
      expect(
        names.filter((h) => h.startsWith('x-amz-checksum-') || h === 'x-amz-sdk-checksum-algorithm'),
      ).toEqual([]);
      expect(request.headers['content-encoding'] ?? '').not.toContain('aws-chunked');
      expect(String(request.headers.authorization)).toMatch(
        /Credential=S3RVER\/\d{8}\/auto\/s3\/aws4_request/,
      );
    }
  });
});
