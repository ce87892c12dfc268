import { ECSClient, RunTaskCommand } from '@aws-sdk/client-ecs';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { DynamoDBDocumentClient, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { validateConfig } from '../../../core/config/load.ts';
import { DynamoHistoryStore } from '../../../core/history/dynamodb.ts';
import { SnsNotifier } from '../../../core/notify/sns.ts';
import { clearSecrets, registerSecret } from '../../../core/redact.ts';
import { type StartBackupDeps, scheduledRunId, startBackup } from '../../../functions/logic/start-backup.ts';
import { parseStartRequest } from '../../../functions/start-backup.ts';
import { type LocalDynamo, startDynalite } from '../../support/dynalite.ts';
import {
  freshHistory,
  launch,
  OFFSITE_ARN,
  PASSPHRASE_ARN,
  PASSWORD_ARN,
  type RecordingLog,
  recordingLog,
  SECRET_VALUE,
  TASK_ARN,
  TASK_DEFINITION,
  TOPIC_ARN,
  testConfig,
} from './support.ts';

const NOW = new Date('2026-11-22T02:00:00.000Z');
const STARTED_AT = NOW.toISOString();

let dynamo: LocalDynamo;
let history: DynamoHistoryStore;
let log: RecordingLog;
/** The waits between RunTask attempts that startBackup asked for. */
let waits: number[];
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
  waits = [];
  snsMock.on(PublishCommand).resolves({ MessageId: 'm-1' });
});
afterEach(() => {
  ecsMock.reset();
  snsMock.reset();
  clearSecrets();
});

function deps(runIds: string[] = ['a1b2c3d4']): StartBackupDeps {
  const ids = [...runIds];
  return {
    config: testConfig(),
    history,
    notifier: new SnsNotifier({ client: sns, topicArn: TOPIC_ARN }),
    ecs,
    launch,
    log,
    now: () => NOW,
    newRunId: () => ids.shift() ?? 'ffffffff',
    sleep: async (ms) => {
      waits.push(ms);
    },
  };
}

const expectedJobJson = {
  prefix: 'dumpvault/',
  destinations: {
    primary: { type: 's3', bucket: 'managed', prefix: '', partSizeMiB: 8, queueSize: 2 },
    offsite: {
      type: 's3',
      bucket: 'offsite-backups',
      endpoint: 'https://s3.example.net',
      region: 'auto',
      credentialsSecret: OFFSITE_ARN,
      prefix: '',
      partSizeMiB: 8,
      queueSize: 2,
    },
  },
  encryption: { pass: { type: 'passphrase', passphraseSecret: PASSPHRASE_ARN } },
  jobs: [
    {
      name: 'prod',
      engine: 'postgres',
      source: { url: 'postgres://app@db.internal:5432/app', passwordSecret: PASSWORD_ARN },
      schedule: { cron: '0 3 * * ? *', timezone: 'Europe/Berlin' },
      destinations: ['primary', 'offsite'],
      compression: 'zstd',
      dumpFormat: 'custom',
      encryption: 'pass',
      retention: { keepLast: 3, daily: 7, weekly: 0, monthly: 0, yearly: 0, timezone: 'UTC' },
      task: { cpu: 2048, memoryMiB: 8192, timeoutMinutes: 120 },
    },
  ],
};

describe('startBackup', () => {
  it('takes the lease, records RUNNING and starts the task with the job in its overrides', async () => {
    // Prepare
    ecsMock.on(RunTaskCommand).resolves({ tasks: [{ taskArn: TASK_ARN }], failures: [] });

    // Act
    const result = await startBackup(deps(), { job: 'prod', trigger: 'manual' });

    // Assess
    expect(result).toEqual({ status: 'STARTED', job: 'prod', runId: 'a1b2c3d4', taskArn: TASK_ARN });
    const calls = ecsMock.commandCalls(RunTaskCommand);
    expect(calls).toHaveLength(1);
    const input = calls[0]!.args[0].input;
    const env = input.overrides?.containerOverrides?.[0]?.environment ?? [];
    const jobJson = env.find((e) => e.name === 'DUMPVAULT_JOB_JSON')?.value ?? '';
    expect(input).toEqual({
      cluster: launch.cluster,
      taskDefinition: TASK_DEFINITION,
      launchType: 'FARGATE',
      count: 1,
      startedBy: 'dumpvault/prod/a1b2c3d4',
      // Bug: tasks without the job's tag (no per-job cost allocation).
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
              { name: 'DUMPVAULT_RUN_ID', value: 'a1b2c3d4' },
              { name: 'DUMPVAULT_STARTED_AT', value: STARTED_AT },
              { name: 'DUMPVAULT_TRIGGER', value: 'manual' },
              { name: 'DUMPVAULT_JOB_JSON', value: jobJson },
            ],
          },
        ],
      },
    });
    expect(JSON.parse(jobJson)).toEqual(expectedJobJson);
    expect(validateConfig(JSON.parse(jobJson)).jobs[0]?.name).toBe('prod');
    expect(await history.list('prod')).toEqual([
      {
        job: 'prod',
        runId: 'a1b2c3d4',
        kind: 'backup',
        status: 'RUNNING',
        trigger: 'manual',
        startedAt: STARTED_AT,
        taskArn: TASK_ARN,
      },
    ]);
    expect(await history.getLease('prod')).toEqual({
      job: 'prod',
      runId: 'a1b2c3d4',
      expiresAt: new Date(NOW.getTime() + (120 + 30) * 60_000).toISOString(),
    });
    expect(snsMock.commandCalls(PublishCommand)).toHaveLength(0);
  });

  it('sizes a job without a task section with the defaults and a 12 h 30 min lease', async () => {
    ecsMock.on(RunTaskCommand).resolves({ tasks: [{ taskArn: TASK_ARN }] });

    await startBackup(deps(), { job: 'small' });

    const input = ecsMock.commandCalls(RunTaskCommand)[0]!.args[0].input;
    expect({ cpu: input.overrides?.cpu, memory: input.overrides?.memory }).toEqual({
      cpu: '1024',
      memory: '2048',
    });
    expect(input.overrides?.containerOverrides?.[0]?.environment?.[3]).toEqual({
      name: 'DUMPVAULT_TRIGGER',
      value: 'schedule',
    });
    expect((await history.getLease('small'))?.expiresAt).toBe('2026-11-22T14:30:00.000Z');
  });

  it('records SKIPPED and alerts once when the previous run still holds the lease', async () => {
    // Prepare
    await history.acquireLease('prod', 'previous', 60 * 60_000, new Date(NOW.getTime() - 10 * 60_000));

    // Act
    const first = await startBackup(deps(['skip0001']), { job: 'prod' });
    const second = await startBackup(deps(['skip0002']), { job: 'prod' });

    // Assess
    expect(first).toEqual({
      status: 'SKIPPED',
      job: 'prod',
      runId: 'skip0001',
      heldBy: { job: 'prod', runId: 'previous', expiresAt: '2026-11-22T02:50:00.000Z' },
    });
    expect(second.status).toBe('SKIPPED');
    expect(ecsMock.commandCalls(RunTaskCommand)).toHaveLength(0);
    const error = 'run previous still holds the lease of "prod" until 2026-11-22T02:50:00.000Z';
    expect((await history.list('prod')).map((r) => r.status)).toEqual(['SKIPPED', 'SKIPPED']);
    expect(await history.findRun('prod', 'skip0001')).toEqual({
      job: 'prod',
      runId: 'skip0001',
      kind: 'backup',
      status: 'SKIPPED',
      trigger: 'schedule',
      startedAt: STARTED_AT,
      finishedAt: STARTED_AT,
      durationMs: 0,
      error,
    });
    const publishes = snsMock.commandCalls(PublishCommand);
    expect(publishes).toHaveLength(1);
    expect(publishes[0]!.args[0].input).toEqual({
      TopicArn: TOPIC_ARN,
      Subject: 'dumpvault: backup of prod skipped',
      Message: [
        'Job:       prod',
        'Kind:      backup',
        'Status:    SKIPPED',
        'Run:       skip0001',
        'Duration:  0 s',
        `Cause:     ${error}`,
        '',
        'Investigate: dumpvault history prod --remote',
      ].join('\n'),
      MessageAttributes: {
        job: { DataType: 'String', StringValue: 'prod' },
        status: { DataType: 'String', StringValue: 'SKIPPED' },
        kind: { DataType: 'String', StringValue: 'backup' },
      },
    });
    expect((await history.getLease('prod'))?.runId).toBe('previous');
  });

  it('records FAILED, releases the lease and alerts when RunTask reports a failure', async () => {
    // Prepare
    ecsMock.on(RunTaskCommand).resolves({
      tasks: [],
      failures: [
        { arn: 'arn:aws:ecs:eu-central-1:123456789012:container-instance/x', reason: 'RESOURCE:ENI' },
      ],
    });

    // Act
    const result = await startBackup(deps(), { job: 'prod' });

    // Assess
    const error = 'the task could not be started: RESOURCE:ENI (after 4 attempts)';
    expect(waits).toEqual([2_000, 5_000, 12_000]);
    expect(result).toEqual({ status: 'FAILED', job: 'prod', runId: 'a1b2c3d4', error });
    expect(await history.list('prod')).toEqual([
      {
        job: 'prod',
        runId: 'a1b2c3d4',
        kind: 'backup',
        status: 'FAILED',
        trigger: 'schedule',
        startedAt: STARTED_AT,
        finishedAt: STARTED_AT,
        durationMs: 0,
        error,
      },
    ]);
    expect(await history.getLease('prod')).toBeUndefined();
    expect(snsMock.commandCalls(PublishCommand).map((c) => c.args[0].input)).toEqual([
      {
        TopicArn: TOPIC_ARN,
        Subject: 'dumpvault: backup of prod FAILED',
        Message: [
          'Job:       prod',
          'Kind:      backup',
          'Status:    FAILED',
          'Run:       a1b2c3d4',
          'Duration:  0 s',
          `Cause:     ${error}`,
          '',
          'Investigate: dumpvault history prod --remote',
        ].join('\n'),
        MessageAttributes: {
          job: { DataType: 'String', StringValue: 'prod' },
          status: { DataType: 'String', StringValue: 'FAILED' },
          kind: { DataType: 'String', StringValue: 'backup' },
        },
      },
    ]);
    expect((await history.getAlertState('prod'))?.failing).toBe(true);
  });

  it('records FAILED when RunTask throws, and alerts only once for repeated failures', async () => {
    // Prepare
    const denied = Object.assign(new Error('User is not authorized to perform: ecs:RunTask'), {
      name: 'AccessDeniedException',
    });
    ecsMock.on(RunTaskCommand).rejects(denied);

    // Act
    const first = await startBackup(deps(['fail0001']), { job: 'prod' });
    const second = await startBackup(deps(['fail0002']), { job: 'prod' });

    // Assess
    expect([first.status, second.status]).toEqual(['FAILED', 'FAILED']);
    expect((await history.findRun('prod', 'fail0002'))?.error).toBe(
      'the task could not be started: User is not authorized to perform: ecs:RunTask',
    );
    expect(snsMock.commandCalls(PublishCommand)).toHaveLength(1);
    expect(await history.getLease('prod')).toBeUndefined();
  });

  it('keeps a started run when the alert topic is unreachable', async () => {
    snsMock.on(PublishCommand).rejects(new Error('SNS down'));
    ecsMock.on(RunTaskCommand).resolves({ failures: [{ reason: 'AGENT' }] });

    const result = await startBackup(deps(), { job: 'prod' });

    expect(result.status).toBe('FAILED');
    expect(log.records.map((r) => r.message)).toContainEqual(
      expect.stringMatching(/^could not send the FAILED alert of run \w+: SNS down$/),
    );
    expect(await history.getAlertState('prod')).toBeUndefined();
  });

  it('treats a redelivered scheduled start as a no-op, not a SKIPPED alert (Scheduler delivers at least once)', async () => {
    // Prepare
    ecsMock.on(RunTaskCommand).resolves({ tasks: [{ taskArn: TASK_ARN }] });
    const scheduled = { job: 'prod', scheduledTime: '2026-11-22T02:00:00Z' };

    // Act
    const first = await startBackup(deps(['random01']), scheduled);
    const again = await startBackup(deps(['random02']), scheduled);
    await history.save({ ...(await history.findRun('prod', first.runId))!, status: 'SUCCEEDED' });
    await history.releaseLease('prod', first.runId);
    const late = await startBackup(deps(['random03']), scheduled);

    // Assess
    const runId = scheduledRunId('prod', '2026-11-22T02:00:00Z');
    expect(first).toEqual({ status: 'STARTED', job: 'prod', runId, taskArn: TASK_ARN });
    expect(again).toEqual({ status: 'DUPLICATE', job: 'prod', runId });
    expect(late).toEqual({ status: 'DUPLICATE', job: 'prod', runId });
    expect(ecsMock.commandCalls(RunTaskCommand)).toHaveLength(1);
    expect((await history.list('prod')).map((r) => r.runId)).toEqual([runId]);
    expect(snsMock.commandCalls(PublishCommand)).toHaveLength(0);
    expect(scheduledRunId('prod', '2026-11-23T02:00:00Z')).not.toBe(runId);
  });

  it('retries RunTask after a capacity failure with backoff and a new client token, then starts the task', async () => {
    ecsMock
      .on(RunTaskCommand)
      .resolvesOnce({
        failures: [{ reason: 'Capacity is unavailable at this time. Please try again later.' }],
      })
      .resolves({ tasks: [{ taskArn: TASK_ARN }] });

    const result = await startBackup(deps(), { job: 'prod' });

    expect(result.status).toBe('STARTED');
    expect(waits).toEqual([2_000]);
    const tokens = ecsMock.commandCalls(RunTaskCommand).map((c) => c.args[0].input.clientToken);
    expect(tokens).toHaveLength(2);
    expect(tokens[0]).not.toBe(tokens[1]);
    expect((await history.findRun('prod', 'a1b2c3d4'))?.status).toBe('RUNNING');
    expect(snsMock.commandCalls(PublishCommand)).toHaveLength(0);
  });

  it('retries a throttled RunTask with the same client token, so a lost answer never starts two tasks', async () => {
    const throttled = Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
    ecsMock
      .on(RunTaskCommand)
      .rejectsOnce(throttled)
      .resolves({ tasks: [{ taskArn: TASK_ARN }] });

    const result = await startBackup(deps(), { job: 'prod' });

    expect(result.status).toBe('STARTED');
    const tokens = ecsMock.commandCalls(RunTaskCommand).map((c) => c.args[0].input.clientToken);
    expect(tokens).toHaveLength(2);
    expect(tokens[0]).toBe(tokens[1]);
  });

  it('does not retry a failure that another attempt cannot fix', async () => {
    ecsMock
      .on(RunTaskCommand)
      .resolves({ failures: [{ reason: 'MISSING', detail: 'task definition inactive' }] });

    const result = await startBackup(deps(), { job: 'prod' });

    expect(result).toMatchObject({
      status: 'FAILED',
      error: 'the task could not be started: MISSING (task definition inactive)',
    });
    expect(ecsMock.commandCalls(RunTaskCommand)).toHaveLength(1);
    expect(waits).toEqual([]);
  });

  it('releases the lease when the RUNNING item cannot be written, instead of holding the job for 12.5 h', async () => {
    // Prepare
    const failing = Object.create(history) as DynamoHistoryStore;
    failing.save = async () => {
      throw new Error('ProvisionedThroughputExceededException: throughput exceeded');
    };
    const broken = { ...deps(), history: failing };

    // Act
    const attempt = startBackup(broken, { job: 'prod' });

    // Assess
    await expect(attempt).rejects.toThrow(/throughput exceeded/);
    expect(ecsMock.commandCalls(RunTaskCommand)).toHaveLength(0);
    expect(await history.getLease('prod')).toBeUndefined();
  });

  it('fails for a job that is not in the config', async () => {
    await expect(startBackup(deps(), { job: 'nope' })).rejects.toThrow(/no job named "nope".*prod, small/);
    expect(ecsMock.commandCalls(RunTaskCommand)).toHaveLength(0);
  });

  it('never puts a secret value into overrides, history, alerts or logs', async () => {
    // Prepare: the value is known to redact(), as it would be in a process that resolved it,
    // and ECS echoes it back in an error message.
    registerSecret(SECRET_VALUE);
    ecsMock
      .on(RunTaskCommand)
      .rejectsOnce(new Error(`bad request: password=${SECRET_VALUE}`))
      .resolves({ tasks: [{ taskArn: TASK_ARN }] });

    // Act
    await startBackup(deps(['leak0001']), { job: 'prod' });
    await startBackup(deps(['leak0002']), { job: 'prod' });

    // Assess
    const everything = JSON.stringify({
      runTask: ecsMock.commandCalls(RunTaskCommand).map((c) => c.args[0].input),
      publish: snsMock.commandCalls(PublishCommand).map((c) => c.args[0].input),
      history: await history.list('prod'),
      logs: log.records,
    });
    expect(everything).not.toContain(SECRET_VALUE);
    expect(everything).toContain('password=***');
    expect(everything).toContain(PASSWORD_ARN);
  });
});

describe('startBackup DynamoDB requests', () => {
  it('writes the lease, the RUNNING item, the job registry and the task ARN with these exact requests', async () => {
    // Prepare: a mocked document client, to see the requests themselves.
    const doc = DynamoDBDocumentClient.from(dynamo.client);
    const docMock = mockClient(doc);
    docMock.on(PutCommand).resolves({});
    docMock.on(UpdateCommand).resolves({});
    ecsMock.on(RunTaskCommand).resolves({ tasks: [{ taskArn: TASK_ARN }] });
    const store = new DynamoHistoryStore({ tableName: 'history', client: doc });

    // Act
    await startBackup({ ...deps(), history: store }, { job: 'small' });

    // Assess
    expect(docMock.commandCalls(PutCommand).map((c) => c.args[0].input)).toEqual([
      {
        TableName: 'history',
        Item: {
          pk: 'JOB#small',
          sk: 'LEASE',
          job: 'small',
          runId: 'a1b2c3d4',
          acquiredAt: STARTED_AT,
          expiresAt: '2026-11-22T14:30:00.000Z',
          ttl: Date.parse('2026-11-23T14:30:00.000Z') / 1000,
        },
        ConditionExpression: 'attribute_not_exists(pk) OR expiresAt <= :now OR runId = :runId',
        ExpressionAttributeValues: { ':now': STARTED_AT, ':runId': 'a1b2c3d4' },
      },
      {
        TableName: 'history',
        Item: {
          pk: 'JOB#small',
          sk: `RUN#${STARTED_AT}#a1b2c3d4`,
          entity: 'run',
          job: 'small',
          runId: 'a1b2c3d4',
          kind: 'backup',
          status: 'RUNNING',
          trigger: 'schedule',
          startedAt: STARTED_AT,
        },
      },
      { TableName: 'history', Item: { pk: 'JOBS', sk: 'JOB#small', job: 'small' } },
    ]);
    expect(docMock.commandCalls(UpdateCommand).map((c) => c.args[0].input)).toEqual([
      {
        TableName: 'history',
        Key: { pk: 'JOB#small', sk: `RUN#${STARTED_AT}#a1b2c3d4` },
        UpdateExpression: 'SET taskArn = :taskArn',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: { ':taskArn': TASK_ARN },
      },
    ]);
    docMock.restore();
  });
});

describe('parseStartRequest', () => {
  it('reads the schedule input and defaults the trigger to schedule', () => {
    expect(parseStartRequest({ job: 'prod' })).toEqual({ job: 'prod', trigger: 'schedule' });
    expect(parseStartRequest({ job: 'prod', trigger: 'manual' })).toEqual({ job: 'prod', trigger: 'manual' });
    expect(parseStartRequest({ job: 'prod', scheduledTime: '2026-11-22T02:00:00Z' })).toEqual({
      job: 'prod',
      trigger: 'schedule',
      scheduledTime: '2026-11-22T02:00:00Z',
    });
    expect(() => parseStartRequest({ job: 'prod', scheduledTime: 'soon' })).toThrow(
      /^start-backup event: scheduledTime: expected an ISO time/,
    );
  });

  it('fails when the event names no job or an unknown trigger', () => {
    expect(() => parseStartRequest({})).toThrow(/^start-backup event: job: expected a job name/);
    expect(() => parseStartRequest({ job: 'prod', trigger: 'cron' })).toThrow(
      /^start-backup event: trigger: expected "schedule" or "manual"/,
    );
  });
});
