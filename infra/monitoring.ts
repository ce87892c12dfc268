/**
 * `Monitoring`: the alarms that reach people through the alerts topic, and the dashboard.
 * Freshness per job (HoursSinceLastSuccess; the watchdog counts a never-succeeded job from when
 * it was first seen), standby lag per job with a standby (StandbyLagSeconds), errors of every
 * Lambda, dead letters (ALARM and OK), and notifications the topic could not deliver.
 */
import { Annotations, Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { Config } from '../core/config/schema.ts';
import { METRICS, type MetricName } from '../core/contracts/cloudwatch.ts';
import { standbyLagThresholdHours } from '../core/standby/lag.ts';
import { scheduleGaps } from './schedule-gaps.ts';
import { alarmThresholdHours } from './validate.ts';

export interface MonitoringProps {
  readonly config: Config;
  readonly topic: sns.ITopic;
  readonly deadLetterQueue: sqs.IQueue;
  /** Lambdas whose errors alarm, by alarm id prefix. */
  readonly functions: ReadonlyArray<readonly [string, lambda.IFunction]>;
  /** Builds a per-job metric of the DumpVault namespace. */
  readonly jobMetric: (
    metricName: MetricName,
    job: string,
    props: cloudwatch.MetricOptions,
  ) => cloudwatch.Metric;
}

/** Alarms on freshness, Lambda errors, dead letters and failed deliveries. */
export class Monitoring extends Construct {
  readonly alarmAction: cloudwatch.IAlarmAction;
  readonly freshnessAlarms: Readonly<Record<string, cloudwatch.Alarm>>;
  /** Per job with a standby: fires when the backup the standby holds is older than its threshold. */
  readonly standbyLagAlarms: Readonly<Record<string, cloudwatch.Alarm>>;
  /** Hours without a success after which each job's freshness alarm fires. */
  readonly thresholds: Readonly<Record<string, number>>;

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);
    // Alarms keep the ids (and logical ids) they had directly under DumpVault.
    const parent = scope;
    const action = new cwActions.SnsAction(props.topic);
    this.alarmAction = action;
    const freshness: Record<string, cloudwatch.Alarm> = {};
    const thresholds: Record<string, number> = {};
    for (const job of props.config.jobs) {
      const threshold = alarmThresholdHours(job, job.schedule ? scheduleGaps(job.schedule) : undefined);
      if (threshold === undefined) {
        Annotations.of(parent).addWarningV2(
          'dumpvault:noFreshnessAlarm',
          `job "${job.name}" has neither a schedule nor alarmAfterHours: no HoursSinceLastSuccess alarm`,
        );
        continue;
      }
      thresholds[job.name] = threshold;
      const alarm = new cloudwatch.Alarm(parent, `Freshness-${job.name}`, {
        alarmDescription: `dumpvault: no successful backup of ${job.name} for more than ${threshold} h (dumpvault history ${job.name} --remote)`,
        metric: props.jobMetric(METRICS.hoursSinceLastSuccess, job.name, {
          statistic: cloudwatch.Stats.MAXIMUM,
        }),
        threshold,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        // The watchdog publishes for every job, counting a new job from when it was first seen:
        // no datapoint means the watchdog itself is not running.
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      });
      alarm.addAlarmAction(action);
      alarm.addOkAction(action);
      freshness[job.name] = alarm;
    }
    this.freshnessAlarms = freshness;
    this.thresholds = thresholds;

    const standbyLag: Record<string, cloudwatch.Alarm> = {};
    for (const job of props.config.jobs) {
      if (!job.standby) continue;
      const hours = standbyLagThresholdHours(
        job.standby,
        job.schedule ? scheduleGaps(job.schedule) : undefined,
      );
      const alarm = new cloudwatch.Alarm(parent, `StandbyLag-${job.name}`, {
        alarmDescription: `dumpvault: the standby of ${job.name} holds a backup older than ${hours} h (dumpvault history ${job.name} --remote; docs/standby.md)`,
        metric: props.jobMetric(METRICS.standbyLagSeconds, job.name, { statistic: cloudwatch.Stats.MAXIMUM }),
        threshold: Math.round(hours * 3600),
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        // The watchdog publishes the lag once a standby run has succeeded; before that there is
        // no datapoint, and a standby run that fails alerts on its own (FAILED, one alert).
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      alarm.addAlarmAction(action);
      alarm.addOkAction(action);
      standbyLag[job.name] = alarm;
    }
    this.standbyLagAlarms = standbyLag;

    for (const [alarmId, fn] of props.functions) {
      new cloudwatch.Alarm(parent, alarmId, {
        alarmDescription: `dumpvault: ${fn.node.id} Lambda errors (see its log group)`,
        metric: fn.metricErrors({ period: Duration.minutes(5), statistic: cloudwatch.Stats.SUM }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }).addAlarmAction(action);
    }
    const deadLetters = new cloudwatch.Alarm(parent, 'DeadLetters', {
      alarmDescription:
        'dumpvault: schedule, rule or asynchronous Lambda invocations failed after all retries (see the DLQ)',
      metric: props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
        period: Duration.minutes(5),
        statistic: cloudwatch.Stats.MAXIMUM,
      }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    deadLetters.addAlarmAction(action);
    deadLetters.addOkAction(action);
    // An alert that could not be delivered (a bouncing address, a broken subscription) is an
    // outage of the last line of defence: it alarms, to the other subscriptions and the console.
    new cloudwatch.Alarm(parent, 'AlertDeliveryFailures', {
      alarmDescription:
        'dumpvault: the alerts topic could not deliver notifications (check its subscriptions)',
      metric: props.topic.metricNumberOfNotificationsFailed({
        period: Duration.minutes(5),
        statistic: cloudwatch.Stats.SUM,
      }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }).addAlarmAction(action);
  }
}
