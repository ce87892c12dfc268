/**
 * Lambda "restore-guard", the Guard state of the restore state machine: the confirmation rules,
 * and a look into a URL target (functions/logic/restore-guard.ts, target-probe.ts). It runs in the
 * deployment's VPC to reach the target. Event `{state, execution}`; result at `$.guard`.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import middy from '@middy/core';
import { SERVICE_NAME } from '../core/contracts/cloudwatch.ts';
import { secretsManagerFetcher } from '../core/secrets/resolve.ts';
import { FunctionEnv, loadDeployedConfig, once } from './logic/environment.ts';
import { parseEvent, RestoreStepEventSchema } from './logic/events.ts';
import { RestoreInputError, runStep } from './logic/restore-contract.ts';
import { type GuardDeps, type GuardResult, guardRestore } from './logic/restore-guard.ts';
import { probeTarget } from './logic/target-probe.ts';

const logger = new Logger({ serviceName: SERVICE_NAME });
const secretsManager = new SecretsManagerClient({});

const deps = once(
  (): GuardDeps => ({
    config: loadDeployedConfig(),
    fetchSecret: secretsManagerFetcher(secretsManager),
    probe: (engine, target) => probeTarget(engine, target),
    ...(process.env[FunctionEnv.restoreTargetTag]
      ? { restoreTargetTag: process.env[FunctionEnv.restoreTargetTag] }
      : {}),
    log: logger,
  }),
);

export const handler = middy(
  async (event: unknown): Promise<GuardResult> =>
    runStep(async () => {
      const parsed = parseEvent(
        RestoreStepEventSchema,
        event,
        'restore-guard event',
        (m) => new RestoreInputError(m),
      );
      return guardRestore(deps(), parsed);
    }),
).use(injectLambdaContext(logger));
