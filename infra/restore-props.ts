/**
 * What the building blocks of {@link DumpVaultRestore} (infra/restore.ts) share: its props, the
 * names and settings both its constructor and its parts use, and the parts made before them.
 * The blocks (restore-task-definitions.ts, restore-grants.ts, restore-state-machine.ts,
 * restore-drills.ts) create their resources in the DumpVaultRestore construct itself, so the
 * construct paths and logical ids are those of one construct.
 */
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import type { Config } from '../core/config/schema.ts';
import type { MetricName } from '../core/contracts/cloudwatch.ts';
import { ContainerName } from '../core/contracts/stack.ts';
import type { FunctionName } from './function-bundle.ts';
import type { FunctionOptions } from './functions.ts';

/** Name of the restore container in the restore and drill task definitions (task-stopped knows it). */
export const RESTORE_CONTAINER_NAME = ContainerName.task;
/** Name of the sidecar database container of the drill task definitions. */
export const SIDECAR_CONTAINER_NAME = ContainerName.sidecar;
/** Tag that lets the restore task read a restore target's password secret: value = the stack name. */
export const RESTORE_TARGET_TAG = 'dumpvault-restore-target';
/**
 * The Amazon certificate authorities of the Lambda runtime: Node.js 20+ runtimes no longer load
 * them by default, and the Guard needs them to verify an RDS certificate (sslmode=verify-full).
 */
export const LAMBDA_AMAZON_CA_BUNDLE = '/var/runtime/ca-cert.pem';
/**
 * The Guard Lambda's timeout: a secret read, up to two connection attempts of 10 s each (TLS,
 * then plain for a server without TLS) and one catalog query.
 */
export const GUARD_TIMEOUT_SECONDS = 45;

/** Settings a Lambda of the restore state machine is built with: the same as every dumpvault Lambda. */
export type RestoreFunctionOptions = FunctionOptions;

/** What the restore state machine shares with the rest of the deployment. */
export interface DumpVaultRestoreProps {
  /** The validated config. */
  readonly config: Config;
  /** The bucket of `"bucket": "managed"` destinations. */
  readonly bucket: s3.IBucket;
  /**
   * The bucket's KMS key.
   *
   * @default - none (SSE-S3)
   */
  readonly bucketKey?: kms.IKey;
  /** The key of the alerts topic. */
  readonly topicKey: kms.IKey;
  readonly table: dynamodb.ITable;
  readonly topic: sns.ITopic;
  readonly cluster: ecs.ICluster;
  /** The deployment's VPC: the Guard Lambda runs in it to look into restore targets. */
  readonly vpc: ec2.IVpc;
  /** The subnets of the restore tasks (and of the Guard Lambda when they are private). */
  readonly subnets: ec2.SelectedSubnets;
  /**
   * Tasks get a public IP in public subnets (`aws.network: "public-subnets"`); the Guard Lambda
   * then runs outside the VPC, since a Lambda in a public subnet gets no public IP.
   *
   * @default false
   */
  readonly assignPublicIp?: boolean;
  /**
   * The security group of the restore tasks (no inbound rules), also the Guard Lambda's: a
   * target that admits the restore task admits the Guard that looks into it first.
   */
  readonly securityGroup: ec2.ISecurityGroup;
  /** The task image (same as the backup task's). */
  readonly image: ecs.ContainerImage;
  /** Where the restore and drill containers log. */
  readonly taskLogGroup: logs.ILogGroup;
  readonly logRetention: logs.RetentionDays;
  /** Where drill schedules put starts that failed every retry. */
  readonly deadLetterQueue: sqs.IQueue;
  /** Builds a Lambda the way every dumpvault Lambda is built. */
  readonly createFunction: (
    id: string,
    name: FunctionName,
    options: RestoreFunctionOptions,
  ) => lambda.Function;
  /** Publishes alarms to the alerts topic. */
  readonly alarmAction: cloudwatch.IAlarmAction;
  /** Builds a per-job metric of the DumpVault namespace (dimensions `service`, `Job`). */
  readonly jobMetric: (
    metricName: MetricName,
    job: string,
    props: cloudwatch.MetricOptions,
  ) => cloudwatch.Metric;
}

/**
 * The DumpVaultRestore construct as its building blocks see it: the scope they create their
 * resources in, with its props and the parts made before them (each block reads only those).
 */
export interface RestoreScope extends Construct {
  readonly props: DumpVaultRestoreProps;
  readonly taskRole: iam.Role;
  readonly executionRole: iam.Role;
  readonly taskDefinition: ecs.FargateTaskDefinition;
  readonly drillTaskDefinitions: Readonly<Record<string, ecs.FargateTaskDefinition>>;
  readonly resolveFunction: lambda.Function;
  readonly guardFunction: lambda.Function;
  readonly verifyFunction: lambda.Function;
  readonly recordFunction: lambda.Function;
  readonly endedFunction: lambda.Function;
  readonly stateMachine: sfn.StateMachine;
  readonly restoreTimeoutSeconds: number;
  metricDrillSucceeded(job: string, props?: cloudwatch.MetricOptions): cloudwatch.Metric;
  metricHoursSinceLastDrillSuccess(job: string, props?: cloudwatch.MetricOptions): cloudwatch.Metric;
}
