/**
 * Lambda "prune" (one per job, each with its own role): applies the job's retention after a
 * SUCCEEDED backup. task-stopped invokes it asynchronously with `{"job", "runId"}` once the
 * backup task stopped; failed events are retried, then land in the dead-letter queue. Only this
 * function may delete under the job's prefix; the backup task may not (issue 12 §2). Each of
 * the job's destinations (s3, gcs, azure) gets its own retention (issue 15).
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import middy from '@middy/core';
import { SERVICE_NAME } from '../core/contracts/cloudwatch.ts';
import { secretsManagerFetcher } from '../core/secrets/resolve.ts';
import { deployedHistory } from './logic/deployed.ts';
import { FunctionEnv, loadDeployedConfig, once, requireEnv } from './logic/environment.ts';
import {
  deployedPruneDeps,
  type PruneDeps,
  type PruneOutcome,
  parsePruneRequest,
  pruneAfterBackup,
} from './logic/prune.ts';

const logger = new Logger({ serviceName: SERVICE_NAME });
const dynamodb = new DynamoDBClient({});
const secrets = new SecretsManagerClient({});

// Every destination of the job, azure and gcs too, with credentials from Secrets Manager.
const deps = once((): PruneDeps => {
  const config = loadDeployedConfig();
  return deployedPruneDeps(config, {
    history: deployedHistory(dynamodb, config),
    log: logger,
    managedBucket: requireEnv(FunctionEnv.bucket),
    fetchSecret: secretsManagerFetcher(secrets),
  });
});

export const handler = middy(async (event: unknown): Promise<PruneOutcome> => {
  const request = parsePruneRequest(event);
  return pruneAfterBackup(deps(), request);
}).use(injectLambdaContext(logger));
