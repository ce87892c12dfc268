/**
 * `DumpVault`: the whole serverless backup system for one config (DESIGN.md §1) as one L2-style
 * construct, composed of building blocks: storage (infra/storage.ts), one task definition and
 * role per job (infra/backup-tasks.ts), retention under a separate identity per job
 * (infra/pruning.ts), orchestration (infra/orchestration.ts), alarms (infra/monitoring.ts),
 * the restore state machine with its drills (infra/restore.ts), the VPC (infra/network.ts) and
 * the dashboard (infra/dashboard.ts).
 */
import path from 'node:path';
import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as scheduler from 'aws-cdk-lib/aws-scheduler';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { validateConfig } from '../core/config/load.ts';
import type { Config } from '../core/config/schema.ts';
import { ConfigError } from '../core/errors.ts';
import { BackupTasks } from './backup-tasks.ts';
import { createDashboard } from './dashboard.ts';
import { PACKAGE_ROOT } from './function-code.ts';
import { createFunction, METRIC_NAMESPACE, SERVICE_NAME } from './functions.ts';
import { Monitoring } from './monitoring.ts';
import { deploymentVpc } from './network.ts';
import { Orchestration } from './orchestration.ts';
import { Pruning } from './pruning.ts';
import { DumpVaultRestore } from './restore.ts';
import { DumpVaultStorage } from './storage.ts';
import { defaultTaskImage, readPublicKeys } from './task-image.ts';
import { deploymentProblems } from './validate.ts';

export { CONTAINER_NAME } from './backup-tasks.ts';
export {
  type FunctionOptions,
  type FunctionVpcOptions,
  METRIC_NAMESPACE,
  SERVICE_NAME,
} from './functions.ts';
export { managedKeyPrefixes, secretArnsOf, secretResourceArn } from './iam.ts';

const LOG_RETENTION_DAYS = Object.values(logs.RetentionDays).filter(
  (v): v is number => typeof v === 'number',
);

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

/**
 * Scheduled, streaming, encrypted database backups: bucket, history table, one Fargate task
 * definition per job, schedules, orchestration Lambdas, alerts, alarms and a dashboard.
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
  /** One task definition and task role per job. */
  readonly backupTasks: BackupTasks;
  readonly taskLogGroup: logs.LogGroup;
  readonly startBackupFunction: lambda.Function;
  readonly taskStoppedFunction: lambda.Function;
  readonly watchdogFunction: lambda.Function;
  /** The prune function of each job: the only identity that deletes its backups. */
  readonly pruneFunctions: Readonly<Record<string, lambda.Function>>;
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
    const problems = deploymentProblems(config, { bucketProvided: props.bucket !== undefined });
    const retentionDays = config.aws?.logRetentionDays ?? 90;
    if (!LOG_RETENTION_DAYS.includes(retentionDays)) {
      problems.push(
        `aws.logRetentionDays: expected one of ${LOG_RETENTION_DAYS.join(', ')} (what CloudWatch Logs offers), got ${retentionDays}`,
      );
    }
    if (props.bucket && config.aws?.bucket?.objectLock) {
      problems.push('aws.bucket.objectLock: object lock can only be set on a bucket this construct creates');
    }
    if (props.bucket && config.aws?.replication) {
      problems.push('aws.replication: replication can only be set up on a bucket this construct creates');
    }
    if (problems.length) throw new ConfigError(`the config cannot be deployed:\n${problems.join('\n')}`);
    this.config = config;
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const publicKeys = readPublicKeys(config, props.configDir ?? process.cwd());
    const logRetention = retentionDays as logs.RetentionDays;

    const storage = new DumpVaultStorage(this, 'Storage', {
      config,
      removalPolicy,
      ...(props.bucket ? { bucket: props.bucket } : {}),
      ...(props.bucketKey ? { bucketKey: props.bucketKey } : {}),
    });
    this.key = storage.key;
    this.bucket = storage.bucket;
    this.table = storage.table;
    this.topic = storage.topic;
    const bucketKey = storage.bucketKey;

    this.vpc = deploymentVpc(this, config, props.vpc, logRetention);
    this.subnets = this.vpc.selectSubnets(
      props.vpcSubnets ?? { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
    );
    this.securityGroup = new ec2.SecurityGroup(this, 'TaskSecurityGroup', {
      vpc: this.vpc,
      description: 'dumpvault backup tasks: no inbound traffic, outbound to databases and AWS APIs',
      allowAllOutbound: true,
    });

    this.cluster = new ecs.Cluster(this, 'Cluster', {
      vpc: this.vpc,
      containerInsightsV2: ecs.ContainerInsights.ENABLED,
    });
    this.taskLogGroup = new logs.LogGroup(this, 'TaskLogs', { retention: logRetention, removalPolicy });
    const taskImage =
      props.taskImage ??
      defaultTaskImage(this, props.taskBundle ?? path.join(PACKAGE_ROOT, 'dist', 'dumpvault.mjs'));
    this.backupTasks = new BackupTasks(this, 'BackupTasks', {
      config,
      image: taskImage,
      logGroup: this.taskLogGroup,
      bucket: this.bucket,
      bucketKey,
      topicKey: this.key,
      table: this.table,
      topic: this.topic,
      publicKeys,
    });

    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(this.deadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        'This queue is itself the dead-letter queue of the schedules, the rules and the asynchronous Lambdas.',
    });
    this.pruneFunctions = new Pruning(this, 'Pruning', {
      config,
      bucket: this.bucket,
      bucketKey,
      table: this.table,
      logRetention,
      deadLetterQueue: this.deadLetterQueue,
    }).functions;
    const orchestration = new Orchestration(this, 'Orchestration', {
      config,
      cluster: this.cluster,
      subnets: this.subnets,
      securityGroup: this.securityGroup,
      tasks: this.backupTasks,
      pruneFunctions: this.pruneFunctions,
      table: this.table,
      topic: this.topic,
      topicKey: this.key,
      logRetention,
      deadLetterQueue: this.deadLetterQueue,
    });
    this.startBackupFunction = orchestration.startBackupFunction;
    this.taskStoppedFunction = orchestration.taskStoppedFunction;
    this.watchdogFunction = orchestration.watchdogFunction;
    this.schedules = orchestration.schedules;

    const monitoring = new Monitoring(this, 'Monitoring', {
      config,
      topic: this.topic,
      deadLetterQueue: this.deadLetterQueue,
      functions: [
        ['StartBackupErrors', this.startBackupFunction],
        ['TaskStoppedErrors', this.taskStoppedFunction],
        ['WatchdogErrors', this.watchdogFunction],
        ...Object.entries(this.pruneFunctions).map(([job, fn]) => [`PruneErrors-${job}`, fn] as const),
      ],
      jobMetric: (metricName, job, options) => this.jobMetric(metricName, job, options),
    });
    this.freshnessAlarms = monitoring.freshnessAlarms;

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
      createFunction: (fnId, name, options) => createFunction(this, fnId, name, options),
      alarmAction: monitoring.alarmAction,
      jobMetric: (metricName, job, options) => this.jobMetric(metricName, job, options),
    });

    this.dashboard = createDashboard(this, monitoring.thresholds);
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
}
