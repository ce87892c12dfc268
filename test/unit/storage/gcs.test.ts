/**
 * The S3 client settings a `gcs` destination builds for GCS's XML API. There is no GCS here:
 * these tests pin the settings; test/integration/storage/gcs.test.ts runs them against s3rver.
 */
import { describe, expect, it } from 'vitest';
import type { GcsDestinationConfig } from '../../../core/config/schema.ts';
import { createGcsClient, GCS_ENDPOINT, gcsClientConfig } from '../../../core/storage/gcs.ts';

const config: GcsDestinationConfig = {
  type: 'gcs',
  bucket: 'dv-backups',
  prefix: '',
  partSizeMiB: 8,
  queueSize: 2,
  credentialsSecret: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:gcs-hmac',
};
const hmac = { accessKeyId: 'GOOG1EXAMPLEACCESSID', secretAccessKey: 'gcs-hmac-secret-example' };

describe('gcsClientConfig', () => {
  // Bug caught: a GCS destination sent to AWS (no endpoint), signed for a region GCS rejects,
  // or with the SDK's default CRC32 checksums, whose headers and aws-chunked bodies GCS's
  // multipart upload does not accept.
  it('points at storage.googleapis.com, region auto, path style, checksums only when required', () => {
    expect(gcsClientConfig(config, hmac)).toMatchObject({
      endpoint: 'https://storage.googleapis.com',
      region: 'auto',
      forcePathStyle: true,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      credentials: hmac,
    });
    expect(GCS_ENDPOINT).toBe('https://storage.googleapis.com');
  });

  it('keeps an endpoint override and the timeouts of the config', () => {
    const out = gcsClientConfig(
      { ...config, endpoint: 'http://127.0.0.1:9000', connectTimeoutSeconds: 3, requestTimeoutSeconds: 40 },
      undefined,
    );

    expect(out).toMatchObject({
      endpoint: 'http://127.0.0.1:9000',
      region: 'auto',
      requestHandler: { connectionTimeout: 3000, socketTimeout: 40_000 },
    });
    expect(out.credentials).toBeUndefined();
  });

  it('builds a client whose resolved settings are those', async () => {
    const client = createGcsClient(config, hmac);
    try {
      expect(await client.config.region()).toBe('auto');
      expect(await client.config.requestChecksumCalculation()).toBe('WHEN_REQUIRED');
      expect(await client.config.responseChecksumValidation()).toBe('WHEN_REQUIRED');
      expect(client.config.forcePathStyle).toBe(true);
      const endpoint = await client.config.endpoint?.();
      expect(`${endpoint?.protocol}//${endpoint?.hostname}`).toBe('https://storage.googleapis.com');
    } finally {
      client.destroy();
    }
  });
});
