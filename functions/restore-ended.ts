/**
 * Lambda "restore-ended": the EventBridge rule "Step Functions Execution Status Change, status
 * ABORTED / TIMED_OUT / FAILED, the restore state machine" invokes it. A run the execution left
 * RUNNING is marked FAILED with how the execution ended and alerted once; anything else, and
 * duplicate events, change nothing (functions/logic/restore-ended.ts).
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SNSClient } from '@aws-sdk/client-sns';
import middy from '@middy/core';
import { JOB_DIMENSION, METRIC_NAMESPACE, METRICS, SERVICE_NAME } from '../core/contracts/cloudwatch.ts';
import { UsageError } from '../core/errors.ts';
import { deployedHistory, deployedNotifier } from './logic/deployed.ts';
import { loadDeployedConfig, once } from './logic/environment.ts';
import { parseEvent, RestoreEndedEventSchema } from './logic/events.ts';
import { handleRestoreEnded, type RestoreEndedDeps, type RestoreEndedResult } from './logic/restore-ended.ts';

const logger = new Logger({ serviceName: SERVICE_NAME });
const metrics = new Metrics({ namespace: METRIC_NAMESPACE, serviceName: SERVICE_NAME });
const dynamodb = new DynamoDBClient({});
const sns = new SNSClient({});

const deps = once((): RestoreEndedDeps => {
  const config = loadDeployedConfig();
  return {
    config,
    history: deployedHistory(dynamodb, config),
    notifier: deployedNotifier(sns),
    log: logger,
  };
});

export const handler = middy(async (event: unknown): Promise<RestoreEndedResult> => {
  const { detail } = parseEvent(
    RestoreEndedEventSchema,
    event,
    'restore-ended event',
    (m) => new UsageError(m),
  );
  const result = await handleRestoreEnded(deps(), detail);
  if (result.action === 'marked-failed') {
    metrics.addDimension(JOB_DIMENSION, result.job);
    metrics.addMetric(METRICS.restoresEndedUnrecorded, MetricUnit.Count, 1);
  }
  return result;
})
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics));
