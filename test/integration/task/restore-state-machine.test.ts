/**
 * The synthesized restore state machine, executed locally with aws-local-stepfunctions: its
 * Lambda states bound to the real handlers (middy, Powertools, the same step logic), history
 * in dynalite, manifests and backups in s3rver, Secrets Manager and SNS mocked. RunRestore is a
 * simulated ECS `.sync` call: it runs the real `dumpvault task restore` in-process with the
 * environment the state machine passes (against the real PostgreSQL server, which also plays
 * the drill sidecar) and answers as Step Functions does — the task description when the
 * container exited 0, `States.TaskFailed` with the description as cause otherwise — or it
 * simulates a task that died (OOM) or one that reported counts that disagree with the manifest.
 * The Guard looks into URL targets with its real driver, on the same PostgreSQL server.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { validateConfig } from '../../../core/config/load.ts';
import type { Config } from '../../../core/config/schema.ts';
import { RestoreError, RestoreState } from '../../../core/contracts/restore-state-machine.ts';
import type { HistoryItem } from '../../../core/history/history.ts';
import { clearSecrets } from '../../../core/redact.ts';
import { DumpVaultStack } from '../../../infra/stack.ts';
import { logicalIdOf, stateMachineDefinition } from '../../infra/state-machine-definition.ts';
import {
  createPostgresDb,
  dropPostgresDb,
  PG,
  postgresFingerprint,
  psql,
  uniqueName,
  uniqueRunId,
} from '../../support/databases.ts';
import { TIMEOUT } from '../../support/timeouts.ts';
import {
  backUp,
  jobJson,
  REGION,
  runTaskAction,
  SECRET_VALUES,
  startTaskWorld,
  TARGET_PASSWORD_ARN,
  TASK_ARN,
  type TaskJob,
  type TaskWorld,
  TOPIC_ARN,
  taskDefinitionEnv,
} from './support.ts';

// aws-local-stepfunctions 3 needs Promise.withResolvers (Node 22); Node 20 lacks it.
const promiseStatics = Promise as unknown as { withResolvers?: () => unknown };
promiseStatics.withResolvers ??= () => {
  let resolve: (value: unknown) => void = () => undefined;
  let reject: (reason?: unknown) => void = () => undefined;
  const promise = new Promise((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
};

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Handler = (event: unknown, context: unknown) => Promise<unknown>;
interface LocalStateMachine {
  run(
    input: Json,
    options: Record<string, unknown>,
  ): { result: Promise<Json>; eventLogs: AsyncGenerator<{ type: string; state?: { name: string } }> };
}

const MANAGED_BUCKET = 'dumpvault-managed-bucket';
const lambdaContext = {
  functionName: 'test',
  functionVersion: '$LATEST',
  invokedFunctionArn: `arn:aws:lambda:${REGION}:123456789012:function:test`,
  memoryLimitInMB: '256',
  awsRequestId: 'req-1',
  logGroupName: '/aws/lambda/test',
  logStreamName: 's',
  getRemainingTimeInMillis: () => 30_000,
};

let world: TaskWorld;
let sourceDb: string;
let tamperedId: string;
let machine: LocalStateMachine;
let template: Template;
let handlers: Record<'resolve' | 'guard' | 'verify' | 'record', Handler>;
const created: string[] = [];
const JOB: () => TaskJob = () => ({ name: 'pg', database: sourceDb, encryption: 'vault' });

/**
 * What the simulated ECS does with the next RunTask: run the task; kill it (OOM); report counts
 * that disagree with the manifest; or let someone write into the target between the Guard's
 * look and the task's start, then run the task.
 */
type EcsBehaviour = 'run' | 'oom' | 'report-wrong-counts' | 'target-filled-meanwhile';
let ecsBehaviour: EcsBehaviour = 'run';
const runTaskCalls: Array<Record<string, Json>> = [];

function deployedConfig(): Config {
  const single = JSON.parse(jobJson(world, JOB())) as Config;
  return validateConfig({
    ...single,
    jobs: [
      {
        ...single.jobs[0]!,
        schedule: { cron: '0 3 * * ? *' },
        restoreDrill: { schedule: { cron: '0 5 ? * SUN *' } },
      },
    ],
  });
}

/** The task description Step Functions returns from `ecs:runTask.sync` (PascalCase). */
function stoppedTask(
  parameters: Record<string, Json>,
  exitCode: number,
  reason?: string,
): Record<string, Json> {
  return {
    TaskArn: TASK_ARN,
    ClusterArn: String(parameters['Cluster']),
    TaskDefinitionArn: String(parameters['TaskDefinition']),
    LastStatus: 'STOPPED',
    StopCode: 'EssentialContainerExited',
    StoppedReason: 'Essential container in task exited',
    Containers: [
      { Name: 'dumpvault', ExitCode: exitCode, LastStatus: 'STOPPED', ...(reason ? { Reason: reason } : {}) },
    ],
  };
}

function taskFailed(task: Record<string, Json>): Error {
  return Object.assign(new Error(JSON.stringify(task)), { name: 'States.TaskFailed' });
}

/** The simulated `ecs:runTask.sync`. */
async function simulatedEcs(parameters: Record<string, Json>): Promise<Json> {
  runTaskCalls.push(parameters);
  const overrides = parameters['Overrides'] as {
    ContainerOverrides: Array<{ Environment: Array<{ Name: string; Value: string }> }>;
  };
  const env = Object.fromEntries(overrides.ContainerOverrides[0]!.Environment.map((e) => [e.Name, e.Value]));
  if (ecsBehaviour === 'oom') {
    throw taskFailed(stoppedTask(parameters, 137, 'OutOfMemoryError: Container killed due to memory usage'));
  }
  if (ecsBehaviour === 'report-wrong-counts') {
    const item = (await world.history.list(env['DUMPVAULT_JOB']!)).find(
      (i) => i.runId === env['DUMPVAULT_RUN_ID'],
    );
    await world.history.save({
      ...(item as HistoryItem),
      status: 'SUCCEEDED',
      finishedAt: new Date().toISOString(),
      details: { restoredTables: { 'public.customers': 500, 'public.orders': 1999, 'billing.invoices': 50 } },
    });
    return stoppedTask(parameters, 0);
  }
  if (ecsBehaviour === 'target-filled-meanwhile') {
    const database = env['DUMPVAULT_RESTORE_TARGET']!.split('/').pop()!;
    psql(database, 'CREATE TABLE arrived_meanwhile (id int)');
  }
  const definition = logicalIdOf(String(parameters['TaskDefinition']));
  const isDrill = /Drill/.test(definition);
  const { DUMPVAULT_EPHEMERAL_URL, ...common } = await taskDefinitionEnv(world);
  const run = await runTaskAction(world, 'restore', {
    ...common,
    DUMPVAULT_BUCKET: MANAGED_BUCKET,
    ...(isDrill ? { DUMPVAULT_EPHEMERAL_URL: DUMPVAULT_EPHEMERAL_URL! } : {}),
    ...env,
  });
  if (run.code !== 0) throw taskFailed(stoppedTask(parameters, run.code));
  return stoppedTask(parameters, 0);
}

function lambdaState(handler: Handler): (input: Json) => Promise<Json> {
  return async (input) => (await handler(input, lambdaContext)) as Json;
}

interface Execution {
  readonly status: 'SUCCEEDED' | 'FAILED';
  readonly output?: Record<string, Json>;
  readonly error?: string;
  readonly cause?: string;
  readonly states: string[];
  readonly item?: HistoryItem;
  readonly published: ReturnType<TaskWorld['published']>;
  readonly metrics: string[];
}

let executions = 0;
async function execute(input: Record<string, Json>): Promise<Execution> {
  const id = `arn:aws:states:${REGION}:123456789012:execution:Restore:test-${++executions}`;
  const before = new Set((await world.history.list('pg')).map((i) => i.runId));
  const written: string[] = [];
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    written.push(String(chunk));
    return true;
  });
  const retries = Object.fromEntries(
    [
      RestoreState.resolve,
      RestoreState.guard,
      RestoreState.runRestore,
      RestoreState.verify,
      RestoreState.record,
      RestoreState.notify,
      RestoreState.recordFailure,
      RestoreState.notifyFailure,
    ].map((s) => [s, 0]),
  );
  const execution = machine.run(input, {
    overrides: {
      taskResourceLocalHandlers: {
        Resolve: lambdaState(handlers.resolve),
        Guard: lambdaState(handlers.guard),
        RunRestore: simulatedEcs,
        Verify: lambdaState(handlers.verify),
        Record: lambdaState(handlers.record),
        Notify: lambdaState(handlers.record),
        RecordFailure: lambdaState(handlers.record),
        NotifyFailure: lambdaState(handlers.record),
      },
      retryIntervalOverrides: retries,
    },
    context: { Execution: { Id: id, Name: `test-${executions}` } },
  });
  const states: string[] = [];
  const collecting = (async () => {
    for await (const event of execution.eventLogs)
      if (event.type === 'StateEntered') states.push(event.state!.name);
  })();
  let result: Execution;
  try {
    const output = (await execution.result) as Record<string, Json>;
    result = { status: 'SUCCEEDED', output, states, published: [], metrics: [] };
  } catch (err) {
    const cause = (err as { cause?: { name?: string; message?: string } }).cause;
    result = {
      status: 'FAILED',
      error: cause?.name ?? '',
      cause: cause?.message ?? '',
      states,
      published: [],
      metrics: [],
    };
  } finally {
    spy.mockRestore();
  }
  await collecting;
  const item = (await world.history.list('pg')).find((i) => !before.has(i.runId));
  return {
    ...result,
    ...(item ? { item } : {}),
    published: world.published(),
    metrics: written.filter((line) => line.includes('"DrillSucceeded"')),
  };
}

beforeAll(async () => {
  world = await startTaskWorld();
  world.mockSecrets();
  sourceDb = createPostgresDb();
  // An older backup whose manifest disagrees with its object (orders counted one too many)…
  const now = Date.now();
  const tamperedKey = await backUp(world, JOB(), uniqueRunId(), new Date(now - 60_000));
  const manifest = JSON.parse(
    await (
      await world.s3.client.send(new GetObjectCommand({ Bucket: 'offsite', Key: tamperedKey }))
    ).Body!.transformToString(),
  ) as { stats: { tables: Record<string, number> } };
  manifest.stats.tables['public.orders']! += 1;
  await world.s3.client.send(
    new PutObjectCommand({ Bucket: 'offsite', Key: tamperedKey, Body: JSON.stringify(manifest) }),
  );
  tamperedId = path.basename(tamperedKey).replace('.manifest.json', '');
  // …and the latest one, started a minute later (keys have second precision).
  await backUp(world, JOB(), uniqueRunId(), new Date(now));

  const dir = mkdtempSync(path.join(tmpdir(), 'dumpvault-sfn-'));
  const config = deployedConfig();
  const configFile = path.join(dir, 'config.json');
  writeFileSync(configFile, JSON.stringify(config));
  const taskBundle = path.join(dir, 'dumpvault.mjs');
  writeFileSync(taskBundle, '// stand-in\n');
  const stack = new DumpVaultStack(new App({ outdir: path.join(dir, 'cdk.out') }), 'Restore', {
    env: { account: '123456789012', region: REGION },
    config,
    configDir: dir,
    taskBundle,
  });
  template = Template.fromStack(stack);
  const { StateMachine } = (await import('aws-local-stepfunctions')) as unknown as {
    StateMachine: new (definition: unknown, options?: unknown) => LocalStateMachine;
  };
  machine = new StateMachine(stateMachineDefinition(template));

  Object.assign(process.env, {
    AWS_REGION: REGION,
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    AWS_ENDPOINT_URL_DYNAMODB: world.dynamo.endpoint,
    POWERTOOLS_LOG_LEVEL: 'SILENT',
    DUMPVAULT_CONFIG_FILE: configFile,
    DUMPVAULT_HISTORY_TABLE: world.table,
    DUMPVAULT_TOPIC_ARN: TOPIC_ARN,
    DUMPVAULT_BUCKET: MANAGED_BUCKET,
  });
  const load = async (name: string) =>
    ((await import(`../../../functions/${name}.ts`)) as { handler: Handler }).handler;
  handlers = {
    resolve: await load('restore-resolve'),
    guard: await load('restore-guard'),
    verify: await load('restore-verify'),
    record: await load('restore-record'),
  };
}, TIMEOUT.setup);

afterAll(async () => {
  for (const db of [sourceDb, ...created]) if (db) dropPostgresDb(db);
  await world?.stop();
});

beforeEach(async () => {
  ecsBehaviour = 'run';
  runTaskCalls.length = 0;
  world.sns.resetHistory();
  world.secrets.resetHistory();
  // Each case starts with restores and drills of pg not failing (one alert per failing streak).
  for (const kind of ['restore', 'drill'])
    await world.history.setAlertState({ job: `pg:${kind}`, failing: false });
});

afterEach(() => clearSecrets());

const databasesLike = (part: string) =>
  psql('postgres', `SELECT datname FROM pg_database WHERE strpos(datname, '${part}') > 0 ORDER BY 1`)
    .trim()
    .split('\n')
    .filter(Boolean);

const SUCCESS_PATH = [
  RestoreState.resolve,
  RestoreState.guard,
  RestoreState.runRestore,
  RestoreState.verify,
  RestoreState.record,
  RestoreState.notify,
  RestoreState.restored,
];

describe('the restore state machine, executed locally', { timeout: TIMEOUT.roundTrips }, () => {
  it('restores into scratch: runs the restore task definition, records SUCCEEDED with rows compared, announces the restore', async () => {
    const run = await execute({ job: 'pg' });

    expect(run.status).toBe('SUCCEEDED');
    expect(run.states).toEqual(SUCCESS_PATH);
    expect(runTaskCalls).toHaveLength(1);
    const call = runTaskCalls[0]!;
    expect(logicalIdOf(String(call['TaskDefinition']))).toMatch(/^DumpVaultRestoreTaskDefinition/);
    expect(call).toMatchObject({
      LaunchType: 'FARGATE',
      StartedBy: `dumpvault/pg/${run.item?.runId}`,
      // The task definition's dumpvault:task tag, for cost allocation.
      PropagateTags: 'TASK_DEFINITION',
      Overrides: { Cpu: '1024', Memory: '2048', EphemeralStorage: { SizeInGiB: 21 } },
    });
    expect(run.item).toMatchObject({
      kind: 'restore',
      status: 'SUCCEEDED',
      trigger: 'manual',
      taskArn: TASK_ARN,
      details: { verified: { matches: true, tablesCompared: 3, rowsCompared: 2550 } },
    });
    expect(run.item?.durationMs).toBeGreaterThan(0);
    expect(run.output?.['recorded']).toMatchObject({
      status: 'SUCCEEDED',
      tablesCompared: 3,
      rowsCompared: 2550,
    });
    expect(run.published).toHaveLength(1);
    expect(run.published[0]).toMatchObject({
      Subject: 'dumpvault: restore of pg succeeded',
      MessageAttributes: { status: { DataType: 'String', StringValue: 'SUCCEEDED' } },
    });
    expect(run.published[0]?.Message).toMatch(/3 tables and 2550 rows match the manifest/);
    const scratch = String(run.item?.details?.['target']).split('/').pop()!;
    created.push(scratch);
    expect(postgresFingerprint(scratch)).toBe(postgresFingerprint(sourceDb));
  });

  it('drills into the sidecar of the backup server major, records kind drill, publishes DrillSucceeded 1, alerts nothing', async () => {
    const run = await execute({ job: 'pg', target: 'ephemeral', trigger: 'schedule' });

    expect(run.status).toBe('SUCCEEDED');
    expect(run.states).toEqual(SUCCESS_PATH);
    const major = psql('postgres', 'SHOW server_version_num').trim().slice(0, -4);
    expect(logicalIdOf(String(runTaskCalls[0]?.['TaskDefinition']))).toMatch(
      new RegExp(`^DumpVaultRestoreDrillpostgres${major}`),
    );
    expect(run.item).toMatchObject({ kind: 'drill', status: 'SUCCEEDED', trigger: 'schedule' });
    const drillDb = `pg_drill_${run.item?.runId}`;
    expect(String(run.item?.details?.['target'])).toMatch(new RegExp(`/${drillDb}$`));
    expect(databasesLike(drillDb)).toEqual([]);
    expect(run.published).toEqual([]);
    expect(run.metrics.join()).toMatch(/"DrillSucceeded":1/);
  });

  it('refuses a target URL without confirm before any task starts, records FAILED and alerts', async () => {
    const target = {
      url: `postgres://${PG.user}@${PG.host}:${PG.port}/anything`,
      passwordSecret: TARGET_PASSWORD_ARN,
    };

    const run = await execute({ job: 'pg', target });

    expect(run.status).toBe('FAILED');
    expect(run.states).toEqual([
      RestoreState.resolve,
      RestoreState.guard,
      RestoreState.recordFailure,
      RestoreState.notifyFailure,
      RestoreState.failed,
    ]);
    expect(runTaskCalls).toEqual([]);
    expect(run.error).toBe(RestoreError.guardRefused);
    expect(run.cause).toMatch(/set "confirm" to the job name "pg"/);
    expect(run.item).toMatchObject({ kind: 'restore', status: 'FAILED', error: run.cause });
    expect(run.item?.details).toMatchObject({ failedState: RestoreState.guard });
    expect(run.published).toHaveLength(1);
    expect(run.published[0]).toMatchObject({ Subject: 'dumpvault: restore of pg FAILED' });
    expect(run.published[0]?.Message).toContain('set "confirm" to the job name');
  });

  it('refuses a confirmed target that already has data in Guard, before any task starts, records FAILED and alerts once', async () => {
    const target = createPostgresDb(uniqueName('dvt_sfn_target'));
    created.push(target);
    const fingerprint = postgresFingerprint(target);
    const url = `postgres://${PG.user}@${PG.host}:${PG.port}/${target}`;

    const run = await execute({
      job: 'pg',
      target: { url, passwordSecret: TARGET_PASSWORD_ARN },
      confirm: 'pg',
    });

    expect(run.status).toBe('FAILED');
    expect(run.states).toEqual([
      RestoreState.resolve,
      RestoreState.guard,
      RestoreState.recordFailure,
      RestoreState.notifyFailure,
      RestoreState.failed,
    ]);
    expect(runTaskCalls).toEqual([]); // the simulated ECS RunTask was never called
    expect(run.error).toBe(RestoreError.guardRefused);
    expect(run.cause).toBe(
      `the target ${url} already has 3 tables, 1 view, 2 sequences and 1 schema: pass drop: true to replace them`,
    );
    expect(run.item).toMatchObject({ kind: 'restore', status: 'FAILED', error: run.cause });
    expect(run.item?.details).toMatchObject({ failedState: RestoreState.guard });
    expect(run.item?.taskArn).toBeUndefined();
    expect(postgresFingerprint(target)).toBe(fingerprint);
    expect(run.published).toHaveLength(1);
    expect(run.published[0]).toMatchObject({
      Subject: 'dumpvault: restore of pg FAILED',
      MessageAttributes: expect.objectContaining({ status: { DataType: 'String', StringValue: 'FAILED' } }),
    });
    expect(run.published[0]?.Message).toContain(`${url} already has 3 tables`);
    // The Guard read the target's password from its secret, and wrote it nowhere.
    expect(
      world.secrets.commandCalls(GetSecretValueCommand, { SecretId: TARGET_PASSWORD_ARN }).length,
    ).toBeGreaterThan(0);
    expect(JSON.stringify([run.item, run.published, run.cause])).not.toContain(SECRET_VALUES.targetPassword);
  });

  it('lets a confirmed target with data through Guard with drop: true; the task replaces it and Verify passes', async () => {
    const target = createPostgresDb(uniqueName('dvt_sfn_drop'));
    created.push(target);
    psql(target, 'UPDATE orders SET total = 0');
    const url = `postgres://${PG.user}@${PG.host}:${PG.port}/${target}`;

    const run = await execute({
      job: 'pg',
      target: { url, passwordSecret: TARGET_PASSWORD_ARN },
      confirm: 'pg',
      drop: true,
    });

    expect(run.status).toBe('SUCCEEDED');
    expect(run.states).toEqual(SUCCESS_PATH);
    expect(runTaskCalls).toHaveLength(1);
    expect(run.output?.['guard']).toMatchObject({
      allowed: true,
      rule: `confirmed by the job name; drop: ${url} has 3 tables, 1 view, 2 sequences and 1 schema; the restore drops and recreates the backup's objects`,
    });
    expect(run.item).toMatchObject({ kind: 'restore', status: 'SUCCEEDED' });
    expect(postgresFingerprint(target)).toBe(postgresFingerprint(sourceDb));
  });

  it('lets a confirmed target that does not exist yet through Guard; the task creates it', async () => {
    const target = uniqueName('dvt_sfn_new');
    created.push(target);
    const url = `postgres://${PG.user}@${PG.host}:${PG.port}/${target}`;

    const run = await execute({ job: 'pg', target: { url }, confirm: 'pg' });

    expect(run.status).toBe('SUCCEEDED');
    expect(run.output?.['guard']).toMatchObject({
      rule: `confirmed by the job name; ${url} does not exist yet: the restore creates it`,
      target: { missing: true, objects: {} },
    });
    expect(postgresFingerprint(target)).toBe(postgresFingerprint(sourceDb));
  });

  it('still refuses in the task when data arrived in the target after the Guard looked (defence in depth); one alert', async () => {
    ecsBehaviour = 'target-filled-meanwhile';
    const target = uniqueName('dvt_sfn_race');
    psql('postgres', `CREATE DATABASE ${target}`);
    created.push(target);

    const run = await execute({
      job: 'pg',
      target: { url: `postgres://${PG.user}@${PG.host}:${PG.port}/${target}` },
      confirm: 'pg',
    });

    expect(run.status).toBe('FAILED');
    expect(run.states).toEqual([
      RestoreState.resolve,
      RestoreState.guard,
      RestoreState.runRestore,
      RestoreState.recordFailure,
      RestoreState.notifyFailure,
      RestoreState.failed,
    ]);
    expect(run.error).toBe(RestoreError.taskRefused);
    expect(run.cause).toMatch(/already has data: pass --drop/);
    expect(run.item).toMatchObject({ status: 'FAILED', taskArn: TASK_ARN });
    expect(psql(target, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").trim()).toBe('1');
    expect(run.published).toHaveLength(1); // by the task; NotifyFailure does not repeat it
  });

  it('records a restore task that died (exit 137, OOM) FAILED with the stop reason and alerts once', async () => {
    ecsBehaviour = 'oom';

    const run = await execute({ job: 'pg' });

    expect(run.status).toBe('FAILED');
    expect(run.states).toEqual([
      RestoreState.resolve,
      RestoreState.guard,
      RestoreState.runRestore,
      RestoreState.recordFailure,
      RestoreState.notifyFailure,
      RestoreState.failed,
    ]);
    expect(run.error).toBe('States.TaskFailed');
    expect(run.cause).toBe(
      'the restore task exited with code 137; OutOfMemoryError: Container killed due to memory usage; EssentialContainerExited: Essential container in task exited',
    );
    expect(run.item).toMatchObject({ status: 'FAILED', error: run.cause, taskArn: TASK_ARN });
    expect(run.published).toHaveLength(1);
    expect(run.published[0]?.Message).toContain('exited with code 137');
  });

  it('fails a drill whose restored tables disagree with the manifest, naming the table; one alert; DrillSucceeded 0', async () => {
    const run = await execute({ job: 'pg', backup: tamperedId, target: 'ephemeral' });

    expect(run.status).toBe('FAILED');
    expect(run.states).toEqual([
      RestoreState.resolve,
      RestoreState.guard,
      RestoreState.runRestore,
      RestoreState.recordFailure,
      RestoreState.notifyFailure,
      RestoreState.failed,
    ]);
    expect(run.error).toBe(RestoreError.taskFailed);
    expect(run.cause).toMatch(/public\.orders: expected 2001 rows, found 2000/);
    expect(run.item).toMatchObject({ kind: 'drill', status: 'FAILED' });
    expect(run.item?.error).toMatch(/public\.orders: expected 2001 rows, found 2000/);
    expect(run.published).toHaveLength(1);
    expect(run.published[0]).toMatchObject({ Subject: 'dumpvault: drill of pg FAILED' });
    expect(run.metrics.join()).toMatch(/"DrillSucceeded":0/);
  });

  it('fails in Verify when the counts the task reported disagree with the manifest, turning SUCCEEDED into FAILED', async () => {
    ecsBehaviour = 'report-wrong-counts';

    const run = await execute({ job: 'pg', target: 'ephemeral' });

    expect(run.status).toBe('FAILED');
    expect(run.states).toEqual([
      RestoreState.resolve,
      RestoreState.guard,
      RestoreState.runRestore,
      RestoreState.verify,
      RestoreState.recordFailure,
      RestoreState.notifyFailure,
      RestoreState.failed,
    ]);
    expect(run.error).toBe(RestoreError.verifyFailed);
    expect(run.cause).toMatch(
      /restored data differs from backup .*: public\.orders: expected 2000 rows, found 1999/,
    );
    expect(run.item).toMatchObject({ kind: 'drill', status: 'FAILED', error: run.cause });
    expect(run.published).toHaveLength(1);
    expect(run.published[0]?.Message).toContain('public.orders');
  });

  it('records FAILED when the backup cannot be found in the manifests, and alerts', async () => {
    const run = await execute({ job: 'pg', backup: '2001-01-01T000000Z-deadbeef' });

    expect(run.status).toBe('FAILED');
    expect(run.states).toEqual([
      RestoreState.resolve,
      RestoreState.recordFailure,
      RestoreState.notifyFailure,
      RestoreState.failed,
    ]);
    expect(run.error).toBe('NotFoundError');
    expect(run.item).toMatchObject({ status: 'FAILED', kind: 'restore' });
    expect(run.item?.error).toMatch(/no backup .*2001-01-01T000000Z-deadbeef|at or before/);
    expect(run.published).toHaveLength(1);
  });

  it('fails an unknown job without recording or alerting anything', async () => {
    const run = await execute({ job: 'nope' });

    expect(run.status).toBe('FAILED');
    expect(run.error).toBe('ConfigError');
    expect(run.cause).toMatch(/no job named "nope" in the config \(jobs: pg\)/);
    expect(run.published).toEqual([]);
    expect(await world.history.list('nope')).toEqual([]);
  });
});
