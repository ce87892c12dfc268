/**
 * The CloudWatch dashboard of a {@link DumpVault} (infra/dumpvault.ts): per job the freshness,
 * duration, size and failures of its backups, then the restore drills, Lambda errors and dead
 * letters.
 */
import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import type { Config } from '../core/config/schema.ts';

/** What the dashboard shows: the DumpVault construct it is created in, as the dashboard sees it. */
export interface DashboardSource extends Construct {
  readonly config: Config;
  readonly restore: { dashboardWidgets(): cloudwatch.IWidget[] };
  readonly startBackupFunction: lambda.IFunction;
  readonly taskStoppedFunction: lambda.IFunction;
  readonly watchdogFunction: lambda.IFunction;
  readonly pruneFunctions: Readonly<Record<string, lambda.IFunction>>;
  readonly deadLetterQueue: sqs.IQueue;
  metricHoursSinceLastSuccess(job: string, props?: cloudwatch.MetricOptions): cloudwatch.Metric;
  metricLastBackupDuration(job: string, props?: cloudwatch.MetricOptions): cloudwatch.Metric;
  metricLastBackupBytes(job: string, props?: cloudwatch.MetricOptions): cloudwatch.Metric;
  metricFailuresLast24Hours(job: string, props?: cloudwatch.MetricOptions): cloudwatch.Metric;
}

/** The dashboard, created in `vault` with id `Dashboard`. */
export function createDashboard(
  vault: DashboardSource,
  thresholds: Readonly<Record<string, number>>,
): cloudwatch.Dashboard {
  const dashboard = new cloudwatch.Dashboard(vault, 'Dashboard', {
    defaultInterval: Duration.days(14),
  });
  for (const job of vault.config.jobs) {
    const threshold = thresholds[job.name];
    dashboard.addWidgets(
      new cloudwatch.TextWidget({
        markdown: `### ${job.name}  \`dumpvault history ${job.name} --remote\``,
        width: 24,
        height: 1,
      }),
      new cloudwatch.GraphWidget({
        title: `${job.name}: hours since last success`,
        left: [vault.metricHoursSinceLastSuccess(job.name)],
        leftAnnotations: threshold !== undefined ? [{ value: threshold, label: 'alarm' }] : [],
        width: 6,
      }),
      new cloudwatch.GraphWidget({
        title: `${job.name}: duration of last backup (s)`,
        left: [vault.metricLastBackupDuration(job.name)],
        width: 6,
      }),
      new cloudwatch.GraphWidget({
        title: `${job.name}: size of last backup (bytes)`,
        left: [vault.metricLastBackupBytes(job.name)],
        width: 6,
      }),
      new cloudwatch.GraphWidget({
        title: `${job.name}: failed runs in the last 24 h`,
        left: [vault.metricFailuresLast24Hours(job.name)],
        width: 6,
      }),
    );
  }
  const drills = vault.restore.dashboardWidgets();
  if (drills.length) dashboard.addWidgets(...drills);
  dashboard.addWidgets(
    new cloudwatch.GraphWidget({
      title: 'Lambda errors',
      left: [
        vault.startBackupFunction,
        vault.taskStoppedFunction,
        vault.watchdogFunction,
        ...Object.values(vault.pruneFunctions),
      ].map((fn) => fn.metricErrors({ statistic: cloudwatch.Stats.SUM, label: fn.node.id })),
      width: 12,
    }),
    new cloudwatch.GraphWidget({
      title: 'Dead letters',
      left: [vault.deadLetterQueue.metricApproximateNumberOfMessagesVisible()],
      width: 12,
    }),
  );
  return dashboard;
}
