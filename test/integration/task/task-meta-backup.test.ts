/**
 * The meta-backup on AWS (issue 16 §1): `dumpvault task backup` writes
 * `{prefix}_dumpvault/config-{timestamp}.json.gpg` like the local CLI does, with the job's config
 * as the stack gave it, and the values of the Secrets Manager secrets it names only when
 * `metaBackup.secrets` is on. S3 is s3rver, history dynalite, Secrets Manager and SNS
 * aws-sdk-client-mock (no emulator), the source the real PostgreSQL server; the object is
 * decrypted with the gpg CLI.
 *
 * Bug caught: the task wrote no meta-backup at all (only the CLI did), so a stack lost with its
 * config could not be rebuilt from the bucket; or it stored secret values with `secrets` off.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createHistoryDocumentClient, DynamoHistoryStore } from '../../../core/history/dynamodb.ts';
import { SnsNotifier } from '../../../core/notify/sns.ts';
import { taskCommand } from '../../../task-image/cli/commands/task.ts';
import { Output } from '../../../task-image/cli/output.ts';
import { createPostgresDb, dropPostgresDb, PG } from '../../support/databases.ts';
import { type LocalDynamo, startDynalite } from '../../support/dynalite.ts';
import { S3RVER_CREDENTIALS, type S3rverHandle, startS3rver } from '../../support/s3rver.ts';
import { TIMEOUT } from '../../support/timeouts.ts';
import { createWorkspace, type Workspace } from '../../support/workspace.ts';

const ARN = (name: string) => `arn:aws:secretsmanager:eu-central-1:123456789012:secret:${name}-AbCdEf`;
const PASSWORD_ARN = ARN('prod-db');
const S3_ARN = ARN('offsite-s3');
const META_ARN = ARN('meta-passphrase');
const DB_SECRET = JSON.stringify({ username: 'postgres', password: 'task-db-password-51e2' });
const META_PASSPHRASE = 'meta-passphrase-7f3a9c';
const TOPIC_ARN = 'arn:aws:sns:eu-central-1:123456789012:dumpvault-alerts';

const secrets = mockClient(SecretsManagerClient);
const sns = mockClient(SNSClient);
let dynamo: LocalDynamo;
let s3: S3rverHandle;
let ws: Workspace;
let pgDb: string;
let history: DynamoHistoryStore;
let table: string;

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

function jobJson(withSecrets: boolean): string {
  return JSON.stringify({
    prefix: 'dumpvault/',
    destinations: {
      offsite: { type: 's3', bucket: 'offsite', endpoint: s3.endpoint, credentialsSecret: S3_ARN },
    },
    encryption: { ops: { type: 'openpgp', recipients: ['keys/ops.pub.asc'] } },
    metaBackup: { passphraseSecret: META_ARN, secrets: withSecrets },
    jobs: [
      {
        name: 'prod',
        engine: 'postgres',
        source: { url: `postgres://${PG.user}@${PG.host}:${PG.port}/${pgDb}`, passwordSecret: PASSWORD_ARN },
        destinations: ['offsite'],
        encryption: 'ops',
      },
    ],
  });
}

async function runTask(
  runId: string,
  withSecrets: boolean,
): Promise<{ code: number; stdout: string; json: string }> {
  secrets.on(GetSecretValueCommand, { SecretId: PASSWORD_ARN }).resolves({ SecretString: DB_SECRET });
  secrets
    .on(GetSecretValueCommand, { SecretId: S3_ARN })
    .resolves({ SecretString: JSON.stringify(S3RVER_CREDENTIALS) });
  secrets.on(GetSecretValueCommand, { SecretId: META_ARN }).resolves({ SecretString: META_PASSPHRASE });
  sns.on(PublishCommand).resolves({ MessageId: runId });
  const startedAt = new Date().toISOString();
  expect((await history.acquireLease('prod', runId, 3_600_000)).acquired).toBe(true);
  await history.save({
    job: 'prod',
    runId,
    kind: 'backup',
    status: 'RUNNING',
    trigger: 'schedule',
    startedAt,
  });
  const json = jobJson(withSecrets);
  const env = {
    ...process.env,
    DUMPVAULT_JOB: 'prod',
    DUMPVAULT_RUN_ID: runId,
    DUMPVAULT_STARTED_AT: startedAt,
    DUMPVAULT_TRIGGER: 'schedule',
    DUMPVAULT_JOB_JSON: json,
    DUMPVAULT_PUBLIC_KEYS_JSON: JSON.stringify({ 'keys/ops.pub.asc': readFileSync(ws.publicKey, 'utf8') }),
    DUMPVAULT_HISTORY_TABLE: table,
    DUMPVAULT_TOPIC_ARN: TOPIC_ARN,
    DUMPVAULT_TASK_ARN: 'arn:aws:ecs:eu-central-1:123456789012:task/dumpvault/abc',
  };
  let stdout = '';
  const sink = new Writable({
    write(chunk, _e, cb) {
      stdout += chunk.toString();
      cb();
    },
  });
  const code = await taskCommand('backup', new Output({ stdout: sink, stderr: sink, env }, true), env, {
    history,
    notifier: new SnsNotifier({ client: new SNSClient({ region: 'eu-central-1' }), topicArn: TOPIC_ARN }),
  });
  return { code, stdout, json };
}

/** The newest meta-backup in the bucket, decrypted by gpg with the meta passphrase. */
async function newestMeta(): Promise<{ key: string; document: Record<string, unknown> }> {
  const listed = await s3.client.send(
    new ListObjectsV2Command({ Bucket: 'offsite', Prefix: 'dumpvault/_dumpvault/' }),
  );
  const key = (listed.Contents ?? [])
    .map((o) => o.Key!)
    .sort()
    .at(-1)!;
  const object = await s3.client.send(new GetObjectCommand({ Bucket: 'offsite', Key: key }));
  const home = mkdtempSync(path.join(tmpdir(), 'dv-meta-gpg-'));
  try {
    const gpg = spawnSync(
      'gpg',
      [
        '--homedir',
        home,
        '--batch',
        '--quiet',
        '--pinentry-mode',
        'loopback',
        '--passphrase-fd',
        '0',
        '--decrypt',
      ],
      {
        input: Buffer.concat([
          Buffer.from(`${META_PASSPHRASE}\n`),
          Buffer.from(await object.Body!.transformToByteArray()),
        ]),
        maxBuffer: 16 << 20,
      },
    );
    expect(gpg.status, gpg.stderr?.toString()).toBe(0);
    return { key, document: JSON.parse(gpg.stdout.toString('utf8')) as Record<string, unknown> };
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

describe('dumpvault task backup with metaBackup', { timeout: TIMEOUT.roundTrips }, () => {
  it('writes the job config to {prefix}_dumpvault/ without secret values when metaBackup.secrets is off', async () => {
    const { code, stdout, json } = await runTask('c0000001', false);

    expect(code, stdout).toBe(0);
    const { key, document } = await newestMeta();
    expect(key).toMatch(/^dumpvault\/_dumpvault\/config-\d{4}-\d{2}-\d{2}T\d{6}Z\.json\.gpg$/);
    expect(document).toMatchObject({
      format: 'dumpvault-meta',
      configFile: 'dumpvault.config.json',
      config: json,
    });
    expect(document['files']).toEqual({ 'keys/ops.pub.asc': readFileSync(ws.publicKey, 'utf8') });
    expect(document['awsSecrets']).toBeUndefined();
    expect(document['secrets']).toBeUndefined();
    const [run] = await history.list('prod');
    expect(run).toMatchObject({ runId: 'c0000001', status: 'SUCCEEDED' });
    expect(run?.details?.['metaBackup']).toMatchObject({ status: 'ok', key, destinations: ['offsite'] });
    // Read only what the backup and the meta passphrase need: no secret is fetched for the document.
    expect(
      secrets
        .commandCalls(GetSecretValueCommand)
        .map((c) => c.args[0].input.SecretId)
        .sort(),
    ).toEqual([PASSWORD_ARN, S3_ARN, META_ARN].sort());
  });

  it('stores the values of the Secrets Manager secrets the config names when metaBackup.secrets is on, never the meta passphrase', async () => {
    const { code, stdout } = await runTask('c0000002', true);

    expect(code, stdout).toBe(0);
    const { document } = await newestMeta();
    expect(document['awsSecrets']).toEqual({
      [PASSWORD_ARN]: DB_SECRET,
      [S3_ARN]: JSON.stringify(S3RVER_CREDENTIALS),
    });
    expect(document['missingSecrets']).toEqual([]);
    expect(JSON.stringify(document)).not.toContain(META_PASSPHRASE);
    expect(stdout).not.toContain('task-db-password-51e2');
    expect(JSON.stringify(await history.list('prod'))).not.toContain('task-db-password-51e2');
  });
});
