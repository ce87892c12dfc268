/**
 * Standby on AWS (issue 16 §2): the synthesized restore state machine, executed locally with
 * aws-local-stepfunctions, given the input the job's standby rule sends when a manifest lands
 * (`{job, target: "standby", key, trigger: "schedule"}`; the rule itself is tested on the
 * template in test/infra/standby.test.ts). Lambda states are the real handlers; RunRestore runs
 * the real `dumpvault task restore` in-process (history in dynalite, backups in s3rver, Secrets
 * Manager and SNS mocked) against the real PostgreSQL server, which also holds the standby.
 * Bugs caught: the state machine ran a plain restore (or refused the target) for "standby"; a
 * standby run recorded as kind restore, without `backupStartedAt` (no lag metric); a rewritten
 * manifest of an older backup (a rekey) or a duplicate event restoring the standby again or
 * taking it back in time.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { validateConfig } from '../../../core/config/load.ts';
import type { Config } from '../../../core/config/schema.ts';
import { RestoreState } from '../../../core/contracts/restore-state-machine.ts';
import type { HistoryItem } from '../../../core/history/history.ts';
import { clearSecrets } from '../../../core/redact.ts';
import { standbyLagSeconds } from '../../../core/standby/lag.ts';
import { DumpVaultStack } from '../../../infra/stack.ts';
import { stateMachineDefinition } from '../../infra/state-machine-definition.ts';
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
  startTaskWorld,
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
let standbyDb: string;
let olderKey: string;
let newestKey: string;
let machine: LocalStateMachine;
let handlers: Record<'resolve' | 'guard' | 'verify' | 'record', Handler>;
const JOB: () => TaskJob = () => ({ name: 'pg', database: sourceDb, encryption: 'vault' });
const runTaskCalls: Array<Record<string, Json>> = [];

function deployedConfig(): Config {
  const single = JSON.parse(jobJson(world, JOB())) as Config;
  return validateConfig({
    ...single,
    jobs: [
      {
        ...single.jobs[0]!,
        schedule: { cron: '0 3 * * ? *' },
        standby: { url: `postgres://${PG.user}@${PG.host}:${PG.port}/${standbyDb}` },
      },
    ],
  });
}

function stoppedTask(parameters: Record<string, Json>, exitCode: number): Record<string, Json> {
  return {
    TaskArn: 'arn:aws:ecs:eu-central-1:123456789012:task/dumpvault/standby',
    TaskDefinitionArn: String(parameters['TaskDefinition']),
    LastStatus: 'STOPPED',
    StopCode: 'EssentialContainerExited',
    Containers: [{ Name: 'dumpvault', ExitCode: exitCode, LastStatus: 'STOPPED' }],
  };
}

/** The simulated `ecs:runTask.sync`: the real restore task with the environment the state machine passes. */
async function simulatedEcs(parameters: Record<string, Json>): Promise<Json> {
  runTaskCalls.push(parameters);
  const overrides = parameters['Overrides'] as {
    ContainerOverrides: Array<{ Environment: Array<{ Name: string; Value: string }> }>;
  };
  const env = Object.fromEntries(overrides.ContainerOverrides[0]!.Environment.map((e) => [e.Name, e.Value]));
  const { DUMPVAULT_EPHEMERAL_URL: _sidecar, ...common } = await taskDefinitionEnv(world);
  const run = await runTaskAction(world, 'restore', {
    ...common,
    DUMPVAULT_BUCKET: 'dumpvault-managed-bucket',
    ...env,
  });
  if (run.code !== 0) {
    throw Object.assign(new Error(JSON.stringify(stoppedTask(parameters, run.code))), {
      name: 'States.TaskFailed',
    });
  }
  return stoppedTask(parameters, 0);
}

const lambdaState =
  (handler: Handler) =>
  async (input: Json): Promise<Json> =>
    (await handler(input, lambdaContext)) as Json;

interface Execution {
  readonly status: 'SUCCEEDED' | 'FAILED';
  /** The failed execution's error and cause, for the assertion message. */
  readonly why?: string;
  readonly output?: Record<string, Json>;
  readonly states: string[];
  readonly item?: HistoryItem;
}

let executions = 0;
async function execute(input: Record<string, Json>): Promise<Execution> {
  const id = `arn:aws:states:${REGION}:123456789012:execution:Restore:standby-${++executions}`;
  const before = new Set((await world.history.list('pg')).map((i) => i.runId));
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
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
    },
    context: { Execution: { Id: id, Name: `standby-${executions}` } },
  });
  const states: string[] = [];
  const collecting = (async () => {
    for await (const event of execution.eventLogs)
      if (event.type === 'StateEntered') states.push(event.state!.name);
  })();
  let result: Omit<Execution, 'states'>;
  try {
    result = { status: 'SUCCEEDED', output: (await execution.result) as Record<string, Json> };
  } catch (err) {
    const cause = (err as { cause?: { name?: string; message?: string } }).cause;
    result = { status: 'FAILED', why: `${cause?.name}: ${cause?.message}` };
  } finally {
    spy.mockRestore();
  }
  await collecting;
  const item = (await world.history.list('pg')).find((i) => !before.has(i.runId));
  return { ...result, states, ...(item ? { item } : {}) };
}

const idOf = (manifestKey: string) => path.basename(manifestKey).replace('.manifest.json', '');
const standbyInput = (key: string) => ({ job: 'pg', target: 'standby', key, trigger: 'schedule' });

beforeAll(async () => {
  world = await startTaskWorld();
  world.mockSecrets();
  sourceDb = createPostgresDb();
  standbyDb = uniqueName('dvt_standby');
  const now = Date.now();
  olderKey = await backUp(world, JOB(), uniqueRunId(), new Date(now - 60_000));
  newestKey = await backUp(world, JOB(), uniqueRunId(), new Date(now));

  const dir = mkdtempSync(path.join(tmpdir(), 'dumpvault-sfn-standby-'));
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
  const { StateMachine } = (await import('aws-local-stepfunctions')) as unknown as {
    StateMachine: new (definition: unknown, options?: unknown) => LocalStateMachine;
  };
  machine = new StateMachine(stateMachineDefinition(Template.fromStack(stack)));

  Object.assign(process.env, {
    AWS_REGION: REGION,
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    AWS_ENDPOINT_URL_DYNAMODB: world.dynamo.endpoint,
    POWERTOOLS_LOG_LEVEL: 'SILENT',
    DUMPVAULT_CONFIG_FILE: configFile,
    DUMPVAULT_HISTORY_TABLE: world.table,
    DUMPVAULT_TOPIC_ARN: TOPIC_ARN,
    // The job's destination is a foreign store: the stack's bucket is named but never read.
    DUMPVAULT_BUCKET: 'dumpvault-managed-bucket',
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
  for (const db of [sourceDb, standbyDb, `${standbyDb}__dv_next`, `${standbyDb}__dv_prev`]) {
    if (db) dropPostgresDb(db);
  }
  await world?.stop();
});

afterEach(() => {
  runTaskCalls.length = 0;
  clearSecrets();
});

describe('the restore state machine with target standby', { timeout: TIMEOUT.roundTrips }, () => {
  it('brings the standby up to the backup whose manifest landed: restore task in standby mode, verified, recorded as kind standby', async () => {
    const run = await execute(standbyInput(newestKey));

    expect(run.status, `${run.why} ${run.item?.error}`).toBe('SUCCEEDED');
    expect(run.states).toEqual([
      RestoreState.resolve,
      RestoreState.guard,
      RestoreState.runRestore,
      RestoreState.verify,
      RestoreState.record,
      RestoreState.notify,
      RestoreState.restored,
    ]);
    expect(runTaskCalls).toHaveLength(1);
    const env = (
      runTaskCalls[0]!['Overrides'] as {
        ContainerOverrides: Array<{ Environment: Array<{ Name: string; Value: string }> }>;
      }
    ).ContainerOverrides[0]!.Environment;
    expect(env).toEqual(
      expect.arrayContaining([
        { Name: 'DUMPVAULT_RESTORE_KIND', Value: 'standby' },
        { Name: 'DUMPVAULT_RESTORE_TARGET', Value: 'standby' },
        { Name: 'DUMPVAULT_BACKUP_KEY', Value: newestKey },
      ]),
    );
    expect(run.item).toMatchObject({
      kind: 'standby',
      status: 'SUCCEEDED',
      trigger: 'schedule',
      details: {
        backup: idOf(newestKey),
        verified: { matches: true, tablesCompared: 3 },
      },
    });
    // The lag metric reads the standby's point in time from this item (watchdog: StandbyLagSeconds).
    const held = await world.history.lastSuccess('pg', 'standby');
    expect(held?.runId).toBe(run.item?.runId);
    expect(typeof held?.details?.['backupStartedAt']).toBe('string');
    expect(standbyLagSeconds([held!], new Date())).toBeGreaterThanOrEqual(0);
    expect(postgresFingerprint(standbyDb)).toBe(postgresFingerprint(sourceDb));
  });

  it('skips the same manifest delivered again (duplicate event, or a rekey rewriting it): no task, standby untouched', async () => {
    const before = psql(
      'postgres',
      `SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = '${standbyDb}'`,
    );

    const run = await execute(standbyInput(newestKey));

    expect(run.status, `${run.why} ${run.item?.error}`).toBe('SUCCEEDED');
    expect(run.states).toEqual([RestoreState.resolve, RestoreState.skipped]);
    expect(runTaskCalls).toEqual([]);
    expect(run.item).toMatchObject({ kind: 'standby', status: 'SKIPPED' });
    expect(run.item?.error).toMatch(/already holds/);
    expect(
      psql(
        'postgres',
        `SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = '${standbyDb}'`,
      ),
    ).toBe(before);
  });

  it("skips an older backup's manifest (a rekey rewriting old manifests): the standby never goes back in time", async () => {
    const run = await execute(standbyInput(olderKey));

    expect(run.status, `${run.why} ${run.item?.error}`).toBe('SUCCEEDED');
    expect(run.states).toEqual([RestoreState.resolve, RestoreState.skipped]);
    expect(runTaskCalls).toEqual([]);
    expect(run.item?.status).toBe('SKIPPED');
    expect(run.item?.error).toMatch(new RegExp(`${idOf(newestKey)} is the newest backup`));
    expect((await world.history.lastSuccess('pg', 'standby'))?.details?.['backup']).toBe(idOf(newestKey));
  });

  it('refuses a key outside the job folder before anything runs', async () => {
    const run = await execute(standbyInput('dumpvault/_dumpvault/config-2026-12-02T030000Z.json.gpg'));

    expect(run.status).toBe('FAILED');
    expect(runTaskCalls).toEqual([]);
  });
});
