/**
 * `DumpVault`: the whole serverless backup system for one config (DESIGN.md §1) as one L2-style
 * construct. Schedules start the start-backup Lambda, which leases the job and runs the Fargate
 * task; task-stopped records tasks that died; the watchdog feeds the per-job alarms. The restore
 * state machine and the restore drills live in the child construct `Restore` (infra/restore.ts).
 */
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  Annotations,
  ArnFormat,
  Duration,
  Fn,
  RemovalPolicy,
  Stack,
  TimeZone,
  Validations,
} from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { DockerImageAsset, Platform } from 'aws-cdk-lib/aws-ecr-assets';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as events from 'aws-cdk-lib/aws-events';
import * as eventTargets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as schedulerTargets from 'aws-cdk-lib/aws-scheduler-targets';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { validateConfig } from '../core/config/load.ts';
import type { Config } from '../core/config/schema.ts';
import { ConfigError } from '../core/errors.ts';
import { DUMP_TASK_SHAPE, mountTmp } from './fargate.ts';
import { type FunctionName, functionCode, PACKAGE_ROOT } from './function-code.ts';
import { managedKeyPrefixes, nagResource, secretArnsOf } from './iam.ts';
import { DumpVaultRestore } from './restore.ts';
import { scheduleGaps } from './schedule-gaps.ts';
import { alarmThresholdHours, deploymentProblems } from './validate.ts';

/** CloudWatch namespace of every dumpvault metric (the Lambdas emit EMF into it). */
export const METRIC_NAMESPACE = 'DumpVault';
/** Powertools adds this `service` dimension to every metric. */
export const SERVICE_NAME = 'dumpvault';
/** Name of the task's container; start-backup overrides its environment. */
export const CONTAINER_NAME = 'dumpvault';

export { managedKeyPrefixes, secretArnsOf, secretResourceArn } from './iam.ts';

const LOG_RETENTION_DAYS = Object.values(logs.RetentionDays).filter(
  (v): v is number => typeof v === 'number',
);

/** How {@link DumpVault} builds each of its Lambdas (log group, role, bundle, Powertools settings). */
export interface FunctionOptions {
  readonly description: string;
  /** The config bundled as config.json (only functions that read it get it). */
  readonly config?: Config;
  readonly logRetention: logs.RetentionDays;
  readonly timeout: Duration;
  readonly environment: Record<string, string>;
  /** Where asynchronous invocations that failed every retry go. */
  readonly deadLetterQueue?: sqs.IQueue;
  /**
   * Runs the function in the VPC (to reach databases); the role then gets ENI management.
   *
   * @default - outside any VPC
   */
  readonly vpc?: FunctionVpcOptions;
}

/** Where a Lambda that must reach databases runs. */
export interface FunctionVpcOptions {
  readonly vpc: ec2.IVpc;
  readonly subnets: ec2.SubnetSelection;
  readonly securityGroups: ec2.ISecurityGroup[];
}

export interface DumpVaultProps {
  /** The validated configuration, as `loadConfig()` or `validateConfig()` return it. */
  readonly config: Config;

  /**
   * Directory that relative paths in the config (OpenPGP recipient key files) resolve against.
   *
   * @default process.cwd()
   */
  readonly configDir?: string;

  /**
   * The bucket that destinations with `"bucket": "managed"` write to.
   *
   * @default - the bucket named by `aws.bucket.existingBucketName`, else a new bucket
   */
  readonly bucket?: s3.IBucket;

  /**
   * The KMS key of an existing `bucket`, when it uses SSE-KMS with a customer managed key.
   *
   * @default - `aws.bucket.existingBucketKeyArn`, else none (SSE-S3)
   */
  readonly bucketKey?: kms.IKey;

  /**
   * The VPC the tasks run in.
   *
   * @default - the VPC given by `aws.vpc`, else a new VPC with one NAT gateway and S3 and
   * DynamoDB gateway endpoints
   */
  readonly vpc?: ec2.IVpc;

  /**
   * Subnets of the tasks.
   *
   * @default - the VPC's private subnets
   */
  readonly vpcSubnets?: ec2.SubnetSelection;

  /**
   * The task image.
   *
   * @default - built by `cdk deploy` from task-image/Dockerfile and `taskBundle`
   */
  readonly taskImage?: ecs.ContainerImage;

  /**
   * The CLI bundle the default task image runs.
   *
   * @default - dist/dumpvault.mjs of this package (built by `npm run build` and on `npm ci`)
   */
  readonly taskBundle?: string;

  /**
   * What happens to the bucket and the history table when the stack is deleted.
   *
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/** Confused-deputy guard: only CloudWatch alarms of this account and region. */
function alarmSourceConditions(stack: Stack): Record<string, Record<string, string>> {
  return {
    StringEquals: { 'aws:SourceAccount': stack.account },
    ArnLike: {
      'aws:SourceArn': stack.formatArn({
        service: 'cloudwatch',
        resource: 'alarm',
        resourceName: '*',
        arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      }),
    },
  };
}

/** The subset of a config a Lambda needs: no deployment settings (e-mail addresses). */
function functionConfig(config: Config): Config {
  const { aws: _aws, ...rest } = config;
  return rest;
}

/** Reads every OpenPGP recipient key of the config: `{path as written: armored key}`. */
function readPublicKeys(config: Config, configDir: string): Record<string, string> {
  const keys: Record<string, string> = {};
  const problems: string[] = [];
  for (const [name, enc] of Object.entries(config.encryption)) {
    if (enc.type !== 'openpgp') continue;
    enc.recipients.forEach((recipient, i) => {
      const file = path.resolve(configDir, recipient);
      try {
        const text = readFileSync(file, 'utf8');
        if (/PRIVATE KEY BLOCK/.test(text)) {
          problems.push(
            `encryption.${name}.recipients[${i}]: ${recipient} holds a private key; give the public key`,
          );
        } else {
          keys[recipient] = text;
        }
      } catch {
        problems.push(
          `encryption.${name}.recipients[${i}]: cannot read ${file}; expected an armored public key file`,
        );
      }
    });
  }
  if (problems.length) throw new ConfigError(problems.join('\n'));
  return keys;
}

/**
 * Stages the minimal Docker build context (Dockerfile, .dockerignore, CLI bundle) of the task
 * image: one asset, shared by the backup, restore and drill task definitions.
 */
function defaultTaskImage(scope: Construct, bundleFile: string): ecs.ContainerImage {
  if (!existsSync(bundleFile)) {
    throw new ConfigError(
      `the task bundle ${bundleFile} does not exist; run "npm run build" (it also runs on npm ci) or pass taskBundle`,
    );
  }
  const dockerfile = path.join(PACKAGE_ROOT, 'task-image', 'Dockerfile');
  const dockerignore = path.join(PACKAGE_ROOT, 'task-image', '.dockerignore');
  const hash = createHash('sha256')
    .update(readFileSync(dockerfile))
    .update(existsSync(dockerignore) ? readFileSync(dockerignore) : '')
    .update(readFileSync(bundleFile))
    .digest('hex')
    .slice(0, 16);
  const context = path.join(tmpdir(), `dumpvault-task-image-${hash}`);
  if (!existsSync(path.join(context, 'dumpvault.mjs'))) {
    mkdirSync(context, { recursive: true });
    copyFileSync(dockerfile, path.join(context, 'Dockerfile'));
    if (existsSync(dockerignore)) copyFileSync(dockerignore, path.join(context, '.dockerignore'));
    copyFileSync(bundleFile, path.join(context, 'dumpvault.mjs'));
    if (existsSync(`${bundleFile}.map`))
      copyFileSync(`${bundleFile}.map`, path.join(context, 'dumpvault.mjs.map'));
  }
  const asset = new DockerImageAsset(scope, 'TaskImage', {
    directory: context,
    platform: Platform.LINUX_AMD64,
  });
  return ecs.ContainerImage.fromDockerImageAsset(asset);
}

/**
 * Scheduled, streaming, encrypted database backups: bucket, history table, Fargate task,
 * schedules, orchestration Lambdas, alerts, alarms and a dashboard for every job of a config.
 */
export class DumpVault extends Construct {
  /** The validated config this deployment was built from. */
  readonly config: Config;
  /** Where `"bucket": "managed"` destinations write. */
  readonly bucket: s3.IBucket;
  /** Encrypts the bucket (when created here), the alerts topic and nothing else. */
  readonly key: kms.Key;
  /** Run history, leases and alert state. */
  readonly table: dynamodb.Table;
  /** Failures, recoveries and skipped runs (message attributes `job`, `status`, `kind`). */
  readonly topic: sns.Topic;
  readonly vpc: ec2.IVpc;
  readonly securityGroup: ec2.SecurityGroup;
  readonly cluster: ecs.Cluster;
  readonly taskDefinition: ecs.FargateTaskDefinition;
  readonly container: ecs.ContainerDefinition;
  readonly taskLogGroup: logs.LogGroup;
  readonly startBackupFunction: lambda.Function;
  readonly taskStoppedFunction: lambda.Function;
  readonly watchdogFunction: lambda.Function;
  /** Schedule, rule and asynchronous Lambda invocations that failed after all retries. */
  readonly deadLetterQueue: sqs.Queue;
  /** The EventBridge Scheduler schedule of each scheduled job. */
  readonly schedules: Readonly<Record<string, scheduler.Schedule>>;
  /** The `HoursSinceLastSuccess` alarm of each job that has a threshold. */
  readonly freshnessAlarms: Readonly<Record<string, cloudwatch.Alarm>>;
  readonly dashboard: cloudwatch.Dashboard;
  /** The restore state machine, its task definitions, drill schedules and drill alarms. */
  readonly restore: DumpVaultRestore;

  private readonly subnets: ec2.SelectedSubnets;

  constructor(scope: Construct, id: string, props: DumpVaultProps) {
    super(scope, id);
    const config = validateConfig(props.config);
    const problems = deploymentProblems(config);
    const retentionDays = config.aws?.logRetentionDays ?? 90;
    if (!LOG_RETENTION_DAYS.includes(retentionDays)) {
      problems.push(
        `aws.logRetentionDays: expected one of ${LOG_RETENTION_DAYS.join(', ')} (what CloudWatch Logs offers), got ${retentionDays}`,
      );
    }
    if (props.bucket && config.aws?.bucket?.objectLock) {
      problems.push('aws.bucket.objectLock: object lock can only be set on a bucket this construct creates');
    }
    if (problems.length) throw new ConfigError(`the config cannot be deployed:\n${problems.join('\n')}`);
    this.config = config;
    const stack = Stack.of(this);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const publicKeys = readPublicKeys(config, props.configDir ?? process.cwd());
    const logRetention = retentionDays as logs.RetentionDays;

    this.key = new kms.Key(this, 'Key', {
      description: 'dumpvault: backups bucket and alerts topic',
      enableKeyRotation: true,
      removalPolicy,
    });
    // CloudWatch alarms of this account publish to the encrypted topic: they need the key too.
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AlarmsUseTopicKey',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: alarmSourceConditions(stack),
      }),
    );

    // --- storage ---------------------------------------------------------------------------
    const bucketSettings = config.aws?.bucket;
    let bucketKey: kms.IKey | undefined;
    if (props.bucket) {
      this.bucket = props.bucket;
      bucketKey = props.bucketKey;
    } else if (bucketSettings?.existingBucketName) {
      this.bucket = s3.Bucket.fromBucketName(this, 'Bucket', bucketSettings.existingBucketName);
      bucketKey =
        props.bucketKey ??
        (bucketSettings.existingBucketKeyArn
          ? kms.Key.fromKeyArn(this, 'BucketKey', bucketSettings.existingBucketKeyArn)
          : undefined);
    } else {
      const accessLogs = new s3.Bucket(this, 'AccessLogs', {
        blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
        encryption: s3.BucketEncryption.S3_MANAGED,
        enforceSSL: true,
        lifecycleRules: [{ expiration: Duration.days(365) }],
        removalPolicy,
      });
      Validations.of(accessLogs).acknowledge({
        id: 'AwsSolutions-S1',
        reason:
          'This is the server access log target of the backups bucket; logging it into itself would loop.',
      });
      const lock = bucketSettings?.objectLock;
      const created = new s3.Bucket(this, 'Bucket', {
        blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
        enforceSSL: true,
        versioned: true,
        encryption: s3.BucketEncryption.KMS,
        encryptionKey: this.key,
        bucketKeyEnabled: true,
        objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        serverAccessLogsBucket: accessLogs,
        serverAccessLogsPrefix: 'backups/',
        lifecycleRules: [
          {
            id: 'abort-incomplete-uploads-and-expire-old-versions',
            abortIncompleteMultipartUploadAfter: Duration.days(1),
            noncurrentVersionExpiration: Duration.days(bucketSettings?.noncurrentVersionExpirationDays ?? 30),
            expiredObjectDeleteMarker: true,
          },
        ],
        ...(lock
          ? {
              objectLockEnabled: true,
              objectLockDefaultRetention:
                lock.mode === 'COMPLIANCE'
                  ? s3.ObjectLockRetention.compliance(Duration.days(lock.days))
                  : s3.ObjectLockRetention.governance(Duration.days(lock.days)),
            }
          : {}),
        removalPolicy,
      });
      this.bucket = created;
      bucketKey = this.key;
    }

    this.table = new dynamodb.Table(this, 'History', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'sk', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: 'ttl',
      removalPolicy,
    });

    // --- alerts ----------------------------------------------------------------------------
    this.topic = new sns.Topic(this, 'Alerts', {
      displayName: 'dumpvault alerts',
      masterKey: this.key,
      enforceSSL: true,
    });
    // Without this statement SNS refuses every alarm notification ("no resource-based policy
    // allows the SNS:Publish action"): the alarms would go to ALARM in silence.
    this.topic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AlarmsPublish',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [this.topic.topicArn],
        conditions: alarmSourceConditions(stack),
      }),
    );
    for (const email of config.aws?.alerts?.emails ?? []) {
      this.topic.addSubscription(new subscriptions.EmailSubscription(email));
    }

    // --- network ---------------------------------------------------------------------------
    if (props.vpc) {
      this.vpc = props.vpc;
    } else if (config.aws?.vpc) {
      const v = config.aws.vpc;
      this.vpc = ec2.Vpc.fromVpcAttributes(this, 'Vpc', {
        vpcId: v.vpcId,
        availabilityZones: v.availabilityZones ?? v.privateSubnetIds.map((_, i) => Fn.select(i, Fn.getAzs())),
        privateSubnetIds: v.privateSubnetIds,
      });
      Annotations.of(this.vpc).acknowledgeWarning(
        '@aws-cdk/aws-ec2:noSubnetRouteTableId',
        'Only subnet ids are used (for RunTask); nothing reads the route tables of an existing VPC.',
      );
    } else {
      const vpc = new ec2.Vpc(this, 'Vpc', {
        maxAzs: 2,
        natGateways: 1,
        subnetConfiguration: [
          { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
          { name: 'tasks', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 22 },
        ],
        gatewayEndpoints: {
          S3: { service: ec2.GatewayVpcEndpointAwsService.S3 },
          DynamoDB: { service: ec2.GatewayVpcEndpointAwsService.DYNAMODB },
        },
      });
      const flowLogGroup = new logs.LogGroup(this, 'VpcFlowLogs', { retention: logRetention });
      vpc.addFlowLog('FlowLog', {
        destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogGroup),
        trafficType: ec2.FlowLogTrafficType.REJECT,
      });
      this.vpc = vpc;
    }
    this.subnets = this.vpc.selectSubnets(
      props.vpcSubnets ?? { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
    );
    this.securityGroup = new ec2.SecurityGroup(this, 'TaskSecurityGroup', {
      vpc: this.vpc,
      description: 'dumpvault backup tasks: no inbound traffic, outbound to databases and AWS APIs',
      allowAllOutbound: true,
    });

    // --- task ------------------------------------------------------------------------------
    this.cluster = new ecs.Cluster(this, 'Cluster', {
      vpc: this.vpc,
      containerInsightsV2: ecs.ContainerInsights.ENABLED,
    });
    this.taskLogGroup = new logs.LogGroup(this, 'TaskLogs', { retention: logRetention, removalPolicy });
    const taskRole = new iam.Role(this, 'TaskRole', {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
      description: 'dumpvault backup task: its secrets, its key prefixes, history items, alerts',
    });
    this.taskDefinition = new ecs.FargateTaskDefinition(this, 'TaskDefinition', {
      ...DUMP_TASK_SHAPE,
      taskRole,
    });
    const taskImage =
      props.taskImage ??
      defaultTaskImage(this, props.taskBundle ?? path.join(PACKAGE_ROOT, 'dist', 'dumpvault.mjs'));
    this.container = this.taskDefinition.addContainer('Container', {
      containerName: CONTAINER_NAME,
      image: taskImage,
      command: ['backup'],
      essential: true,
      readonlyRootFilesystem: true,
      // StopTask sends SIGTERM, then SIGKILL after this long: the task aborts its upload and
      // records FAILED in between (Fargate's maximum; the abort retries for up to ~15 s).
      stopTimeout: Duration.seconds(120),
      // An init process as PID 1 forwards SIGTERM to node and reaps the dump tools' orphans.
      linuxParameters: new ecs.LinuxParameters(this.taskDefinition, 'LinuxParameters', {
        initProcessEnabled: true,
      }),
      logging: ecs.LogDrivers.awsLogs({ logGroup: this.taskLogGroup, streamPrefix: 'task' }),
      environment: {
        DUMPVAULT_HISTORY_TABLE: this.table.tableName,
        DUMPVAULT_BUCKET: this.bucket.bucketName,
        DUMPVAULT_TOPIC_ARN: this.topic.topicArn,
        DUMPVAULT_PUBLIC_KEYS_JSON: JSON.stringify(publicKeys),
      },
    });
    mountTmp(this.container);
    this.grantTaskPermissions(taskRole, bucketKey);
    Validations.of(this.taskDefinition).acknowledge({
      id: 'AwsSolutions-ECS2',
      reason:
        'The environment holds only the table, bucket and topic names and public keys; secrets are fetched from Secrets Manager by ARN at run time.',
    });
    Validations.of(this.taskDefinition.obtainExecutionRole()).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'ecr:GetAuthorizationToken, needed to pull the task image, supports no resource-level permissions.',
    });

    // --- functions -------------------------------------------------------------------------
    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(this.deadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: 'This queue is itself the dead-letter queue of the schedules and the task-stopped rule.',
    });

    const common = {
      DUMPVAULT_HISTORY_TABLE: this.table.tableName,
      DUMPVAULT_TOPIC_ARN: this.topic.topicArn,
    };
    this.startBackupFunction = this.createFunction('StartBackup', 'start-backup', {
      description: 'dumpvault: lease a job, record it RUNNING and start its Fargate task',
      config,
      logRetention,
      timeout: Duration.seconds(60),
      deadLetterQueue: this.deadLetterQueue,
      environment: {
        ...common,
        DUMPVAULT_CLUSTER: this.cluster.clusterArn,
        DUMPVAULT_TASK_DEFINITION: this.taskDefinition.taskDefinitionArn,
        DUMPVAULT_CONTAINER_NAME: CONTAINER_NAME,
        DUMPVAULT_SUBNETS: Fn.join(',', this.subnets.subnetIds),
        DUMPVAULT_SECURITY_GROUPS: this.securityGroup.securityGroupId,
      },
    });
    this.taskStoppedFunction = this.createFunction('TaskStopped', 'task-stopped', {
      description: 'dumpvault: mark runs whose task stopped without a result FAILED',
      logRetention,
      timeout: Duration.seconds(30),
      deadLetterQueue: this.deadLetterQueue,
      environment: { ...common, DUMPVAULT_CONTAINER_NAME: CONTAINER_NAME },
    });
    this.watchdogFunction = this.createFunction('Watchdog', 'watchdog', {
      description: 'dumpvault: publish HoursSinceLastSuccess per job, stop tasks past their timeout',
      config,
      logRetention,
      timeout: Duration.seconds(60),
      environment: {
        DUMPVAULT_HISTORY_TABLE: this.table.tableName,
        DUMPVAULT_CLUSTER: this.cluster.clusterArn,
      },
    });
    this.grantFunctionPermissions();

    // --- triggers --------------------------------------------------------------------------
    const schedulerRole = new iam.Role(this, 'SchedulerRole', {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
      }),
      description: 'dumpvault schedules: invoke start-backup, send failed invocations to the DLQ',
    });
    Validations.of(schedulerRole).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${nagResource(this, this.startBackupFunction.functionArn)}:*]`,
      reason:
        'lambda:InvokeFunction on start-backup and its versions, as aws-scheduler-targets grants it; no other function.',
    });
    const schedules: Record<string, scheduler.Schedule> = {};
    for (const job of config.jobs) {
      if (!job.schedule) continue;
      const expression = job.schedule.cron
        ? scheduler.ScheduleExpression.expression(
            `cron(${job.schedule.cron})`,
            TimeZone.of(job.schedule.timezone),
          )
        : scheduler.ScheduleExpression.expression(`rate(${job.schedule.rate})`);
      schedules[job.name] = new scheduler.Schedule(this, `Schedule-${job.name}`, {
        description: `dumpvault: back up ${job.name}`,
        schedule: expression,
        target: new schedulerTargets.LambdaInvoke(this.startBackupFunction, {
          role: schedulerRole,
          input: scheduler.ScheduleTargetInput.fromObject({ job: job.name }),
          deadLetterQueue: this.deadLetterQueue,
          retryAttempts: 3,
          maxEventAge: Duration.hours(1),
        }),
      });
    }
    this.schedules = schedules;

    new events.Rule(this, 'TaskStoppedRule', {
      description: 'dumpvault: ECS tasks of this cluster that stopped',
      eventPattern: {
        source: ['aws.ecs'],
        detailType: ['ECS Task State Change'],
        detail: { clusterArn: [this.cluster.clusterArn], lastStatus: ['STOPPED'] },
      },
      targets: [
        new eventTargets.LambdaFunction(this.taskStoppedFunction, {
          deadLetterQueue: this.deadLetterQueue,
          retryAttempts: 8,
          maxEventAge: Duration.hours(6),
        }),
      ],
    });
    new events.Rule(this, 'WatchdogRule', {
      description: 'dumpvault: watchdog every 15 minutes',
      schedule: events.Schedule.rate(Duration.minutes(15)),
      targets: [new eventTargets.LambdaFunction(this.watchdogFunction, { retryAttempts: 2 })],
    });

    // --- alarms and dashboard --------------------------------------------------------------
    const alarmAction = new cwActions.SnsAction(this.topic);
    const freshnessAlarms: Record<string, cloudwatch.Alarm> = {};
    const thresholds: Record<string, number> = {};
    for (const job of config.jobs) {
      const threshold = alarmThresholdHours(job, job.schedule ? scheduleGaps(job.schedule) : undefined);
      if (threshold === undefined) {
        Annotations.of(this).addWarningV2(
          'dumpvault:noFreshnessAlarm',
          `job "${job.name}" has neither a schedule nor alarmAfterHours: no HoursSinceLastSuccess alarm`,
        );
        continue;
      }
      thresholds[job.name] = threshold;
      const alarm = new cloudwatch.Alarm(this, `Freshness-${job.name}`, {
        alarmDescription: `dumpvault: no successful backup of ${job.name} for more than ${threshold} h (dumpvault history ${job.name} --remote)`,
        metric: this.metricHoursSinceLastSuccess(job.name),
        threshold,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      });
      alarm.addAlarmAction(alarmAction);
      alarm.addOkAction(alarmAction);
      freshnessAlarms[job.name] = alarm;
    }
    this.freshnessAlarms = freshnessAlarms;

    for (const [id, fn] of [
      ['StartBackupErrors', this.startBackupFunction],
      ['TaskStoppedErrors', this.taskStoppedFunction],
      ['WatchdogErrors', this.watchdogFunction],
    ] as const) {
      new cloudwatch.Alarm(this, id, {
        alarmDescription: `dumpvault: ${fn.node.id} Lambda errors (see its log group)`,
        metric: fn.metricErrors({ period: Duration.minutes(5), statistic: cloudwatch.Stats.SUM }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }).addAlarmAction(alarmAction);
    }
    new cloudwatch.Alarm(this, 'DeadLetters', {
      alarmDescription:
        'dumpvault: schedule or task-stopped invocations failed after all retries (see the DLQ)',
      metric: this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
        period: Duration.minutes(5),
        statistic: cloudwatch.Stats.MAXIMUM,
      }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }).addAlarmAction(alarmAction);

    this.restore = new DumpVaultRestore(this, 'Restore', {
      config,
      bucket: this.bucket,
      ...(bucketKey ? { bucketKey } : {}),
      topicKey: this.key,
      table: this.table,
      topic: this.topic,
      cluster: this.cluster,
      vpc: this.vpc,
      subnets: this.subnets,
      securityGroup: this.securityGroup,
      image: taskImage,
      taskLogGroup: this.taskLogGroup,
      logRetention,
      deadLetterQueue: this.deadLetterQueue,
      createFunction: (id, name, options) => this.createFunction(id, name, options),
      alarmAction,
      jobMetric: (metricName, job, options) => this.jobMetric(metricName, job, options),
    });

    this.dashboard = this.createDashboard(thresholds);
  }

  /** The restore state machine (`dumpvault restore|drill <job> --remote` start executions of it). */
  get restoreStateMachine(): sfn.StateMachine {
    return this.restore.stateMachine;
  }

  /**
   * Permission to run restores and drills and follow them (`dumpvault restore|drill --remote`):
   * states:StartExecution on the restore state machine; DescribeExecution, GetExecutionHistory
   * and StopExecution on its executions.
   */
  grantStartRestore(grantee: iam.IGrantable): iam.Grant {
    return this.restore.grantStartExecution(grantee);
  }

  /**
   * 1 for each drill of a job that succeeded, 0 for each that failed (published when recorded).
   *
   * @default - minimum over 5 minutes
   */
  metricDrillSucceeded(job: string, props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.restore.metricDrillSucceeded(job, props);
  }

  /**
   * Hours since the last successful drill of a job (watchdog, every 15 min).
   *
   * @default - maximum over 1 hour
   */
  metricHoursSinceLastDrillSuccess(job: string, props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.restore.metricHoursSinceLastDrillSuccess(job, props);
  }

  /** Permission to start runs by hand (`dumpvault run <job> --remote`): lambda:InvokeFunction on start-backup. */
  grantStartBackup(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['lambda:InvokeFunction'],
      resourceArns: [this.startBackupFunction.functionArn],
    });
  }

  /** Permission to read history (`dumpvault history|status --remote`): GetItem and Query on the table. */
  grantReadHistory(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['dynamodb:GetItem', 'dynamodb:Query'],
      resourceArns: [this.table.tableArn],
    });
  }

  /**
   * Hours since the last successful backup of a job, as the watchdog publishes it every 15 min.
   *
   * @default - maximum over 1 hour
   */
  metricHoursSinceLastSuccess(job: string, props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.jobMetric('HoursSinceLastSuccess', job, { statistic: cloudwatch.Stats.MAXIMUM, ...props });
  }

  /**
   * Duration of a job's last successful backup in seconds (watchdog, every 15 min).
   *
   * @default - maximum over 1 hour
   */
  metricLastBackupDuration(job: string, props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.jobMetric('LastBackupDurationSeconds', job, {
      statistic: cloudwatch.Stats.MAXIMUM,
      ...props,
    });
  }

  /**
   * Stored size of a job's last successful backup in bytes (watchdog, every 15 min).
   *
   * @default - maximum over 1 hour
   */
  metricLastBackupBytes(job: string, props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.jobMetric('LastBackupBytes', job, { statistic: cloudwatch.Stats.MAXIMUM, ...props });
  }

  /**
   * Failed runs of a job in the last 24 hours (watchdog, every 15 min).
   *
   * @default - maximum over 1 hour
   */
  metricFailuresLast24Hours(job: string, props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.jobMetric('FailedRunsLast24Hours', job, { statistic: cloudwatch.Stats.MAXIMUM, ...props });
  }

  private jobMetric(metricName: string, job: string, props: cloudwatch.MetricOptions): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: METRIC_NAMESPACE,
      metricName,
      dimensionsMap: { service: SERVICE_NAME, Job: job },
      period: Duration.hours(1),
      ...props,
    });
  }

  private createFunction(id: string, name: FunctionName, options: FunctionOptions): lambda.Function {
    const logGroup = new logs.LogGroup(this, `${id}Logs`, { retention: options.logRetention });
    const role = new iam.Role(this, `${id}Role`, {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `dumpvault ${name} Lambda`,
    });
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [logGroup.logGroupArn],
      }),
    );
    const fn = new lambda.Function(this, id, {
      description: options.description,
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      handler: 'index.handler',
      code: functionCode(name, options.config ? functionConfig(options.config) : undefined),
      memorySize: 256,
      timeout: options.timeout,
      role,
      logGroup,
      ...(options.deadLetterQueue ? { deadLetterQueue: options.deadLetterQueue } : {}),
      ...(options.vpc
        ? {
            vpc: options.vpc.vpc,
            vpcSubnets: options.vpc.subnets,
            securityGroups: options.vpc.securityGroups,
          }
        : {}),
      environment: {
        NODE_OPTIONS: '--enable-source-maps',
        POWERTOOLS_SERVICE_NAME: SERVICE_NAME,
        POWERTOOLS_METRICS_NAMESPACE: METRIC_NAMESPACE,
        POWERTOOLS_LOG_LEVEL: 'INFO',
        ...options.environment,
      },
    });
    if (options.vpc) {
      // lambda.Function adds this policy only to a role it creates itself.
      role.addManagedPolicy(
        iam.ManagedPolicy.fromAwsManagedPolicyName('service-role/AWSLambdaVPCAccessExecutionRole'),
      );
      Validations.of(role).acknowledge({
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]',
        reason:
          'The AWS managed policy a Lambda in a VPC needs to manage its network interfaces (ec2:CreateNetworkInterface and friends support no resource-level permissions).',
      });
    }
    Validations.of(fn).acknowledge({
      id: 'AwsSolutions-L1',
      reason:
        'nodejs22.x is the runtime dumpvault is built and tested for (bundles target node22); moving to a newer runtime is a deliberate upgrade.',
    });
    return fn;
  }

  /** The task role: only its secrets, only its key prefixes, only history items, only the topic. */
  private grantTaskPermissions(role: iam.Role, bucketKey: kms.IKey | undefined): void {
    const config = this.config;
    const secrets = secretArnsOf(config);
    if (secrets.length) {
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: 'ReadJobSecrets',
          actions: ['secretsmanager:GetSecretValue'],
          resources: secrets,
        }),
      );
    }
    const prefixes = managedKeyPrefixes(config);
    if (prefixes.length) {
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: 'WriteBackupObjects',
          actions: ['s3:PutObject', 's3:GetObject', 's3:DeleteObject', 's3:AbortMultipartUpload'],
          resources: prefixes.map((p) => this.bucket.arnForObjects(`${p}*`)),
        }),
      );
      for (const p of prefixes) {
        Validations.of(role).acknowledge({
          id: `AwsSolutions-IAM5[Resource::${nagResource(this, this.bucket.arnForObjects(`${p}*`))}]`,
          reason: `Backup objects are new keys under ${p} (one per run); access is limited to that job's prefix.`,
        });
      }
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: 'ListBackupPrefixes',
          actions: ['s3:ListBucket'],
          resources: [this.bucket.bucketArn],
          conditions: { StringLike: { 's3:prefix': prefixes.map((p) => `${p}*`) } },
        }),
      );
      // After a CreateMultipartUpload whose answer was lost, a failed backup looks for the
      // upload by its key to abort it (S3 has no prefix condition for this action).
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: 'FindLostUploads',
          actions: ['s3:ListBucketMultipartUploads'],
          resources: [this.bucket.bucketArn],
        }),
      );
    }
    const keys = [this.key.keyArn];
    if (bucketKey && bucketKey !== this.key && prefixes.length) keys.push(bucketKey.keyArn);
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'UseEncryptionKeys',
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: keys,
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'WriteHistoryItems',
        actions: [
          'dynamodb:GetItem',
          'dynamodb:PutItem',
          'dynamodb:UpdateItem',
          'dynamodb:DeleteItem',
          'dynamodb:Query',
        ],
        resources: [this.table.tableArn],
        conditions: {
          'ForAllValues:StringEquals': {
            'dynamodb:LeadingKeys': [...config.jobs.map((j) => `JOB#${j.name}`), 'JOBS'],
          },
        },
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'PublishAlerts',
        actions: ['sns:Publish'],
        resources: [this.topic.topicArn],
      }),
    );
  }

  private grantFunctionPermissions(): void {
    const historyWrite = [
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:UpdateItem',
      'dynamodb:DeleteItem',
      'dynamodb:Query',
    ];
    for (const fn of [this.startBackupFunction, this.taskStoppedFunction]) {
      fn.addToRolePolicy(
        new iam.PolicyStatement({ actions: historyWrite, resources: [this.table.tableArn] }),
      );
      fn.addToRolePolicy(
        new iam.PolicyStatement({ actions: ['sns:Publish'], resources: [this.topic.topicArn] }),
      );
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
          resources: [this.key.keyArn],
        }),
      );
    }
    this.startBackupFunction.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['ecs:RunTask'],
        resources: [this.taskDefinition.taskDefinitionArn],
        conditions: { ArnEquals: { 'ecs:cluster': this.cluster.clusterArn } },
      }),
    );
    const passRoles = [
      this.taskDefinition.taskRole.roleArn,
      this.taskDefinition.obtainExecutionRole().roleArn,
    ];
    this.startBackupFunction.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['iam:PassRole'],
        resources: passRoles,
        conditions: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
      }),
    );
    this.watchdogFunction.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['dynamodb:GetItem', 'dynamodb:Query'],
        resources: [this.table.tableArn],
      }),
    );
    const clusterTasks = Stack.of(this).formatArn({
      service: 'ecs',
      resource: 'task',
      resourceName: `${this.cluster.clusterName}/*`,
    });
    this.watchdogFunction.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['ecs:StopTask'], resources: [clusterTasks] }),
    );
    Validations.of(this.watchdogFunction.role!).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${nagResource(this, clusterTasks)}]`,
      reason: 'Task ARNs exist only at run time; ecs:StopTask is limited to tasks of this cluster.',
    });
  }

  private createDashboard(thresholds: Readonly<Record<string, number>>): cloudwatch.Dashboard {
    const dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      defaultInterval: Duration.days(14),
    });
    for (const job of this.config.jobs) {
      const threshold = thresholds[job.name];
      dashboard.addWidgets(
        new cloudwatch.TextWidget({
          markdown: `### ${job.name}  \`dumpvault history ${job.name} --remote\``,
          width: 24,
          height: 1,
        }),
        new cloudwatch.GraphWidget({
          title: `${job.name}: hours since last success`,
          left: [this.metricHoursSinceLastSuccess(job.name)],
          leftAnnotations: threshold !== undefined ? [{ value: threshold, label: 'alarm' }] : [],
          width: 6,
        }),
        new cloudwatch.GraphWidget({
          title: `${job.name}: duration of last backup (s)`,
          left: [this.metricLastBackupDuration(job.name)],
          width: 6,
        }),
        new cloudwatch.GraphWidget({
          title: `${job.name}: size of last backup (bytes)`,
          left: [this.metricLastBackupBytes(job.name)],
          width: 6,
        }),
        new cloudwatch.GraphWidget({
          title: `${job.name}: failed runs in the last 24 h`,
          left: [this.metricFailuresLast24Hours(job.name)],
          width: 6,
        }),
      );
    }
    const drills = this.restore.dashboardWidgets();
    if (drills.length) dashboard.addWidgets(...drills);
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Lambda errors',
        left: [this.startBackupFunction, this.taskStoppedFunction, this.watchdogFunction].map((fn) =>
          fn.metricErrors({ statistic: cloudwatch.Stats.SUM, label: fn.node.id }),
        ),
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'Dead letters',
        left: [this.deadLetterQueue.metricApproximateNumberOfMessagesVisible()],
        width: 12,
      }),
    );
    return dashboard;
  }
}
