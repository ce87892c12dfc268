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
import type { EventBridgeEvent } from 'aws-lambda';
import { JOB_DIMENSION, METRIC_NAMESPACE, METRICS, SERVICE_NAME } from '../core/contracts/cloudwatch.ts';
import { deployedHistory, deployedNotifier } from './logic/deployed.ts';
import { loadDeployedConfig, once } from './logic/environment.ts';
import {
  type ExecutionStatusChangeDetail,
  handleRestoreEnded,
  type RestoreEndedDeps,
  type RestoreEndedResult,
} from './logic/restore-ended.ts';

const logger = new Logger({ serviceName: 'dumpvault' });
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

export const handler = middy(
  async (
    event: EventBridgeEvent<'Step Functions Execution Status Change', ExecutionStatusChangeDetail>,
  ): Promise<RestoreEndedResult> => {
    const result = await handleRestoreEnded(deps(), event.detail);
    if (result.action === 'marked-failed') {
      metrics.addDimension(JOB_DIMENSION, result.job);
      metrics.addMetric(METRICS.restoresEndedUnrecorded, MetricUnit.Count, 1);
    }
    return result;
  },
)
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics));
