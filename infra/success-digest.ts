/**
 * `SuccessDigest` (`aws.alerts.successDigest`): a Lambda that, once a day at the configured time
 * of day in its time zone (an EventBridge Scheduler schedule), reads every job's history and
 * publishes one message summarising them to the alerts topic. Its role may query the jobs'
 * history partitions and publish to the topic (with its key), nothing else; the schedule's role
 * may invoke this function only.
 */
import { Duration, Stack, TimeZone, Validations } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as logs from 'aws-cdk-lib/aws-logs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as schedulerTargets from 'aws-cdk-lib/aws-scheduler-targets';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { Config, DigestTime } from '../core/config/schema.ts';
import { FunctionEnv } from '../core/contracts/function-env.ts';
import { jobPartition } from '../core/contracts/history-keys.ts';
import { digestSchedule } from '../core/notify/digest.ts';
import { createFunction } from './functions.ts';
import { nagResource } from './iam.ts';

export interface SuccessDigestProps {
  readonly config: Config;
  /** When the digest goes out (`aws.alerts.successDigest`). */
  readonly time: DigestTime;
  readonly table: dynamodb.ITable;
  readonly topic: sns.ITopic;
  readonly topicKey: kms.IKey;
  readonly logRetention: logs.RetentionDays;
  readonly deadLetterQueue: sqs.IQueue;
}

/** The daily digest to the alerts topic: its function and its schedule. */
export class SuccessDigest extends Construct {
  readonly function: lambda.Function;
  readonly schedule: scheduler.Schedule;

  constructor(scope: Construct, id: string, props: SuccessDigestProps) {
    super(scope, id);
    // Resources sit directly under DumpVault, like the other functions and schedules.
    const parent = scope;
    const { config, table, topic, topicKey } = props;
    this.function = createFunction(parent, 'SuccessDigest', 'success-digest', {
      description: 'dumpvault: publish the daily digest of every job to the alerts topic',
      config,
      logRetention: props.logRetention,
      timeout: Duration.seconds(60),
      async: { onFailure: props.deadLetterQueue, retryAttempts: 2, maxEventAge: Duration.hours(6) },
      environment: { [FunctionEnv.historyTable]: table.tableName, [FunctionEnv.topicArn]: topic.topicArn },
    });
    this.function.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'ReadJobHistory',
        actions: ['dynamodb:Query'],
        resources: [table.tableArn],
        conditions: {
          'ForAllValues:StringEquals': {
            'dynamodb:LeadingKeys': config.jobs.map((j) => jobPartition(j.name)),
          },
        },
      }),
    );
    this.function.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'PublishDigest',
        actions: ['sns:Publish'],
        resources: [topic.topicArn],
      }),
    );
    this.function.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'EncryptForTopic',
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: [topicKey.keyArn],
      }),
    );

    const role = new iam.Role(parent, 'SuccessDigestSchedulerRole', {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(this).account } },
      }),
      description:
        'dumpvault digest schedule: invoke the success-digest function, send failed invocations to the DLQ',
    });
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${nagResource(this, this.function.functionArn)}:*]`,
      reason:
        'lambda:InvokeFunction on success-digest and its versions, as aws-scheduler-targets grants it; no other function.',
    });
    const { cron, timezone } = digestSchedule(props.time);
    this.schedule = new scheduler.Schedule(parent, 'SuccessDigestSchedule', {
      description: `dumpvault: daily digest at ${props.time.at} ${props.time.timezone}`,
      schedule: scheduler.ScheduleExpression.expression(`cron(${cron})`, TimeZone.of(timezone)),
      target: new schedulerTargets.LambdaInvoke(this.function, {
        role,
        // The scheduled time ends the summarised period: a retried invocation summarises the same day.
        input: scheduler.ScheduleTargetInput.fromObject({
          scheduledTime: scheduler.ContextAttribute.scheduledTime,
        }),
        deadLetterQueue: props.deadLetterQueue,
        retryAttempts: 3,
        maxEventAge: Duration.hours(1),
      }),
    });
  }
}
