/**
 * The deployment variants the README example does not cover, synthesized together once with
 * cdk-nag: a new VPC with gateway endpoints, an Object Lock bucket, OpenPGP recipients, an
 * existing bucket with its own KMS key; plus the construct's grant and metric methods.
 */
import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { KMS_KEY_ARN as KEY_ARN, PUBLIC_KEY } from './support/fixtures.ts';
import { SYNTH_TIMEOUT_MS, type Synthesized, synthesized } from './support/synthesized.ts';

let synth: Synthesized;
let newVpc: Template;
let existing: Template;
let operatorPolicy: Template;

beforeAll(async () => {
  synth = await synthesized('variants');
  newVpc = Template.fromJSON(synth.stacks['NewVpc']!.template as never);
  existing = Template.fromJSON(synth.stacks['Existing']!.template as never);
  operatorPolicy = newVpc;
}, SYNTH_TIMEOUT_MS);

describe('DumpVault variants', () => {
  it('has zero unacknowledged cdk-nag findings in every variant', () => {
    expect(synth.nagReport).toBe('');
    expect(synth.synthError).toBeUndefined();
  });

  it('lets CloudFormation name the replication role (a fixed CDKReplicationRole collides with a second stack in the account)', () => {
    const roles = Object.values(
      newVpc.findResources('AWS::IAM::Role', {
        Properties: {
          AssumeRolePolicyDocument: {
            Statement: Match.arrayWith([Match.objectLike({ Principal: { Service: 's3.amazonaws.com' } })]),
          },
        },
      }),
    ) as Array<{ Properties: { RoleName?: unknown } }>;

    expect(roles).toHaveLength(1);
    expect(roles[0]!.Properties.RoleName).toBeUndefined();
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
    expect(synth.extras['freshnessAlarmJobs']).toEqual(['orders']);
  });

  it('uses an existing bucket and its KMS key without creating a bucket, and existing subnets', () => {
    existing.resourceCountIs('AWS::S3::Bucket', 0);
    existing.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          {
            Sid: 'WriteBackupObjects',
            Effect: 'Allow',
            Action: ['s3:AbortMultipartUpload', 's3:GetObject', 's3:PutObject'],
            Resource: {
              'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':s3:::acme-existing-backups/crm/*']],
            },
          },
          Match.objectLike({ Sid: 'UseEncryptionKeys', Resource: Match.arrayWith([KEY_ARN]) }),
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
    const metrics = synth.extras['metrics'] as Record<string, { metricName: string }>;

    expect(metrics['hoursSinceLastSuccess']).toEqual({
      namespace: 'DumpVault',
      metricName: 'HoursSinceLastSuccess',
      dimensions: { service: 'dumpvault', Job: 'orders' },
      statistic: 'Maximum',
      period: 3600,
    });
    expect(metrics['lastBackupBytes']?.metricName).toBe('LastBackupBytes');
    expect(metrics['lastBackupDuration']?.metricName).toBe('LastBackupDurationSeconds');
    expect(metrics['failuresLast24Hours']?.metricName).toBe('FailedRunsLast24Hours');
  });
});
