/**
 * Lambda "restore-guard", the Guard state of the restore state machine: the confirmation rules
 * (functions/lib/restore-guard.ts). Event `{state, execution}`; result at `$.guard`.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { type RestoreStepEvent, runStep } from './lib/restore-contract.ts';
import { type GuardResult, guardRestore } from './lib/restore-guard.ts';

const logger = new Logger({ serviceName: 'dumpvault' });

export const handler = middy(
  async (event: RestoreStepEvent): Promise<GuardResult> => runStep(async () => guardRestore(event)),
).use(injectLambdaContext(logger));
