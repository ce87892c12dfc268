/**
 * Lambda "task-stopped": the EventBridge rule "ECS Task State Change, lastStatus STOPPED, this
 * cluster" invokes it. A run still RUNNING is marked FAILED with the stop reason and exit code,
 * its lease released and an alert sent; a backup Fargate Spot interrupted is recorded FAILED and
 * retried once on on-demand Fargate (functions/logic/spot-retry.ts); duplicate events change
 * nothing.
 */

import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ECSClient } from '@aws-sdk/client-ecs';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { SNSClient } from '@aws-sdk/client-sns';
import middy from '@middy/core';
import { backupsOnSpot } from '../core/config/schema.ts';
import { JOB_DIMENSION, METRIC_NAMESPACE, METRICS, SERVICE_NAME } from '../core/contracts/cloudwatch.ts';
import { PRUNE_FUNCTIONS_ENV, PruneFunctionsSchema } from '../core/contracts/prune.ts';
import { ConfigError, UsageError } from '../core/errors.ts';
import { deployedHistory, deployedNotifier } from './logic/deployed.ts';
import {
  deployedLaunchSettings,
  FunctionEnv,
  loadDeployedConfig,
  once,
  requireEnv,
  requireEnvJson,
} from './logic/environment.ts';
import { parseEvent, TaskStoppedEventSchema } from './logic/events.ts';
import { handleTaskStopped, type TaskStoppedDeps, type TaskStoppedResult } from './logic/task-stopped.ts';

const logger = new Logger({ serviceName: SERVICE_NAME });
const metrics = new Metrics({ namespace: METRIC_NAMESPACE, serviceName: SERVICE_NAME });
const dynamodb = new DynamoDBClient({});
const sns = new SNSClient({});
const lambda = new LambdaClient({});
const ecs = new ECSClient({});

const deps = once((): TaskStoppedDeps => {
  const config = loadDeployedConfig();
  // The launch settings are in this function's environment only when a job runs on Spot.
  const retry = config.jobs.some((job) => backupsOnSpot(config, job))
    ? {
        config,
        ecs,
        launch: deployedLaunchSettings(),
      }
    : undefined;
  return {
    // The deployed config gives the run items it marks FAILED their TTL.
    history: deployedHistory(dynamodb, config),
    notifier: deployedNotifier(sns),
    containerName: requireEnv(FunctionEnv.containerName),
    log: logger,
    startPrune: async (request) => {
      const functions = requireEnvJson(PRUNE_FUNCTIONS_ENV, PruneFunctionsSchema);
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
    ...(retry ? { retry } : {}),
  };
});

export const handler = middy(async (event: unknown): Promise<TaskStoppedResult> => {
  const { detail } = parseEvent(
    TaskStoppedEventSchema,
    event,
    'task-stopped event',
    (m) => new UsageError(m),
  );
  const result = await handleTaskStopped(deps(), detail);
  if (result.action === 'marked-failed') {
    metrics.addDimension(JOB_DIMENSION, result.job);
    metrics.addMetric(METRICS.tasksDiedUnrecorded, MetricUnit.Count, 1);
  } else if (result.action === 'retried' || result.action === 'retry-failed') {
    metrics.addDimension(JOB_DIMENSION, result.job);
    metrics.addMetric(METRICS.spotInterruptions, MetricUnit.Count, 1);
  }
  return result;
})
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics));
