/**
 * `dumpvault task restore` end to end on this machine, with the environment the restore state
 * machine's Resolve state builds: backups made by `task backup` into s3rver, history in dynalite,
 * Secrets Manager (passwords, passphrase, private key) and SNS mocked, a real PostgreSQL server
 * as source, scratch host, target, and stand-in for the drill sidecar.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ToolError } from '../../../core/errors.ts';
import type { HistoryItem } from '../../../core/history/history.ts';
import { clearSecrets } from '../../../core/redact.ts';
import type { TaskDeps } from '../../../task-image/cli/commands/task-environment.ts';
import type { TaskRestoreResult } from '../../../task-image/cli/commands/task-restore.ts';
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
  PASSPHRASE_ARN,
  PASSWORD_ARN,
  PRIVATE_KEY_ARN,
  runTaskAction,
  S3_ARN,
  SECRET_VALUES,
  startTaskWorld,
  TARGET_PASSWORD_ARN,
  TASK_ARN,
  type TaskJob,
  type TaskWorld,
  taskDefinitionEnv,
} from './support.ts';

let world: TaskWorld;
let sourceDb: string;
const created: string[] = [];
const VAULT: () => TaskJob = () => ({ name: 'pg-vault', database: sourceDb, encryption: 'vault' });
const OPS: () => TaskJob = () => ({ name: 'pg-ops', database: sourceDb, encryption: 'ops' });
let vaultManifest: string;
let opsManifest: string;
const vaultRunId = uniqueRunId();

/** Databases of the local server whose names contain `part` (other test files run concurrently). */
const databasesLike = (part: string) =>
  psql('postgres', `SELECT datname FROM pg_database WHERE strpos(datname, '${part}') > 0 ORDER BY 1`)
    .trim()
    .split('\n')
    .filter(Boolean);

beforeAll(async () => {
  world = await startTaskWorld();
  world.mockSecrets();
  sourceDb = createPostgresDb();
  vaultManifest = await backUp(world, VAULT(), vaultRunId);
  opsManifest = await backUp(world, OPS(), uniqueRunId());
}, TIMEOUT.setup);

beforeEach(() => {
  world.sns.resetHistory();
  world.secrets.resetHistory();
});

afterAll(async () => {
  for (const db of [sourceDb, ...created]) dropPostgresDb(db);
  await world?.stop();
});

afterEach(() => {
  clearSecrets();
});

/** What Resolve does before RunTask: the RUNNING item the task then completes. */
async function resolved(job: TaskJob, runId: string, kind: 'restore' | 'drill'): Promise<string> {
  const startedAt = new Date(Date.now() - 5_000).toISOString();
  await world.history.save({ job: job.name, runId, kind, status: 'RUNNING', trigger: 'manual', startedAt });
  return startedAt;
}

/** Runs the restore task for `job` under a fresh run id (scratch and drill databases are named after it). */
async function restore(
  job: TaskJob,
  settings: {
    kind?: 'restore' | 'drill';
    backupKey: string;
    target: string;
    drop?: boolean;
    passwordSecret?: string;
    interrupts?: TaskDeps['interrupts'];
    /** Replaces the job's config (DUMPVAULT_JOB_JSON). */
    jobJson?: string;
    /** The destination Resolve chose (DUMPVAULT_BACKUP_DESTINATION). */
    destination?: string;
  },
) {
  const kind = settings.kind ?? 'restore';
  const runId = uniqueRunId();
  const startedAt = await resolved(job, runId, kind);
  const run = await runTaskAction(
    world,
    'restore',
    {
      ...(await taskDefinitionEnv(world)),
      DUMPVAULT_JOB: job.name,
      DUMPVAULT_RUN_ID: runId,
      DUMPVAULT_STARTED_AT: startedAt,
      DUMPVAULT_TRIGGER: 'manual',
      DUMPVAULT_JOB_JSON: settings.jobJson ?? jobJson(world, job),
      ...(settings.destination ? { DUMPVAULT_BACKUP_DESTINATION: settings.destination } : {}),
      DUMPVAULT_RESTORE_KIND: kind,
      DUMPVAULT_BACKUP_KEY: settings.backupKey,
      DUMPVAULT_RESTORE_TARGET: settings.target,
      DUMPVAULT_DROP: settings.drop ? 'true' : 'false',
      ...(settings.passwordSecret ? { DUMPVAULT_TARGET_PASSWORD_SECRET: settings.passwordSecret } : {}),
    },
    settings.interrupts ? { interrupts: settings.interrupts } : {},
  );
  const items = (await world.history.list(job.name)).filter((i) => i.runId === runId);
  const result = run.lines.length === 1 ? (JSON.parse(run.lines[0]!) as TaskRestoreResult) : undefined;
  return { ...run, runId, items, item: items[0] as HistoryItem, result, startedAt };
}

async function manifestStats(key: string): Promise<Record<string, number>> {
  const object = await world.s3.client.send(new GetObjectCommand({ Bucket: 'offsite', Key: key }));
  return (JSON.parse(await object.Body!.transformToString()) as { stats: { tables: Record<string, number> } })
    .stats.tables;
}

function expectNoSecrets(text: string): void {
  for (const value of Object.values(SECRET_VALUES)) expect(text).not.toContain(value);
  expect(text).not.toContain('PRIVATE KEY BLOCK');
}

describe('dumpvault task restore', { timeout: TIMEOUT.roundTrips }, () => {
  it('restores into a scratch database on the source server and completes the RUNNING item Resolve wrote', async () => {
    const run = await restore(VAULT(), { backupKey: vaultManifest, target: 'scratch' });

    expect(run.output).not.toMatch(/^error/m);
    expect(run.code).toBe(0);
    expect(run.items).toHaveLength(1);
    const stats = await manifestStats(vaultManifest);
    expect(run.item).toMatchObject({
      kind: 'restore',
      status: 'SUCCEEDED',
      startedAt: run.startedAt,
      taskArn: TASK_ARN,
      details: {
        rowsCompared: 2550,
        tablesCompared: 3,
        // The task's engine wrapper passes the object counts on: the restore compared them too.
        objectsCompared: { tables: 3, views: 1, routines: 0, triggers: 0, sequences: 2 },
        differences: [],
        restoredTables: stats,
      },
    });
    expect(run.item.durationMs).toBe(Date.parse(run.item.finishedAt!) - Date.parse(run.startedAt));
    expect(run.result).toMatchObject({
      status: 'SUCCEEDED',
      job: 'pg-vault',
      runId: run.runId,
      kind: 'restore',
      tablesCompared: 3,
      rowsCompared: 2550,
      differences: [],
      restoredTables: stats,
    });
    const [scratch] = databasesLike(`pg_vault_restore_${run.runId}`);
    expect(scratch).toBeDefined();
    created.push(scratch!);
    expect(postgresFingerprint(scratch!)).toBe(postgresFingerprint(sourceDb));
    const read = new Set(
      world.secrets.commandCalls(GetSecretValueCommand).map((c) => c.args[0].input.SecretId),
    );
    expect([...read].sort()).toEqual([PASSPHRASE_ARN, PASSWORD_ARN, S3_ARN].sort());
    expectNoSecrets(run.output + run.lines.join('\n') + JSON.stringify(run.items));
  });

  it('reads the backup from the destination Resolve chose, not from the first one, which has no copy', async () => {
    // The job's first destination is an empty folder (it lost its copy in a PARTIAL run).
    const config = JSON.parse(jobJson(world, VAULT())) as {
      destinations: Record<string, unknown>;
      jobs: Array<{ destinations: string[] }>;
    };
    config.destinations['primary'] = { type: 'file', path: await mkdtemp(path.join(tmpdir(), 'dv-empty-')) };
    config.jobs[0]!.destinations = ['primary', 'offsite'];

    const run = await restore(VAULT(), {
      backupKey: vaultManifest,
      target: 'scratch',
      jobJson: JSON.stringify(config),
      destination: 'offsite',
    });

    expect(run.output).not.toMatch(/^error/m);
    expect(run.code).toBe(0);
    expect(run.item).toMatchObject({ status: 'SUCCEEDED', details: { tablesCompared: 3, differences: [] } });
    const [scratch] = databasesLike(`pg_vault_restore_${run.runId}`);
    created.push(scratch!);
    expect(postgresFingerprint(scratch!)).toBe(postgresFingerprint(sourceDb));
  });

  it('drills into the ephemeral database with the private key from Secrets Manager and drops what it created', async () => {
    const run = await restore(OPS(), {
      kind: 'drill',
      backupKey: opsManifest,
      target: 'ephemeral',
    });

    expect(run.output).not.toMatch(/^error/m);
    expect(run.code).toBe(0);
    expect(run.item).toMatchObject({ kind: 'drill', status: 'SUCCEEDED', details: { differences: [] } });
    expect(run.item.details?.['target']).toMatch(
      new RegExp(`^postgres://postgres@127\\.0\\.0\\.1:5432/pg_ops_drill_${run.runId}`),
    );
    expect(databasesLike(`pg_ops_drill_${run.runId}`)).toEqual([]);
    expect(world.secrets.commandCalls(GetSecretValueCommand).map((c) => c.args[0].input.SecretId)).toContain(
      PRIVATE_KEY_ARN,
    );
    expectNoSecrets(run.output + run.lines.join('\n') + JSON.stringify(run.items));
    expectNoSecrets(JSON.stringify(world.published()));
  });

  it('refuses a target URL that already has data without drop, before touching it, and alerts once', async () => {
    const target = createPostgresDb(uniqueName('dvt_target'));
    created.push(target);
    const fingerprint = postgresFingerprint(target);
    const url = `postgres://${PG.user}@${PG.host}:${PG.port}/${target}`;

    const run = await restore(VAULT(), {
      backupKey: vaultManifest,
      target: url,
      passwordSecret: TARGET_PASSWORD_ARN,
    });

    expect(run.code).toBe(2);
    expect(run.item).toMatchObject({ status: 'FAILED', kind: 'restore' });
    expect(run.item.error).toMatch(/already has data/);
    expect(run.result).toMatchObject({ status: 'FAILED', error: run.item.error });
    expect(postgresFingerprint(target)).toBe(fingerprint);
    const published = world.published();
    expect(published).toHaveLength(1);
    expect(published[0]).toMatchObject({
      Subject: 'dumpvault: restore of pg-vault FAILED',
      MessageAttributes: { kind: { DataType: 'String', StringValue: 'restore' } },
    });
    expectNoSecrets(JSON.stringify(published) + JSON.stringify(run.items));
  });

  it('replaces what a target URL holds when drop is true', async () => {
    const target = createPostgresDb(uniqueName('dvt_target'));
    created.push(target);
    psql(target, 'DELETE FROM orders WHERE id <= 10; UPDATE customers SET city = NULL;');
    expect(postgresFingerprint(target)).not.toBe(postgresFingerprint(sourceDb));

    const run = await restore(VAULT(), {
      backupKey: vaultManifest,
      target: `postgres://${PG.user}@${PG.host}:${PG.port}/${target}`,
      passwordSecret: TARGET_PASSWORD_ARN,
      drop: true,
    });

    expect(run.output).not.toMatch(/^error/m);
    expect(run.code).toBe(0);
    expect(run.item).toMatchObject({ status: 'SUCCEEDED', kind: 'restore' });
    expect(postgresFingerprint(target)).toBe(postgresFingerprint(sourceDb));
    expect(world.secrets.commandCalls(GetSecretValueCommand).map((c) => c.args[0].input.SecretId)).toContain(
      TARGET_PASSWORD_ARN,
    );
    expect(world.published().map((p) => p.Subject)).toEqual(['dumpvault: restore of pg-vault recovered']);
  });

  it('fails naming the table when the manifest disagrees with the object, and alerts once', async () => {
    const manifest = JSON.parse(
      await (
        await world.s3.client.send(new GetObjectCommand({ Bucket: 'offsite', Key: vaultManifest }))
      ).Body!.transformToString(),
    ) as { stats: { tables: Record<string, number> } };
    manifest.stats.tables['public.orders'] = (manifest.stats.tables['public.orders'] ?? 0) + 1;
    const tamperedKey = vaultManifest.replace(
      `-${vaultRunId}.manifest.json`,
      `-${uniqueRunId()}.manifest.json`,
    );
    await world.s3.client.send(
      new PutObjectCommand({ Bucket: 'offsite', Key: tamperedKey, Body: JSON.stringify(manifest) }),
    );
    const run = await restore(VAULT(), {
      kind: 'drill',
      backupKey: tamperedKey,
      target: 'ephemeral',
    });

    expect(run.code).toBe(1);
    expect(run.item).toMatchObject({ status: 'FAILED', kind: 'drill' });
    expect(run.item.error).toMatch(/public\.orders: expected 2001 rows, found 2000/);
    expect(run.result?.differences).toEqual(['public.orders: expected 2001 rows, found 2000']);
    expect(run.result?.restoredTables?.['public.orders']).toBe(2000);
    expect(databasesLike(`pg_vault_drill_${run.runId}`)).toEqual([]);
    const published = world.published();
    expect(published).toHaveLength(1);
    expect(published[0]?.Message).toMatch(/public\.orders/);
  });

  it('records FAILED itself when it cannot start the restore (a backup of another job)', async () => {
    const run = await restore(VAULT(), { backupKey: opsManifest, target: 'scratch' });

    expect(run.code).toBe(2);
    expect(run.item).toMatchObject({ status: 'FAILED', taskArn: TASK_ARN });
    expect(run.item.error).toMatch(/is not a backup of job pg-vault/);
    expect(run.result).toMatchObject({ status: 'FAILED', runId: run.runId });
    const published = world.published();
    expect(published).toHaveLength(1);
    expect(published[0]?.Message).toMatch(/is not a backup of job pg-vault/);
  });

  it('names the secret when the private key secret holds no private key', async () => {
    world.secrets
      .on(GetSecretValueCommand, { SecretId: PRIVATE_KEY_ARN })
      .resolvesOnce({ SecretString: '-----BEGIN PGP PUBLIC KEY BLOCK-----\n...' });

    const run = await restore(OPS(), {
      kind: 'drill',
      backupKey: opsManifest,
      target: 'ephemeral',
    });

    expect(run.code).toBe(2);
    expect(run.item.error).toContain(
      `encryption.ops.privateKeySecret: secret ${PRIVATE_KEY_ARN} does not hold an armored OpenPGP private key`,
    );
  });

  it('ends as FAILED with the cause when StopTask sends SIGTERM', async () => {
    const stopped = new AbortController();
    stopped.abort(new ToolError('stopped by SIGTERM before it finished'));

    const run = await restore(VAULT(), {
      backupKey: vaultManifest,
      target: 'scratch',
      interrupts: () => ({ signal: stopped.signal, dispose: () => {} }),
    });

    expect(run.code).toBe(1);
    expect(run.item).toMatchObject({
      kind: 'restore',
      status: 'FAILED',
      error: 'stopped by SIGTERM before it finished',
    });
    expect(run.result).toMatchObject({ status: 'FAILED', error: 'stopped by SIGTERM before it finished' });
  });
});
