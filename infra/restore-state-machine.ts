/**
 * The restore state machine of {@link DumpVaultRestore} (see the diagram in infra/restore.ts) and
 * the rule that hands executions ended outside its Catch paths to restore-ended.
 */
import { Aws, Duration } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as eventTargets from 'aws-cdk-lib/aws-events-targets';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import {
  failurePath,
  RecordStep,
  RestoreError,
  RestoreResultKey,
  RestoreState,
  type RestoreStateName,
  resultPath,
} from '../core/contracts/restore-state-machine.ts';
import { ContainerName } from '../core/contracts/stack.ts';
import { grantRunTasks } from './restore-grants.ts';
import { GUARD_TIMEOUT_SECONDS, type RestoreScope } from './restore-props.ts';

const LAMBDA_TRANSIENT_ERRORS = [
  'Lambda.ClientExecutionTimeoutException',
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.TooManyRequestsException',
];
/** RunTask failures Step Functions reports that a later attempt may not meet (throttling, capacity). */
const ECS_TRANSIENT_ERRORS = [
  'ECS.AmazonECSException',
  'ECS.ServerException',
  'ECS.ThrottlingException',
  'AmazonECS.Unknown',
];

/** A Lambda step: whole state in, result at `$.<resultKey>`, timeout, retries, Catch to `onFailure`. */
export function lambdaStep(
  scope: RestoreScope,
  id: RestoreStateName,
  fn: lambda.IFunction,
  options: {
    resultPath: RestoreResultKey;
    payload?: Record<string, unknown>;
    timeout: Duration;
    onFailure?: sfn.IChainable;
  },
): tasks.LambdaInvoke {
  const step = new tasks.LambdaInvoke(scope, id, {
    lambdaFunction: fn,
    payloadResponseOnly: true,
    payload: sfn.TaskInput.fromObject({
      state: sfn.JsonPath.entirePayload,
      execution: { id: sfn.JsonPath.executionId, startTime: sfn.JsonPath.executionStartTime },
      ...options.payload,
    }),
    resultPath: resultPath(options.resultPath),
    taskTimeout: sfn.Timeout.duration(options.timeout),
    retryOnServiceExceptions: false,
  });
  step.addRetry({
    errors: [...LAMBDA_TRANSIENT_ERRORS, RestoreError.retryable],
    interval: Duration.seconds(2),
    maxAttempts: 4,
    backoffRate: 2,
  });
  step.addRetry({ errors: [sfn.Errors.TIMEOUT], interval: Duration.seconds(5), maxAttempts: 1 });
  if (options.onFailure) step.addCatch(options.onFailure, { resultPath: failurePath(id) });
  return step;
}

export function createStateMachine(scope: RestoreScope): sfn.StateMachine {
  const props = scope.props;
  const recorded = resultPath(RestoreResultKey.recorded);
  const failed = new sfn.Fail(scope, RestoreState.failed, {
    comment: 'The run is recorded FAILED and alerted; the cause is the one-line cause in history.',
    errorPath: `${recorded}.error`,
    causePath: `${recorded}.cause`,
  });
  const notifyFailure = lambdaStep(scope, RestoreState.notifyFailure, scope.recordFunction, {
    resultPath: RestoreResultKey.notified,
    payload: { step: RecordStep.notify },
    timeout: Duration.seconds(60),
  });
  notifyFailure.addCatch(failed, { resultPath: failurePath(RestoreState.notifyFailure) });
  notifyFailure.next(failed);
  const recordFailureFailed = new sfn.Pass(scope, RestoreState.recordFailureFailed, {
    comment: 'History could not be written: fail with what is known.',
    parameters: {
      error: RestoreError.recordFailed,
      'cause.$': `States.Format('the failure could not be recorded in history: {}', ${failurePath(RestoreState.recordFailure)}.Cause)`,
      changed: false,
    },
    resultPath: recorded,
  });
  recordFailureFailed.next(notifyFailure);
  const recordFailure = lambdaStep(scope, RestoreState.recordFailure, scope.recordFunction, {
    resultPath: RestoreResultKey.recorded,
    payload: { step: RecordStep.recordFailure },
    timeout: Duration.seconds(60),
  });
  recordFailure.addCatch(recordFailureFailed, { resultPath: failurePath(RestoreState.recordFailure) });
  recordFailure.next(notifyFailure);

  const restored = new sfn.Succeed(scope, RestoreState.restored, {
    comment: 'Restored, verified against the manifest, recorded.',
  });
  const notify = lambdaStep(scope, RestoreState.notify, scope.recordFunction, {
    resultPath: RestoreResultKey.notified,
    payload: { step: RecordStep.notify },
    timeout: Duration.seconds(60),
  });
  // The restore succeeded and is recorded: an alert that cannot be sent does not undo that.
  notify.addCatch(restored, { resultPath: failurePath(RestoreState.notify) });
  const record = lambdaStep(scope, RestoreState.record, scope.recordFunction, {
    resultPath: RestoreResultKey.recorded,
    payload: { step: RecordStep.record },
    timeout: Duration.seconds(60),
    onFailure: recordFailure,
  });
  const verify = lambdaStep(scope, RestoreState.verify, scope.verifyFunction, {
    resultPath: RestoreResultKey.verify,
    timeout: Duration.seconds(90),
    onFailure: recordFailure,
  });
  const run = resultPath(RestoreResultKey.run);
  const runRestore = new sfn.CustomState(scope, RestoreState.runRestore, {
    stateJson: {
      Type: 'Task',
      Comment: 'dumpvault task restore: target check, verify pass, restore, comparison; records its outcome',
      Resource: `arn:${Aws.PARTITION}:states:::ecs:runTask.sync`,
      Parameters: {
        Cluster: props.cluster.clusterArn,
        'TaskDefinition.$': `${run}.taskDefinition`,
        LaunchType: 'FARGATE',
        'StartedBy.$': `${run}.startedBy`,
        // The task definition's `dumpvault:task` tag, for cost allocation (infra/fargate.ts).
        PropagateTags: 'TASK_DEFINITION',
        NetworkConfiguration: {
          AwsvpcConfiguration: {
            Subnets: props.subnets.subnetIds,
            SecurityGroups: [props.securityGroup.securityGroupId],
            AssignPublicIp: props.assignPublicIp ? 'ENABLED' : 'DISABLED',
          },
        },
        Overrides: {
          'Cpu.$': `${run}.cpu`,
          'Memory.$': `${run}.memory`,
          EphemeralStorage: { 'SizeInGiB.$': `${run}.ephemeralStorageGiB` },
          ContainerOverrides: [
            { Name: ContainerName.task, Command: ['restore'], 'Environment.$': `${run}.environment` },
          ],
        },
      },
      TimeoutSeconds: scope.restoreTimeoutSeconds,
      ResultPath: resultPath(RestoreResultKey.task),
    },
  });
  runRestore.addRetry({
    errors: ECS_TRANSIENT_ERRORS,
    interval: Duration.seconds(30),
    maxAttempts: 3,
    backoffRate: 2,
  });
  runRestore.addCatch(recordFailure, { resultPath: failurePath(RestoreState.runRestore) });
  const guard = lambdaStep(scope, RestoreState.guard, scope.guardFunction, {
    resultPath: RestoreResultKey.guard,
    timeout: Duration.seconds(GUARD_TIMEOUT_SECONDS + 15),
    onFailure: recordFailure,
  });
  // A target that cannot be reached gets one more look (a failover may be under way); a
  // refusal (GuardRefusedError) is never retried.
  guard.addRetry({
    errors: [RestoreError.targetUnreachable],
    interval: Duration.seconds(10),
    maxAttempts: 1,
  });
  const deployment: Record<string, unknown> = {
    restoreTaskDefinition: scope.taskDefinition.taskDefinitionArn,
    restoreTimeoutSeconds: scope.restoreTimeoutSeconds,
    drillTaskDefinitions: Object.fromEntries(
      Object.entries(scope.drillTaskDefinitions).map(([key, def]) => [key, def.taskDefinitionArn]),
    ),
  };
  const resolve = lambdaStep(scope, RestoreState.resolve, scope.resolveFunction, {
    resultPath: RestoreResultKey.run,
    payload: { deployment },
    timeout: Duration.seconds(90),
  });
  // A standby run with nothing to do (not the newest backup, already held, another under way)
  // was recorded SKIPPED by Resolve: the execution ends here, successfully, before any task.
  // This Catch comes first: Step Functions takes the first Catch whose errors match.
  resolve.addCatch(
    new sfn.Succeed(scope, RestoreState.skipped, {
      comment:
        'Standby: recorded SKIPPED by Resolve (the reason is in $.failure.Resolve.Cause); no task started.',
    }),
    { errors: [RestoreError.standbySkipped], resultPath: failurePath(RestoreState.resolve) },
  );
  resolve.addCatch(recordFailure, { resultPath: failurePath(RestoreState.resolve) });
  const definition = resolve
    .next(guard)
    .next(runRestore)
    .next(verify)
    .next(record)
    .next(notify)
    .next(restored);

  const logGroup = new logs.LogGroup(scope, 'StateMachineLogs', { retention: props.logRetention });
  const stateMachine = new sfn.StateMachine(scope, 'StateMachine', {
    comment: 'dumpvault restore: Resolve, Guard, RunRestore, Verify, Record, Notify',
    definitionBody: sfn.DefinitionBody.fromChainable(definition),
    stateMachineType: sfn.StateMachineType.STANDARD,
    tracingEnabled: true,
    logs: { destination: logGroup, level: sfn.LogLevel.ALL, includeExecutionData: true },
  });
  grantRunTasks(scope, stateMachine);
  return stateMachine;
}

/**
 * An execution aborted by hand or timed out never reaches RecordFailure: scope rule hands its
 * end to restore-ended, which fails a run still RUNNING (FAILED too, for a failure that could
 * not be recorded; the function leaves a finished run alone).
 */
export function createEndedRule(scope: RestoreScope): events.Rule {
  return new events.Rule(scope, 'EndedRule', {
    description: 'dumpvault: restore executions that were aborted, timed out or failed',
    eventPattern: {
      source: ['aws.states'],
      detailType: ['Step Functions Execution Status Change'],
      detail: {
        status: ['ABORTED', 'TIMED_OUT', 'FAILED'],
        stateMachineArn: [scope.stateMachine.stateMachineArn],
      },
    },
    targets: [
      new eventTargets.LambdaFunction(scope.endedFunction, {
        deadLetterQueue: scope.props.deadLetterQueue,
        retryAttempts: 8,
        maxEventAge: Duration.hours(6),
      }),
    ],
  });
}
