/**
 * Lambda "restore-record": the Record, Notify, RecordFailure and NotifyFailure states of the
 * restore state machine (functions/logic/restore-record.ts). Event `{state, execution, step}`.
 * Drills publish `DrillSucceeded` (1 or 0, dimension `Job`) when recorded.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SNSClient } from '@aws-sdk/client-sns';
import middy from '@middy/core';
import { JOB_DIMENSION, METRIC_NAMESPACE, METRICS, SERVICE_NAME } from '../core/contracts/cloudwatch.ts';
import { RecordStep } from '../core/contracts/restore-state-machine.ts';
import { deployedHistory, deployedNotifier } from './logic/deployed.ts';
import { loadDeployedConfig, once } from './logic/environment.ts';
import { parseEvent, RecordEventSchema } from './logic/events.ts';
import {
  type RecordedOutcome,
  RestoreInputError,
  type RestoreStepEvent,
  runStep,
} from './logic/restore-contract.ts';
import {
  type NotifyResult,
  notifyRestore,
  type RecordDeps,
  recordRestoreFailed,
  recordRestoreSucceeded,
} from './logic/restore-record.ts';

const logger = new Logger({ serviceName: SERVICE_NAME });
const metrics = new Metrics({ namespace: METRIC_NAMESPACE, serviceName: SERVICE_NAME });
const dynamodb = new DynamoDBClient({});
const sns = new SNSClient({});

const deps = once((): RecordDeps => {
  const config = loadDeployedConfig();
  return {
    config,
    history: deployedHistory(dynamodb, config),
    notifier: deployedNotifier(sns),
    log: logger,
  };
});

/** The event: a step event naming which of the four states invoked the function. */
export interface RecordEvent extends RestoreStepEvent {
  readonly step: RecordStep;
}

/** Runs one step; `onDrill` receives each recorded drill outcome (the handler turns it into the metric). */
export async function handleRecordStep(
  recordDeps: RecordDeps,
  event: RecordEvent,
  onDrill: (outcome: RecordedOutcome) => void = () => undefined,
): Promise<RecordedOutcome | NotifyResult> {
  switch (event.step) {
    case RecordStep.record:
    case RecordStep.recordFailure: {
      const outcome =
        event.step === RecordStep.record
          ? await recordRestoreSucceeded(recordDeps, event)
          : await recordRestoreFailed(recordDeps, event);
      if (outcome.kind === 'drill' && outcome.runId) onDrill(outcome);
      return outcome;
    }
    case RecordStep.notify:
      return notifyRestore(recordDeps, event);
    default:
      throw new RestoreInputError(`unknown step ${JSON.stringify(event.step)}`);
  }
}

export const handler = middy(
  async (event: unknown): Promise<RecordedOutcome | NotifyResult> =>
    runStep(async () => {
      const parsed = parseEvent(
        RecordEventSchema,
        event,
        'restore-record event',
        (m) => new RestoreInputError(m),
      );
      return handleRecordStep(deps(), parsed, (outcome) => {
        metrics.addDimension(JOB_DIMENSION, outcome.job);
        metrics.addMetric(METRICS.drillSucceeded, MetricUnit.Count, outcome.status === 'SUCCEEDED' ? 1 : 0);
      });
    }),
)
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics));
