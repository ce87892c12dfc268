/**
 * The restore drills of {@link DumpVaultRestore}: a schedule per job with `restoreDrill` that
 * starts the state machine with target `ephemeral`, and an alarm when drills fail or stop.
 */
import { Duration, Stack, TimeZone } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as schedulerTargets from 'aws-cdk-lib/aws-scheduler-targets';
import type { Schedule } from '../core/config/schema.ts';
import type { RestoreScope } from './restore-props.ts';
import { scheduleGaps } from './schedule-gaps.ts';

/** Two drill periods (the longest gap of the drill schedule), in hours. */
export function overdueHours(schedule: Schedule): number {
  const gaps = scheduleGaps(schedule);
  return Math.round(2 * (gaps?.maxHours ?? 7 * 24) * 100) / 100;
}

export function createDrillSchedules(scope: RestoreScope): Record<string, scheduler.Schedule> {
  const schedules: Record<string, scheduler.Schedule> = {};
  const drillJobs = scope.props.config.jobs.filter((job) => job.restoreDrill);
  if (!drillJobs.length) return schedules;
  const stack = Stack.of(scope);
  const role = new iam.Role(scope, 'DrillSchedulerRole', {
    assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
      conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
    }),
    description: 'dumpvault drill schedules: start the restore state machine, send failed starts to the DLQ',
  });
  for (const job of drillJobs) {
    const schedule = job.restoreDrill!.schedule;
    const expression = schedule.cron
      ? scheduler.ScheduleExpression.expression(`cron(${schedule.cron})`, TimeZone.of(schedule.timezone))
      : scheduler.ScheduleExpression.expression(`rate(${schedule.rate})`);
    schedules[job.name] = new scheduler.Schedule(scope, `DrillSchedule-${job.name}`, {
      description: `dumpvault: restore drill of ${job.name}`,
      schedule: expression,
      target: new schedulerTargets.StepFunctionsStartExecution(scope.stateMachine, {
        role,
        input: scheduler.ScheduleTargetInput.fromObject({
          job: job.name,
          backup: 'latest',
          target: 'ephemeral',
          trigger: 'schedule',
        }),
        deadLetterQueue: scope.props.deadLetterQueue,
        retryAttempts: 3,
        maxEventAge: Duration.hours(1),
      }),
    });
  }
  return schedules;
}

export function createDrillAlarms(scope: RestoreScope): Record<string, cloudwatch.CompositeAlarm> {
  const alarms: Record<string, cloudwatch.CompositeAlarm> = {};
  for (const job of scope.props.config.jobs) {
    if (!job.restoreDrill) continue;
    const failed = new cloudwatch.Alarm(scope, `DrillFailed-${job.name}`, {
      alarmDescription: `dumpvault: the last restore drill of ${job.name} failed (dumpvault history ${job.name} --remote)`,
      metric: scope.metricDrillSucceeded(job.name),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: 1,
      // Drills are rare events: without a datapoint the alarm keeps what the last drill said.
      treatMissingData: cloudwatch.TreatMissingData.IGNORE,
    });
    const hours = overdueHours(job.restoreDrill.schedule);
    const overdue = new cloudwatch.Alarm(scope, `DrillOverdue-${job.name}`, {
      alarmDescription: `dumpvault: no restore drill of ${job.name} succeeded for more than ${hours} h (two drill periods)`,
      metric: scope.metricHoursSinceLastDrillSuccess(job.name),
      threshold: hours,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    });
    const alarm = new cloudwatch.CompositeAlarm(scope, `Drill-${job.name}`, {
      alarmDescription: `dumpvault: restore drills of ${job.name} are failing or overdue (dumpvault history ${job.name} --remote; dumpvault drill ${job.name} --remote)`,
      alarmRule: cloudwatch.AlarmRule.anyOf(failed, overdue),
    });
    alarm.addAlarmAction(scope.props.alarmAction);
    alarm.addOkAction(scope.props.alarmAction);
    alarms[job.name] = alarm;
  }
  return alarms;
}
