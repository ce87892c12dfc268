/**
 * Lambda "restore-verify", the Verify state of the restore state machine: restored row counts
 * (recorded by the task) against the manifest's stats (read from storage). Event
 * `{state, execution}`; result at `$.verify`.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import middy from '@middy/core';
import { SERVICE_NAME } from '../core/contracts/cloudwatch.ts';
import { secretsManagerFetcher } from '../core/secrets/resolve.ts';
import { openBackupSources } from './logic/backup-source.ts';
import { deployedHistory } from './logic/deployed.ts';
import { FunctionEnv, loadDeployedConfig, once, requireEnv } from './logic/environment.ts';
import { parseEvent, RestoreStepEventSchema } from './logic/events.ts';
import { RestoreInputError, runStep } from './logic/restore-contract.ts';
import { type VerifyDeps, type VerifyResult, verifyRestore } from './logic/restore-verify.ts';

const logger = new Logger({ serviceName: SERVICE_NAME });
const dynamodb = new DynamoDBClient({});
const fetchSecret = secretsManagerFetcher(new SecretsManagerClient({}));

const deps = once((): VerifyDeps => {
  const config = loadDeployedConfig();
  const managedBucket = requireEnv(FunctionEnv.bucket);
  return {
    config,
    history: deployedHistory(dynamodb, config),
    openSources: (job) => openBackupSources(config, job, { managedBucket, fetchSecret }),
  };
});

export const handler = middy(
  async (event: unknown): Promise<VerifyResult> =>
    runStep(async () => {
      const parsed = parseEvent(
        RestoreStepEventSchema,
        event,
        'restore-verify event',
        (m) => new RestoreInputError(m),
      );
      return verifyRestore(deps(), parsed);
    }),
).use(injectLambdaContext(logger));
