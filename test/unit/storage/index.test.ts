import { HeadObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { describe, expect, it } from 'vitest';
import { StorageError } from '../../../core/errors.ts';
import { createDestination } from '../../../core/storage/index.ts';

const s3Defaults = { prefix: '', partSizeMiB: 16, queueSize: 4 } as const;

describe('createDestination', () => {
  it('resolves a relative file path against the config directory', () => {
    const dest = createDestination(
      'local',
      { type: 'file', path: './backups' },
      { baseDir: '/etc/dumpvault' },
    );

    expect(dest.description).toBe('file:///etc/dumpvault/backups');
    expect(dest.name).toBe('local');
  });

  it('keeps an absolute file path, and puts the extra prefix below it', () => {
    const dest = createDestination(
      'local',
      { type: 'file', path: '/srv/backups' },
      { baseDir: '/x', prefix: 'team-a/' },
    );

    expect(dest.description).toBe('file:///srv/backups/team-a');
  });

  it('describes an S3 destination by bucket, root prefix and custom endpoint, without credentials', () => {
    const dest = createDestination(
      'offsite',
      {
        ...s3Defaults,
        type: 's3',
        bucket: 'x',
        prefix: 'dumps',
        endpoint: 'https://acct.r2.cloudflarestorage.com',
      },
      {
        baseDir: '/',
        prefix: 'prod/',
        s3Credentials: { accessKeyId: 'AKIAVISIBLE', secretAccessKey: 'very-secret' },
      },
    );

    expect(dest.description).toBe('s3://x/dumps/prod/ at https://acct.r2.cloudflarestorage.com');
  });

  it('shows a custom endpoint without the password it may carry', () => {
    const dest = createDestination(
      'offsite',
      { ...s3Defaults, type: 's3', bucket: 'x', endpoint: 'https://minio:hunter22@minio.internal:9000' },
      { baseDir: '/' },
    );

    expect(dest.description).toBe('s3://x/ at https://minio:***@minio.internal:9000');
  });

  it('fails when the managed bucket is used without knowing its name', () => {
    const create = () =>
      createDestination('primary', { ...s3Defaults, type: 's3', bucket: 'managed' }, { baseDir: '/' });

    expect(create).toThrow(StorageError);
    expect(create).toThrow(
      "destination primary uses the stack's managed bucket; set DUMPVAULT_MANAGED_BUCKET or run in AWS",
    );
    try {
      create();
    } catch (err) {
      expect((err as StorageError).permanent).toBe(true);
    }
  });

  it('uses the override for the managed bucket only', () => {
    const options = { baseDir: '/', bucketOverride: 'dumpvault-stack-bucket-1a2b' };

    const managed = createDestination('primary', { ...s3Defaults, type: 's3', bucket: 'managed' }, options);
    const named = createDestination('offsite', { ...s3Defaults, type: 's3', bucket: 'other' }, options);

    expect(managed.description).toBe('s3://dumpvault-stack-bucket-1a2b/');
    expect(named.description).toBe('s3://other/');
  });

  it('wraps the destination with retries', async () => {
    const client = new S3Client({
      region: 'us-east-1',
      credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
    });
    const s3 = mockClient(client);
    s3.on(HeadObjectCommand)
      .rejectsOnce(
        new S3ServiceException({
          name: 'InternalError',
          $fault: 'server',
          $metadata: { httpStatusCode: 500 },
          message: 'x',
        }),
      )
      .resolves({ ContentLength: 3, ETag: '"e"' });
    const dest = createDestination(
      'offsite',
      { ...s3Defaults, type: 's3', bucket: 'x' },
      { baseDir: '/', s3Client: client, retry: { attempts: 3, baseDelayMs: 1 } },
    );

    const info = await dest.stat('job/k');

    expect(info).toMatchObject({ key: 'job/k', size: 3 });
    expect(s3.commandCalls(HeadObjectCommand)).toHaveLength(2);
  });
});
