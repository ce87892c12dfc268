/**
 * Synth-time validation of a config against the deployment (Object Lock versus retention,
 * Fargate sizes, schedules, key files) and the helpers behind it. None of these synthesize.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { describe, expect, it } from 'vitest';
import { validateConfig } from '../../core/config/load.ts';
import type { Config, ConfigInput } from '../../core/config/schema.ts';
import { DumpVault } from '../../infra/dumpvault.ts';
import { scheduleGaps } from '../../infra/schedule-gaps.ts';
import {
  abortIncompleteUploadDays,
  alarmThresholdHours,
  deploymentProblems,
  earliestDeletionHours,
  effectiveObjectLock,
} from '../../infra/validate.ts';

type JobInput = ConfigInput['jobs'][number];

function config(job: Partial<JobInput>, aws?: ConfigInput['aws']): Config {
  return validateConfig({
    destinations: { primary: { type: 's3', bucket: 'managed' }, elsewhere: { type: 's3', bucket: 'other' } },
    jobs: [
      {
        name: 'db',
        engine: 'postgres',
        source: { url: 'postgres://app@db:5432/app' },
        destinations: ['primary'],
        schedule: { cron: '0 3 * * ? *' },
        // A week of daily backups: what the default 7-day GOVERNANCE lock keeps anyway.
        retention: { keepLast: 7 },
        ...job,
      },
    ],
    ...(aws ? { aws } : {}),
  });
}

const locked = (days: number) => ({ bucket: { objectLock: { mode: 'COMPLIANCE' as const, days } } });

/** Constructs DumpVault; validation runs before anything is bundled, so failures are fast. */
function construct(c: Config, configDir?: string): void {
  const stack = new Stack(new App(), 'Test');
  new DumpVault(stack, 'Vault', { config: c, ...(configDir ? { configDir } : {}) });
}

describe('Object Lock versus retention', () => {
  it('fails when maxAgeDays would delete objects still under the lock', () => {
    const c = config({ retention: { keepLast: 3, daily: 30, maxAgeDays: 7 } }, locked(30));

    expect(() => construct(c)).toThrow(
      /jobs\[0\]\.retention\.maxAgeDays: 7 would delete backups that the bucket's compliance object lock keeps for 30 days; set it to at least 30 or lower aws\.bucket\.objectLock\.days/,
    );
  });

  it('fails when keepLast of a daily job deletes backups sooner than the lock', () => {
    const c = config({ retention: { keepLast: 7 } }, locked(30));

    expect(() => construct(c)).toThrow(
      /jobs\[0\]\.retention: keepLast 7, daily 0, weekly 0, monthly 0 with a run every 24 h may delete a backup after 7 days, but the bucket's compliance object lock keeps every object 30 days/,
    );
  });

  it('fails when a daily rule cannot protect a job that runs several times a day', () => {
    const c = config({ schedule: { rate: '6 hours' }, retention: { keepLast: 4, daily: 60 } }, locked(30));

    expect(() => construct(c)).toThrow(/with a run every 6 h may delete a backup after 24 h/);
  });

  it('accepts retention that keeps every backup at least as long as the lock', () => {
    const daily = config({ retention: { keepLast: 3, daily: 30, weekly: 8 } }, locked(30));
    const bounded = config({ retention: { keepLast: 30, maxAgeDays: 400 } }, locked(30));

    expect(deploymentProblems(daily)).toEqual([]);
    expect(deploymentProblems(bounded)).toEqual([]);
  });

  it('ignores jobs that do not write to the managed bucket', () => {
    const c = config({ destinations: ['elsewhere'], retention: { keepLast: 1 } }, locked(30));

    expect(deploymentProblems(c)).toEqual([]);
  });

  it('fails when object lock is requested for an existing bucket passed as a prop', () => {
    const c = config({ retention: { keepLast: 3, daily: 30 } }, locked(30));
    const stack = new Stack(new App(), 'Test');
    const bucket = s3.Bucket.fromBucketName(stack, 'Existing', 'existing-backups');

    expect(() => new DumpVault(stack, 'Vault', { config: c, bucket })).toThrow(
      /aws\.bucket\.objectLock: object lock can only be set on a bucket this construct creates/,
    );
  });
});

describe('the default Object Lock and the multipart-abort lifecycle', () => {
  it('fails when retention would delete a backup the default 7-day GOVERNANCE lock keeps; objectLock false turns it off', () => {
    const c = config({ retention: { keepLast: 2 } });

    expect(effectiveObjectLock(c)).toEqual({ mode: 'GOVERNANCE', days: 7 });
    expect(deploymentProblems(c).join('\n')).toMatch(
      /jobs\[0\]\.retention: keepLast 2.* may delete a backup after 2 days, but the bucket's governance object lock keeps every object 7 days/,
    );
    const off = config({ retention: { keepLast: 2 } }, { bucket: { objectLock: false } });
    expect(effectiveObjectLock(off)).toBeUndefined();
    expect(deploymentProblems(off)).toEqual([]);
    expect(deploymentProblems(c, { bucketProvided: true })).toEqual([]);
  });

  it('aborts incomplete uploads only after the longest task may have run', () => {
    expect(abortIncompleteUploadDays(config({}))).toBe(1);
    expect(
      abortIncompleteUploadDays(config({ task: { cpu: 1024, memoryMiB: 2048, timeoutMinutes: 1500 } })),
    ).toBe(2);
  });
});

describe('other deployment checks', () => {
  it('fails when a job asks for memory Fargate does not offer for its CPU', () => {
    const c = config({ task: { cpu: 256, memoryMiB: 4096 } });

    expect(() => construct(c)).toThrow(
      /jobs\[0\]\.task\.memoryMiB: fargate cpu 256 allows 512-2048 MiB in steps of 512, got 4096/,
    );
  });

  it('fails when the log retention is not one CloudWatch Logs offers', () => {
    const c = config({}, { logRetentionDays: 100 });

    expect(() => construct(c)).toThrow(/aws\.logRetentionDays: expected one of 1, 3, 5, .*, got 100/);
  });

  it('fails when the schedule period cannot be worked out and no alarmAfterHours is set', () => {
    const c = config({ schedule: { cron: '0 3 1 1 ? 2024' } });

    expect(() => construct(c)).toThrow(
      /jobs\[0\]\.schedule: cannot work out how often "0 3 1 1 \? 2024" runs .*; set jobs\[0\]\.alarmAfterHours/,
    );
    const unlocked = { bucket: { objectLock: false as const } };
    expect(
      deploymentProblems(config({ schedule: { cron: '0 3 1 1 ? 2024' }, alarmAfterHours: 800 }, unlocked)),
    ).toEqual([]);
    // L, W and # are measured (they once were "not modelled" and needed alarmAfterHours).
    expect(deploymentProblems(config({ schedule: { cron: '0 3 L * ? *' } }))).toEqual([]);
  });

  it('fails when a recipient key file is missing or holds a private key', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'dumpvault-keys-'));
    writeFileSync(path.join(dir, 'secret.asc'), '-----BEGIN PGP PRIVATE KEY BLOCK-----\n');
    const c = validateConfig({
      destinations: { primary: { type: 's3', bucket: 'managed' } },
      encryption: { ops: { type: 'openpgp', recipients: ['missing.asc', 'secret.asc'] } },
      jobs: [
        {
          name: 'db',
          engine: 'postgres',
          source: { url: 'postgres://app@db:5432/app' },
          destinations: ['primary'],
          encryption: 'ops',
        },
      ],
    });

    expect(() => construct(c, dir)).toThrow(
      /encryption\.ops\.recipients\[0\]: cannot read .*missing\.asc; expected an armored public key file\nencryption\.ops\.recipients\[1\]: secret\.asc holds a private key; give the public key/,
    );
  });

  it('fails when the task bundle has not been built', () => {
    const c = config({});
    const stack = new Stack(new App(), 'Test');

    expect(
      () => new DumpVault(stack, 'Vault', { config: c, taskBundle: '/nonexistent/dumpvault.mjs' }),
    ).toThrow(/the task bundle \/nonexistent\/dumpvault\.mjs does not exist; run "npm run build"/);
  });
});

describe('scheduleGaps', () => {
  it.each([
    [{ cron: '0 3 * * ? *' }, 24, 24],
    [{ cron: '0 */6 * * ? *' }, 6, 6],
    [{ cron: '30 1,13 * * ? *' }, 12, 12],
    [{ cron: '0 5 ? * SUN *' }, 168, 168],
    [{ cron: '0 2 ? * MON-FRI *' }, 24, 72],
    [{ cron: '0 4 1 * ? *' }, 28 * 24, 31 * 24],
    [{ rate: '6 hours' }, 6, 6],
    [{ rate: '1 day' }, 24, 24],
    [{ rate: '30 minutes' }, 0.5, 0.5],
  ])('measures %o as every %d h at least and %d h at most', (schedule, min, max) => {
    expect(scheduleGaps({ timezone: 'UTC', ...schedule })).toEqual({ minHours: min, maxHours: max });
  });

  it('measures L, W, # and year-limited crons, in the time zone of the schedule', () => {
    expect(scheduleGaps({ timezone: 'UTC', cron: '0 3 L * ? *' })).toEqual({ minHours: 672, maxHours: 744 });
    expect(scheduleGaps({ timezone: 'UTC', cron: '0 3 * * ? 2027' })).toEqual({ minHours: 24, maxHours: 24 });
    expect(scheduleGaps({ timezone: 'Europe/Berlin', cron: '0 3 * * ? *' })).toEqual({
      minHours: 23,
      maxHours: 25,
    });
    expect(scheduleGaps({ timezone: 'UTC', cron: '0 3 * * ? 2024' })).toBeUndefined();
  });
});

describe('alarmThresholdHours and earliestDeletionHours', () => {
  it('defaults to 1.5 × the longest gap + 2 h and honours alarmAfterHours', () => {
    const job = config({}).jobs[0]!;

    expect(alarmThresholdHours(job, { minHours: 24, maxHours: 72 })).toBe(110);
    expect(alarmThresholdHours({ ...job, alarmAfterHours: 30 }, { minHours: 24, maxHours: 24 })).toBe(30);
    expect(alarmThresholdHours(job, undefined)).toBeUndefined();
  });

  it('bounds the earliest deletion by keepLast runs, calendar rules and maxAgeDays', () => {
    const r = { keepLast: 3, daily: 7, weekly: 4, monthly: 0, yearly: 0, timezone: 'UTC' };

    expect(earliestDeletionHours(r, 24)).toBe(7 * 24);
    expect(earliestDeletionHours(r, 168)).toBe(4 * 168);
    expect(earliestDeletionHours(r, 6)).toBe(18);
    expect(earliestDeletionHours({ ...r, maxAgeDays: 2 }, 24)).toBe(48);
  });
});

describe('S3 object settings on the managed bucket', () => {
  // Bug caught: a managed destination naming its own KMS key deploys, and every backup then
  // fails with AccessDenied on kms:GenerateDataKey (the task roles hold the stack's key only).
  it('refuses a kmsKeyId on the managed bucket and names the path', () => {
    const c = validateConfig({
      destinations: {
        primary: {
          type: 's3',
          bucket: 'managed',
          serverSideEncryption: { type: 'SSE-KMS', kmsKeyId: 'alias/x' },
        },
      },
      jobs: [
        {
          name: 'db',
          engine: 'postgres',
          source: { url: 'postgres://app@db:5432/app' },
          destinations: ['primary'],
          retention: { keepLast: 7 },
        },
      ],
    });
    expect(deploymentProblems(c)).toEqual([
      `destinations.primary.serverSideEncryption.kmsKeyId: the managed bucket is encrypted with the stack's own KMS key, which the task roles are granted; leave kmsKeyId out, got "alias/x"`,
    ]);
  });
});

describe('aws.network', () => {
  it('fails when "public-subnets" is combined with an existing VPC named by its private subnets', () => {
    // Bug caught: tasks given public IPs in private subnets of someone else's VPC (no route to
    // an internet gateway: every backup times out), found only at the first run.
    const c = config(
      {},
      {
        network: 'public-subnets',
        vpc: { vpcId: 'vpc-0123456789abcdef0', privateSubnetIds: ['subnet-0aaaaaaaaaaaaaaa1'] },
      },
    );

    expect(() => construct(c)).toThrow(
      /aws\.network: "public-subnets" runs tasks in public subnets of the VPC the stack creates, but aws\.vpc names an existing VPC by its private subnets only; remove aws\.vpc/,
    );
  });
});

describe('destinations AWS cannot reach', () => {
  const withDestination = (extra: ConfigInput['destinations'][string]) =>
    validateConfig({
      destinations: { primary: { type: 's3', bucket: 'managed' }, extra },
      jobs: [
        {
          name: 'db',
          engine: 'postgres',
          source: { url: 'postgres://app@db:5432/app' },
          destinations: ['primary', 'extra'],
          schedule: { cron: '0 3 * * ? *' },
          retention: { keepLast: 7 },
        },
      ],
    });

  it('fails when a job writes to a file destination, naming it and what to do', () => {
    // Bug caught: a file destination in a deployed config was accepted; the task wrote that copy
    // to its own disk, gone when it stopped, and prune only logged that it skipped it.
    expect(() => construct(withDestination({ type: 'file', path: './backups' }))).toThrow(
      /destinations\.extra: a file destination cannot be used in AWS \(a task's disk does not outlive it, so nothing could restore or prune that copy\); remove "extra" from the destinations of db, or write that copy to an s3, azure or gcs destination/,
    );
  });

  it('fails when a destination reads its credentials from env variables, in one sentence', () => {
    // Bug caught: accepted at synth, then every backup failed at run time on "environment
    // variable … is not set" (the task has none).
    const c = withDestination({ type: 'azure', container: 'backups', connectionStringEnv: 'AZ_CONN' });

    expect(deploymentProblems(c)).toEqual([
      'destinations.extra.connectionStringEnv: the task and functions in AWS have no environment variable to read credentials from (connectionStringEnv); store them in Secrets Manager and set "credentialsSecret" to its ARN instead',
    ]);
    const s3 = withDestination({
      type: 's3',
      bucket: 'other',
      accessKeyIdEnv: 'KEY',
      secretAccessKeyEnv: 'SECRET',
    });
    expect(deploymentProblems(s3)).toEqual([
      'destinations.extra.accessKeyIdEnv: the task and functions in AWS have no environment variable to read credentials from (accessKeyIdEnv, secretAccessKeyEnv); store them in Secrets Manager and set "credentialsSecret" to its ARN instead',
    ]);
  });

  it('accepts azure and gcs destinations with a credentialsSecret, and an unused file destination', () => {
    const arn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:blob-AbCdEf';
    const c = validateConfig({
      destinations: {
        primary: { type: 's3', bucket: 'managed' },
        blob: { type: 'azure', account: 'dvbackups', container: 'backups', credentialsSecret: arn },
        google: { type: 'gcs', bucket: 'dv', credentialsSecret: arn },
        laptop: { type: 'file', path: './backups' },
      },
      jobs: [
        {
          name: 'db',
          engine: 'postgres',
          source: { url: 'postgres://app@db:5432/app' },
          destinations: ['primary', { name: 'blob', retention: { monthly: 24 } }, 'google'],
          schedule: { cron: '0 3 * * ? *' },
          retention: { keepLast: 7 },
        },
      ],
    });

    expect(deploymentProblems(c)).toEqual([]);
  });
});
