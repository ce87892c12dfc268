/**
 * Lambda "watchdog", every 15 minutes: publishes `HoursSinceLastSuccess` per job as EMF
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
import { createHistoryDocumentClient, DynamoHistoryStore } from '../core/history/dynamodb.ts';
import { FunctionEnv, loadDeployedConfig, once, requireEnv } from './lib/environment.ts';
import {
  HOURS_SINCE_LAST_SUCCESS,
  type JobFreshness,
  measureFreshness,
  stopOverdueTasks,
} from './lib/watchdog.ts';

const logger = new Logger({ serviceName: 'dumpvault' });
const metrics = new Metrics({ namespace: 'DumpVault', serviceName: 'dumpvault' });
const dynamodb = new DynamoDBClient({});
const ecs = new ECSClient({});

const settings = once(() => ({
  config: loadDeployedConfig(),
  history: new DynamoHistoryStore({
    tableName: requireEnv(FunctionEnv.historyTable),
    client: createHistoryDocumentClient(dynamodb),
  }),
  cluster: requireEnv(FunctionEnv.cluster),
}));

/** Emits one `HoursSinceLastSuccess` datapoint per job that ever succeeded. */
export function publishFreshness(target: Metrics, freshness: readonly JobFreshness[]): void {
  for (const f of freshness) {
    if (f.hoursSinceLastSuccess === undefined) continue;
    const single = target.singleMetric();
    single.addDimension('Job', f.job);
    single.addMetric(HOURS_SINCE_LAST_SUCCESS, MetricUnit.NoUnit, f.hoursSinceLastSuccess);
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
