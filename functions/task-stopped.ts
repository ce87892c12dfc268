/**
 * Lambda "task-stopped": the EventBridge rule "ECS Task State Change, lastStatus STOPPED, this
 * cluster" invokes it. A run still RUNNING is marked FAILED with the stop reason and exit code,
 * its lease released and an alert sent; duplicate events change nothing.
 */

import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { SNSClient } from '@aws-sdk/client-sns';
import middy from '@middy/core';
import type { EventBridgeEvent } from 'aws-lambda';
import { JOB_DIMENSION, METRIC_NAMESPACE, METRICS, SERVICE_NAME } from '../core/contracts/cloudwatch.ts';
import { PRUNE_FUNCTIONS_ENV } from '../core/contracts/prune.ts';
import { ConfigError } from '../core/errors.ts';
import { deployedHistory, deployedNotifier } from './logic/deployed.ts';
import { FunctionEnv, loadDeployedConfig, once, requireEnv } from './logic/environment.ts';
import {
  handleTaskStopped,
  type TaskStateChangeDetail,
  type TaskStoppedDeps,
  type TaskStoppedResult,
} from './logic/task-stopped.ts';

const logger = new Logger({ serviceName: 'dumpvault' });
const metrics = new Metrics({ namespace: METRIC_NAMESPACE, serviceName: SERVICE_NAME });
const dynamodb = new DynamoDBClient({});
const sns = new SNSClient({});
const lambda = new LambdaClient({});

const deps = once(
  (): TaskStoppedDeps => ({
    // The deployed config gives the run items it marks FAILED their TTL.
    history: deployedHistory(dynamodb, loadDeployedConfig()),
    notifier: deployedNotifier(sns),
    containerName: requireEnv(FunctionEnv.containerName),
    log: logger,
    startPrune: async (request) => {
      const functions = JSON.parse(requireEnv(PRUNE_FUNCTIONS_ENV)) as Record<string, string>;
      const functionName = functions[request.job];
      if (!functionName) throw new ConfigError(`no prune function is deployed for job ${request.job}`);
      await lambda.send(
        new InvokeCommand({
          FunctionName: functionName,
          InvocationType: 'Event',
          Payload: JSON.stringify(request),
        }),
      );
    },
  }),
);

export const handler = middy(
  async (
    event: EventBridgeEvent<'ECS Task State Change', TaskStateChangeDetail>,
  ): Promise<TaskStoppedResult> => {
    const result = await handleTaskStopped(deps(), event.detail);
    if (result.action === 'marked-failed') {
      metrics.addDimension(JOB_DIMENSION, result.job);
      metrics.addMetric(METRICS.tasksDiedUnrecorded, MetricUnit.Count, 1);
    }
    return result;
  },
)
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics));
