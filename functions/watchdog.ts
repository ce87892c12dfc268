/**
 * Lambda "watchdog", every 15 minutes: publishes `HoursSinceLastSuccess` (and the last backup's
 * duration and size, recent failures, the hours since the last successful drill, and the
 * standby lag of jobs with a standby) per job as EMF
 * (namespace `DumpVault`, dimensions `service=dumpvault`, `Job`) and stops tasks that outlived
 * their job's timeout.
 */

import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ECSClient } from '@aws-sdk/client-ecs';
import middy from '@middy/core';
import { JOB_DIMENSION, METRIC_NAMESPACE, METRICS, SERVICE_NAME } from '../core/contracts/cloudwatch.ts';
import { deployedHistory } from './logic/deployed.ts';
import { FunctionEnv, loadDeployedConfig, once, requireEnv } from './logic/environment.ts';
import { type JobFreshness, measureFreshness, stopOverdueTasks } from './logic/watchdog.ts';

const logger = new Logger({ serviceName: SERVICE_NAME });
const metrics = new Metrics({ namespace: METRIC_NAMESPACE, serviceName: SERVICE_NAME });
const dynamodb = new DynamoDBClient({});
const ecs = new ECSClient({});

const settings = once(() => {
  const config = loadDeployedConfig();
  return { config, history: deployedHistory(dynamodb, config), cluster: requireEnv(FunctionEnv.cluster) };
});

/**
 * Emits each job's measurements as EMF, one record per metric with the `Job` dimension. A job
 * that never succeeded is measured from its first possible run (functions/logic/watchdog.ts).
 */
export function publishFreshness(target: Metrics, freshness: readonly JobFreshness[]): void {
  for (const f of freshness) {
    const values: Array<[string, (typeof MetricUnit)[keyof typeof MetricUnit], number | undefined]> = [
      [METRICS.hoursSinceLastSuccess, MetricUnit.NoUnit, f.hoursSinceLastSuccess],
      [METRICS.lastBackupDurationSeconds, MetricUnit.Seconds, f.lastBackupDurationSeconds],
      [METRICS.lastBackupBytes, MetricUnit.Bytes, f.lastBackupBytes],
      [METRICS.failedRunsLast24Hours, MetricUnit.Count, f.failedRunsLast24Hours],
      [METRICS.hoursSinceLastDrillSuccess, MetricUnit.NoUnit, f.hoursSinceLastDrillSuccess],
      [METRICS.standbyLagSeconds, MetricUnit.Seconds, f.standbyLagSeconds],
    ];
    for (const [name, unit, value] of values) {
      if (value === undefined) continue;
      const single = target.singleMetric();
      single.addDimension(JOB_DIMENSION, f.job);
      single.addMetric(name, unit, value);
    }
  }
}

export const handler = middy(async (): Promise<{ freshness: JobFreshness[]; stopped: number }> => {
  const { config, history, cluster } = settings();
  const now = new Date();
  const freshness = await measureFreshness(history, config, now);
  publishFreshness(metrics, freshness);
  const stopped = await stopOverdueTasks({ history, ecs, cluster, log: logger }, config, now);
  logger.info('watchdog pass', { freshness, stopped: stopped.length });
  return { freshness, stopped: stopped.length };
})
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics));
