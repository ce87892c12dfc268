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

  it('creates a private, TLS-only, versioned, SSE-KMS bucket with a 7-day GOVERNANCE lock that aborts uploads after a day', () => {
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
      ObjectLockEnabled: true,
      ObjectLockConfiguration: {
        ObjectLockEnabled: 'Enabled',
        Rule: { DefaultRetention: { Mode: 'GOVERNANCE', Days: 7 } },
      },
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
        DeletionProtectionEnabled: true,
        TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
      },
      DeletionPolicy: 'Retain',
    });
  });

  it('runs one task definition per job on Fargate, with its own role, a read-only root, the task command, no pruning and logs with retention', () => {
    template.hasResourceProperties('AWS::ECS::Cluster', {
      ClusterSettings: [{ Name: 'containerInsights', Value: 'enabled' }],
    });
    for (const job of ['app-prod', 'shop-mysql']) {
      template.hasResourceProperties('AWS::ECS::TaskDefinition', {
        RequiresCompatibilities: ['FARGATE'],
        NetworkMode: 'awsvpc',
        Cpu: '1024',
        Memory: '2048',
        Family: Match.stringLikeRegexp(`-${job}$`),
        TaskRoleArn: arnOf(logicalId(`DumpVault/BackupTasks/Role-${job}/Resource`)),
        ExecutionRoleArn: arnOf(logicalId('DumpVault/BackupTasks/ExecutionRole/Resource')),
        Volumes: [{ Name: 'tmp' }],
        // Propagated to the job's tasks by RunTask (per-job cost allocation).
        Tags: Match.arrayWith([
          { Key: 'dumpvault:job', Value: job },
          { Key: 'dumpvault:task', Value: 'backup' },
        ]),
        ContainerDefinitions: [
          Match.objectLike({
            Name: 'dumpvault',
            Command: ['backup'],
            // The image's own user, named on the task definition too (never root).
            User: '10001:10001',
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
              { Name: 'DUMPVAULT_PRUNE', Value: 'separately' },
            ],
            LogConfiguration: {
              LogDriver: 'awslogs',
              Options: {
                'awslogs-group': ref(logicalId('DumpVault/TaskLogs/Resource')),
                'awslogs-stream-prefix': `task-${job}`,
                'awslogs-region': 'eu-central-1',
              },
            },
          }),
        ],
      });
    }
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

  it('schedules each job with its time zone, a retry policy and the DLQ, sending the job and the scheduled time', () => {
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
      Target: { ...common, Input: '{"job":"app-prod","scheduledTime":"<aws.scheduler.scheduled-time>"}' },
    });
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'rate(6 hours)',
      Target: { ...common, Input: '{"job":"shop-mysql","scheduledTime":"<aws.scheduler.scheduled-time>"}' },
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

  it('creates ten nodejs22.x Lambdas (three for backups, one prune per job, four restore steps, restore-ended); every asynchronously invoked one has retries, a maximum event age and the DLQ', () => {
    const functions = template.findResources('AWS::Lambda::Function');
    expect(Object.values(functions).map((f) => f['Properties']['Runtime'])).toEqual(
      Array(10).fill('nodejs22.x'),
    );
    const dlq = arnOf(logicalId('DumpVault/DeadLetterQueue/Resource'));
    for (const [fn, retries, maxAge] of [
      ['DumpVault/StartBackup', 2, 3600],
      ['DumpVault/TaskStopped', 2, 21_600],
      ['DumpVault/Watchdog', 0, 900],
      ['DumpVault/Pruning/Prune-app-prod', 2, 21_600],
      ['DumpVault/Pruning/Prune-shop-mysql', 2, 21_600],
      ['DumpVault/RestoreEnded', 2, 21_600],
    ] as const) {
      template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
        FunctionName: ref(logicalId(`${fn}/Resource`)),
        Qualifier: '$LATEST',
        MaximumRetryAttempts: retries,
        MaximumEventAgeInSeconds: maxAge,
        DestinationConfig: { OnFailure: { Destination: dlq } },
      });
    }
    template.resourceCountIs('AWS::Lambda::EventInvokeConfig', 6);
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
          DUMPVAULT_TASK_FAMILY_PREFIX: Match.stringLikeRegexp('-$'),
          DUMPVAULT_CONTAINER_NAME: 'dumpvault',
          DUMPVAULT_SUBNETS: 'subnet-0aa11bb22cc33dd44,subnet-0ee55ff66aa77bb88',
          DUMPVAULT_SECURITY_GROUPS: {
            'Fn::GetAtt': [logicalId('DumpVault/TaskSecurityGroup/Resource'), 'GroupId'],
          },
          DUMPVAULT_ASSIGN_PUBLIC_IP: 'DISABLED',
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

  it('alarms on any Lambda error, on dead letters (and their clearing) and on undelivered alerts', () => {
    const topic = ref(logicalId('DumpVault/Alerts/Resource'));
    for (const fn of ['StartBackup', 'TaskStopped', 'Watchdog', 'Pruning/Prune-app-prod']) {
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
      OKActions: [topic],
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/SNS',
      MetricName: 'NumberOfNotificationsFailed',
      Dimensions: [
        { Name: 'TopicName', Value: { 'Fn::GetAtt': [logicalId('DumpVault/Alerts/Resource'), 'TopicName'] } },
      ],
      Statistic: 'Sum',
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

  // What each role may and may not do is evaluated as AWS would in policies.test.ts.

  it('lets the watchdog read history and stop only tasks of this cluster', () => {
    template.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [ref(logicalId('DumpVault/WatchdogRole/Resource'))],
      PolicyDocument: {
        Statement: Match.arrayWith([
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
        ]),
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
