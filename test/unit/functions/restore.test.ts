/**
 * The restore steps' plain logic: input validation, run identity, drill sidecar choice,
 * Resolve's checks (manifests in a file destination, history in dynalite),
 * failure descriptions, and who records and who alerts on the failure path (SNS mocked). The
 * Guard has its own file (restore-guard.test.ts).
 */
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { validateConfig } from '../../../core/config/load.ts';
import type { ConfigInput } from '../../../core/config/schema.ts';
import {
  RestoreError,
  RestoreRunSchema,
  RestoreState,
} from '../../../core/contracts/restore-state-machine.ts';
import type { DynamoHistoryStore } from '../../../core/history/dynamodb.ts';
import type { HistoryItem } from '../../../core/history/history.ts';
import type { Manifest } from '../../../core/manifest.ts';
import { SnsNotifier } from '../../../core/notify/sns.ts';
import { FileDestination } from '../../../core/storage/file.ts';
import { chooseDrillTaskDefinition, sidecarImageOf } from '../../../functions/logic/drill-sidecar.ts';
import {
  parseRestoreRequest,
  type RestoreRun,
  runIdentity,
  runStep,
} from '../../../functions/logic/restore-contract.ts';
import {
  describeFailure,
  notifyRestore,
  type RecordDeps,
  recordRestoreFailed,
} from '../../../functions/logic/restore-record.ts';
import { ephemeralStorageGiB, resolveRestore } from '../../../functions/logic/restore-resolve.ts';
import { verifyRestore } from '../../../functions/logic/restore-verify.ts';
import { type LocalDynamo, startDynalite } from '../../support/dynalite.ts';
import { freshHistory, recordingLog, TOPIC_ARN } from './support.ts';

const EXECUTION = {
  id: 'arn:aws:states:eu-central-1:123456789012:execution:Restore:e1',
  startTime: '2026-11-22T10:00:00.123Z',
};
const KEY_ARN = 'arn:aws:secretsmanager:eu-central-1:123456789012:secret:key-AbCdEf';
const DEPLOYMENT = {
  restoreTaskDefinition: 'arn:aws:ecs:eu-central-1:123456789012:task-definition/restore:1',
  restoreTimeoutSeconds: 3600,
  drillTaskDefinitions: {
    'postgres:15': 'arn:aws:ecs:eu-central-1:123456789012:task-definition/drill-pg15:1',
    'postgres:16': 'arn:aws:ecs:eu-central-1:123456789012:task-definition/drill-pg16:1',
    'mariadb:10.11': 'arn:aws:ecs:eu-central-1:123456789012:task-definition/drill-maria1011:1',
    'mariadb:11.4': 'arn:aws:ecs:eu-central-1:123456789012:task-definition/drill-maria114:1',
  },
};

function config(overrides: (c: ConfigInput) => void = () => undefined) {
  const input: ConfigInput = {
    prefix: 'dumpvault/',
    destinations: { local: { type: 'file', path: '/unused' } },
    encryption: { ops: { type: 'openpgp', recipients: ['ops.pub.asc'], privateKeySecret: KEY_ARN } },
    jobs: [
      {
        name: 'app',
        engine: 'postgres',
        source: { url: 'postgres://backup@db:5432/app' },
        destinations: ['local'],
        encryption: 'ops',
      },
      { name: 'notes', engine: 'sqlite', source: { url: 'sqlite:/data/notes.db' }, destinations: ['local'] },
    ],
  };
  overrides(input);
  return validateConfig(input);
}

function manifest(job: string, id: string, overrides: Partial<Manifest> = {}): Manifest {
  return {
    formatVersion: 1,
    job,
    runId: id.split('-').pop()!,
    engine: job === 'notes' ? 'sqlite' : 'postgres',
    serverVersion: '16.4 (Debian 16.4-1.pgdg120+1)',
    tool: { name: 'pg_dump', version: '16.4' },
    database: 'app',
    startedAt: '2026-11-21T03:00:00.000Z',
    finishedAt: '2026-11-21T03:01:00.000Z',
    dumpFormat: 'pg_dump-custom',
    compression: 'gzip',
    encryption: { type: 'openpgp', recipients: ['ABCD'] },
    object: { key: `dumpvault/${job}/${id}.pgdump.gz.gpg`, bytes: 10, sha256: 'a'.repeat(64) },
    rawBytes: 50 * 1024 ** 3,
    stats: { tables: { 'public.orders': 3 } },
    ...overrides,
  };
}

let dynamo: LocalDynamo;
let history: DynamoHistoryStore;
let dir: string;
const sns = new SNSClient({ region: 'eu-central-1' });
const snsMock = mockClient(sns);

beforeAll(async () => {
  dynamo = await startDynalite();
});
afterAll(async () => {
  await dynamo.stop();
});
beforeEach(async () => {
  history = await freshHistory(dynamo);
  dir = await mkdtemp(path.join(tmpdir(), 'dumpvault-resolve-'));
  snsMock.on(PublishCommand).resolves({ MessageId: 'm-1' });
});
afterEach(() => snsMock.reset());

async function storeManifest(m: Manifest, root = dir): Promise<void> {
  const file = path.join(root, m.object.key.replace(/\.pgdump\.gz\.gpg$/, '.manifest.json'));
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, JSON.stringify(m));
  await writeFile(path.join(root, m.object.key), 'x'.repeat(10));
}

function resolveDeps(c = config()) {
  return {
    config: c,
    history,
    openSources: async () => [new FileDestination('local', dir)],
    log: recordingLog(),
  };
}

describe('parseRestoreRequest', () => {
  it('fills in latest, scratch, no drop, manual', () => {
    expect(parseRestoreRequest({ job: 'app' })).toEqual({
      job: 'app',
      backup: 'latest',
      target: 'scratch',
      drop: false,
      trigger: 'manual',
    });
  });

  it('reads a URL target with its password secret', () => {
    const target = { url: 'postgres://restore@db2:5432/app', passwordSecret: KEY_ARN };

    expect(parseRestoreRequest({ job: 'app', target, drop: true, confirm: 'app' })).toMatchObject({ target });
  });

  it.each([
    [null, /^expected an execution input like \{"job": "<name>"\}$/],
    [{}, /expected "job" to name a job, got null/],
    [{ job: 7 }, /expected "job" to name a job, got 7/],
    [
      { job: 'app', target: { url: 'postgres://h/db', passwordSecret: 5 } },
      /expected "target" to be .*, got \{"url"/,
    ],
    [{ job: 'app', confirm: true }, /expected "confirm" to be the job name, got true/],
    [{ job: 'app', target: 'prod' }, /expected "target" to be "scratch", "ephemeral", "standby" or \{"url"/],
    // Standby (issue 16 §2): `key` is what the standby rule sends; nothing else may carry one.
    [{ job: 'app', key: 'dv/app/x.manifest.json' }, /expected "key" only with target "standby"/],
    [{ job: 'app', target: 'standby', key: 'dv/app/x.pgdump.gpg' }, /naming a manifest/],
    [
      { job: 'app', target: 'standby', key: 'dv/app/x.manifest.json', backup: 'latest' },
      /"backup" or "key", not both/,
    ],
    [{ job: 'app', drop: 'yes' }, /expected "drop" to be true or false, got "yes"/],
    [{ job: 'app', trigger: 'cron' }, /expected "trigger" to be "manual" or "schedule"/],
  ])('fails when the input is %j', (input, message) => {
    expect(() => parseRestoreRequest(input)).toThrow(message);
  });
});

describe('runIdentity', () => {
  it('derives the same 8-character run id for every step of an execution, starting with its milliseconds', () => {
    const first = runIdentity(EXECUTION);
    expect(first).toEqual(runIdentity(EXECUTION));
    expect(first.runId).toMatch(/^07b[0-9a-f]{5}$/);
    expect(first.startedAt).toBe('2026-11-22T10:00:00.123Z');
    expect(runIdentity({ ...EXECUTION, id: `${EXECUTION.id}x` }).runId).not.toBe(first.runId);
  });
});

describe('chooseDrillTaskDefinition', () => {
  it('reads the image and version from the server version', () => {
    expect(sidecarImageOf('postgres', '16.4 (Debian 16.4-1.pgdg120+1)')).toBe('postgres:16');
    expect(sidecarImageOf('mysql', '10.11.6-MariaDB-0+deb12u1')).toBe('mariadb:10.11');
    expect(sidecarImageOf('mysql', '8.0.36')).toBe('mysql:8.0');
    expect(sidecarImageOf('mongodb', '7.0.12')).toBe('mongo:7.0');
  });

  it('takes the same version, else the oldest newer one of the same major', () => {
    const job = { name: 'shop', engine: 'mysql' as const };
    expect(chooseDrillTaskDefinition(DEPLOYMENT, job, '10.11.6-MariaDB').sidecar).toBe('mariadb:10.11');
    expect(chooseDrillTaskDefinition(DEPLOYMENT, job, '10.8.3-MariaDB').sidecar).toBe('mariadb:10.11');
  });

  it('drills a PostgreSQL 18 backup in the postgres:18 sidecar, and sends an end-of-life 14 to engineImage', () => {
    // The sidecars a deployment offers for postgres (infra/drill-sidecars.ts: 15-18). Bug caught:
    // an 18 backup (PostgreSQL GA since September 2025) with no sidecar to drill in.
    const offered = ['15', '16', '17', '18'];
    const deployment = {
      ...DEPLOYMENT,
      drillTaskDefinitions: Object.fromEntries(offered.map((m) => [`postgres:${m}`, `drill-pg${m}`])),
    };
    const job = { name: 'app', engine: 'postgres' as const };
    expect(sidecarImageOf('postgres', '18.1 (Debian 18.1-1.pgdg13+2)')).toBe('postgres:18');
    expect(chooseDrillTaskDefinition(deployment, job, '18.1 (Debian 18.1-1.pgdg13+2)')).toEqual({
      taskDefinition: 'drill-pg18',
      sidecar: 'postgres:18',
    });
    expect(() => chooseDrillTaskDefinition(deployment, job, '14.19')).toThrow(
      "no drill sidecar for postgres:14 (the backup's server is 14.19); this deployment offers postgres:15, postgres:16, postgres:17, postgres:18: set restoreDrill.engineImage of job app to an image of that version",
    );
  });

  it("prefers the job's own image", () => {
    const deployment = {
      ...DEPLOYMENT,
      drillTaskDefinitions: { ...DEPLOYMENT.drillTaskDefinitions, 'job:app': 'own' },
    };
    expect(
      chooseDrillTaskDefinition(deployment, { name: 'app', engine: 'postgres' }, '16.1').taskDefinition,
    ).toBe('own');
  });

  it('fails when no sidecar fits, naming what is offered and what to set', () => {
    expect(() => chooseDrillTaskDefinition(DEPLOYMENT, { name: 'app', engine: 'postgres' }, '12.9')).toThrow(
      "no drill sidecar for postgres:12 (the backup's server is 12.9); this deployment offers postgres:15, postgres:16: set restoreDrill.engineImage of job app to an image of that version",
    );
    expect(() => chooseDrillTaskDefinition(DEPLOYMENT, { name: 'docs', engine: 'mongodb' }, '7.0.1')).toThrow(
      /this deployment has no drill sidecar for mongodb backups: add "restoreDrill" to job docs/,
    );
  });
});

describe('resolveRestore', () => {
  it('finds the latest backup in the manifests, picks the drill sidecar and builds the task environment', async () => {
    await storeManifest(manifest('app', '2026-11-20T030000Z-aaaa0001'));
    await storeManifest(manifest('app', '2026-11-21T030000Z-aaaa0002'));

    const run = await resolveRestore(resolveDeps(), {
      state: { job: 'app', target: 'ephemeral' },
      execution: EXECUTION,
      deployment: DEPLOYMENT,
    });

    expect(run).toMatchObject({
      job: 'app',
      kind: 'drill',
      backup: '2026-11-21T030000Z-aaaa0002',
      manifestKey: 'dumpvault/app/2026-11-21T030000Z-aaaa0002.manifest.json',
      taskDefinition: DEPLOYMENT.drillTaskDefinitions['postgres:16'],
      startedBy: `dumpvault/app/${run.runId}`,
      ephemeralStorageGiB: 170,
      timeoutSeconds: 3600,
      failingBefore: false,
    });
    const env = Object.fromEntries(run.environment.map((e) => [e.Name, e.Value]));
    expect(env).toMatchObject({
      DUMPVAULT_JOB: 'app',
      DUMPVAULT_RUN_ID: run.runId,
      DUMPVAULT_STARTED_AT: '2026-11-22T10:00:00.123Z',
      DUMPVAULT_RESTORE_KIND: 'drill',
      DUMPVAULT_RESTORE_TARGET: 'ephemeral',
      DUMPVAULT_BACKUP_KEY: run.manifestKey,
      DUMPVAULT_DROP: 'false',
    });
    expect(JSON.parse(env['DUMPVAULT_JOB_JSON']!).encryption.ops.privateKeySecret).toBe(KEY_ARN);
    const [item] = await history.list('app');
    expect(item).toMatchObject({ runId: run.runId, status: 'RUNNING', kind: 'drill', key: run.objectKey });
  });

  it('falls back to the second destination when the first has no copy of the backup, and the task and Verify read that one', async () => {
    // Prepare: the newest backup exists only in the second destination (the first lost that copy: a PARTIAL run).
    const second = path.join(dir, 'second');
    await storeManifest(manifest('app', '2026-11-20T030000Z-aaaa0001'));
    await storeManifest(manifest('app', '2026-11-20T030000Z-aaaa0001'), second);
    await storeManifest(manifest('app', '2026-11-21T030000Z-aaaa0002'), second);
    const deps = {
      ...resolveDeps(),
      openSources: async () => [new FileDestination('primary', dir), new FileDestination('offsite', second)],
    };

    // Act
    const run = await resolveRestore(deps, {
      state: { job: 'app' },
      execution: EXECUTION,
      deployment: DEPLOYMENT,
    });
    const older = await resolveRestore(deps, {
      state: { job: 'app', backup: '2026-11-20T030000Z-aaaa0001' },
      execution: { ...EXECUTION, id: `${EXECUTION.id}-older` },
      deployment: DEPLOYMENT,
    });

    // Assess
    expect(run).toMatchObject({ backup: '2026-11-21T030000Z-aaaa0002', destination: 'offsite' });
    // The run Resolve returns is the one the later steps parse (core/contracts StepStateSchema).
    expect(RestoreRunSchema.parse(run)).toEqual(run);
    const env = Object.fromEntries(run.environment.map((e) => [e.Name, e.Value]));
    expect(env['DUMPVAULT_BACKUP_DESTINATION']).toBe('offsite');
    expect(
      deps.log.records.some((e) =>
        JSON.stringify(e).includes('destination primary: has no copy of backup 2026-11-21T030000Z-aaaa0002'),
      ),
    ).toBe(true);
    expect(older).toMatchObject({ backup: '2026-11-20T030000Z-aaaa0001', destination: 'primary' });
    // Verify compares the restored counts with the manifest of the copy the task restored.
    await history.save({
      job: 'app',
      runId: run.runId,
      kind: 'restore',
      status: 'SUCCEEDED',
      trigger: 'manual',
      startedAt: run.startedAt,
      details: { restoredTables: { 'public.orders': 3 } },
    });
    await expect(
      verifyRestore(
        { config: deps.config, history, openSources: deps.openSources },
        { state: { run }, execution: EXECUTION },
      ),
    ).resolves.toEqual({ matches: true, tablesCompared: 1, rowsCompared: 3 });
  });

  it('records RUNNING before it looks for the backup, so a missing one is recorded against the run', async () => {
    await expect(
      resolveRestore(resolveDeps(), { state: { job: 'app' }, execution: EXECUTION, deployment: DEPLOYMENT }),
    ).rejects.toThrow(/job app has no complete backups/);
    expect((await history.list('app'))[0]).toMatchObject({
      status: 'RUNNING',
      runId: runIdentity(EXECUTION).runId,
    });
  });

  it('fails when the OpenPGP entry has no privateKeySecret, saying where to put the key', async () => {
    await storeManifest(manifest('app', '2026-11-21T030000Z-aaaa0002'));
    const c = config((input) => {
      delete (input.encryption!['ops'] as { privateKeySecret?: string }).privateKeySecret;
    });

    await expect(
      resolveRestore(resolveDeps(c), { state: { job: 'app' }, execution: EXECUTION, deployment: DEPLOYMENT }),
    ).rejects.toThrow(
      /encryption\.ops has no "privateKeySecret": store a recipient's private key in Secrets Manager/,
    );
  });

  it('fails when the target URL holds a password, or the job is SQLite and the target is not a drill', async () => {
    await storeManifest(manifest('app', '2026-11-21T030000Z-aaaa0002'));
    await expect(
      resolveRestore(resolveDeps(), {
        state: { job: 'app', target: { url: 'postgres://u:hunter2@db/x' } },
        execution: EXECUTION,
        deployment: DEPLOYMENT,
      }),
    ).rejects.toThrow(/target\.url: contains a password/);
    await expect(
      resolveRestore(resolveDeps(), {
        state: { job: 'notes' },
        execution: EXECUTION,
        deployment: DEPLOYMENT,
      }),
    ).rejects.toThrow(/job notes backs up a SQLite file, which a task in AWS cannot reach/);
  });

  it('sizes drill storage by the dump and keeps restores at the minimum', () => {
    expect(ephemeralStorageGiB('restore', 500 * 1024 ** 3)).toBe(21);
    expect(ephemeralStorageGiB('drill', 0)).toBe(21);
    expect(ephemeralStorageGiB('drill', 10 * 1024 ** 3)).toBe(50);
    expect(ephemeralStorageGiB('drill', 500 * 1024 ** 3)).toBe(200);
  });
});

describe('describeFailure', () => {
  it('reads the message of a Lambda error as Step Functions reports it', () => {
    const cause = JSON.stringify({
      errorType: RestoreError.guardRefused,
      errorMessage: 'set "confirm"',
      trace: [],
    });
    expect(describeFailure({ Guard: { Error: RestoreError.guardRefused, Cause: cause } }, undefined)).toEqual(
      {
        failedState: RestoreState.guard,
        error: RestoreError.guardRefused,
        cause: 'set "confirm"',
      },
    );
  });

  it('describes a stopped restore task from the ECS task description', () => {
    const task = {
      TaskArn: 'arn:aws:ecs:eu-central-1:123456789012:task/c/1',
      StopCode: 'TaskFailedToStart',
      StoppedReason: 'CannotPullContainerError: pull access denied',
      Containers: [{ Name: 'dumpvault' }],
    };
    expect(
      describeFailure({ RunRestore: { Error: 'States.TaskFailed', Cause: JSON.stringify(task) } }, undefined),
    ).toEqual({
      failedState: RestoreState.runRestore,
      error: 'States.TaskFailed',
      cause:
        'the restore task stopped without an exit code; TaskFailedToStart: CannotPullContainerError: pull access denied',
      taskArn: task.TaskArn,
    });
  });

  it('names the timeout of RunRestore and a task that could not start', () => {
    const run = { job: 'app', timeoutSeconds: 7200 } as RestoreRun;
    expect(describeFailure({ RunRestore: { Error: 'States.Timeout' } }, run).cause).toMatch(
      /^the restore task did not finish within 120 minutes/,
    );
    expect(
      describeFailure({ RunRestore: { Error: 'AmazonECS.Unknown', Cause: 'RESOURCE:MEMORY' } }, run).cause,
    ).toBe('the restore task could not be started: AmazonECS.Unknown: RESOURCE:MEMORY');
  });
});

describe('the failure path', () => {
  const deps = (): RecordDeps => ({
    config: config(),
    history,
    notifier: new SnsNotifier({ client: sns, topicArn: TOPIC_ARN }),
    log: recordingLog(),
    now: () => new Date('2026-11-22T10:05:00.123Z'),
  });
  const { runId, startedAt } = runIdentity(EXECUTION);
  const item = (status: HistoryItem['status'], error?: string): HistoryItem => ({
    job: 'app',
    runId,
    kind: 'restore',
    status,
    trigger: 'manual',
    startedAt,
    ...(error ? { error } : {}),
  });
  const failure = { Verify: { Error: RestoreError.verifyFailed, Cause: 'restored data differs' } };

  it('keeps a FAILED item the task wrote, and NotifyFailure does not alert again', async () => {
    await history.save(item('FAILED', 'the target already has data'));

    const recorded = await recordRestoreFailed(deps(), {
      state: { job: 'app', failure },
      execution: EXECUTION,
    });
    const notified = await notifyRestore(deps(), { state: { job: 'app', recorded }, execution: EXECUTION });

    expect(recorded).toMatchObject({ changed: false, cause: 'the target already has data' });
    expect((await history.list('app'))[0]?.error).toBe('the target already has data');
    expect(notified).toEqual({ alerted: null });
    expect(snsMock.commandCalls(PublishCommand)).toHaveLength(0);
  });

  it('turns a SUCCEEDED item Verify refuted into FAILED, and alerts', async () => {
    await history.save(item('SUCCEEDED'));

    const recorded = await recordRestoreFailed(deps(), {
      state: { job: 'app', failure },
      execution: EXECUTION,
    });
    const notified = await notifyRestore(deps(), { state: { job: 'app', recorded }, execution: EXECUTION });

    expect(recorded).toMatchObject({
      changed: true,
      status: 'FAILED',
      error: RestoreError.verifyFailed,
      failedState: RestoreState.verify,
    });
    expect((await history.list('app'))[0]).toMatchObject({
      status: 'FAILED',
      error: 'restored data differs',
      durationMs: 300_000,
    });
    expect(notified).toEqual({ alerted: 'FAILED' });
  });

  it('reports an alert NotifyFailure could not send, redacted, and keeps the recorded FAILED', async () => {
    // Bug it catches: Notify ending the run on its own (not through finishRun's announceOutcome),
    // so a refused publish is thrown (the execution fails after the outcome was recorded) or
    // dropped without a word.
    await history.save(item('SUCCEEDED'));
    snsMock.on(PublishCommand).rejects(new Error('SNS refused postgres://app:s3cret@db/app'));
    const log = recordingLog();
    const recorded = await recordRestoreFailed(deps(), {
      state: { job: 'app', failure },
      execution: EXECUTION,
    });

    const notified = await notifyRestore(
      { ...deps(), log },
      { state: { job: 'app', recorded }, execution: EXECUTION },
    );

    expect(notified).toEqual({ alerted: null, error: expect.stringMatching(/^SNS refused /) });
    expect(notified.error).not.toContain('s3cret');
    expect(log.records.filter((r) => r.level === 'warn').map((r) => r.message)).toEqual([
      `could not send the FAILED alert of run ${runId}: ${notified.error}`,
    ]);
    expect((await history.list('app'))[0]).toMatchObject({
      status: 'FAILED',
      error: 'restored data differs',
    });
  });

  it('records nothing for an unknown job and alerts nobody', async () => {
    const recorded = await recordRestoreFailed(deps(), {
      state: { job: 'nope', failure: { Resolve: { Error: 'ConfigError', Cause: 'no job named "nope"' } } },
      execution: EXECUTION,
    });

    expect(recorded).toMatchObject({ job: 'nope', changed: false, cause: 'no job named "nope"' });
    expect(await notifyRestore(deps(), { state: { job: 'nope', recorded }, execution: EXECUTION })).toEqual({
      alerted: null,
    });
  });
});

describe('runStep', () => {
  it('keeps a user error as it is and makes anything else retryable, redacting messages', async () => {
    await expect(runStep(async () => parseRestoreRequest({}))).rejects.toMatchObject({
      name: RestoreError.input,
    });
    await expect(
      runStep(async () => {
        throw new Error('socket hang up postgres://u:secret@db/x');
      }),
    ).rejects.toMatchObject({
      name: RestoreError.retryable,
      message: 'socket hang up postgres://u:***@db/x',
    });
  });
});
