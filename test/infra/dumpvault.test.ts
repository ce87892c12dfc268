/**
 * The README's example config (test/fixtures/aws.config.json), synthesized once through the
 * CDK app with cdk-nag AwsSolutions: every resource of issue 3 and the exact IAM of the task.
 */
import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  logicalIdIn,
  SYNTH_TIMEOUT_MS,
  type Synthesized,
  type SynthesizedStack,
  synthesized,
} from './support/synthesized.ts';

let synth: Synthesized;
let stack: SynthesizedStack;
let template: Template;

beforeAll(async () => {
  synth = await synthesized('readme');
  stack = synth.stacks['DumpVault']!;
  template = Template.fromJSON(stack.template as never);
}, SYNTH_TIMEOUT_MS);

/** The logical id of a construct's main resource. */
function logicalId(path: string): string {
  return logicalIdIn(stack, path);
}

const ref = (id: string) => ({ Ref: id });
const arnOf = (id: string) => ({ 'Fn::GetAtt': [id, 'Arn'] });

describe('DumpVault with the README example config', () => {
  it('has zero unacknowledged cdk-nag AwsSolutions findings', () => {
    expect(synth.nagReport).toBe('');
    expect(synth.synthError).toBeUndefined();
  });

  it('creates a private, TLS-only, versioned, SSE-KMS bucket that aborts uploads after a day', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      VersioningConfiguration: { Status: 'Enabled' },
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [
          {
            BucketKeyEnabled: true,
            ServerSideEncryptionByDefault: {
              SSEAlgorithm: 'aws:kms',
              KMSMasterKeyID: arnOf(logicalId('DumpVault/Key/Resource')),
            },
          },
        ],
      },
      LifecycleConfiguration: {
        Rules: [
          {
            Id: 'abort-incomplete-uploads-and-expire-old-versions',
            AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
            NoncurrentVersionExpiration: { NoncurrentDays: 30 },
            ExpiredObjectDeleteMarker: true,
            Status: 'Enabled',
          },
        ],
      },
      LoggingConfiguration: Match.objectLike({ LogFilePrefix: 'backups/' }),
      ObjectLockEnabled: Match.absent(),
    });
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: ref(logicalId('DumpVault/Bucket/Resource')),
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Action: 's3:*',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ]),
      },
    });
    template.hasResource('AWS::S3::Bucket', { DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
  });

  it('creates an on-demand history table with point-in-time recovery and a TTL for leases', () => {
    template.hasResource('AWS::DynamoDB::Table', {
      Properties: {
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        AttributeDefinitions: [
          { AttributeName: 'pk', AttributeType: 'S' },
          { AttributeName: 'sk', AttributeType: 'S' },
        ],
        BillingMode: 'PAY_PER_REQUEST',
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
      },
      DeletionPolicy: 'Retain',
    });
  });

  it('runs the task on Fargate with a read-only root, the task command and logs with retention', () => {
    template.hasResourceProperties('AWS::ECS::Cluster', {
      ClusterSettings: [{ Name: 'containerInsights', Value: 'enabled' }],
    });
    template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      RequiresCompatibilities: ['FARGATE'],
      NetworkMode: 'awsvpc',
      Cpu: '1024',
      Memory: '2048',
      TaskRoleArn: arnOf(logicalId('DumpVault/TaskRole/Resource')),
      Volumes: [{ Name: 'tmp' }],
      ContainerDefinitions: [
        Match.objectLike({
          Name: 'dumpvault',
          Command: ['backup'],
          Essential: true,
          ReadonlyRootFilesystem: true,
          StopTimeout: 120,
          LinuxParameters: Match.objectLike({ InitProcessEnabled: true }),
          MountPoints: [{ ContainerPath: '/tmp', ReadOnly: false, SourceVolume: 'tmp' }],
          Image: { 'Fn::Sub': Match.stringLikeRegexp('container-assets') },
          Environment: [
            { Name: 'DUMPVAULT_HISTORY_TABLE', Value: ref(logicalId('DumpVault/History/Resource')) },
            { Name: 'DUMPVAULT_BUCKET', Value: ref(logicalId('DumpVault/Bucket/Resource')) },
            { Name: 'DUMPVAULT_TOPIC_ARN', Value: ref(logicalId('DumpVault/Alerts/Resource')) },
            { Name: 'DUMPVAULT_PUBLIC_KEYS_JSON', Value: '{}' },
          ],
          LogConfiguration: {
            LogDriver: 'awslogs',
            Options: {
              'awslogs-group': ref(logicalId('DumpVault/TaskLogs/Resource')),
              'awslogs-stream-prefix': 'task',
              'awslogs-region': 'eu-central-1',
            },
          },
        }),
      ],
    });
    template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 90 });
    expect(JSON.stringify(template.toJSON())).not.toMatch(/"Secrets"/);
  });

  it('uses the configured VPC by id and a security group without inbound rules', () => {
    template.resourceCountIs('AWS::EC2::VPC', 0);
    template.hasResourceProperties('AWS::EC2::SecurityGroup', {
      VpcId: 'vpc-0a1b2c3d4e5f60718',
      SecurityGroupEgress: [
        { CidrIp: '0.0.0.0/0', IpProtocol: '-1', Description: 'Allow all outbound traffic by default' },
      ],
      SecurityGroupIngress: Match.absent(),
    });
    template.resourceCountIs('AWS::EC2::SecurityGroupIngress', 0);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          DUMPVAULT_SUBNETS: 'subnet-0aa11bb22cc33dd44,subnet-0ee55ff66aa77bb88',
        }),
      },
    });
  });

  it('schedules each job with its time zone, a retry policy and the DLQ, sending {"job": name}', () => {
    const common = {
      Arn: arnOf(logicalId('DumpVault/StartBackup/Resource')),
      DeadLetterConfig: { Arn: arnOf(logicalId('DumpVault/DeadLetterQueue/Resource')) },
      RetryPolicy: { MaximumEventAgeInSeconds: 3600, MaximumRetryAttempts: 3 },
      RoleArn: arnOf(logicalId('DumpVault/SchedulerRole/Resource')),
    };
    template.resourceCountIs('AWS::Scheduler::Schedule', 2);
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'cron(0 3 * * ? *)',
      ScheduleExpressionTimezone: 'Europe/Berlin',
      FlexibleTimeWindow: { Mode: 'OFF' },
      Target: { ...common, Input: '{"job":"app-prod"}' },
    });
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'rate(6 hours)',
      Target: { ...common, Input: '{"job":"shop-mysql"}' },
    });
    template.hasResourceProperties('AWS::SQS::Queue', {
      SqsManagedSseEnabled: true,
      MessageRetentionPeriod: 1_209_600,
    });
  });

  it('routes STOPPED tasks of this cluster to task-stopped and runs the watchdog every 15 minutes', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.ecs'],
        'detail-type': ['ECS Task State Change'],
        detail: { clusterArn: [arnOf(logicalId('DumpVault/Cluster/Resource'))], lastStatus: ['STOPPED'] },
      },
      Targets: [
        Match.objectLike({
          Arn: arnOf(logicalId('DumpVault/TaskStopped/Resource')),
          DeadLetterConfig: { Arn: arnOf(logicalId('DumpVault/DeadLetterQueue/Resource')) },
          RetryPolicy: { MaximumEventAgeInSeconds: 21_600, MaximumRetryAttempts: 8 },
        }),
      ],
    });
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(15 minutes)',
      Targets: [Match.objectLike({ Arn: arnOf(logicalId('DumpVault/Watchdog/Resource')) })],
    });
  });

  it('creates eight nodejs22.x Lambdas (three for backups, four restore steps, restore-ended) with their environment, failed async invocations going to the DLQ', () => {
    const functions = template.findResources('AWS::Lambda::Function');
    expect(Object.values(functions).map((f) => f['Properties']['Runtime'])).toEqual(
      Array(8).fill('nodejs22.x'),
    );
    for (const fn of ['StartBackup', 'TaskStopped', 'RestoreEnded']) {
      template.hasResourceProperties('AWS::Lambda::Function', {
        Role: arnOf(logicalId(`DumpVault/${fn}Role/Resource`)),
        DeadLetterConfig: { TargetArn: arnOf(logicalId('DumpVault/DeadLetterQueue/Resource')) },
      });
    }
    template.hasResourceProperties('AWS::Lambda::Function', {
      Handler: 'index.handler',
      Architectures: ['arm64'],
      Environment: {
        Variables: {
          NODE_OPTIONS: '--enable-source-maps',
          POWERTOOLS_SERVICE_NAME: 'dumpvault',
          POWERTOOLS_METRICS_NAMESPACE: 'DumpVault',
          POWERTOOLS_LOG_LEVEL: 'INFO',
          DUMPVAULT_HISTORY_TABLE: ref(logicalId('DumpVault/History/Resource')),
          DUMPVAULT_TOPIC_ARN: ref(logicalId('DumpVault/Alerts/Resource')),
          DUMPVAULT_CLUSTER: arnOf(logicalId('DumpVault/Cluster/Resource')),
          DUMPVAULT_TASK_DEFINITION: ref(logicalId('DumpVault/TaskDefinition/Resource')),
          DUMPVAULT_CONTAINER_NAME: 'dumpvault',
          DUMPVAULT_SUBNETS: 'subnet-0aa11bb22cc33dd44,subnet-0ee55ff66aa77bb88',
          DUMPVAULT_SECURITY_GROUPS: {
            'Fn::GetAtt': [logicalId('DumpVault/TaskSecurityGroup/Resource'), 'GroupId'],
          },
        },
      },
    });
  });

  it('encrypts the alerts topic with KMS, requires TLS and subscribes the configured e-mails', () => {
    template.hasResourceProperties('AWS::SNS::Topic', {
      KmsMasterKeyId: arnOf(logicalId('DumpVault/Key/Resource')),
    });
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'ops@example.com',
    });
    // Who may publish and use the key is evaluated as AWS would, in policies.test.ts.
    template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
  });

  it('alarms after 1.5 × the schedule period + 2 h without success, treating missing data as breaching', () => {
    const topic = ref(logicalId('DumpVault/Alerts/Resource'));
    for (const [job, threshold] of [
      // 03:00 Europe/Berlin: the fall-back day makes the longest gap 25 h (1.5 × 25 + 2).
      ['app-prod', 39.5],
      ['shop-mysql', 11],
    ] as const) {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'DumpVault',
        MetricName: 'HoursSinceLastSuccess',
        Dimensions: [
          { Name: 'Job', Value: job },
          { Name: 'service', Value: 'dumpvault' },
        ],
        Statistic: 'Maximum',
        Period: 3600,
        EvaluationPeriods: 1,
        Threshold: threshold,
        ComparisonOperator: 'GreaterThanThreshold',
        TreatMissingData: 'breaching',
        AlarmActions: [topic],
        OKActions: [topic],
      });
    }
  });

  it('alarms on any Lambda error and on any message in the dead-letter queue', () => {
    const topic = ref(logicalId('DumpVault/Alerts/Resource'));
    for (const fn of ['StartBackup', 'TaskStopped', 'Watchdog']) {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/Lambda',
        MetricName: 'Errors',
        Dimensions: [{ Name: 'FunctionName', Value: ref(logicalId(`DumpVault/${fn}/Resource`)) }],
        Statistic: 'Sum',
        Period: 300,
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        AlarmActions: [topic],
      });
    }
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Statistic: 'Maximum',
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      AlarmActions: [topic],
    });
  });

  it('has a dashboard with age, duration, size and failures of every job', () => {
    const dashboards = Object.values(template.findResources('AWS::CloudWatch::Dashboard'));
    expect(dashboards).toHaveLength(1);
    const body = JSON.stringify(dashboards[0]);
    for (const job of ['app-prod', 'shop-mysql']) {
      for (const metric of [
        'HoursSinceLastSuccess',
        'LastBackupDurationSeconds',
        'LastBackupBytes',
        'FailedRunsLast24Hours',
      ]) {
        expect(body).toContain(`\\"${metric}\\",\\"Job\\",\\"${job}\\"`);
      }
    }
  });

  it('gives the task exactly its secrets, its key prefixes, history items and the topic', () => {
    const bucket = logicalId('DumpVault/Bucket/Resource');
    template.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [ref(logicalId('DumpVault/TaskRole/Resource'))],
      PolicyDocument: {
        Version: '2012-10-17',
        Statement: [
          {
            Sid: 'ReadJobSecrets',
            Effect: 'Allow',
            Action: 'secretsmanager:GetSecretValue',
            Resource: [
              'arn:aws:secretsmanager:eu-central-1:123456789012:secret:dumpvault/offsite-r2-Xy12Ab',
              'arn:aws:secretsmanager:eu-central-1:123456789012:secret:dumpvault/passphrase-Qw34Er',
              'arn:aws:secretsmanager:eu-central-1:123456789012:secret:dumpvault/shop-mysql-Lk56Mn',
              'arn:aws:secretsmanager:eu-central-1:123456789012:secret:rds!cluster-1a2b3c4d-Zx98Cv',
            ],
          },
          {
            Sid: 'WriteBackupObjects',
            Effect: 'Allow',
            Action: ['s3:PutObject', 's3:GetObject', 's3:DeleteObject', 's3:AbortMultipartUpload'],
            Resource: [
              { 'Fn::Join': ['', [arnOf(bucket), '/dumpvault/app-prod/*']] },
              { 'Fn::Join': ['', [arnOf(bucket), '/dumpvault/shop-mysql/*']] },
            ],
          },
          {
            Sid: 'ListBackupPrefixes',
            Effect: 'Allow',
            Action: 's3:ListBucket',
            Resource: arnOf(bucket),
            Condition: { StringLike: { 's3:prefix': ['dumpvault/app-prod/*', 'dumpvault/shop-mysql/*'] } },
          },
          {
            Sid: 'FindLostUploads',
            Effect: 'Allow',
            Action: 's3:ListBucketMultipartUploads',
            Resource: arnOf(bucket),
          },
          {
            Sid: 'UseEncryptionKeys',
            Effect: 'Allow',
            Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
            Resource: arnOf(logicalId('DumpVault/Key/Resource')),
          },
          {
            Sid: 'WriteHistoryItems',
            Effect: 'Allow',
            Action: [
              'dynamodb:GetItem',
              'dynamodb:PutItem',
              'dynamodb:UpdateItem',
              'dynamodb:DeleteItem',
              'dynamodb:Query',
            ],
            Resource: arnOf(logicalId('DumpVault/History/Resource')),
            Condition: {
              'ForAllValues:StringEquals': {
                'dynamodb:LeadingKeys': ['JOB#app-prod', 'JOB#shop-mysql', 'JOBS'],
              },
            },
          },
          {
            Sid: 'PublishAlerts',
            Effect: 'Allow',
            Action: 'sns:Publish',
            Resource: ref(logicalId('DumpVault/Alerts/Resource')),
          },
        ],
      },
    });
  });

  it('lets start-backup run only this task definition on this cluster and pass only its roles', () => {
    template.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [ref(logicalId('DumpVault/StartBackupRole/Resource'))],
      PolicyDocument: {
        Statement: Match.arrayWith([
          {
            Effect: 'Allow',
            Action: 'ecs:RunTask',
            Resource: ref(logicalId('DumpVault/TaskDefinition/Resource')),
            Condition: { ArnEquals: { 'ecs:cluster': arnOf(logicalId('DumpVault/Cluster/Resource')) } },
          },
          {
            Effect: 'Allow',
            Action: 'iam:PassRole',
            Resource: [
              arnOf(logicalId('DumpVault/TaskRole/Resource')),
              arnOf(logicalId('DumpVault/TaskDefinition/ExecutionRole/Resource')),
            ],
            Condition: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
          },
        ]),
      },
    });
  });

  it('lets the watchdog read history and stop only tasks of this cluster', () => {
    template.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [ref(logicalId('DumpVault/WatchdogRole/Resource'))],
      PolicyDocument: {
        Statement: [
          Match.objectLike({ Action: ['logs:CreateLogStream', 'logs:PutLogEvents'] }),
          {
            Effect: 'Allow',
            Action: ['dynamodb:GetItem', 'dynamodb:Query'],
            Resource: arnOf(logicalId('DumpVault/History/Resource')),
          },
          {
            Effect: 'Allow',
            Action: 'ecs:StopTask',
            Resource: {
              'Fn::Join': [
                '',
                [
                  'arn:',
                  ref('AWS::Partition'),
                  ':ecs:eu-central-1:',
                  ref('AWS::AccountId'),
                  ':task/',
                  ref(logicalId('DumpVault/Cluster/Resource')),
                  '/*',
                ],
              ],
            },
          },
        ],
      },
    });
  });

  it('exports the names the CLI and the deploy guide point at', () => {
    const outputs = Object.keys(template.toJSON()['Outputs']);
    expect(outputs).toEqual(
      expect.arrayContaining([
        'BucketName',
        'HistoryTableName',
        'AlertsTopicArn',
        'StartBackupFunctionName',
        'TaskLogGroupName',
        'DashboardName',
      ]),
    );
  });
});
