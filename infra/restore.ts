/**
 * `DumpVaultRestore`: the restore state machine and the restore drills of a {@link DumpVault}
 * (DESIGN.md §1, issue 4).
 *
 * ```
 * Resolve ─> Guard ─> RunRestore (ECS RunTask .sync) ─> Verify ─> Record ─> Notify ─> Restored
 *    └─────────┴────────────┴───────────────────────────┴─────────┴──> RecordFailure ─> NotifyFailure ─> Failed
 * ```
 *
 * Guard runs in the deployment's VPC, with the restore task's subnets and security group, and
 * looks into a URL target before any task starts: a target with data is refused unless the
 * input says `drop` (the restore task checks again before it writes).
 *
 * Every Task state has a timeout and retries for transient errors; every Catch stores
 * `{Error, Cause}` at `$.failure.<state>` and leads to RecordFailure. RunRestore starts the
 * restore task definition, or for drills the drill task definition whose sidecar database
 * matches the backup's server (infra/drill-sidecars.ts). A drill schedule per job that asks
 * for one starts the same state machine with target `ephemeral`.
 */
import { Annotations, ArnFormat, Aws, Duration, Stack, TimeZone, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as events from 'aws-cdk-lib/aws-events';
import * as eventTargets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as schedulerTargets from 'aws-cdk-lib/aws-scheduler-targets';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { type Config, jobDestinations, type Schedule } from '../core/config/schema.ts';
import { type DrillSidecar, drillSidecarsOfConfig, SIDECAR_SETTINGS } from './drill-sidecars.ts';
import { DUMP_TASK_SHAPE, mountTmp } from './fargate.ts';
import type { FunctionName } from './function-code.ts';
import type { FunctionOptions } from './functions.ts';
import { managedKeyPrefixes, nagResource, restoreSecretArnsOf, secretResourceArn } from './iam.ts';
import { scheduleGaps } from './schedule-gaps.ts';

/** Name of the restore container in the restore and drill task definitions (task-stopped knows it). */
export const RESTORE_CONTAINER_NAME = 'dumpvault';
/** Name of the sidecar database container of the drill task definitions. */
export const SIDECAR_CONTAINER_NAME = 'database';
/** A job's task timeout when it has no `task` section (start-backup's DEFAULT_TASK says the same). */
const DEFAULT_TIMEOUT_MINUTES = 720;
/** Tag that lets the restore task read a restore target's password secret: value = the stack name. */
export const RESTORE_TARGET_TAG = 'dumpvault-restore-target';
/**
 * The Amazon certificate authorities of the Lambda runtime: Node.js 20+ runtimes no longer load
 * them by default, and the Guard needs them to verify an RDS certificate (sslmode=verify-full).
 */
const LAMBDA_AMAZON_CA_BUNDLE = '/var/runtime/ca-cert.pem';
/**
 * The Guard Lambda's timeout: a secret read, up to two connection attempts of 10 s each (TLS,
 * then plain for a server without TLS) and one catalog query.
 */
const GUARD_TIMEOUT_SECONDS = 45;
/** Error of the Guard Lambda when it cannot reach the target (functions/logic/restore-contract.ts). */
const TARGET_UNREACHABLE_ERROR = 'TargetUnreachableError';

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
  /** The private subnets of the restore tasks and the Guard Lambda. */
  readonly subnets: ec2.SelectedSubnets;
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
  readonly jobMetric: (metricName: string, job: string, props: cloudwatch.MetricOptions) => cloudwatch.Metric;
}

const LAMBDA_TRANSIENT_ERRORS = [
  'Lambda.ClientExecutionTimeoutException',
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.TooManyRequestsException',
];
/** What the Lambda steps throw for AWS/network trouble (functions/logic/restore-contract.ts runStep). */
const STEP_TRANSIENT_ERROR = 'RetryableError';
/** RunTask failures Step Functions reports that a later attempt may not meet (throttling, capacity). */
const ECS_TRANSIENT_ERRORS = [
  'ECS.AmazonECSException',
  'ECS.ServerException',
  'ECS.ThrottlingException',
  'AmazonECS.Unknown',
];

/** The restore state machine, its task definitions and Lambdas, the drill schedules and alarms. */
export class DumpVaultRestore extends Construct {
  readonly stateMachine: sfn.StateMachine;
  /** The restore task (no sidecar): scratch and URL targets, SQLite drills. */
  readonly taskDefinition: ecs.FargateTaskDefinition;
  /** Drill task definitions by sidecar key (`postgres:16`, `job:<name>`). */
  readonly drillTaskDefinitions: Readonly<Record<string, ecs.FargateTaskDefinition>>;
  /** Role of every restore and drill task. */
  readonly taskRole: iam.Role;
  /** Execution role of every restore and drill task. */
  readonly executionRole: iam.Role;
  readonly resolveFunction: lambda.Function;
  readonly guardFunction: lambda.Function;
  readonly verifyFunction: lambda.Function;
  readonly recordFunction: lambda.Function;
  /** Marks a run FAILED whose execution was aborted or timed out outside its Catch paths. */
  readonly endedFunction: lambda.Function;
  /** ABORTED, TIMED_OUT and FAILED executions of the state machine, to {@link endedFunction}. */
  readonly endedRule: events.Rule;
  /** The drill schedule of each job with `restoreDrill`. */
  readonly drillSchedules: Readonly<Record<string, scheduler.Schedule>>;
  /** Per drill job: ALARM when the last drill failed or none succeeded within two drill periods. */
  readonly drillAlarms: Readonly<Record<string, cloudwatch.CompositeAlarm>>;

  /**
   * How long RunRestore waits for a restore task: the longest `task.timeoutMinutes` of the
   * config (Step Functions then stops the task). One value for all jobs, because a dynamic
   * `TimeoutSecondsPath` is resolved differently by Step Functions implementations.
   */
  readonly restoreTimeoutSeconds: number;

  private readonly props: DumpVaultRestoreProps;

  constructor(scope: Construct, id: string, props: DumpVaultRestoreProps) {
    super(scope, id);
    this.props = props;
    const { config } = props;
    this.restoreTimeoutSeconds =
      Math.max(...config.jobs.map((job) => job.task?.timeoutMinutes ?? DEFAULT_TIMEOUT_MINUTES)) * 60;

    for (const job of config.jobs) {
      const enc = job.encryption !== undefined ? config.encryption[job.encryption] : undefined;
      if (enc?.type === 'openpgp' && !enc.privateKeySecret) {
        Annotations.of(this).addWarningV2(
          'dumpvault:noPrivateKeySecret',
          `job "${job.name}" encrypts to OpenPGP recipients and encryption.${job.encryption} has no privateKeySecret: its backups can be restored only where a private key is, not by the restore state machine`,
        );
      }
    }
    this.taskRole = new iam.Role(this, 'TaskRole', {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
      description: 'dumpvault restore and drill tasks: read backups and their keys, write history, alert',
    });
    this.grantTaskPermissions();
    this.executionRole = new iam.Role(this, 'ExecutionRole', {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
      description: 'dumpvault restore and drill tasks: pull images, write logs',
    });
    this.taskDefinition = this.createTaskDefinition('TaskDefinition', undefined);
    const drills: Record<string, ecs.FargateTaskDefinition> = {};
    for (const sidecar of drillSidecarsOfConfig(config)) {
      const idPart = sidecar.key.startsWith('job:')
        ? `Job${sidecar.key.slice(4)}`
        : sidecar.key.replace(/[^a-z0-9]/gi, '');
      drills[sidecar.key] = this.createTaskDefinition(`Drill${idPart}`, sidecar);
    }
    this.drillTaskDefinitions = drills;
    Validations.of(this.executionRole).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'ecr:GetAuthorizationToken, needed to pull the task image, supports no resource-level permissions.',
    });

    const common = {
      DUMPVAULT_HISTORY_TABLE: props.table.tableName,
      DUMPVAULT_BUCKET: props.bucket.bucketName,
    };
    this.resolveFunction = props.createFunction('RestoreResolve', 'restore-resolve', {
      description:
        'dumpvault restore: find the backup in the manifests, check it and the target, record RUNNING',
      config,
      logRetention: props.logRetention,
      timeout: Duration.seconds(60),
      environment: common,
    });
    this.guardFunction = props.createFunction('RestoreGuard', 'restore-guard', {
      description:
        'dumpvault restore: confirmation rules, and a URL target must be empty unless drop, before any task starts',
      config,
      logRetention: props.logRetention,
      timeout: Duration.seconds(GUARD_TIMEOUT_SECONDS),
      environment: {
        DUMPVAULT_RESTORE_TARGET_TAG: `${RESTORE_TARGET_TAG}=${Stack.of(this).stackName}`,
        NODE_EXTRA_CA_CERTS: LAMBDA_AMAZON_CA_BUNDLE,
      },
      vpc: {
        vpc: props.vpc,
        subnets: { subnets: props.subnets.subnets },
        securityGroups: [props.securityGroup],
      },
    });
    this.verifyFunction = props.createFunction('RestoreVerify', 'restore-verify', {
      description: 'dumpvault restore: compare restored row counts with the manifest',
      config,
      logRetention: props.logRetention,
      timeout: Duration.seconds(60),
      environment: common,
    });
    this.recordFunction = props.createFunction('RestoreRecord', 'restore-record', {
      description: 'dumpvault restore: record the outcome in history and alert',
      config,
      logRetention: props.logRetention,
      timeout: Duration.seconds(30),
      environment: {
        DUMPVAULT_HISTORY_TABLE: props.table.tableName,
        DUMPVAULT_TOPIC_ARN: props.topic.topicArn,
      },
    });
    this.endedFunction = props.createFunction('RestoreEnded', 'restore-ended', {
      description:
        'dumpvault restore: mark a run FAILED and alert when its execution was aborted or timed out',
      config,
      logRetention: props.logRetention,
      timeout: Duration.seconds(30),
      async: { onFailure: props.deadLetterQueue, retryAttempts: 2, maxEventAge: Duration.hours(6) },
      environment: {
        DUMPVAULT_HISTORY_TABLE: props.table.tableName,
        DUMPVAULT_TOPIC_ARN: props.topic.topicArn,
      },
    });
    this.grantFunctionPermissions();

    this.stateMachine = this.createStateMachine();
    this.endedRule = this.createEndedRule();
    this.drillSchedules = this.createDrillSchedules();
    this.drillAlarms = this.createDrillAlarms();
  }

  /** The ARNs of the state machine's executions (`arn:…:execution:<name>:*`). */
  get executionsArn(): string {
    return Stack.of(this).formatArn({
      service: 'states',
      resource: 'execution',
      resourceName: `${this.stateMachine.stateMachineName}:*`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
  }

  /** Permission to run restores and drills and follow them (`dumpvault restore|drill --remote`). */
  grantStartExecution(grantee: iam.IGrantable): iam.Grant {
    const executions = this.executionsArn;
    const start = iam.Grant.addToPrincipal({
      grantee,
      actions: ['states:StartExecution'],
      resourceArns: [this.stateMachine.stateMachineArn],
    });
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['states:DescribeExecution', 'states:GetExecutionHistory', 'states:StopExecution'],
      resourceArns: [executions],
    });
    return start;
  }

  /**
   * 1 for a drill that succeeded, 0 for one that failed, published when the drill is recorded.
   *
   * @default - minimum over 5 minutes
   */
  metricDrillSucceeded(job: string, props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.props.jobMetric('DrillSucceeded', job, {
      statistic: cloudwatch.Stats.MINIMUM,
      period: Duration.minutes(5),
      ...props,
    });
  }

  /**
   * Hours since the last successful drill of a job (watchdog, every 15 min).
   *
   * @default - maximum over 1 hour
   */
  metricHoursSinceLastDrillSuccess(job: string, props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.props.jobMetric('HoursSinceLastDrillSuccess', job, {
      statistic: cloudwatch.Stats.MAXIMUM,
      ...props,
    });
  }

  /** One dashboard row per drill job: drill outcomes and hours since the last successful one. */
  dashboardWidgets(): cloudwatch.IWidget[] {
    return this.props.config.jobs
      .filter((job) => job.restoreDrill)
      .map(
        (job) =>
          new cloudwatch.GraphWidget({
            title: `${job.name}: restore drills (1 = succeeded, 0 = failed) and hours since the last success`,
            left: [
              this.metricDrillSucceeded(job.name, { period: Duration.hours(1), label: 'DrillSucceeded' }),
            ],
            right: [this.metricHoursSinceLastDrillSuccess(job.name, { label: 'hours since last success' })],
            leftYAxis: { min: 0, max: 1 },
            rightAnnotations: [{ value: this.overdueHours(job.restoreDrill!.schedule), label: 'alarm' }],
            width: 24,
            height: 4,
          }),
      );
  }

  /** Two drill periods (the longest gap of the drill schedule), in hours. */
  private overdueHours(schedule: Schedule): number {
    const gaps = scheduleGaps(schedule);
    return Math.round(2 * (gaps?.maxHours ?? 7 * 24) * 100) / 100;
  }

  private createTaskDefinition(id: string, sidecar: DrillSidecar | undefined): ecs.FargateTaskDefinition {
    const props = this.props;
    const definition = new ecs.FargateTaskDefinition(this, id, {
      ...DUMP_TASK_SHAPE,
      taskRole: this.taskRole,
      executionRole: this.executionRole,
    });
    const restore = definition.addContainer('Restore', {
      containerName: RESTORE_CONTAINER_NAME,
      image: props.image,
      command: ['restore'],
      essential: true,
      readonlyRootFilesystem: true,
      // StopTask's SIGTERM ends the restore as a failure (recorded, alerted) before SIGKILL.
      stopTimeout: Duration.seconds(120),
      linuxParameters: new ecs.LinuxParameters(definition, 'LinuxParameters', { initProcessEnabled: true }),
      logging: ecs.LogDrivers.awsLogs({
        logGroup: props.taskLogGroup,
        streamPrefix: sidecar ? 'drill' : 'restore',
      }),
      environment: {
        DUMPVAULT_HISTORY_TABLE: props.table.tableName,
        DUMPVAULT_BUCKET: props.bucket.bucketName,
        DUMPVAULT_TOPIC_ARN: props.topic.topicArn,
        ...(sidecar ? { DUMPVAULT_EPHEMERAL_URL: SIDECAR_SETTINGS[sidecar.family].url } : {}),
      },
    });
    mountTmp(restore);
    if (sidecar) {
      const settings = SIDECAR_SETTINGS[sidecar.family];
      const database = definition.addContainer('Database', {
        containerName: SIDECAR_CONTAINER_NAME,
        image: ecs.ContainerImage.fromRegistry(sidecar.image),
        // A crashed sidecar fails the restore, which records why; it need not stop the task.
        essential: false,
        environment: settings.environment,
        command: settings.command,
        healthCheck: {
          command: settings.healthCheck,
          interval: Duration.seconds(5),
          timeout: Duration.seconds(5),
          retries: 10,
          startPeriod: Duration.seconds(60),
        },
        logging: ecs.LogDrivers.awsLogs({ logGroup: props.taskLogGroup, streamPrefix: 'drill-database' }),
      });
      restore.addContainerDependencies({
        container: database,
        condition: ecs.ContainerDependencyCondition.HEALTHY,
      });
    }
    Validations.of(definition).acknowledge({
      id: 'AwsSolutions-ECS2',
      reason:
        'The environment holds table, bucket and topic names and the loopback URL of the drill database; secrets are fetched from Secrets Manager by ARN at run time.',
    });
    return definition;
  }

  /** Read backups, their keys and secrets; write history items; alert. Nothing is written or deleted in the bucket. */
  private grantTaskPermissions(): void {
    const { config, bucket, bucketKey, topicKey, table, topic } = this.props;
    const role = this.taskRole;
    const secrets = restoreSecretArnsOf(config);
    if (secrets.length) {
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: 'ReadJobSecrets',
          actions: ['secretsmanager:GetSecretValue'],
          resources: secrets,
        }),
      );
    }
    this.grantReadTaggedTargetSecrets(role);
    const prefixes = managedKeyPrefixes(config);
    if (prefixes.length) {
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: 'ReadBackupObjects',
          actions: ['s3:GetObject'],
          resources: prefixes.map((p) => bucket.arnForObjects(`${p}*`)),
        }),
      );
      for (const p of prefixes) {
        Validations.of(role).acknowledge({
          id: `AwsSolutions-IAM5[Resource::${nagResource(this, bucket.arnForObjects(`${p}*`))}]`,
          reason: `Backups of the job are objects under ${p} (one per run); read-only.`,
        });
      }
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: 'ListBackupPrefixes',
          actions: ['s3:ListBucket'],
          resources: [bucket.bucketArn],
          conditions: { StringLike: { 's3:prefix': prefixes.map((p) => `${p}*`) } },
        }),
      );
    }
    const keys = [topicKey.keyArn];
    if (bucketKey && bucketKey !== topicKey && prefixes.length) keys.push(bucketKey.keyArn);
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
        actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:Query'],
        resources: [table.tableArn],
        conditions: {
          'ForAllValues:StringEquals': {
            // Restores and drills keep their alert streaks in `JOB#{job}:restore|drill` (notifyOutcome).
            'dynamodb:LeadingKeys': [
              ...config.jobs.flatMap((j) => [
                `JOB#${j.name}`,
                `JOB#${j.name}:restore`,
                `JOB#${j.name}:drill`,
              ]),
              'JOBS',
            ],
          },
        },
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'PublishAlerts',
        actions: ['sns:Publish'],
        resources: [topic.topicArn],
      }),
    );
  }

  /**
   * GetSecretValue on the secrets tagged `dumpvault-restore-target=<stack name>`: restore targets
   * are chosen per execution, so their password secrets are opted in by tag.
   */
  private grantReadTaggedTargetSecrets(role: iam.IRole): void {
    const stack = Stack.of(this);
    const targetSecrets = stack.formatArn({
      service: 'secretsmanager',
      resource: 'secret',
      resourceName: '*',
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ReadTaggedRestoreTargetSecrets',
        actions: ['secretsmanager:GetSecretValue'],
        resources: [targetSecrets],
        conditions: {
          StringEquals: { [`secretsmanager:ResourceTag/${RESTORE_TARGET_TAG}`]: stack.stackName },
        },
      }),
    );
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${nagResource(this, targetSecrets)}]`,
      reason: `Restore targets are chosen per execution; only secrets tagged ${RESTORE_TARGET_TAG}=<stack name> can be read.`,
    });
  }

  /**
   * The Guard reads a target's password secret: one of the jobs' database password secrets (a
   * restore back into a source's server), or one tagged for restores — the rule of the restore
   * task, without its keys, passphrases and storage credentials, which the Guard never needs.
   */
  private grantGuardPermissions(): void {
    const role = this.guardFunction.role!;
    const passwords = [...new Set(this.props.config.jobs.flatMap((job) => job.source.passwordSecret ?? []))]
      .sort()
      .map(secretResourceArn);
    if (passwords.length) {
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: 'ReadJobPasswordSecrets',
          actions: ['secretsmanager:GetSecretValue'],
          resources: passwords,
        }),
      );
    }
    this.grantReadTaggedTargetSecrets(role);
  }

  private grantFunctionPermissions(): void {
    this.grantGuardPermissions();
    const { config, bucket, bucketKey, topicKey, table, topic } = this.props;
    const prefixes = managedKeyPrefixes(config);
    const foreignCredentials = new Set<string>();
    for (const job of config.jobs) {
      const first = config.destinations[jobDestinations(job)[0]?.name ?? ''];
      if (first?.type === 's3' && first.credentialsSecret) foreignCredentials.add(first.credentialsSecret);
    }
    for (const fn of [this.resolveFunction, this.verifyFunction]) {
      if (prefixes.length) {
        const manifests = prefixes.map((p) => bucket.arnForObjects(`${p}*.manifest.json`));
        fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: manifests }));
        fn.addToRolePolicy(
          new iam.PolicyStatement({
            actions: ['s3:ListBucket'],
            resources: [bucket.bucketArn],
            conditions: { StringLike: { 's3:prefix': prefixes.map((p) => `${p}*`) } },
          }),
        );
        for (const arn of manifests) {
          Validations.of(fn.role!).acknowledge({
            id: `AwsSolutions-IAM5[Resource::${nagResource(this, arn)}]`,
            reason:
              'The manifests of a job are one object per backup under its prefix; only manifests can be read.',
          });
        }
        if (bucketKey) {
          fn.addToRolePolicy(
            new iam.PolicyStatement({ actions: ['kms:Decrypt'], resources: [bucketKey.keyArn] }),
          );
        }
      }
      if (foreignCredentials.size) {
        fn.addToRolePolicy(
          new iam.PolicyStatement({
            actions: ['secretsmanager:GetSecretValue'],
            resources: [...foreignCredentials].sort().map(secretResourceArn),
          }),
        );
      }
    }
    const historyWrite = ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:Query'];
    this.resolveFunction.addToRolePolicy(
      new iam.PolicyStatement({ actions: historyWrite, resources: [table.tableArn] }),
    );
    this.verifyFunction.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['dynamodb:GetItem', 'dynamodb:Query'],
        resources: [table.tableArn],
      }),
    );
    this.recordFunction.addToRolePolicy(
      new iam.PolicyStatement({ actions: historyWrite, resources: [table.tableArn] }),
    );
    this.recordFunction.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['sns:Publish'], resources: [topic.topicArn] }),
    );
    this.recordFunction.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: [topicKey.keyArn],
      }),
    );
    // restore-ended reads and conditionally replaces run items of the jobs (JOB#<job>) and
    // reads and writes their restore and drill alert streaks (JOB#<job>:restore|drill, see
    // core/notify/alerts.ts), and publishes: no delete, no other partition, no bucket, no task.
    this.endedFunction.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'FailRunningRestores',
        actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query'],
        resources: [table.tableArn],
        conditions: {
          'ForAllValues:StringEquals': {
            'dynamodb:LeadingKeys': config.jobs.flatMap((j) => [
              `JOB#${j.name}`,
              `JOB#${j.name}:restore`,
              `JOB#${j.name}:drill`,
            ]),
          },
        },
      }),
    );
    this.endedFunction.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'PublishAlerts',
        actions: ['sns:Publish'],
        resources: [topic.topicArn],
      }),
    );
    this.endedFunction.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'UseTopicKey',
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: [topicKey.keyArn],
      }),
    );
  }

  /** A Lambda step: whole state in, result at `$.<resultKey>`, timeout, retries, Catch to `onFailure`. */
  private lambdaStep(
    id: string,
    fn: lambda.IFunction,
    options: {
      resultPath: string;
      payload?: Record<string, unknown>;
      timeout: Duration;
      onFailure?: sfn.IChainable;
    },
  ): tasks.LambdaInvoke {
    const step = new tasks.LambdaInvoke(this, id, {
      lambdaFunction: fn,
      payloadResponseOnly: true,
      payload: sfn.TaskInput.fromObject({
        state: sfn.JsonPath.entirePayload,
        execution: { id: sfn.JsonPath.executionId, startTime: sfn.JsonPath.executionStartTime },
        ...options.payload,
      }),
      resultPath: options.resultPath,
      taskTimeout: sfn.Timeout.duration(options.timeout),
      retryOnServiceExceptions: false,
    });
    step.addRetry({
      errors: [...LAMBDA_TRANSIENT_ERRORS, STEP_TRANSIENT_ERROR],
      interval: Duration.seconds(2),
      maxAttempts: 4,
      backoffRate: 2,
    });
    step.addRetry({ errors: [sfn.Errors.TIMEOUT], interval: Duration.seconds(5), maxAttempts: 1 });
    if (options.onFailure) step.addCatch(options.onFailure, { resultPath: `$.failure.${id}` });
    return step;
  }

  private createStateMachine(): sfn.StateMachine {
    const props = this.props;
    const failed = new sfn.Fail(this, 'Failed', {
      comment: 'The run is recorded FAILED and alerted; the cause is the one-line cause in history.',
      errorPath: '$.recorded.error',
      causePath: '$.recorded.cause',
    });
    const notifyFailure = this.lambdaStep('NotifyFailure', this.recordFunction, {
      resultPath: '$.notified',
      payload: { step: 'notify' },
      timeout: Duration.seconds(60),
    });
    notifyFailure.addCatch(failed, { resultPath: '$.failure.NotifyFailure' });
    notifyFailure.next(failed);
    const recordFailureFailed = new sfn.Pass(this, 'RecordFailureFailed', {
      comment: 'History could not be written: fail with what is known.',
      parameters: {
        error: 'RecordFailed',
        'cause.$':
          "States.Format('the failure could not be recorded in history: {}', $.failure.RecordFailure.Cause)",
        changed: false,
      },
      resultPath: '$.recorded',
    });
    recordFailureFailed.next(notifyFailure);
    const recordFailure = this.lambdaStep('RecordFailure', this.recordFunction, {
      resultPath: '$.recorded',
      payload: { step: 'record-failure' },
      timeout: Duration.seconds(60),
    });
    recordFailure.addCatch(recordFailureFailed, { resultPath: '$.failure.RecordFailure' });
    recordFailure.next(notifyFailure);

    const restored = new sfn.Succeed(this, 'Restored', {
      comment: 'Restored, verified against the manifest, recorded.',
    });
    const notify = this.lambdaStep('Notify', this.recordFunction, {
      resultPath: '$.notified',
      payload: { step: 'notify' },
      timeout: Duration.seconds(60),
    });
    // The restore succeeded and is recorded: an alert that cannot be sent does not undo that.
    notify.addCatch(restored, { resultPath: '$.failure.Notify' });
    const record = this.lambdaStep('Record', this.recordFunction, {
      resultPath: '$.recorded',
      payload: { step: 'record' },
      timeout: Duration.seconds(60),
      onFailure: recordFailure,
    });
    const verify = this.lambdaStep('Verify', this.verifyFunction, {
      resultPath: '$.verify',
      timeout: Duration.seconds(90),
      onFailure: recordFailure,
    });
    const runRestore = new sfn.CustomState(this, 'RunRestore', {
      stateJson: {
        Type: 'Task',
        Comment:
          'dumpvault task restore: target check, verify pass, restore, comparison; records its outcome',
        Resource: `arn:${Aws.PARTITION}:states:::ecs:runTask.sync`,
        Parameters: {
          Cluster: props.cluster.clusterArn,
          'TaskDefinition.$': '$.run.taskDefinition',
          LaunchType: 'FARGATE',
          'StartedBy.$': '$.run.startedBy',
          NetworkConfiguration: {
            AwsvpcConfiguration: {
              Subnets: props.subnets.subnetIds,
              SecurityGroups: [props.securityGroup.securityGroupId],
              AssignPublicIp: 'DISABLED',
            },
          },
          Overrides: {
            'Cpu.$': '$.run.cpu',
            'Memory.$': '$.run.memory',
            EphemeralStorage: { 'SizeInGiB.$': '$.run.ephemeralStorageGiB' },
            ContainerOverrides: [
              { Name: RESTORE_CONTAINER_NAME, Command: ['restore'], 'Environment.$': '$.run.environment' },
            ],
          },
        },
        TimeoutSeconds: this.restoreTimeoutSeconds,
        ResultPath: '$.task',
      },
    });
    runRestore.addRetry({
      errors: ECS_TRANSIENT_ERRORS,
      interval: Duration.seconds(30),
      maxAttempts: 3,
      backoffRate: 2,
    });
    runRestore.addCatch(recordFailure, { resultPath: '$.failure.RunRestore' });
    const guard = this.lambdaStep('Guard', this.guardFunction, {
      resultPath: '$.guard',
      timeout: Duration.seconds(GUARD_TIMEOUT_SECONDS + 15),
      onFailure: recordFailure,
    });
    // A target that cannot be reached gets one more look (a failover may be under way); a
    // refusal (GuardRefusedError) is never retried.
    guard.addRetry({
      errors: [TARGET_UNREACHABLE_ERROR],
      interval: Duration.seconds(10),
      maxAttempts: 1,
    });
    const deployment: Record<string, unknown> = {
      restoreTaskDefinition: this.taskDefinition.taskDefinitionArn,
      restoreTimeoutSeconds: this.restoreTimeoutSeconds,
      drillTaskDefinitions: Object.fromEntries(
        Object.entries(this.drillTaskDefinitions).map(([key, def]) => [key, def.taskDefinitionArn]),
      ),
    };
    const resolve = this.lambdaStep('Resolve', this.resolveFunction, {
      resultPath: '$.run',
      payload: { deployment },
      timeout: Duration.seconds(90),
      onFailure: recordFailure,
    });
    const definition = resolve
      .next(guard)
      .next(runRestore)
      .next(verify)
      .next(record)
      .next(notify)
      .next(restored);

    const logGroup = new logs.LogGroup(this, 'StateMachineLogs', { retention: props.logRetention });
    const stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      comment: 'dumpvault restore: Resolve, Guard, RunRestore, Verify, Record, Notify',
      definitionBody: sfn.DefinitionBody.fromChainable(definition),
      stateMachineType: sfn.StateMachineType.STANDARD,
      tracingEnabled: true,
      logs: { destination: logGroup, level: sfn.LogLevel.ALL, includeExecutionData: true },
    });
    this.grantRunTasks(stateMachine);
    return stateMachine;
  }

  /** The state machine may run only the restore and drill task definitions, and pass only their roles. */
  private grantRunTasks(stateMachine: sfn.StateMachine): void {
    const stack = Stack.of(this);
    const definitions = [this.taskDefinition, ...Object.values(this.drillTaskDefinitions)];
    stateMachine.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'RunRestoreTasks',
        actions: ['ecs:RunTask'],
        resources: definitions.map((d) => d.taskDefinitionArn),
        conditions: { ArnEquals: { 'ecs:cluster': this.props.cluster.clusterArn } },
      }),
    );
    const clusterTasks = stack.formatArn({
      service: 'ecs',
      resource: 'task',
      resourceName: `${this.props.cluster.clusterName}/*`,
    });
    stateMachine.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'FollowRestoreTasks',
        actions: ['ecs:StopTask', 'ecs:DescribeTasks'],
        resources: [clusterTasks],
      }),
    );
    stateMachine.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'PassRestoreTaskRoles',
        actions: ['iam:PassRole'],
        resources: [this.taskRole.roleArn, this.executionRole.roleArn],
        conditions: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
      }),
    );
    stateMachine.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'ReceiveTaskEvents',
        actions: ['events:PutTargets', 'events:PutRule', 'events:DescribeRule'],
        resources: [
          stack.formatArn({
            service: 'events',
            resource: 'rule',
            resourceName: 'StepFunctionsGetEventsForECSTaskRule',
          }),
        ],
      }),
    );
    const role = stateMachine.role;
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${nagResource(this, clusterTasks)}]`,
      reason:
        'Task ARNs exist only at run time; StopTask/DescribeTasks are limited to tasks of this cluster.',
    });
    for (const fn of [this.resolveFunction, this.guardFunction, this.verifyFunction, this.recordFunction]) {
      Validations.of(role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::${nagResource(this, fn.functionArn)}:*]`,
        reason:
          'lambda:InvokeFunction on this restore step and its versions, as the Step Functions integration grants it.',
      });
    }
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'CloudWatch Logs delivery and X-Ray tracing of the state machine (logs:*LogDelivery*, xray:Put*) support no resource-level permissions.',
    });
  }

  /**
   * An execution aborted by hand or timed out never reaches RecordFailure: this rule hands its
   * end to restore-ended, which fails a run still RUNNING (FAILED too, for a failure that could
   * not be recorded; the function leaves a finished run alone).
   */
  private createEndedRule(): events.Rule {
    return new events.Rule(this, 'EndedRule', {
      description: 'dumpvault: restore executions that were aborted, timed out or failed',
      eventPattern: {
        source: ['aws.states'],
        detailType: ['Step Functions Execution Status Change'],
        detail: {
          status: ['ABORTED', 'TIMED_OUT', 'FAILED'],
          stateMachineArn: [this.stateMachine.stateMachineArn],
        },
      },
      targets: [
        new eventTargets.LambdaFunction(this.endedFunction, {
          deadLetterQueue: this.props.deadLetterQueue,
          retryAttempts: 8,
          maxEventAge: Duration.hours(6),
        }),
      ],
    });
  }

  private createDrillSchedules(): Record<string, scheduler.Schedule> {
    const schedules: Record<string, scheduler.Schedule> = {};
    const drillJobs = this.props.config.jobs.filter((job) => job.restoreDrill);
    if (!drillJobs.length) return schedules;
    const stack = Stack.of(this);
    const role = new iam.Role(this, 'DrillSchedulerRole', {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
      }),
      description:
        'dumpvault drill schedules: start the restore state machine, send failed starts to the DLQ',
    });
    for (const job of drillJobs) {
      const schedule = job.restoreDrill!.schedule;
      const expression = schedule.cron
        ? scheduler.ScheduleExpression.expression(`cron(${schedule.cron})`, TimeZone.of(schedule.timezone))
        : scheduler.ScheduleExpression.expression(`rate(${schedule.rate})`);
      schedules[job.name] = new scheduler.Schedule(this, `DrillSchedule-${job.name}`, {
        description: `dumpvault: restore drill of ${job.name}`,
        schedule: expression,
        target: new schedulerTargets.StepFunctionsStartExecution(this.stateMachine, {
          role,
          input: scheduler.ScheduleTargetInput.fromObject({
            job: job.name,
            backup: 'latest',
            target: 'ephemeral',
            trigger: 'schedule',
          }),
          deadLetterQueue: this.props.deadLetterQueue,
          retryAttempts: 3,
          maxEventAge: Duration.hours(1),
        }),
      });
    }
    return schedules;
  }

  private createDrillAlarms(): Record<string, cloudwatch.CompositeAlarm> {
    const alarms: Record<string, cloudwatch.CompositeAlarm> = {};
    for (const job of this.props.config.jobs) {
      if (!job.restoreDrill) continue;
      const failed = new cloudwatch.Alarm(this, `DrillFailed-${job.name}`, {
        alarmDescription: `dumpvault: the last restore drill of ${job.name} failed (dumpvault history ${job.name} --remote)`,
        metric: this.metricDrillSucceeded(job.name),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        evaluationPeriods: 1,
        // Drills are rare events: without a datapoint the alarm keeps what the last drill said.
        treatMissingData: cloudwatch.TreatMissingData.IGNORE,
      });
      const hours = this.overdueHours(job.restoreDrill.schedule);
      const overdue = new cloudwatch.Alarm(this, `DrillOverdue-${job.name}`, {
        alarmDescription: `dumpvault: no restore drill of ${job.name} succeeded for more than ${hours} h (two drill periods)`,
        metric: this.metricHoursSinceLastDrillSuccess(job.name),
        threshold: hours,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      });
      const alarm = new cloudwatch.CompositeAlarm(this, `Drill-${job.name}`, {
        alarmDescription: `dumpvault: restore drills of ${job.name} are failing or overdue (dumpvault history ${job.name} --remote; dumpvault drill ${job.name} --remote)`,
        alarmRule: cloudwatch.AlarmRule.anyOf(failed, overdue),
      });
      alarm.addAlarmAction(this.props.alarmAction);
      alarm.addOkAction(this.props.alarmAction);
      alarms[job.name] = alarm;
    }
    return alarms;
  }
}
