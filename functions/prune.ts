/**
 * Lambda "prune" (one per job, each with its own role): applies the job's retention after a
 * SUCCEEDED backup. task-stopped invokes it asynchronously with `{"job", "runId"}` once the
 * backup task stopped; failed events are retried, then land in the dead-letter queue. Only this
 * function may delete under the job's prefix; the backup task may not (issue 12 §2).
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import middy from '@middy/core';
import { jobDestinations } from '../core/config/schema.ts';
import type { Destination } from '../core/storage/destination.ts';
import { openS3Source, secretsManagerFetcher } from './logic/backup-source.ts';
import { deployedHistory } from './logic/deployed.ts';
import { FunctionEnv, loadDeployedConfig, once, requireEnv } from './logic/environment.ts';
import { type PruneDeps, type PruneOutcome, parsePruneRequest, pruneAfterBackup } from './logic/prune.ts';

const logger = new Logger({ serviceName: 'dumpvault' });
const dynamodb = new DynamoDBClient({});
const secrets = new SecretsManagerClient({});

const deps = once((): PruneDeps => {
  const config = loadDeployedConfig();
  const options = {
    managedBucket: requireEnv(FunctionEnv.bucket),
    fetchSecret: secretsManagerFetcher(secrets),
  };
  return {
    config,
    history: deployedHistory(dynamodb, config),
    log: logger,
    openDestinations: async (job) => {
      const out: Destination[] = [];
      for (const { name } of jobDestinations(job)) {
        const destination = config.destinations[name];
        if (destination?.type === 's3') out.push(await openS3Source(config, job, name, options));
        else
          logger.warn('retention of this destination is not applied in AWS', {
            job: job.name,
            destination: name,
          });
      }
      return out;
    },
  };
});

export const handler = middy(
  async (event: unknown): Promise<PruneOutcome> => pruneAfterBackup(deps(), parsePruneRequest(event)),
).use(injectLambdaContext(logger));
