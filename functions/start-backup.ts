/**
 * Lambda "start-backup": invoked by a job's EventBridge Scheduler schedule with
 * `{"job": name, "scheduledTime": "<aws.scheduler.scheduled-time>"}` (the run id derives from
 * job and scheduled time, so a redelivered start is a no-op) or by `dumpvault run <job> --remote`
 * with `{"job": name, "trigger": "manual"}`.
 *
 * It takes the job's lease, records the run RUNNING and starts the Fargate task.
 *
 * ## The task's environment (the contract `dumpvault task backup` implements)
 *
 * The container runs `node /app/dumpvault.mjs task backup` (entry point `node /app/dumpvault.mjs task`,
 * command `backup`) with:
 *
 * Set per run, as container overrides of RunTask:
 * - `DUMPVAULT_JOB`         the job's name.
 * - `DUMPVAULT_RUN_ID`      the run id (8 hex characters); use it, never make a new one.
 * - `DUMPVAULT_STARTED_AT`  ISO 8601 time of the RUNNING history item. The history key is
 *                           `RUN#{startedAt}#{runId}`: write SUCCEEDED/FAILED to the same item
 *                           with `save()` (same job, startedAt, runId).
 * - `DUMPVAULT_TRIGGER`     `schedule` or `manual`.
 * - `DUMPVAULT_JOB_JSON`    a complete single-job config: `{prefix, destinations, encryption,
 *                           jobs: [job]}` holding only the destinations/encryption the job names.
 *                           `validateConfig(JSON.parse(…))` accepts it. It holds secret ARNs and
 *                           names only: fetch passwords/passphrases/S3 keys from Secrets
 *                           Manager by ARN and registerSecret() them.
 *
 * Set on the task definition (same for every run):
 * - `DUMPVAULT_HISTORY_TABLE`  DynamoDB table for `DynamoHistoryStore`.
 * - `DUMPVAULT_BUCKET`         the managed bucket: what `"bucket": "managed"` means.
 * - `DUMPVAULT_TOPIC_ARN`      SNS topic for `SnsNotifier` (alerts go through finishRun()).
 * - `DUMPVAULT_PUBLIC_KEYS_JSON`  `{"<recipient path as written in the config>": "<armored key>"}`
 *                           for every OpenPGP recipient of the config (the key files are not in
 *                           the image).
 * - `AWS_REGION` is set by Fargate.
 *
 * The lease is already held by `DUMPVAULT_RUN_ID` (acquireLease with the same run id succeeds
 * and extends it). When the run ends the task records the result and alerts via finishRun(),
 * releases the lease and exits 0 (success) or non-zero (failure). If it dies before that, the
 * task-stopped Lambda marks the run FAILED. The task should stop itself after the job's
 * `task.timeoutMinutes`; the watchdog stops it otherwise.
 */

import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ECSClient } from '@aws-sdk/client-ecs';
import { SNSClient } from '@aws-sdk/client-sns';
import middy from '@middy/core';
import { JOB_DIMENSION, METRIC_NAMESPACE, METRICS, SERVICE_NAME } from '../core/contracts/cloudwatch.ts';
import { UsageError } from '../core/errors.ts';
import type { Trigger } from '../core/history/history.ts';
import { deployedHistory, deployedNotifier } from './logic/deployed.ts';
import { deployedLaunchSettings, loadDeployedConfig, once } from './logic/environment.ts';
import { parseEvent, StartBackupEventSchema } from './logic/events.ts';
import {
  type StartBackupDeps,
  type StartBackupRequest,
  type StartBackupResult,
  startBackup,
} from './logic/start-backup.ts';

const logger = new Logger({ serviceName: SERVICE_NAME });
const metrics = new Metrics({ namespace: METRIC_NAMESPACE, serviceName: SERVICE_NAME });
const dynamodb = new DynamoDBClient({});
const ecs = new ECSClient({});
const sns = new SNSClient({});

const deps = once((): StartBackupDeps => {
  const config = loadDeployedConfig();
  return {
    config,
    history: deployedHistory(dynamodb, config),
    notifier: deployedNotifier(sns),
    ecs,
    launch: deployedLaunchSettings(),
    log: logger,
  };
});

/**
 * Reads `{job, trigger?, scheduledTime?}`; anything else is a usage error (and lands in the DLQ
 * after retries).
 */
export function parseStartRequest(event: unknown): StartBackupRequest & { trigger: Trigger } {
  return parseEvent(StartBackupEventSchema, event, 'start-backup event', (m) => new UsageError(m));
}

export const handler = middy(async (event: unknown): Promise<StartBackupResult> => {
  const request = parseStartRequest(event);
  const result = await startBackup(deps(), request);
  metrics.addDimension(JOB_DIMENSION, result.job);
  metrics.addMetric(
    result.status === 'STARTED'
      ? METRICS.runsStarted
      : result.status === 'SKIPPED'
        ? METRICS.runsSkipped
        : result.status === 'DUPLICATE'
          ? METRICS.duplicateStarts
          : METRICS.startFailures,
    MetricUnit.Count,
    1,
  );
  return result;
})
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics));
