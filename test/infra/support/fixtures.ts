/**
 * The infra fixtures, each built and synthesized once per test run (see synthesized.ts):
 * - `readme`: the README's example config (test/fixtures/aws.config.json) through the CDK app;
 * - `restore`: four jobs with restore drills (postgres, mysql with its own image, SQLite, none),
 *   an OpenPGP private key, a foreign S3 store, Azure and GCS copies (job legacy), an operator
 *   role that may start restores, and the daily success digest;
 * - `variants`: a new VPC with an Object Lock bucket and OpenPGP recipients, an existing
 *   bucket with its own KMS key in existing subnets, plus an operator role; and `Options`: the
 *   task options of issue 13 (x86_64 tasks, public subnets, backups on Fargate Spot).
 * Every app runs cdk-nag AwsSolutions.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { App, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { AwsSolutionsChecks } from 'cdk-nag';
import { validateConfig } from '../../../core/config/load.ts';
import type { ConfigInput } from '../../../core/config/schema.ts';
import { buildApp } from '../../../infra/app.ts';
import { DumpVault } from '../../../infra/dumpvault.ts';
import { nagResource } from '../../../infra/iam.ts';
import { DumpVaultStack } from '../../../infra/stack.ts';
import { ACCOUNT, REGION } from './resolve.ts';
import type { FixtureBuild } from './synthesized.ts';

export const README_FIXTURE = path.resolve(import.meta.dirname, '../../fixtures/aws.config.json');
export const BREAK_GLASS_ARN = 'arn:aws:iam::123456789012:role/break-glass';
export const REPLICA_KEY_ARN = 'arn:aws:kms:us-east-1:210987654321:key/0000aaaa-11bb-22cc-33dd-444444eeeeee';
export const KMS_KEY_ARN = 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';

export const PUBLIC_KEY =
  '-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmDMEZstandin\n-----END PGP PUBLIC KEY BLOCK-----\n';
export const secretArn = (name: string) =>
  `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:${name}-AbCdEf`;
export const PRIVATE_KEY_ARN = secretArn('ops-private-key');
export const OFFSITE_ARN = secretArn('offsite-s3');
export const AZURE_ARN = secretArn('offsite-azure');
export const GCS_ARN = secretArn('offsite-gcs');
export const META_PASSPHRASE_ARN = secretArn('dumpvault-meta');
export const STANDBY_PASSWORD_ARN = secretArn('app-standby');

/**
 * Four jobs: postgres and mysql drills (the latter with its own image), a SQLite drill, and no
 * drill; app (default lag threshold) and shop (lagAlarmHours 30) have a standby; a meta-backup
 * encrypted to a passphrase secret.
 */
export const RESTORE_CONFIG: ConfigInput = {
  prefix: 'dumpvault/',
  destinations: {
    primary: { type: 's3', bucket: 'managed' },
    offsite: {
      type: 's3',
      bucket: 'offsite',
      endpoint: 'https://s3.example.net',
      credentialsSecret: OFFSITE_ARN,
    },
    blob: { type: 'azure', account: 'dvbackups', container: 'backups', credentialsSecret: AZURE_ARN },
    google: { type: 'gcs', bucket: 'dv-backups', credentialsSecret: GCS_ARN },
  },
  encryption: { ops: { type: 'openpgp', recipients: ['ops.pub.asc'], privateKeySecret: PRIVATE_KEY_ARN } },
  jobs: [
    {
      name: 'app',
      engine: 'postgres',
      source: { url: 'postgres://backup@db.internal:5432/app', passwordSecret: secretArn('app-db') },
      schedule: { cron: '0 3 * * ? *', timezone: 'Europe/Berlin' },
      destinations: ['primary', 'offsite'],
      encryption: 'ops',
      retention: { keepLast: 3, daily: 7 },
      restoreDrill: { schedule: { cron: '0 5 ? * SUN *', timezone: 'Europe/Berlin' } },
      standby: { url: 'postgres://app@standby.internal:5432/app', passwordSecret: STANDBY_PASSWORD_ARN },
    },
    {
      name: 'shop',
      engine: 'mysql',
      source: { url: 'mysql://backup@shop.internal:3306/shop' },
      schedule: { rate: '6 hours' },
      destinations: ['offsite'],
      restoreDrill: { schedule: { rate: '1 day' }, engineImage: 'registry.example.com/mariadb:10.11-custom' },
      standby: { url: 'mysql://app@standby.internal:3306/shop', lagAlarmHours: 30 },
    },
    {
      name: 'notes',
      engine: 'sqlite',
      source: { url: 'sqlite:/data/notes.db' },
      schedule: { rate: '1 day' },
      destinations: ['primary'],
      retention: { keepLast: 7 },
      restoreDrill: { schedule: { rate: '7 days' } },
    },
    {
      name: 'legacy',
      engine: 'postgres',
      source: { url: 'postgres://backup@legacy.internal:5432/legacy' },
      schedule: { rate: '1 day' },
      // Off-site copies in other clouds, the Azure one with its own retention (issue 15).
      destinations: ['primary', { name: 'blob', retention: { daily: 30, monthly: 24 } }, 'google'],
      retention: { keepLast: 7 },
    },
  ],
  // dumpvault's own config to {prefix}_dumpvault/ after every backup (issue 16 §1).
  metaBackup: { passphraseSecret: META_PASSPHRASE_ARN },
  // The daily digest to the alerts topic, at 07:30 Berlin time.
  aws: { alerts: { successDigest: { at: '07:30', timezone: 'Europe/Berlin' } } },
};

/** The feature flags of cdk.json: the fixtures are synthesized as `cdk deploy` would. */
const CDK_CONTEXT = (
  JSON.parse(readFileSync(path.resolve(import.meta.dirname, '../../../cdk.json'), 'utf8')) as {
    context: Record<string, unknown>;
  }
).context;

/** A stand-in for dist/dumpvault.mjs (the task image is only staged, never built, in tests). */
function standInBundle(dir: string): string {
  const file = path.join(dir, 'dumpvault.mjs');
  writeFileSync(file, '// stand-in for dist/dumpvault.mjs\n');
  return file;
}

function withNag(app: App): App {
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return app;
}

function readme(dir: string, outdir: string): { app: App; build: FixtureBuild } {
  const app = new App({ outdir, context: CDK_CONTEXT });
  const stack = buildApp(app, README_FIXTURE, { taskBundle: standInBundle(dir) });
  withNag(app);
  return { app, build: { stacks: [stack] } };
}

function restore(dir: string, outdir: string): { app: App; build: FixtureBuild } {
  writeFileSync(path.join(dir, 'ops.pub.asc'), PUBLIC_KEY);
  const app = new App({ outdir, context: CDK_CONTEXT });
  const stack = new DumpVaultStack(app, 'Restore', {
    env: { account: ACCOUNT, region: REGION },
    config: validateConfig(RESTORE_CONFIG),
    configDir: dir,
    taskBundle: standInBundle(dir),
  });
  const operator = new iam.Role(stack, 'Operator', { assumedBy: new iam.AccountRootPrincipal() });
  stack.vault.grantStartRestore(operator);
  Validations.of(operator).acknowledge({
    id: `AwsSolutions-IAM5[Resource::${nagResource(stack, stack.vault.restore.executionsArn)}]`,
    reason: 'test operator role: follows executions of the restore state machine',
  });
  withNag(app);
  return { app, build: { stacks: [stack] } };
}

/**
 * The task options of issue 13: x86_64 tasks in public subnets of a VPC without NAT gateway,
 * backups on Fargate Spot (`aws.task.spot`) except job `ledger` (`task.spot: false`).
 */
export const OPTIONS_CONFIG: ConfigInput = {
  destinations: { primary: { type: 's3', bucket: 'managed' } },
  jobs: [
    {
      name: 'web',
      engine: 'postgres',
      source: { url: 'postgres://app@db.example.com:5432/web' },
      schedule: { rate: '1 day' },
      destinations: ['primary'],
      retention: { daily: 7 },
    },
    {
      name: 'ledger',
      engine: 'postgres',
      source: { url: 'postgres://app@db.example.com:5432/ledger' },
      schedule: { rate: '1 day' },
      destinations: ['primary'],
      retention: { daily: 7 },
      task: { spot: false },
    },
  ],
  aws: { network: 'public-subnets', task: { architecture: 'x86_64', spot: true } },
};

/** `{stack: [platform of each Docker image asset]}`, read from the synthesized asset manifests. */
function imagePlatforms(outdir: string, stacks: string[]): Record<string, unknown[]> {
  return Object.fromEntries(
    stacks.map((name) => {
      const manifest = JSON.parse(readFileSync(path.join(outdir, `${name}.assets.json`), 'utf8')) as {
        dockerImages?: Record<string, { source: { platform?: string } }>;
      };
      return [name, Object.values(manifest.dockerImages ?? {}).map((image) => image.source.platform)];
    }),
  );
}

function variants(dir: string, outdir: string): { app: App; build: FixtureBuild } {
  writeFileSync(path.join(dir, 'ops.pub.asc'), PUBLIC_KEY);
  const taskBundle = standInBundle(dir);
  const app = new App({ outdir, context: CDK_CONTEXT });
  const lockedStack = new Stack(app, 'NewVpc', { env: { account: '123456789012', region: 'eu-west-1' } });
  const vault = new DumpVault(lockedStack, 'Vault', {
    configDir: dir,
    taskBundle,
    config: validateConfig({
      prefix: 'db/',
      destinations: { vault: { type: 's3', bucket: 'managed', prefix: 'backups' } },
      encryption: { ops: { type: 'openpgp', recipients: ['ops.pub.asc'] } },
      jobs: [
        {
          name: 'orders',
          engine: 'postgres',
          source: {
            url: 'postgres://app@orders:5432/orders',
            passwordSecret: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders',
          },
          schedule: { cron: '15 2 * * ? *', timezone: 'America/New_York' },
          destinations: ['vault'],
          encryption: 'ops',
          retention: { keepLast: 3, daily: 35, monthly: 12 },
          alarmAfterHours: 30,
        },
        {
          name: 'manual',
          engine: 'sqlite',
          source: { url: 'sqlite:/data/app.db' },
          destinations: ['vault'],
          retention: { keepLast: 60, maxAgeDays: 60 },
        },
      ],
      aws: {
        bucket: { noncurrentVersionExpirationDays: 45, objectLock: { mode: 'COMPLIANCE', days: 30 } },
        breakGlassPrincipalArn: BREAK_GLASS_ARN,
        replication: { bucket: 'acme-replica', kmsKeyArn: REPLICA_KEY_ARN, account: '210987654321' },
      },
    }),
  });
  const operator = new iam.Role(lockedStack, 'Operator', { assumedBy: new iam.AccountRootPrincipal() });
  vault.grantStartBackup(operator);
  vault.grantReadHistory(operator);
  Validations.of(operator).acknowledge({
    id: `AwsSolutions-IAM5[Resource::<${lockedStack.getLogicalId(vault.startBackupFunction.node.defaultChild as never)}.Arn>:*]`,
    reason: 'test operator role',
  });

  const existingStack = new Stack(app, 'Existing', { env: { account: '123456789012', region: 'eu-west-1' } });
  new DumpVault(existingStack, 'Vault', {
    taskBundle,
    config: validateConfig({
      destinations: { primary: { type: 's3', bucket: 'managed' } },
      jobs: [
        {
          name: 'crm',
          engine: 'mysql',
          source: { url: 'mysql://app@crm:3306/crm' },
          schedule: { rate: '12 hours' },
          destinations: ['primary'],
        },
      ],
      aws: {
        bucket: { existingBucketName: 'acme-existing-backups', existingBucketKeyArn: KMS_KEY_ARN },
        vpc: {
          vpcId: 'vpc-0123456789abcdef0',
          privateSubnetIds: [
            'subnet-0aaaaaaaaaaaaaaa1',
            'subnet-0aaaaaaaaaaaaaaa2',
            'subnet-0aaaaaaaaaaaaaaa3',
          ],
        },
      },
    }),
  });
  const optionsStack = new Stack(app, 'Options', { env: { account: '123456789012', region: 'eu-west-1' } });
  new DumpVault(optionsStack, 'Vault', { taskBundle, config: validateConfig(OPTIONS_CONFIG) });
  withNag(app);
  const metric = (m: {
    namespace: string;
    metricName: string;
    dimensions?: unknown;
    statistic: string;
    period: { toSeconds(): number };
  }) => ({
    namespace: m.namespace,
    metricName: m.metricName,
    dimensions: m.dimensions,
    statistic: m.statistic,
    period: m.period.toSeconds(),
  });
  return {
    app,
    build: {
      stacks: [lockedStack, existingStack, optionsStack],
      extras: () => ({
        imagePlatforms: imagePlatforms(outdir, ['NewVpc', 'Options']),
        freshnessAlarmJobs: Object.keys(vault.freshnessAlarms),
        metrics: {
          hoursSinceLastSuccess: metric(vault.metricHoursSinceLastSuccess('orders')),
          lastBackupBytes: metric(vault.metricLastBackupBytes('orders')),
          lastBackupDuration: metric(vault.metricLastBackupDuration('orders')),
          failuresLast24Hours: metric(vault.metricFailuresLast24Hours('orders')),
        },
      }),
    },
  };
}

export const fixtures = { readme, restore, variants } as const;
export type FixtureName = keyof typeof fixtures;
