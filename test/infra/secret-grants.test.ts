/**
 * Which secrets a backup task may read (infra/iam.ts secretArnsOf): the credentials of every
 * cloud destination its jobs write to. Bug caught: only `s3` destinations' credentialsSecret
 * was granted, so a job writing to an `azure` or `gcs` destination in AWS failed on
 * GetSecretValue (AccessDenied) before its first backup.
 */
import { describe, expect, it } from 'vitest';
import { ConfigSchema } from '../../core/config/schema.ts';
import { secretArnsOf } from '../../infra/iam.ts';

const arn = (name: string) => `arn:aws:secretsmanager:eu-west-1:123456789012:secret:${name}`;

describe('secretArnsOf', () => {
  it('grants the credentialsSecret of azure and gcs destinations, as of s3 ones', () => {
    const config = ConfigSchema.parse({
      destinations: {
        primary: { type: 's3', bucket: 'managed' },
        blob: { type: 'azure', account: 'dvbackups', container: 'backups', credentialsSecret: arn('azure') },
        google: { type: 'gcs', bucket: 'dv-backups', credentialsSecret: arn('gcs') },
        unused: { type: 'azure', account: 'other', container: 'other', credentialsSecret: arn('unused') },
      },
      jobs: [
        {
          name: 'app',
          engine: 'postgres',
          source: { url: 'postgres://app@db:5432/app' },
          schedule: { cron: '0 3 * * ? *' },
          destinations: ['primary', 'blob', 'google'],
        },
      ],
    });

    expect(secretArnsOf(config)).toEqual([`${arn('azure')}-??????`, `${arn('gcs')}-??????`]);
  });
});
