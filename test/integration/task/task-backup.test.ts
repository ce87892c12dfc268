/**
 * Task mode end to end on this machine: `dumpvault task backup` with the job from the
 * environment (as start-backup sets it), Secrets Manager mocked (aws-sdk-client-mock: no local
 * emulator), S3 via s3rver, history in DynamoDB via dynalite, SNS mocked, and a real PostgreSQL
 * source.
 */

import { createHash } from 'node:crypto';
import { Writable } from 'node:stream';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ToolError } from '../../../core/errors.ts';
import { createHistoryDocumentClient, DynamoHistoryStore } from '../../../core/history/dynamodb.ts';
import { SnsNotifier } from '../../../core/notify/sns.ts';
import { taskCommand } from '../../../task-image/cli/commands/task.ts';
import type { TaskDeps } from '../../../task-image/cli/commands/task-environment.ts';
import { Output } from '../../../task-image/cli/output.ts';
import { runCli } from '../../support/cli.ts';
import { createPostgresDb, dropPostgresDb, PG, psql } from '../../support/databases.ts';
import { type LocalDynamo, startDynalite } from '../../support/dynalite.ts';
import { S3_CALLS, S3RVER_CREDENTIALS, type S3rverHandle, startS3rver } from '../../support/s3rver.ts';
import { TIMEOUT } from '../../support/timeouts.ts';
import { createWorkspace, type Workspace } from '../../support/workspace.ts';

const PASSWORD_ARN = 'arn:aws:secretsmanager:eu-central-1:123456789012:secret:prod-db-AbCdEf';
const S3_ARN = 'arn:aws:secretsmanager:eu-central-1:123456789012:secret:offsite-s3-AbCdEf';
const DB_PASSWORD = 'task-db-password-9d8c7b';
const TOPIC_ARN = 'arn:aws:sns:eu-central-1:123456789012:dumpvault-alerts';

const secrets = mockClient(SecretsManagerClient);
const sns = mockClient(SNSClient);
let dynamo: LocalDynamo;
let s3: S3rverHandle;
let ws: Workspace;
let pgDb: string;
let table: string;
let history: DynamoHistoryStore;

beforeAll(async () => {
  dynamo = await startDynalite();
  s3 = await startS3rver({ buckets: ['offsite'] });
  ws = await createWorkspace();
  pgDb = createPostgresDb();
  table = await dynamo.createHistoryTable();
  history = new DynamoHistoryStore({ tableName: table, client: createHistoryDocumentClient(dynamo.client) });
}, TIMEOUT.setup);

afterAll(async () => {
  dropPostgresDb(pgDb);
  await s3?.stop();
  await dynamo?.stop();
  await ws?.remove();
});

afterEach(() => {
  secrets.reset();
  sns.reset();
});

function jobJson(
  database: string,
  job: Record<string, unknown> = {},
  destinations: Record<string, unknown> = {},
) {
  return JSON.stringify({
    prefix: 'dumpvault/',
    destinations: {
      offsite: {
        type: 's3',
        bucket: 'offsite',
        endpoint: s3.endpoint,
        credentialsSecret: S3_ARN,
        partSizeMiB: 5,
      },
      ...destinations,
    },
    encryption: { ops: { type: 'openpgp', recipients: ['keys/ops.pub.asc'] } },
    jobs: [
      {
        name: 'prod',
        engine: 'postgres',
        source: {
          url: `postgres://${PG.user}@${PG.host}:${PG.port}/${database}`,
          passwordSecret: PASSWORD_ARN,
        },
        destinations: ['offsite'],
        compression: 'gzip',
        encryption: 'ops',
        ...job,
      },
    ],
  });
}

async function runTask(
  database: string,
  runId: string,
  extra: Pick<TaskDeps, 'interrupts' | 'minuteMs'> = {},
  job: Record<string, unknown> = {},
  destinations: Record<string, unknown> = {},
  moreEnv: Record<string, string> = {},
) {
  const startedAt = new Date().toISOString();
  // What start-backup did before RunTask: the lease and the RUNNING item.
  expect((await history.acquireLease('prod', runId, 3_600_000)).acquired).toBe(true);
  await history.save({
    job: 'prod',
    runId,
    kind: 'backup',
    status: 'RUNNING',
    trigger: 'schedule',
    startedAt,
  });
  const publicKey = await import('node:fs/promises').then((fs) => fs.readFile(ws.publicKey, 'utf8'));
  const env = {
    ...process.env,
    DUMPVAULT_JOB: 'prod',
    DUMPVAULT_RUN_ID: runId,
    DUMPVAULT_STARTED_AT: startedAt,
    DUMPVAULT_TRIGGER: 'schedule',
    DUMPVAULT_JOB_JSON: jobJson(database, job, destinations),
    DUMPVAULT_PUBLIC_KEYS_JSON: JSON.stringify({ 'keys/ops.pub.asc': publicKey }),
    DUMPVAULT_HISTORY_TABLE: table,
    DUMPVAULT_TOPIC_ARN: TOPIC_ARN,
    DUMPVAULT_TASK_ARN: 'arn:aws:ecs:eu-central-1:123456789012:task/dumpvault/abc',
    ...moreEnv,
  };
  let stdout = '';
  const sink = new Writable({
    write(chunk, _e, cb) {
      stdout += chunk.toString();
      cb();
    },
  });
  const out = new Output({ stdout: sink, stderr: sink, env }, true);
  let code: number;
  try {
    code = await taskCommand('backup', out, env, {
      ...extra,
      history,
      notifier: new SnsNotifier({ client: new SNSClient({ region: 'eu-central-1' }), topicArn: TOPIC_ARN }),
    });
  } catch (err) {
    code = (err as { exitCode?: number }).exitCode ?? 99;
    stdout += String(err);
  }
  return { code, stdout, startedAt };
}

function mockSecrets(): void {
  secrets
    .on(GetSecretValueCommand, { SecretId: PASSWORD_ARN })
    .resolves({ SecretString: JSON.stringify({ username: 'postgres', password: DB_PASSWORD }) });
  secrets
    .on(GetSecretValueCommand, { SecretId: S3_ARN })
    .resolves({ SecretString: JSON.stringify(S3RVER_CREDENTIALS) });
}

/**
 * Runs `body` with a database big enough to be stopped mid-upload, secrets and SNS mocked, after
 * one successful run (`successRunId`) that ends the failing streak of the tests before, so a
 * failure in `body` alerts again; SNS calls are counted from `body` on.
 */
async function withBigDatabase(successRunId: string, body: (bigDb: string) => Promise<void>): Promise<void> {
  mockSecrets();
  sns.on(PublishCommand).resolves({ MessageId: successRunId });
  const bigDb = createPostgresDb();
  try {
    psql(
      bigDb,
      'CREATE TABLE big AS SELECT i, md5(i::text) || md5((i * 7)::text) AS t FROM generate_series(1, 300000) AS i',
    );
    expect((await runTask(pgDb, successRunId)).code).toBe(0);
    sns.resetHistory();
    await body(bigDb);
  } finally {
    dropPostgresDb(bigDb);
  }
}

/**
 * A run stopped mid-upload: exit 1, FAILED with `cause`, no pending upload and no object of the
 * run, exactly one alert naming the cause, the lease released.
 */
async function expectStopped(run: { code: number }, runId: string, cause: string): Promise<void> {
  expect(run.code).toBe(1);
  const [item] = await history.list('prod');
  expect(item).toMatchObject({ runId, status: 'FAILED', error: cause });
  expect((await s3.pendingUploads('offsite')).filter((k) => k.startsWith('dumpvault/prod/'))).toEqual([]);
  const objects = await s3.client.send(
    new ListObjectsV2Command({ Bucket: 'offsite', Prefix: 'dumpvault/prod/' }),
  );
  expect((objects.Contents ?? []).map((o) => o.Key)).not.toContainEqual(expect.stringContaining(runId));
  const published = sns.commandCalls(PublishCommand).map((c) => c.args[0].input);
  expect(published).toHaveLength(1);
  expect(published[0]?.Message).toContain(cause);
  expect((await history.acquireLease('prod', 'other', 1000)).acquired).toBe(true); // lease released
  await history.releaseLease('prod', 'other');
}

describe('dumpvault task backup', { timeout: TIMEOUT.roundTrips }, () => {
  it('records SUCCEEDED with bytes, sha256 and key equal to the object in S3', async () => {
    mockSecrets();
    const { code, stdout, startedAt } = await runTask(pgDb, 'a0000001');

    expect(code).toBe(0);
    const [item] = await history.list('prod');
    expect(item).toMatchObject({ runId: 'a0000001', startedAt, status: 'SUCCEEDED', trigger: 'schedule' });
    expect(item?.taskArn).toBe('arn:aws:ecs:eu-central-1:123456789012:task/dumpvault/abc');
    const object = await s3.client.send(new GetObjectCommand({ Bucket: 'offsite', Key: item!.key! }));
    const bytes = Buffer.from(await object.Body!.transformToByteArray());
    expect(item?.bytes).toBe(bytes.length);
    expect(item?.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect(item?.key).toMatch(/^dumpvault\/prod\/\d{4}-\d{2}-\d{2}T\d{6}Z-a0000001\.pgdump\.gz\.gpg$/);
    expect((await history.acquireLease('prod', 'other', 1000)).acquired).toBe(true); // lease released
    await history.releaseLease('prod', 'other');
    expect(
      secrets
        .commandCalls(GetSecretValueCommand)
        .map((c) => c.args[0].input.SecretId)
        .sort(),
    ).toEqual([S3_ARN, PASSWORD_ARN].sort());
    expect(stdout).not.toContain(DB_PASSWORD);
    expect(JSON.stringify(await history.list('prod'))).not.toContain(DB_PASSWORD);
  });

  it('a failing source: FAILED item with the cause, no object, one SNS alert, non-zero exit', async () => {
    mockSecrets();
    sns.on(PublishCommand).resolves({ MessageId: 'm1' });
    const before = await s3.client.send(new ListObjectsV2Command({ Bucket: 'offsite' }));
    const { code } = await runTask('no_such_database_dv', 'b0000002');

    expect(code).toBe(1);
    const [item] = await history.list('prod');
    expect(item).toMatchObject({ runId: 'b0000002', status: 'FAILED' });
    expect(item?.error).toMatch(/no_such_database_dv/);
    expect(item?.error).not.toContain(DB_PASSWORD);
    const after = await s3.client.send(new ListObjectsV2Command({ Bucket: 'offsite' }));
    expect((after.Contents ?? []).map((o) => o.Key)).toEqual((before.Contents ?? []).map((o) => o.Key));
    expect(await s3.pendingUploads('offsite')).toEqual([]);
    const published = sns.commandCalls(PublishCommand).map((c) => c.args[0].input);
    expect(published).toHaveLength(1);
    expect(published[0]).toMatchObject({
      TopicArn: TOPIC_ARN,
      Subject: 'dumpvault: backup of prod FAILED',
      MessageAttributes: {
        job: { DataType: 'String', StringValue: 'prod' },
        status: { DataType: 'String', StringValue: 'FAILED' },
        kind: { DataType: 'String', StringValue: 'backup' },
      },
    });
    expect(published[0]?.Message).toContain('no_such_database_dv');
    expect(published[0]?.Message).not.toContain(DB_PASSWORD);
  });

  it('records PARTIAL when its second destination has no bucket: the offsite copy is kept, one PARTIAL alert, exit 1', async () => {
    mockSecrets();
    sns.on(PublishCommand).resolves({ MessageId: 'm1' });
    await history.setAlertState({ job: 'prod', failing: false }); // earlier tests of this file failed runs
    const missing = {
      type: 's3',
      bucket: 'no-such-bucket',
      endpoint: s3.endpoint,
      credentialsSecret: S3_ARN,
      partSizeMiB: 5,
    };

    const { code, stdout } = await runTask(
      pgDb,
      'p0000003',
      {},
      { destinations: ['offsite', 'gone'] },
      { gone: missing },
    );

    expect(code).toBe(1);
    const [item] = await history.list('prod');
    expect(item).toMatchObject({
      runId: 'p0000003',
      status: 'PARTIAL',
      error: expect.stringMatching(/^destination gone: /),
    });
    expect(item?.details?.['destinations']).toEqual([
      { name: 'offsite', status: 'ok' },
      { name: 'gone', status: 'failed', error: item?.error },
    ]);
    const object = await s3.client.send(new GetObjectCommand({ Bucket: 'offsite', Key: item!.key! }));
    const bytes = Buffer.from(await object.Body!.transformToByteArray());
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(item?.sha256);
    expect(stdout).toContain('"status": "PARTIAL"');
    const published = sns.commandCalls(PublishCommand).map((c) => c.args[0].input);
    expect(published.map((p) => p.MessageAttributes?.['status']?.StringValue)).toEqual(['PARTIAL']);
    expect((await history.acquireLease('prod', 'other', 1000)).acquired).toBe(true); // lease released
    await history.releaseLease('prod', 'other');
  });

  it('stopped by SIGTERM (ECS StopTask) mid-upload: upload aborted, FAILED with the cause, one alert, exit 1', async () => {
    await withBigDatabase('c0000002', async (bigDb) => {
      const stop = new AbortController();
      const interrupts = () => ({ signal: stop.signal, dispose: () => {} });
      const hold = s3.holdPartUploads();
      const running = runTask(bigDb, 'c0000003', { interrupts });
      try {
        // The first part is held at the store: the upload is open, the dump mid-way.
        await Promise.race([
          s3.nextRequest((r) => S3_CALLS.uploadPart(r) && r.path.startsWith('/offsite/dumpvault/prod/')),
          running.then((run) => {
            throw new Error(`the backup ended before its first part: ${run.stdout}`);
          }),
        ]);
        stop.abort(new ToolError('stopped by SIGTERM before it finished'));
      } finally {
        hold.release();
      }
      await expectStopped(await running, 'c0000003', 'stopped by SIGTERM before it finished');
    });
  });

  it('task.timeoutMinutes passed mid-upload: upload aborted, FAILED naming the timeout, one alert, exit 1', async () => {
    await withBigDatabase('c0000004', async (bigDb) => {
      // The store takes no part until the run has ended: only the task's own timer can end it.
      const hold = s3.holdPartUploads();
      let run: { code: number };
      try {
        // timeoutMinutes: 1, with a minute of 1.5 s.
        run = await runTask(bigDb, 'c0000005', { minuteMs: 1500 }, { task: { timeoutMinutes: 1 } });
      } finally {
        hold.release();
      }
      await expectStopped(run, 'c0000005', 'the backup did not finish within task.timeoutMinutes (1 min)');
    });
  });

  it('on Fargate Spot, stopped by SIGTERM: FAILED recorded, but the alert and the lease left to task-stopped', async () => {
    // Bug caught: every Spot interruption alerted although task-stopped retries it, or the lease
    // released so a scheduled run could start between this task's end and the retry.
    mockSecrets();
    sns.on(PublishCommand).resolves({ MessageId: 'm-spot' });
    const sigterm = new ToolError('stopped by SIGTERM before it finished');
    const interrupts = () => ({ signal: AbortSignal.abort(sigterm), dispose: () => {} });

    const run = await runTask(
      pgDb,
      'd0000001',
      { interrupts },
      {},
      {},
      { DUMPVAULT_CAPACITY: 'FARGATE_SPOT' },
    );

    expect(run.code).toBe(1);
    expect((await history.list('prod'))[0]).toMatchObject({
      runId: 'd0000001',
      status: 'FAILED',
      error: 'stopped by SIGTERM before it finished',
    });
    expect(sns.commandCalls(PublishCommand)).toHaveLength(0);
    expect((await history.getLease('prod'))?.runId).toBe('d0000001');
    await history.releaseLease('prod', 'd0000001');
  });

  it('refuses to run without the environment start-backup sets, naming the variable', async () => {
    const run = await runCli(['task', 'backup'], { DUMPVAULT_JOB: '' });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/DUMPVAULT_JOB is not set/);
  });
});
