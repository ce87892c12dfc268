/**
 * Lambda "restore-resolve", the Resolve state of the restore state machine. Event:
 * `{state: <the execution input>, execution: {id, startTime}, deployment: {restoreTaskDefinition,
 * drillTaskDefinitions}}`; result: the run (`$.run`), see functions/logic/restore-contract.ts.
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
import { parseEvent, ResolveEventSchema } from './logic/events.ts';
import { RestoreInputError, type RestoreRun, runStep } from './logic/restore-contract.ts';
import { type ResolveDeps, resolveRestore } from './logic/restore-resolve.ts';

const logger = new Logger({ serviceName: SERVICE_NAME });
const dynamodb = new DynamoDBClient({});
const secretsManager = new SecretsManagerClient({});

const fetchSecret = secretsManagerFetcher(secretsManager);

const deps = once((): ResolveDeps => {
  const config = loadDeployedConfig();
  const managedBucket = requireEnv(FunctionEnv.bucket);
  return {
    config,
    history: deployedHistory(dynamodb, config),
    openSources: (job) => openBackupSources(config, job, { managedBucket, fetchSecret }),
    log: logger,
  };
});

export const handler = middy(
  async (event: unknown): Promise<RestoreRun> =>
    runStep(async () => {
      const parsed = parseEvent(
        ResolveEventSchema,
        event,
        'restore-resolve event',
        (m) => new RestoreInputError(m),
      );
      return resolveRestore(deps(), parsed);
    }),
).use(injectLambdaContext(logger));
