/**
 * Lambda "success-digest" (`aws.alerts.successDigest`): invoked once a day by its EventBridge
 * Scheduler schedule with `{"scheduledTime": "<aws.scheduler.scheduled-time>"}`, it publishes
 * one message summarising every job (last success, status, bytes, failures in the 24 hours
 * before the scheduled time) to the alerts topic.
 */

import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SNSClient } from '@aws-sdk/client-sns';
import middy from '@middy/core';
import { SERVICE_NAME } from '../core/contracts/cloudwatch.ts';
import { UsageError } from '../core/errors.ts';
import type { Digest } from '../core/notify/notifier.ts';
import { deployedHistory, deployedNotifier } from './logic/deployed.ts';
import { loadDeployedConfig, once } from './logic/environment.ts';
import { parseEvent, SuccessDigestEventSchema } from './logic/events.ts';
import { digestEnd, sendSuccessDigest } from './logic/success-digest.ts';

const logger = new Logger({ serviceName: SERVICE_NAME });
const dynamodb = new DynamoDBClient({});
const sns = new SNSClient({});

const settings = once(() => {
  const config = loadDeployedConfig();
  return { config, history: deployedHistory(dynamodb, config), notifier: deployedNotifier(sns) };
});

export const handler = middy(async (event: unknown): Promise<Digest> => {
  const parsed = parseEvent(
    SuccessDigestEventSchema,
    event,
    'success-digest event',
    (m) => new UsageError(m),
  );
  const { config, history, notifier } = settings();
  return sendSuccessDigest({ history, notifier, log: logger }, config, digestEnd(parsed, new Date()));
}).use(injectLambdaContext(logger));
