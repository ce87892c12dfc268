/**
 * The deployment variants the README example does not cover, synthesized together once with
 * cdk-nag: a new VPC with gateway endpoints, an Object Lock bucket, OpenPGP recipients, an
 * existing bucket with its own KMS key; plus the construct's grant and metric methods.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { App, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../../core/config/load.ts';
import { DumpVault } from '../../infra/dumpvault.ts';

const PUBLIC_KEY =
  '-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmDMEZstandin\n-----END PGP PUBLIC KEY BLOCK-----\n';
const KEY_ARN = 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';

let newVpc: Template;
let existing: Template;
let vault: DumpVault;
let operatorPolicy: Template;
let synthError: unknown;
let outdir: string;

beforeAll(() => {
  const dir = mkdtempSync(path.join(tmpdir(), 'dumpvault-variants-'));
  writeFileSync(path.join(dir, 'ops.pub.asc'), PUBLIC_KEY);
  const taskBundle = path.join(dir, 'dumpvault.mjs');
  writeFileSync(taskBundle, '// stand-in\n');
  outdir = path.join(dir, 'cdk.out');
  const app = new App({ outdir });

  const lockedStack = new Stack(app, 'NewVpc', { env: { account: '123456789012', region: 'eu-west-1' } });
  vault = new DumpVault(lockedStack, 'Vault', {
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
      aws: { bucket: { noncurrentVersionExpirationDays: 45, objectLock: { mode: 'COMPLIANCE', days: 30 } } },
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
        bucket: { existingBucketName: 'acme-existing-backups', existingBucketKeyArn: KEY_ARN },
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

  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  try {
    app.synth();
  } catch (err) {
    synthError = err;
  }
  newVpc = Template.fromStack(lockedStack);
  existing = Template.fromStack(existingStack);
  operatorPolicy = newVpc;
});

describe('DumpVault variants', () => {
  it('has zero unacknowledged cdk-nag findings in every variant', () => {
    const report = synthError ? readFileSync(path.join(outdir, 'validation-report.json'), 'utf8') : '';
    expect(report).toBe('');
  });

  it('creates a VPC with S3 and DynamoDB gateway endpoints, one NAT gateway and flow logs', () => {
    newVpc.resourceCountIs('AWS::EC2::VPC', 1);
    newVpc.resourceCountIs('AWS::EC2::NatGateway', 1);
    newVpc.resourceCountIs('AWS::EC2::FlowLog', 1);
    for (const service of ['s3', 'dynamodb']) {
      newVpc.hasResourceProperties('AWS::EC2::VPCEndpoint', {
        VpcEndpointType: 'Gateway',
        ServiceName: { 'Fn::Join': ['', ['com.amazonaws.', { Ref: 'AWS::Region' }, `.${service}`]] },
      });
    }
  });

  it('creates the bucket with compliance-mode Object Lock and the configured noncurrent expiry', () => {
    newVpc.hasResourceProperties('AWS::S3::Bucket', {
      ObjectLockEnabled: true,
      ObjectLockConfiguration: {
        ObjectLockEnabled: 'Enabled',
        Rule: { DefaultRetention: { Mode: 'COMPLIANCE', Days: 30 } },
      },
      LifecycleConfiguration: {
        Rules: [Match.objectLike({ NoncurrentVersionExpiration: { NoncurrentDays: 45 } })],
      },
    });
  });

  it('hands the task the armored recipient keys and scopes it to the destination and config prefix', () => {
    newVpc.hasResourceProperties('AWS::ECS::TaskDefinition', {
      ContainerDefinitions: [
        Match.objectLike({
          Environment: Match.arrayWith([
            { Name: 'DUMPVAULT_PUBLIC_KEYS_JSON', Value: JSON.stringify({ 'ops.pub.asc': PUBLIC_KEY }) },
          ]),
        }),
      ],
    });
    newVpc.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Sid: 'ReadJobSecrets',
            Resource: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders-??????',
          }),
          Match.objectLike({
            Sid: 'ListBackupPrefixes',
            Condition: { StringLike: { 's3:prefix': ['backups/db/manual/*', 'backups/db/orders/*'] } },
          }),
        ]),
      },
    });
  });

  it('schedules only jobs with a schedule, in their time zone, and alarms after alarmAfterHours', () => {
    newVpc.resourceCountIs('AWS::Scheduler::Schedule', 1);
    newVpc.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'cron(15 2 * * ? *)',
      ScheduleExpressionTimezone: 'America/New_York',
    });
    newVpc.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'HoursSinceLastSuccess',
      Dimensions: [
        { Name: 'Job', Value: 'orders' },
        { Name: 'service', Value: 'dumpvault' },
      ],
      Threshold: 30,
    });
    expect(Object.keys(vault.freshnessAlarms)).toEqual(['orders']);
  });

  it('uses an existing bucket and its KMS key without creating a bucket, and existing subnets', () => {
    existing.resourceCountIs('AWS::S3::Bucket', 0);
    existing.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          {
            Sid: 'WriteBackupObjects',
            Effect: 'Allow',
            Action: ['s3:PutObject', 's3:GetObject', 's3:DeleteObject', 's3:AbortMultipartUpload'],
            Resource: {
              'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':s3:::acme-existing-backups/crm/*']],
            },
          },
          Match.objectLike({ Sid: 'UseEncryptionKeys', Resource: [Match.anyValue(), KEY_ARN] }),
        ]),
      },
    });
    existing.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          DUMPVAULT_SUBNETS: 'subnet-0aaaaaaaaaaaaaaa1,subnet-0aaaaaaaaaaaaaaa2,subnet-0aaaaaaaaaaaaaaa3',
        }),
      },
    });
    existing.hasResourceProperties('AWS::ECS::TaskDefinition', {
      ContainerDefinitions: [
        Match.objectLike({
          Environment: Match.arrayWith([{ Name: 'DUMPVAULT_BUCKET', Value: 'acme-existing-backups' }]),
        }),
      ],
    });
  });

  it('grants operators exactly invoke on start-backup and read on history', () => {
    const fn = newVpc.toJSON()['Resources'];
    const policy = Object.values<{ Type: string; Properties: { PolicyDocument: { Statement: unknown[] } } }>(
      fn,
    ).find((r) => r.Type === 'AWS::IAM::Policy' && JSON.stringify(r).includes('Operator'));
    expect(policy?.Properties.PolicyDocument.Statement).toEqual([
      {
        Action: 'lambda:InvokeFunction',
        Effect: 'Allow',
        Resource: { 'Fn::GetAtt': [expect.stringMatching(/^VaultStartBackup/), 'Arn'] },
      },
      {
        Action: ['dynamodb:GetItem', 'dynamodb:Query'],
        Effect: 'Allow',
        Resource: { 'Fn::GetAtt': [expect.stringMatching(/^VaultHistory/), 'Arn'] },
      },
    ]);
    expect(operatorPolicy).toBeDefined();
  });

  it('exposes the per-job metrics the alarms and the dashboard use', () => {
    const metric = vault.metricHoursSinceLastSuccess('orders');

    expect({
      namespace: metric.namespace,
      metricName: metric.metricName,
      dimensions: metric.dimensions,
      statistic: metric.statistic,
      period: metric.period.toSeconds(),
    }).toEqual({
      namespace: 'DumpVault',
      metricName: 'HoursSinceLastSuccess',
      dimensions: { service: 'dumpvault', Job: 'orders' },
      statistic: 'Maximum',
      period: 3600,
    });
    expect(vault.metricLastBackupBytes('orders').metricName).toBe('LastBackupBytes');
    expect(vault.metricLastBackupDuration('orders').metricName).toBe('LastBackupDurationSeconds');
    expect(vault.metricFailuresLast24Hours('orders').metricName).toBe('FailedRunsLast24Hours');
  });
});
