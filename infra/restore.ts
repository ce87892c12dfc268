/**
 * `DumpVaultRestore`: the restore state machine and the restore drills of a {@link DumpVault}
 * (DESIGN.md §1, issue 4).
 *
 * ```
 * Resolve ─> Guard ─> RunRestore (ECS RunTask .sync) ─> Verify ─> Record ─> Notify ─> Restored
 *    └─────────┴────────────┴───────────────────────────┴─────────┴──> RecordFailure ─> NotifyFailure ─> Failed
 * ```
 *
 * Guard runs in the deployment's VPC (outside it with public task subnets), with the restore
 * task's subnets and security group, and
 * looks into a URL target before any task starts: a target with data is refused unless the
 * input says `drop` (the restore task checks again before it writes).
 *
 * Every Task state has a timeout and retries for transient errors; every Catch stores
 * `{Error, Cause}` at `$.failure.<state>` and leads to RecordFailure. RunRestore starts the
 * restore task definition, or for drills the drill task definition whose sidecar database
 * matches the backup's server (infra/drill-sidecars.ts). A drill schedule per job that asks
 * for one starts the same state machine with target `ephemeral`; a job with a standby gets a
 * rule that starts it with target `standby` when a manifest lands (infra/standby-rules.ts).
 *
 * Built from blocks that create their resources in this construct (so construct paths and
 * logical ids are those of one construct): restore-task-definitions.ts, restore-grants.ts,
 * restore-state-machine.ts, restore-drills.ts; what they share is in restore-props.ts.
 */
import { Annotations, ArnFormat, Duration, Stack, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import type * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as scheduler from 'aws-cdk-lib/aws-scheduler';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { FunctionEnv } from '../core/contracts/function-env.ts';
import { drillSidecarsOfConfig } from './drill-sidecars.ts';
import { createDrillAlarms, createDrillSchedules, overdueHours } from './restore-drills.ts';
import { grantFunctionPermissions, grantTaskPermissions } from './restore-grants.ts';
import {
  type DumpVaultRestoreProps,
  GUARD_TIMEOUT_SECONDS,
  LAMBDA_AMAZON_CA_BUNDLE,
  RESTORE_TARGET_TAG,
  type RestoreScope,
} from './restore-props.ts';
import { createEndedRule, createStateMachine } from './restore-state-machine.ts';
import { createTaskDefinition } from './restore-task-definitions.ts';
import { createStandbyRules } from './standby-rules.ts';

export {
  type DumpVaultRestoreProps,
  RESTORE_CONTAINER_NAME,
  RESTORE_TARGET_TAG,
  type RestoreFunctionOptions,
  SIDECAR_CONTAINER_NAME,
} from './restore-props.ts';

import { METRICS } from '../core/contracts/cloudwatch.ts';
import { DEFAULT_TASK_SIZE } from '../core/contracts/task-size.ts';

/** The restore state machine, its task definitions and Lambdas, the drill schedules and alarms. */
export class DumpVaultRestore extends Construct implements RestoreScope {
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
  /** Per job with a standby and a managed destination: its new manifests start a standby execution. */
  readonly standbyRules: Readonly<Record<string, events.Rule>>;

  /**
   * How long RunRestore waits for a restore task: the longest `task.timeoutMinutes` of the
   * config (Step Functions then stops the task). One value for all jobs, because a dynamic
   * `TimeoutSecondsPath` is resolved differently by Step Functions implementations.
   */
  readonly restoreTimeoutSeconds: number;

  /** The props it was built with (its building blocks read them). */
  readonly props: DumpVaultRestoreProps;

  constructor(scope: Construct, id: string, props: DumpVaultRestoreProps) {
    super(scope, id);
    this.props = props;
    const { config } = props;
    this.restoreTimeoutSeconds =
      Math.max(...config.jobs.map((job) => job.task?.timeoutMinutes ?? DEFAULT_TASK_SIZE.timeoutMinutes)) *
      60;

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
    grantTaskPermissions(this);
    this.executionRole = new iam.Role(this, 'ExecutionRole', {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
      description: 'dumpvault restore and drill tasks: pull images, write logs',
    });
    this.taskDefinition = createTaskDefinition(this, 'TaskDefinition', undefined);
    const drills: Record<string, ecs.FargateTaskDefinition> = {};
    for (const sidecar of drillSidecarsOfConfig(config)) {
      const idPart = sidecar.key.startsWith('job:')
        ? `Job${sidecar.key.slice(4)}`
        : sidecar.key.replace(/[^a-z0-9]/gi, '');
      drills[sidecar.key] = createTaskDefinition(this, `Drill${idPart}`, sidecar);
    }
    this.drillTaskDefinitions = drills;
    Validations.of(this.executionRole).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'ecr:GetAuthorizationToken, needed to pull the task image, supports no resource-level permissions.',
    });

    const common = {
      [FunctionEnv.historyTable]: props.table.tableName,
      [FunctionEnv.bucket]: props.bucket.bucketName,
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
        [FunctionEnv.restoreTargetTag]: `${RESTORE_TARGET_TAG}=${Stack.of(this).stackName}`,
        NODE_EXTRA_CA_CERTS: LAMBDA_AMAZON_CA_BUNDLE,
      },
      // In public subnets a Lambda gets no public IP, so it would reach neither the target nor
      // Secrets Manager: there (aws.network "public-subnets", databases reachable from the
      // internet) Guard runs outside the VPC.
      ...(props.assignPublicIp
        ? {}
        : {
            vpc: {
              vpc: props.vpc,
              subnets: { subnets: props.subnets.subnets },
              securityGroups: [props.securityGroup],
            },
          }),
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
        [FunctionEnv.historyTable]: props.table.tableName,
        [FunctionEnv.topicArn]: props.topic.topicArn,
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
        [FunctionEnv.historyTable]: props.table.tableName,
        [FunctionEnv.topicArn]: props.topic.topicArn,
      },
    });
    grantFunctionPermissions(this);

    this.stateMachine = createStateMachine(this);
    this.endedRule = createEndedRule(this);
    this.drillSchedules = createDrillSchedules(this);
    this.drillAlarms = createDrillAlarms(this);
    this.standbyRules = createStandbyRules(this);
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
    return this.props.jobMetric(METRICS.drillSucceeded, job, {
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
    return this.props.jobMetric(METRICS.hoursSinceLastDrillSuccess, job, {
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
              this.metricDrillSucceeded(job.name, {
                period: Duration.hours(1),
                label: METRICS.drillSucceeded,
              }),
            ],
            right: [this.metricHoursSinceLastDrillSuccess(job.name, { label: 'hours since last success' })],
            leftYAxis: { min: 0, max: 1 },
            rightAnnotations: [{ value: overdueHours(job.restoreDrill!.schedule), label: 'alarm' }],
            width: 24,
            height: 4,
          }),
      );
  }
}
