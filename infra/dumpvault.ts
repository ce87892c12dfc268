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
import { backupsOnSpot, type Config } from '../core/config/schema.ts';
import { ConfigError } from '../core/errors.ts';
import { awsDigestTime } from '../core/notify/digest.ts';
import { BackupTasks } from './backup-tasks.ts';
import { createDashboard } from './dashboard.ts';
import type { DumpVaultProps } from './dumpvault-props.ts';
import { taskImagePlatform } from './fargate.ts';
import { PACKAGE_ROOT } from './function-bundle.ts';
import { createFunction, METRIC_NAMESPACE, SERVICE_NAME } from './functions.ts';
import { Monitoring } from './monitoring.ts';
import { defaultTaskSubnets, deploymentVpc, tasksInPublicSubnets } from './network.ts';
import { Orchestration } from './orchestration.ts';
import { Pruning } from './pruning.ts';
import { DumpVaultRestore } from './restore.ts';
import { DumpVaultStorage } from './storage.ts';
import { SuccessDigest } from './success-digest.ts';
import { defaultTaskImage, readPublicKeys } from './task-image.ts';
import { deploymentProblems } from './validate.ts';

export { CONTAINER_NAME } from './backup-tasks.ts';
export type { DumpVaultProps } from './dumpvault-props.ts';
export {
  type FunctionOptions,
  type FunctionVpcOptions,
  METRIC_NAMESPACE,
  SERVICE_NAME,
} from './functions.ts';

import { JOB_DIMENSION, METRICS, type MetricName, SERVICE_DIMENSION } from '../core/contracts/cloudwatch.ts';

export { managedKeyPrefixes, secretArnsOf, secretResourceArn } from './iam.ts';

const LOG_RETENTION_DAYS = Object.values(logs.RetentionDays).filter(
  (v): v is number => typeof v === 'number',
);

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
  /** The daily digest to the alerts topic, when `aws.alerts.successDigest` asks for one. */
  readonly successDigest?: SuccessDigest;
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
    this.subnets = this.vpc.selectSubnets(props.vpcSubnets ?? defaultTaskSubnets(config));
    this.securityGroup = new ec2.SecurityGroup(this, 'TaskSecurityGroup', {
      vpc: this.vpc,
      description: 'dumpvault backup tasks: no inbound traffic, outbound to databases and AWS APIs',
      allowAllOutbound: true,
    });

    this.cluster = new ecs.Cluster(this, 'Cluster', {
      vpc: this.vpc,
      containerInsightsV2: ecs.ContainerInsights.ENABLED,
      // FARGATE and FARGATE_SPOT as the cluster's capacity providers when a job's backups run
      // on Spot: start-backup's RunTask names FARGATE_SPOT in its capacity provider strategy
      // (the retry after an interruption, restores and drills use the FARGATE launch type).
      enableFargateCapacityProviders: config.jobs.some((job) => backupsOnSpot(config, job)),
    });
    this.taskLogGroup = new logs.LogGroup(this, 'TaskLogs', { retention: logRetention, removalPolicy });
    const taskImage =
      props.taskImage ??
      defaultTaskImage(
        this,
        props.taskBundle ?? path.join(PACKAGE_ROOT, 'dist', 'dumpvault.mjs'),
        taskImagePlatform(config),
      );
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
      assignPublicIp: tasksInPublicSubnets(config),
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
    const digestTime = awsDigestTime(config);
    if (digestTime) {
      this.successDigest = new SuccessDigest(this, 'Digest', {
        config,
        time: digestTime,
        table: this.table,
        topic: this.topic,
        topicKey: this.key,
        logRetention,
        deadLetterQueue: this.deadLetterQueue,
      });
    }

    const monitoring = new Monitoring(this, 'Monitoring', {
      config,
      topic: this.topic,
      deadLetterQueue: this.deadLetterQueue,
      functions: [
        ['StartBackupErrors', this.startBackupFunction],
        ['TaskStoppedErrors', this.taskStoppedFunction],
        ['WatchdogErrors', this.watchdogFunction],
        ...(this.successDigest ? [['SuccessDigestErrors', this.successDigest.function] as const] : []),
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
      assignPublicIp: tasksInPublicSubnets(config),
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
    return this.jobMetric(METRICS.hoursSinceLastSuccess, job, {
      statistic: cloudwatch.Stats.MAXIMUM,
      ...props,
    });
  }

  /**
   * Duration of a job's last successful backup in seconds (watchdog, every 15 min).
   *
   * @default - maximum over 1 hour
   */
  metricLastBackupDuration(job: string, props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.jobMetric(METRICS.lastBackupDurationSeconds, job, {
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
    return this.jobMetric(METRICS.lastBackupBytes, job, { statistic: cloudwatch.Stats.MAXIMUM, ...props });
  }

  /**
   * Failed runs of a job in the last 24 hours (watchdog, every 15 min).
   *
   * @default - maximum over 1 hour
   */
  metricFailuresLast24Hours(job: string, props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.jobMetric(METRICS.failedRunsLast24Hours, job, {
      statistic: cloudwatch.Stats.MAXIMUM,
      ...props,
    });
  }

  private jobMetric(metricName: MetricName, job: string, props: cloudwatch.MetricOptions): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: METRIC_NAMESPACE,
      metricName,
      dimensionsMap: { [SERVICE_DIMENSION]: SERVICE_NAME, [JOB_DIMENSION]: job },
      period: Duration.hours(1),
      ...props,
    });
  }
}
