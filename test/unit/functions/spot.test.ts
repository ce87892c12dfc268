/**
 * Fargate Spot for backups (issue 13 §3): start-backup's RunTask on the FARGATE_SPOT capacity
 * provider, and task-stopped recording an interruption and retrying the run once on on-demand
 * Fargate. ECS and SNS are aws-sdk-client-mock (the exact RunTask requests are asserted), history
 * and leases are dynalite.
 */
import { ECSClient, RunTaskCommand, type RunTaskCommandInput } from '@aws-sdk/client-ecs';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { validateConfig } from '../../../core/config/load.ts';
import type { Config } from '../../../core/config/schema.ts';
import type { DynamoHistoryStore } from '../../../core/history/dynamodb.ts';
import type { HistoryItem } from '../../../core/history/history.ts';
import { SnsNotifier } from '../../../core/notify/sns.ts';
import { retryRunIdOf } from '../../../functions/logic/spot-retry.ts';
import { buildRunTaskInput, startBackup } from '../../../functions/logic/start-backup.ts';
import {
  handleTaskStopped,
  type TaskStateChangeDetail,
  type TaskStoppedDeps,
} from '../../../functions/logic/task-stopped.ts';
import { type LocalDynamo, startDynalite } from '../../support/dynalite.ts';
import {
  CLUSTER,
  freshHistory,
  launch,
  type RecordingLog,
  recordingLog,
  TASK_ARN,
  TASK_DEFINITION,
  TOPIC_ARN,
  testConfig,
} from './support.ts';

const STARTED_AT = '2026-11-22T02:00:00.000Z';
const STOPPED_AT = '2026-11-22T02:07:30.000Z';
const NOW = new Date('2026-11-22T02:08:00.000Z');
const RETRY_TASK_ARN = 'arn:aws:ecs:eu-central-1:123456789012:task/dumpvault/fedcba9876543210';
const RUN_ID = 'a1b2c3d4';
const RETRY_ID = retryRunIdOf(RUN_ID);

let dynamo: LocalDynamo;
let history: DynamoHistoryStore;
let log: RecordingLog;
const ecs = new ECSClient({ region: 'eu-central-1' });
const sns = new SNSClient({ region: 'eu-central-1' });
const ecsMock = mockClient(ecs);
const snsMock = mockClient(sns);

beforeAll(async () => {
  dynamo = await startDynalite();
});
afterAll(async () => {
  await dynamo.stop();
});
beforeEach(async () => {
  history = await freshHistory(dynamo);
  log = recordingLog();
  snsMock.on(PublishCommand).resolves({ MessageId: 'm-1' });
  ecsMock.on(RunTaskCommand).resolves({ tasks: [{ taskArn: RETRY_TASK_ARN }], failures: [] });
});
afterEach(() => {
  ecsMock.reset();
  snsMock.reset();
});

/** testConfig() with `aws.task.spot` and per-job `task.spot` as given. */
function spotConfig(global: boolean | undefined, perJob: { prod?: boolean; small?: boolean } = {}): Config {
  const base = testConfig();
  return validateConfig({
    ...base,
    jobs: base.jobs.map((job) => {
      const spot = perJob[job.name as 'prod' | 'small'];
      return spot === undefined ? job : { ...job, task: { ...job.task, spot } };
    }),
    ...(global === undefined ? {} : { aws: { task: { spot: global } } }),
  });
}

const notifier = () => new SnsNotifier({ client: sns, topicArn: TOPIC_ARN });
const runTaskInputs = () => ecsMock.commandCalls(RunTaskCommand).map((c) => c.args[0].input);
const publishes = () => snsMock.commandCalls(PublishCommand).map((c) => c.args[0].input);

/** The request start-backup and task-stopped send for job prod, but for what differs per run. */
function expectedRunTask(
  runId: string,
  startedAt: string,
  capacity: Pick<RunTaskCommandInput, 'launchType' | 'capacityProviderStrategy'>,
  extraEnv: Array<{ name: string; value: string }> = [],
): RunTaskCommandInput {
  return {
    cluster: CLUSTER,
    taskDefinition: TASK_DEFINITION,
    ...capacity,
    count: 1,
    startedBy: `dumpvault/prod/${runId}`,
    propagateTags: 'TASK_DEFINITION',
    enableECSManagedTags: true,
    clientToken: expect.stringMatching(/^[0-9a-f]{32}$/),
    networkConfiguration: {
      awsvpcConfiguration: {
        subnets: ['subnet-aaa', 'subnet-bbb'],
        securityGroups: ['sg-123'],
        assignPublicIp: 'DISABLED',
      },
    },
    overrides: {
      cpu: '2048',
      memory: '8192',
      containerOverrides: [
        {
          name: 'dumpvault',
          environment: [
            { name: 'DUMPVAULT_JOB', value: 'prod' },
            { name: 'DUMPVAULT_RUN_ID', value: runId },
            { name: 'DUMPVAULT_STARTED_AT', value: startedAt },
            { name: 'DUMPVAULT_TRIGGER', value: 'schedule' },
            { name: 'DUMPVAULT_JOB_JSON', value: expect.any(String) },
            ...extraEnv,
          ],
        },
      ],
    },
  };
}

const SPOT = { capacityProviderStrategy: [{ capacityProvider: 'FARGATE_SPOT', weight: 1 }] };
const ON_DEMAND = { launchType: 'FARGATE' as const };

describe('start-backup on Fargate Spot', () => {
  it('starts the task on the FARGATE_SPOT capacity provider, without a launch type, tags propagated', async () => {
    // Bug caught: RunTask with both launchType and capacityProviderStrategy (ECS refuses it),
    // Spot configured but the task started on-demand, or the task not told it runs on Spot.
    const config = spotConfig(true);

    const result = await startBackup(
      { config, history, notifier: notifier(), ecs, launch, log, now: () => new Date(STARTED_AT) },
      { job: 'prod', trigger: 'schedule', scheduledTime: '2026-11-22T02:00:00Z' },
    );

    expect(result.status).toBe('STARTED');
    const [input] = runTaskInputs();
    expect(input).toEqual(
      expectedRunTask(result.runId, STARTED_AT, SPOT, [
        { name: 'DUMPVAULT_CAPACITY', value: 'FARGATE_SPOT' },
      ]),
    );
    expect(input).not.toHaveProperty('launchType');
  });

  it("follows the job's task.spot over aws.task.spot, both ways", () => {
    // Bug caught: the per-job override ignored (a job that must not be interrupted on Spot, or
    // the one big job meant for Spot left on-demand).
    const run = { runId: RUN_ID, startedAt: STARTED_AT, trigger: 'schedule' as const };
    const globalOn = spotConfig(true, { prod: false });
    const globalOff = spotConfig(false, { small: true });
    const unset = spotConfig(undefined);

    const launchOf = (config: Config, job: 'prod' | 'small') => {
      const input = buildRunTaskInput(config, config.jobs.find((j) => j.name === job)!, run, launch);
      return { launchType: input.launchType, capacityProviderStrategy: input.capacityProviderStrategy };
    };

    expect(launchOf(globalOn, 'prod')).toEqual({
      launchType: 'FARGATE',
      capacityProviderStrategy: undefined,
    });
    expect(launchOf(globalOn, 'small')).toEqual({ launchType: undefined, ...SPOT });
    expect(launchOf(globalOff, 'prod')).toEqual({
      launchType: 'FARGATE',
      capacityProviderStrategy: undefined,
    });
    expect(launchOf(globalOff, 'small')).toEqual({ launchType: undefined, ...SPOT });
    expect(launchOf(unset, 'prod')).toEqual({ launchType: 'FARGATE', capacityProviderStrategy: undefined });
  });
});

function deps(config: Config = spotConfig(true), now: () => Date = () => NOW): TaskStoppedDeps {
  return {
    history,
    notifier: notifier(),
    containerName: 'dumpvault',
    log,
    now,
    retry: { config, ecs, launch, sleep: async () => undefined },
  };
}

function running(runId = RUN_ID): HistoryItem {
  return {
    job: 'prod',
    runId,
    kind: 'backup',
    status: 'RUNNING',
    trigger: 'schedule',
    startedAt: STARTED_AT,
    taskArn: TASK_ARN,
  };
}

/** The STOPPED event of a task Fargate Spot interrupted (the container got SIGTERM, then exited). */
function spotStopped(runId = RUN_ID, exitCode?: number): TaskStateChangeDetail {
  return {
    clusterArn: CLUSTER,
    taskArn: TASK_ARN,
    lastStatus: 'STOPPED',
    stopCode: 'SpotInterruption',
    stoppedReason: 'Your Spot Task was interrupted.',
    stoppedAt: STOPPED_AT,
    startedBy: `dumpvault/prod/${runId}`,
    containers: [{ name: 'dumpvault', ...(exitCode === undefined ? {} : { exitCode }) }],
  };
}

const INTERRUPTED = 'interrupted by Fargate Spot (SpotInterruption: Your Spot Task was interrupted.)';

describe('task-stopped after a Spot interruption', () => {
  it('records the interrupted run FAILED without an alert and retries it once on on-demand Fargate, handing over the lease', async () => {
    // Bug caught: an interrupted backup silently lost (no retry), recorded SUCCEEDED or left
    // RUNNING, the retry started on Spot again or without tags, an alert for an interruption
    // that was retried, or the lease released so a scheduled start could run beside the retry.
    await history.save(running());
    await history.acquireLease('prod', RUN_ID, 3_600_000, new Date(STARTED_AT));

    const result = await handleTaskStopped(deps(), spotStopped());

    expect(result).toEqual({
      action: 'retried',
      job: 'prod',
      runId: RUN_ID,
      retryRunId: RETRY_ID,
      taskArn: RETRY_TASK_ARN,
    });
    expect(runTaskInputs()).toEqual([expectedRunTask(RETRY_ID, STOPPED_AT, ON_DEMAND)]);
    expect(runTaskInputs()[0]).not.toHaveProperty('capacityProviderStrategy');
    expect(await history.findRun('prod', RUN_ID)).toEqual({
      ...running(),
      status: 'FAILED',
      finishedAt: STOPPED_AT,
      durationMs: 450_000,
      error: `${INTERRUPTED}; retried once as run ${RETRY_ID} on on-demand Fargate`,
      details: {
        interruption: { stopCode: 'SpotInterruption', stoppedReason: 'Your Spot Task was interrupted.' },
        retriedAs: RETRY_ID,
      },
    });
    expect(await history.findRun('prod', RETRY_ID)).toEqual({
      job: 'prod',
      runId: RETRY_ID,
      kind: 'backup',
      status: 'RUNNING',
      trigger: 'schedule',
      startedAt: STOPPED_AT,
      taskArn: RETRY_TASK_ARN,
      details: { retryOf: RUN_ID },
    });
    expect((await history.getLease('prod'))?.runId).toBe(RETRY_ID);
    expect(publishes()).toEqual([]);
  });

  it('retries a run its Spot task recorded FAILED at SIGTERM, keeping what the task wrote', async () => {
    // Bug caught: the usual case (the task catches SIGTERM, aborts the upload, records FAILED and
    // releases the lease before it stops) never retried because the run is no longer RUNNING.
    await history.save({
      ...running(),
      status: 'FAILED',
      finishedAt: '2026-11-22T02:06:01.000Z',
      durationMs: 361_000,
      error: 'stopped by SIGTERM before it finished',
    });

    const result = await handleTaskStopped(deps(), spotStopped(RUN_ID, 143));

    expect(result).toMatchObject({ action: 'retried', retryRunId: RETRY_ID });
    expect(await history.findRun('prod', RUN_ID)).toMatchObject({
      status: 'FAILED',
      finishedAt: '2026-11-22T02:06:01.000Z',
      durationMs: 361_000,
      error: `${INTERRUPTED}; retried once as run ${RETRY_ID} on on-demand Fargate`,
      details: { retriedAs: RETRY_ID, taskError: 'stopped by SIGTERM before it finished' },
    });
    expect(runTaskInputs()).toHaveLength(1);
    expect((await history.getLease('prod'))?.runId).toBe(RETRY_ID);
    expect(publishes()).toEqual([]);
  });

  it('starts no second retry and sends no alert for a duplicate STOPPED event', async () => {
    // Bug caught: EventBridge delivers an event twice and two retries run at once; or the
    // duplicate, finding the run FAILED, sends the alert the retry was meant to replace.
    await history.save(running());

    const first = await handleTaskStopped(deps(), spotStopped());
    const second = await handleTaskStopped(deps(), spotStopped());

    expect(second).toEqual(first);
    expect(runTaskInputs()).toHaveLength(1);
    expect(publishes()).toEqual([]);
  });

  it('starts one retry, recorded once, for concurrent duplicate deliveries', async () => {
    // Bug caught: two Lambda invocations of one event each recording a retry of their own (two
    // RUNNING items, one never finished) or starting two different tasks.
    await history.save(running());
    await history.acquireLease('prod', RUN_ID, 3_600_000, new Date(STARTED_AT));

    // Each invocation reads a later clock, as two Lambdas would.
    let tick = 0;
    const clock = () => new Date(NOW.getTime() + tick++);
    const results = await Promise.all([
      handleTaskStopped(deps(spotConfig(true), clock), spotStopped()),
      handleTaskStopped(deps(spotConfig(true), clock), spotStopped()),
    ]);

    expect(results.map((r) => r.action)).toEqual(['retried', 'retried']);
    const [first, ...others] = runTaskInputs();
    for (const other of others) expect(other).toEqual(first);
    expect((await history.list('prod')).map((r) => r.runId).sort()).toEqual([RUN_ID, RETRY_ID].sort());
    expect(publishes()).toEqual([]);
  });

  it('never retries the retry: its failure is marked FAILED and alerted as today', async () => {
    // Bug caught: a retry retried again (twice, or forever), or its failure not alerted.
    await history.save(running());
    await handleTaskStopped(deps(), spotStopped());
    const retried = await history.findRun('prod', RETRY_ID);
    const retryStopped: TaskStateChangeDetail = {
      ...spotStopped(RETRY_ID),
      taskArn: RETRY_TASK_ARN,
      containers: [{ name: 'dumpvault', exitCode: 137, reason: 'OutOfMemoryError' }],
      stopCode: 'EssentialContainerExited',
      stoppedReason: 'Essential container in task exited',
    };

    const result = await handleTaskStopped(deps(), retryStopped);

    expect(result).toMatchObject({ action: 'marked-failed', runId: RETRY_ID });
    expect(runTaskInputs()).toHaveLength(1);
    expect(await history.findRun('prod', RETRY_ID)).toMatchObject({
      status: 'FAILED',
      details: { retryOf: RUN_ID },
      startedAt: retried?.startedAt,
    });
    expect(await history.getLease('prod')).toBeUndefined();
    expect(publishes().map((p) => p.Subject)).toEqual(['dumpvault: backup of prod FAILED']);
  });

  it('does not retry a second interruption, even of the retry', async () => {
    // Bug caught: "retried once" becoming twice when the retry is itself interrupted.
    await history.save(running());
    await handleTaskStopped(deps(), spotStopped());

    const result = await handleTaskStopped(deps(), { ...spotStopped(RETRY_ID), taskArn: RETRY_TASK_ARN });

    expect(result).toMatchObject({
      action: 'marked-failed',
      runId: RETRY_ID,
      error: expect.stringContaining('SpotInterruption'),
    });
    expect(runTaskInputs()).toHaveLength(1);
    expect(publishes().map((p) => p.Subject)).toEqual(['dumpvault: backup of prod FAILED']);
  });

  it("does not retry while another run holds the lease: the interruption is the run's failure, alerted", async () => {
    // Bug caught: two tasks of one job at once — the retry started beside a scheduled run that
    // took the lease between the interrupted task's release and this event.
    await history.save({
      ...running(),
      status: 'FAILED',
      finishedAt: STOPPED_AT,
      error: 'stopped by SIGTERM before it finished',
    });
    await history.acquireLease('prod', 'next0001', 3_600_000, NOW);

    const result = await handleTaskStopped(deps(), spotStopped());

    const error = `${INTERRUPTED}; not retried: run next0001 holds the lease of "prod"`;
    expect(result).toMatchObject({ action: 'already-finished', runId: RUN_ID, alert: 'FAILED' });
    expect(runTaskInputs()).toEqual([]);
    expect((await history.getLease('prod'))?.runId).toBe('next0001');
    expect(await history.findRun('prod', RUN_ID)).toMatchObject({ status: 'FAILED', error });
    expect(publishes()).toHaveLength(1);
    expect(publishes()[0]?.Message).toContain(`Cause:     ${error}`);
  });

  it('records the retry FAILED, alerts and releases the lease when its RunTask fails', async () => {
    // Bug caught: a retry that never started left RUNNING, holding the job's lease for 12 h.
    ecsMock.reset();
    ecsMock.on(RunTaskCommand).resolves({ failures: [{ reason: 'MISSING', arn: TASK_DEFINITION }] });
    await history.save(running());

    const result = await handleTaskStopped(deps(), spotStopped());

    expect(result).toMatchObject({ action: 'retry-failed', retryRunId: RETRY_ID });
    expect(await history.findRun('prod', RETRY_ID)).toMatchObject({
      status: 'FAILED',
      error: 'the retry after a Fargate Spot interruption could not be started: MISSING',
    });
    expect(await history.getLease('prod')).toBeUndefined();
    expect(publishes().map((p) => p.Subject)).toEqual(['dumpvault: backup of prod FAILED']);
  });

  it('sends the alert a Spot task left to it when the task was stopped for another reason', async () => {
    // Bug caught: a Spot task stopped by StopTask (the watchdog's timeout, an operator) records
    // FAILED without alerting, and nobody alerts: a silent failure.
    await history.save({
      ...running(),
      status: 'FAILED',
      finishedAt: STOPPED_AT,
      error: 'stopped by SIGTERM before it finished',
    });
    const stopped: TaskStateChangeDetail = {
      ...spotStopped(),
      stopCode: 'UserInitiated',
      stoppedReason: 'Task stopped by user',
    };

    const result = await handleTaskStopped(deps(), stopped);

    expect(result).toMatchObject({ action: 'already-finished', alert: 'FAILED' });
    expect(runTaskInputs()).toEqual([]);
    expect(publishes().map((p) => p.Subject)).toEqual(['dumpvault: backup of prod FAILED']);
  });
});
