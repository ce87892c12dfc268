/**
 * `Orchestration`: what starts and finishes backup runs. A schedule per job invokes start-backup
 * with the scheduled time (the run id derives from it); start-backup leases the job and runs the
 * job's own task definition; the STOPPED rule hands tasks to task-stopped, which fails runs that
 * died and hands successful ones to the job's prune function; the watchdog runs every 15 min.
 * Every asynchronous invocation has explicit retries, a maximum event age and the DLQ.
 */
import { Duration, Fn, Stack, TimeZone, Validations } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import * as events from 'aws-cdk-lib/aws-events';
import * as eventTargets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as logs from 'aws-cdk-lib/aws-logs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as schedulerTargets from 'aws-cdk-lib/aws-scheduler-targets';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { backupsOnSpot, type Config } from '../core/config/schema.ts';
import { FunctionEnv } from '../core/contracts/function-env.ts';
import { jobPartition } from '../core/contracts/history-keys.ts';
import { PRUNE_FUNCTIONS_ENV } from '../core/contracts/prune.ts';
import { type BackupTasks, CONTAINER_NAME } from './backup-tasks.ts';
import { createFunction } from './functions.ts';
import { nagResource } from './iam.ts';

export interface OrchestrationProps {
  readonly config: Config;
  readonly cluster: ecs.ICluster;
  readonly subnets: ec2.SelectedSubnets;
  readonly securityGroup: ec2.ISecurityGroup;
  readonly tasks: BackupTasks;
  /** Tasks get a public IP (`aws.network: "public-subnets"`). */
  readonly assignPublicIp: boolean;
  /** The prune function of each job. */
  readonly pruneFunctions: Readonly<Record<string, lambda.IFunction>>;
  readonly table: dynamodb.ITable;
  readonly topic: sns.ITopic;
  readonly topicKey: kms.IKey;
  readonly logRetention: logs.RetentionDays;
  readonly deadLetterQueue: sqs.IQueue;
}

/** Schedules, start-backup, task-stopped and the watchdog. */
export class Orchestration extends Construct {
  readonly startBackupFunction: lambda.Function;
  readonly taskStoppedFunction: lambda.Function;
  readonly watchdogFunction: lambda.Function;
  readonly schedules: Readonly<Record<string, scheduler.Schedule>>;

  constructor(scope: Construct, id: string, props: OrchestrationProps) {
    super(scope, id);
    // Resources keep the ids (and so the logical ids) they had directly under DumpVault.
    const parent = scope;
    const { config } = props;
    const common = {
      [FunctionEnv.historyTable]: props.table.tableName,
      [FunctionEnv.topicArn]: props.topic.topicArn,
    };
    const launch = {
      [FunctionEnv.cluster]: props.cluster.clusterArn,
      [FunctionEnv.taskFamilyPrefix]: props.tasks.familyPrefix,
      [FunctionEnv.containerName]: CONTAINER_NAME,
      [FunctionEnv.subnets]: Fn.join(',', props.subnets.subnetIds),
      [FunctionEnv.securityGroups]: props.securityGroup.securityGroupId,
      [FunctionEnv.assignPublicIp]: props.assignPublicIp ? 'ENABLED' : 'DISABLED',
    };
    // task-stopped retries a backup Fargate Spot interrupted, once, with the same launch.
    const spot = config.jobs.some((job) => backupsOnSpot(config, job));
    this.startBackupFunction = createFunction(parent, 'StartBackup', 'start-backup', {
      description: "dumpvault: lease a job, record it RUNNING and start the job's Fargate task",
      config,
      logRetention: props.logRetention,
      // RunTask is retried with backoff for up to ~20 s on capacity, ENI and throttling failures.
      timeout: Duration.seconds(120),
      // Scheduler invokes asynchronously: a function error is retried twice, then goes to the DLQ.
      async: { onFailure: props.deadLetterQueue, retryAttempts: 2, maxEventAge: Duration.hours(1) },
      environment: { ...common, ...launch },
    });
    this.taskStoppedFunction = createFunction(parent, 'TaskStopped', 'task-stopped', {
      description:
        'dumpvault: mark runs whose task stopped without a result FAILED; hand successful backups to their prune function',
      config,
      logRetention: props.logRetention,
      // With Spot jobs it may run a retry's RunTask, retried with backoff like start-backup's.
      timeout: Duration.seconds(spot ? 120 : 30),
      async: { onFailure: props.deadLetterQueue, retryAttempts: 2, maxEventAge: Duration.hours(6) },
      environment: {
        ...common,
        ...(spot ? launch : {}),
        [FunctionEnv.containerName]: CONTAINER_NAME,
        [PRUNE_FUNCTIONS_ENV]: Stack.of(this).toJsonString(
          Object.fromEntries(Object.entries(props.pruneFunctions).map(([job, fn]) => [job, fn.functionName])),
        ),
      },
    });
    this.watchdogFunction = createFunction(parent, 'Watchdog', 'watchdog', {
      description: 'dumpvault: publish HoursSinceLastSuccess per job, stop tasks past their timeout',
      config,
      logRetention: props.logRetention,
      timeout: Duration.seconds(60),
      // The next run comes 15 minutes later: no retry; a failed run is counted in the DLQ.
      async: { onFailure: props.deadLetterQueue, retryAttempts: 0, maxEventAge: Duration.minutes(15) },
      environment: {
        [FunctionEnv.historyTable]: props.table.tableName,
        [FunctionEnv.cluster]: props.cluster.clusterArn,
      },
    });
    this.grantFunctions(props);
    this.schedules = this.createSchedules(parent, props);
    this.createRules(parent, props);
  }

  private grantFunctions(props: OrchestrationProps): void {
    const { table, topic, topicKey, cluster } = props;
    const historyWrite = [
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:UpdateItem',
      'dynamodb:DeleteItem',
      'dynamodb:Query',
    ];
    for (const fn of [this.startBackupFunction, this.taskStoppedFunction]) {
      fn.addToRolePolicy(new iam.PolicyStatement({ actions: historyWrite, resources: [table.tableArn] }));
      fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['sns:Publish'], resources: [topic.topicArn] }));
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
          resources: [topicKey.keyArn],
        }),
      );
    }
    this.grantRunJobTasks(
      this.startBackupFunction,
      props.config.jobs.map((j) => j.name),
      props,
    );
    // The retry after a Spot interruption: the Spot jobs' tasks only.
    const spotJobs = props.config.jobs.filter((j) => backupsOnSpot(props.config, j)).map((j) => j.name);
    if (spotJobs.length) this.grantRunJobTasks(this.taskStoppedFunction, spotJobs, props);
    const pruneFunctions = Object.values(props.pruneFunctions);
    if (pruneFunctions.length) {
      this.taskStoppedFunction.addToRolePolicy(
        new iam.PolicyStatement({
          sid: 'StartPrune',
          actions: ['lambda:InvokeFunction'],
          resources: pruneFunctions.map((fn) => fn.functionArn),
        }),
      );
    }
    this.watchdogFunction.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['dynamodb:GetItem', 'dynamodb:Query'],
        resources: [table.tableArn],
      }),
    );
    // When it first saw a job (FIRSTSEEN), in the jobs' partitions only.
    this.watchdogFunction.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'RecordFirstSeen',
        actions: ['dynamodb:PutItem'],
        resources: [table.tableArn],
        conditions: {
          'ForAllValues:StringEquals': {
            'dynamodb:LeadingKeys': props.config.jobs.map((j) => jobPartition(j.name)),
          },
        },
      }),
    );
    const clusterTasks = Stack.of(this).formatArn({
      service: 'ecs',
      resource: 'task',
      resourceName: `${cluster.clusterName}/*`,
    });
    this.watchdogFunction.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['ecs:StopTask'], resources: [clusterTasks] }),
    );
    Validations.of(this.watchdogFunction.role!).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${nagResource(this, clusterTasks)}]`,
      reason: 'Task ARNs exist only at run time; ecs:StopTask is limited to tasks of this cluster.',
    });
  }

  /**
   * Lets `fn` start the backup tasks of `jobs` on this cluster: RunTask of their task
   * definitions, tagging the tasks it creates (propagateTags), passing their roles to ECS.
   */
  private grantRunJobTasks(fn: lambda.Function, jobs: string[], props: OrchestrationProps): void {
    const { cluster, tasks } = props;
    const revisions = jobs.map((job) => tasks.revisionsArn(job));
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'RunJobTasks',
        actions: ['ecs:RunTask'],
        resources: revisions,
        conditions: { ArnEquals: { 'ecs:cluster': cluster.clusterArn } },
      }),
    );
    for (const arn of revisions) {
      Validations.of(fn.role!).acknowledge({
        id: `AwsSolutions-IAM5[Resource::${nagResource(this, arn)}]`,
        reason:
          "Every revision of one job's backup task definition (RunTask names the family); no other task.",
      });
    }
    // RunTask with propagateTags tags the task it creates, which ECS authorises as
    // ecs:TagResource with ecs:CreateAction = RunTask: granted for that only, on this cluster's
    // tasks (the function cannot tag anything that exists).
    const tasksOfCluster = `arn:${Stack.of(this).partition}:ecs:${Stack.of(this).region}:${Stack.of(this).account}:task/${cluster.clusterName}/*`;
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'TagJobTasksAtLaunch',
        actions: ['ecs:TagResource'],
        resources: [tasksOfCluster],
        conditions: { StringEquals: { 'ecs:CreateAction': 'RunTask' } },
      }),
    );
    Validations.of(fn.role!).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${nagResource(this, tasksOfCluster)}]`,
      reason: 'Tasks of this cluster, tagged only as RunTask creates them (ecs:CreateAction = RunTask).',
    });
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'PassJobTaskRoles',
        actions: ['iam:PassRole'],
        resources: [...jobs.map((job) => tasks.roles[job]!.roleArn), tasks.executionRole.roleArn],
        conditions: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
      }),
    );
  }

  private createSchedules(parent: Construct, props: OrchestrationProps): Record<string, scheduler.Schedule> {
    const stack = Stack.of(this);
    const role = new iam.Role(parent, 'SchedulerRole', {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
      }),
      description: 'dumpvault schedules: invoke start-backup, send failed invocations to the DLQ',
    });
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${nagResource(this, this.startBackupFunction.functionArn)}:*]`,
      reason:
        'lambda:InvokeFunction on start-backup and its versions, as aws-scheduler-targets grants it; no other function.',
    });
    const schedules: Record<string, scheduler.Schedule> = {};
    for (const job of props.config.jobs) {
      if (!job.schedule) continue;
      const expression = job.schedule.cron
        ? scheduler.ScheduleExpression.expression(
            `cron(${job.schedule.cron})`,
            TimeZone.of(job.schedule.timezone),
          )
        : scheduler.ScheduleExpression.expression(`rate(${job.schedule.rate})`);
      schedules[job.name] = new scheduler.Schedule(parent, `Schedule-${job.name}`, {
        description: `dumpvault: back up ${job.name}`,
        schedule: expression,
        target: new schedulerTargets.LambdaInvoke(this.startBackupFunction, {
          role,
          // The scheduled time names the run: a redelivered start is recognised and ignored.
          input: scheduler.ScheduleTargetInput.fromObject({
            job: job.name,
            scheduledTime: scheduler.ContextAttribute.scheduledTime,
          }),
          deadLetterQueue: props.deadLetterQueue,
          // Scheduler's own retries: invocations Lambda did not accept (throttling, service errors).
          retryAttempts: 3,
          maxEventAge: Duration.hours(1),
        }),
      });
    }
    return schedules;
  }

  private createRules(parent: Construct, props: OrchestrationProps): void {
    new events.Rule(parent, 'TaskStoppedRule', {
      description: 'dumpvault: ECS tasks of this cluster that stopped',
      eventPattern: {
        source: ['aws.ecs'],
        detailType: ['ECS Task State Change'],
        detail: { clusterArn: [props.cluster.clusterArn], lastStatus: ['STOPPED'] },
      },
      targets: [
        new eventTargets.LambdaFunction(this.taskStoppedFunction, {
          deadLetterQueue: props.deadLetterQueue,
          retryAttempts: 8,
          maxEventAge: Duration.hours(6),
        }),
      ],
    });
    new events.Rule(parent, 'WatchdogRule', {
      description: 'dumpvault: watchdog every 15 minutes',
      schedule: events.Schedule.rate(Duration.minutes(15)),
      targets: [new eventTargets.LambdaFunction(this.watchdogFunction, { retryAttempts: 2 })],
    });
  }
}
