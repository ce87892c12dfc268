/**
 * The AWS side of a task run on this machine: S3 via s3rver, history in DynamoDB via dynalite,
 * Secrets Manager and SNS mocked with aws-sdk-client-mock (no local emulator for either), and a
 * runner that calls `dumpvault task <action>` in-process with an environment, as Fargate would.
 */
import { Writable } from 'node:stream';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { PublishCommand, type PublishCommandInput, SNSClient } from '@aws-sdk/client-sns';
import { type AwsClientStub, mockClient } from 'aws-sdk-client-mock';
import { createHistoryDocumentClient, DynamoHistoryStore } from '../../../core/history/dynamodb.ts';
import { SnsNotifier } from '../../../core/notify/sns.ts';
import { taskCommand } from '../../../task-image/cli/commands/task.ts';
import type { TaskDeps } from '../../../task-image/cli/commands/task-environment.ts';
import { Output } from '../../../task-image/cli/output.ts';
import { PG } from '../../support/databases.ts';
import { type LocalDynamo, startDynalite } from '../../support/dynalite.ts';
import { S3RVER_CREDENTIALS, type S3rverHandle, startS3rver } from '../../support/s3rver.ts';

export const ACCOUNT = '123456789012';
export const REGION = 'eu-central-1';
export const secretArn = (name: string) =>
  `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:${name}-AbCdEf`;
export const PASSWORD_ARN = secretArn('source-db');
export const TARGET_PASSWORD_ARN = secretArn('restore-target');
export const S3_ARN = secretArn('offsite-s3');
export const PASSPHRASE_ARN = secretArn('passphrase');
export const PRIVATE_KEY_ARN = secretArn('ops-private-key');
export const TOPIC_ARN = `arn:aws:sns:${REGION}:${ACCOUNT}:dumpvault-alerts`;
export const TASK_ARN = `arn:aws:ecs:${REGION}:${ACCOUNT}:task/dumpvault/0123456789abcdef`;

/** Values in the secrets above: none may ever show up in output, history or alerts. */
export const SECRET_VALUES = {
  dbPassword: 'source-db-password-4f3e2d',
  targetPassword: 'target-db-password-7a6b5c',
  passphrase: 'backup-passphrase-1a2b3c4d',
  keyPassphrase: 'private-key-passphrase-9e8d',
} as const;

export interface TaskWorld {
  readonly s3: S3rverHandle;
  readonly dynamo: LocalDynamo;
  readonly table: string;
  readonly history: DynamoHistoryStore;
  readonly secrets: AwsClientStub<SecretsManagerClient>;
  readonly sns: AwsClientStub<SNSClient>;
  /** The armored private key protected by SECRET_VALUES.keyPassphrase (the workspace key is not). */
  readonly protectedPrivateKey: string;
  /** Every SNS Publish request since the last reset. */
  published(): PublishCommandInput[];
  /** Mocks every secret above (GetSecretValue by ARN). */
  mockSecrets(): void;
  stop(): Promise<void>;
}

/** Starts s3rver (bucket `offsite`), dynalite with a history table, an OpenPGP key pair, and the mocks. */
export async function startTaskWorld(): Promise<TaskWorld> {
  const dynamo = await startDynalite();
  const s3 = await startS3rver({ buckets: ['offsite'] });
  const table = await dynamo.createHistoryTable();
  const history = new DynamoHistoryStore({
    tableName: table,
    client: createHistoryDocumentClient(dynamo.client),
  });
  const secrets = mockClient(SecretsManagerClient);
  const sns = mockClient(SNSClient);
  const { generateKeyPair } = await import('../../../core/crypto/openpgp.ts');
  const protectedPair = await generateKeyPair({
    name: 'dumpvault protected',
    email: 'protected@dumpvault.invalid',
    passphrase: SECRET_VALUES.keyPassphrase,
  });
  return {
    s3,
    dynamo,
    table,
    history,
    secrets,
    sns,
    protectedPrivateKey: protectedPair.privateKey,
    published: () => sns.commandCalls(PublishCommand).map((c) => c.args[0].input),
    mockSecrets() {
      const answer = (id: string, value: string) =>
        secrets.on(GetSecretValueCommand, { SecretId: id }).resolves({ SecretString: value });
      answer(PASSWORD_ARN, JSON.stringify({ username: PG.user, password: SECRET_VALUES.dbPassword }));
      answer(TARGET_PASSWORD_ARN, SECRET_VALUES.targetPassword);
      answer(S3_ARN, JSON.stringify(S3RVER_CREDENTIALS));
      answer(PASSPHRASE_ARN, JSON.stringify({ passphrase: SECRET_VALUES.passphrase }));
      answer(
        PRIVATE_KEY_ARN,
        JSON.stringify({ privateKey: protectedPair.privateKey, passphrase: SECRET_VALUES.keyPassphrase }),
      );
      sns.on(PublishCommand).resolves({ MessageId: 'm-1' });
    },
    async stop() {
      secrets.restore();
      sns.restore();
      await s3.stop();
      await dynamo.stop();
    },
  };
}

/** A job of the single-job config the orchestrator hands the task. */
export interface TaskJob {
  readonly name: string;
  readonly database: string;
  readonly encryption: 'vault' | 'ops';
}

/**
 * The `DUMPVAULT_JOB_JSON` of a job: the s3rver bucket behind credentials in Secrets Manager,
 * the source password in Secrets Manager, and either passphrase (`vault`) or OpenPGP (`ops`,
 * whose private key is in Secrets Manager) encryption.
 */
export function jobJson(world: TaskWorld, job: TaskJob): string {
  return JSON.stringify({
    prefix: 'dumpvault/',
    destinations: {
      offsite: {
        type: 's3',
        bucket: 'offsite',
        endpoint: world.s3.endpoint,
        credentialsSecret: S3_ARN,
        partSizeMiB: 5,
      },
    },
    encryption:
      job.encryption === 'vault'
        ? { vault: { type: 'passphrase', passphraseSecret: PASSPHRASE_ARN } }
        : { ops: { type: 'openpgp', recipients: ['keys/ops.pub.asc'], privateKeySecret: PRIVATE_KEY_ARN } },
    jobs: [
      {
        name: job.name,
        engine: 'postgres',
        source: {
          url: `postgres://${PG.user}@${PG.host}:${PG.port}/${job.database}`,
          passwordSecret: PASSWORD_ARN,
        },
        destinations: ['offsite'],
        compression: 'gzip',
        encryption: job.encryption,
        // Keep every backup: tests restore older ones by id.
        retention: { keepLast: 20 },
      },
    ],
  });
}

/** The environment the task definitions set (same for every run). */
export async function taskDefinitionEnv(world: TaskWorld): Promise<Record<string, string>> {
  const protectedPublic = await import('openpgp').then(async (pgp) =>
    (await pgp.readPrivateKey({ armoredKey: world.protectedPrivateKey })).toPublic().armor(),
  );
  return {
    AWS_REGION: REGION,
    DUMPVAULT_HISTORY_TABLE: world.table,
    DUMPVAULT_TOPIC_ARN: TOPIC_ARN,
    DUMPVAULT_TASK_ARN: TASK_ARN,
    // The backup task encrypts to the key whose private half is in PRIVATE_KEY_ARN.
    DUMPVAULT_PUBLIC_KEYS_JSON: JSON.stringify({ 'keys/ops.pub.asc': protectedPublic }),
    // Plays the drill sidecar: the local server's maintenance database.
    DUMPVAULT_EPHEMERAL_URL: `postgres://${PG.user}@${PG.host}:${PG.port}/postgres`,
  };
}

export interface TaskRun {
  readonly code: number;
  /** The one-line JSON results the task printed. */
  readonly lines: string[];
  /** Everything else it wrote (progress, errors). */
  readonly output: string;
}

/** Runs `dumpvault task <action>` in-process with `env` (plus PATH etc.), as the container would. */
export async function runTaskAction(
  world: TaskWorld,
  action: 'backup' | 'restore',
  env: Record<string, string>,
  extra: Pick<TaskDeps, 'interrupts'> = {},
): Promise<TaskRun> {
  const fullEnv: NodeJS.ProcessEnv = { PATH: process.env['PATH'], HOME: process.env['HOME'], ...env };
  let output = '';
  const sink = new Writable({
    write(chunk, _e, cb) {
      output += chunk.toString();
      cb();
    },
  });
  const lines: string[] = [];
  const out = new Output({ stdout: sink, stderr: sink, env: fullEnv }, true);
  let code: number;
  try {
    code = await taskCommand(action, out, fullEnv, {
      ...extra,
      history: world.history,
      notifier: new SnsNotifier({ client: new SNSClient({ region: REGION }), topicArn: TOPIC_ARN }),
      ...(action === 'restore' ? { print: (line: string) => lines.push(line) } : {}),
    } as Parameters<typeof taskCommand>[3]);
  } catch (err) {
    code = (err as { exitCode?: number }).exitCode ?? 99;
    output += String(err);
  }
  return { code, lines, output };
}

/**
 * Makes a backup of `job` the way start-backup and `task backup` do (lease, RUNNING item, task)
 * and returns the key of its manifest. `startedAt` (start-backup's clock) names the objects:
 * keys have second precision, so backups meant to sort in order are given distinct times.
 */
export async function backUp(
  world: TaskWorld,
  job: TaskJob,
  runId: string,
  started: Date = new Date(),
): Promise<string> {
  const startedAt = started.toISOString();
  const lease = await world.history.acquireLease(job.name, runId, 3_600_000);
  if (!lease.acquired) throw new Error(`lease of ${job.name} is held`);
  await world.history.save({
    job: job.name,
    runId,
    kind: 'backup',
    status: 'RUNNING',
    trigger: 'schedule',
    startedAt,
  });
  const run = await runTaskAction(world, 'backup', {
    ...(await taskDefinitionEnv(world)),
    DUMPVAULT_JOB: job.name,
    DUMPVAULT_RUN_ID: runId,
    DUMPVAULT_STARTED_AT: startedAt,
    DUMPVAULT_TRIGGER: 'schedule',
    DUMPVAULT_JOB_JSON: jobJson(world, job),
  });
  if (run.code !== 0) throw new Error(`backup of ${job.name} failed: ${run.output}`);
  const item = (await world.history.list(job.name)).find((i) => i.runId === runId);
  if (!item?.key) throw new Error(`backup of ${job.name} recorded no key`);
  return `${item.key.slice(0, item.key.lastIndexOf('/') + 1)}${item.key.slice(item.key.lastIndexOf('/') + 1).split('.')[0]}.manifest.json`;
}
