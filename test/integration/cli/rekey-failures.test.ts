/**
 * `dumpvault rekey` when things go wrong, against s3rver and the real PostgreSQL server: the
 * store refusing the new manifest, a corrupted old object, an old object under Object Lock,
 * no key to read the backups with, and the job's lease held by another run. Every failure leaves
 * the old backup as it was (still restorable with the old key), no new or partial object,
 * history FAILED (SKIPPED for the held lease) with the cause, one alert and a non-zero exit with
 * one sentence.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { generateKeyPair } from '../../../core/crypto/openpgp.ts';
import type { HistoryItem } from '../../../core/history/history.ts';
import { LocalHistoryStore } from '../../../core/history/local.ts';
import type { Manifest } from '../../../core/manifest.ts';
import { runCli } from '../../support/cli.ts';
import {
  createPostgresDb,
  dropPostgresDb,
  PG,
  postgresFingerprint,
  psql,
  uniqueName,
} from '../../support/databases.ts';
import { S3RVER_ENV, type S3rverHandle, s3rverDestination, startS3rver } from '../../support/s3rver.ts';
import { createWorkspace, type Workspace } from '../../support/workspace.ts';

let ws: Workspace;
let s3: S3rverHandle;
let pgDb: string;
const cleanups: Array<() => void> = [];

const configWith = (recipients: string) => ({
  destinations: { s3: s3rverDestination(s3, 'backups') },
  encryption: { ops: { type: 'openpgp', recipients: [recipients] } },
  jobs: [
    {
      name: 'pg',
      engine: 'postgres',
      source: { url: `postgres://${PG.user}@${PG.host}:${PG.port}/${pgDb}` },
      destinations: ['s3'],
      compression: 'gzip',
      encryption: 'ops',
    },
  ],
});

const cli = (args: string[]) =>
  runCli([...args, '--config', ws.configFile], { ...S3RVER_ENV, DUMPVAULT_PRIVATE_KEY: undefined });

async function keys(): Promise<string[]> {
  const out = await s3.client.send(new ListObjectsV2Command({ Bucket: 'backups', Prefix: 'pg/' }));
  return (out.Contents ?? []).map((o) => o.Key!).sort();
}

async function object(key: string): Promise<Buffer> {
  const out = await s3.client.send(new GetObjectCommand({ Bucket: 'backups', Key: key }));
  return Buffer.from(await out.Body!.transformToByteArray());
}

const manifestOf = async (key: string) => JSON.parse((await object(key)).toString('utf8')) as Manifest;

const history = async (): Promise<HistoryItem[]> =>
  JSON.parse((await cli(['history', 'pg', '--json'])).stdout) as HistoryItem[];

const alerts = async () =>
  (await readFile(path.join(ws.dir, '.dumpvault', 'alerts.log'), 'utf8').catch(() => ''))
    .split('\n')
    .filter((line) => line.includes('"kind":"rekey"') && line.includes('"status":"FAILED"'));

/** Restores the newest backup with key A into a fresh database; true when it equals the source. */
async function restorableWithOldKey(): Promise<boolean> {
  const db = uniqueName('dvt_pg_rekeyfail');
  psql('postgres', `CREATE DATABASE ${db}`);
  cleanups.push(() => dropPostgresDb(db));
  const run = await cli([
    'restore',
    'pg',
    'latest',
    '--to',
    `postgres://${PG.user}@${PG.host}:${PG.port}/${db}`,
    '--key',
    ws.privateKey,
  ]);
  return run.code === 0 && postgresFingerprint(db) === postgresFingerprint(pgDb);
}

let backupKeys: string[];
let manifestKey: string;

beforeAll(async () => {
  ws = await createWorkspace();
  s3 = await startS3rver({ buckets: ['backups'] });
  pgDb = createPostgresDb();
  cleanups.push(() => dropPostgresDb(pgDb));
  const pair = await generateKeyPair({ name: 'rotated key', email: 'new@dumpvault.invalid' });
  await writeFile(path.join(ws.dir, 'keys', 'new.pub.asc'), pair.publicKey);
  await ws.writeConfig(configWith('keys/ops.pub.asc'));
  const backup = await cli(['backup', 'pg']);
  expect(backup.code, backup.stderr).toBe(0);
  await ws.writeConfig(configWith('keys/new.pub.asc'));
  backupKeys = await keys();
  manifestKey = backupKeys.find((k) => k.endsWith('.manifest.json'))!;
});

afterAll(async () => {
  for (const c of cleanups) c();
  await s3?.stop();
  await ws?.remove();
});

beforeEach(async () => {
  // Every case starts from the one backup, encrypted to key A, as the backup wrote it.
  expect(await keys()).toEqual(backupKeys);
});

describe('rekey when the store refuses the new manifest', () => {
  // Catches a rekey that deletes the old object before the new manifest is in place, or leaves
  // the new object behind (or a pending upload) when the manifest cannot be written.
  it('keeps the old backup restorable, removes the new object, records FAILED, alerts once, exits 1', async () => {
    const before = await object(manifestKey);
    const refusal = s3.failRequests(
      (r) => r.method === 'PUT' && r.path.endsWith('.manifest.json') && !('partNumber' in r.query),
      { status: 403, code: 'AccessDenied' },
    );
    let run: Awaited<ReturnType<typeof cli>>;
    try {
      run = await cli(['rekey', 'pg', '--key', ws.privateKey]);
    } finally {
      refusal.restore();
    }

    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      /^error: the new manifest pg\/\S+\.manifest\.json could not be written \(.*\); the old backup is untouched and the new object was removed$/m,
    );
    expect(await keys()).toEqual(backupKeys);
    expect(await object(manifestKey)).toEqual(before);
    expect(await s3.pendingUploads('backups')).toEqual([]);
    const [last] = await history();
    expect(last).toMatchObject({ kind: 'rekey', status: 'FAILED' });
    expect(last!.error).toMatch(/could not be written/);
    expect(await alerts()).toHaveLength(1);
    expect(await restorableWithOldKey()).toBe(true);
  });
});

describe('rekey of a corrupted old object', () => {
  // Catches a rekey that re-encrypts damaged data into a "verified" new object (the new sha256
  // would match what was written) or leaves a partial upload behind.
  it('refuses it, writes nothing, leaves the old object byte for byte, records FAILED and exits 1', async () => {
    const dataKey = (await manifestOf(manifestKey)).object.key;
    const good = await object(dataKey);
    const bad = Buffer.from(good);
    bad[Math.floor(bad.length / 2)]! ^= 0x01;
    await s3.client.send(new PutObjectCommand({ Bucket: 'backups', Key: dataKey, Body: bad }));
    let run: Awaited<ReturnType<typeof cli>>;
    try {
      run = await cli(['rekey', 'pg', '--key', ws.privateKey]);
    } finally {
      await s3.client.send(new PutObjectCommand({ Bucket: 'backups', Key: dataKey, Body: good }));
    }

    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^error: .*(does not match its manifest|modified or truncated)/m);
    expect(await keys()).toEqual(backupKeys);
    expect(await s3.pendingUploads('backups')).toEqual([]);
    expect((await manifestOf(manifestKey)).encryption.recipients).toEqual([ws.fingerprint]);
    const [last] = await history();
    expect(last).toMatchObject({ kind: 'rekey', status: 'FAILED' });
  });
});

describe('rekey without the key that reads the backups', () => {
  // Catches a rekey that records a run or writes before finding it cannot read the backups.
  it('refuses with exit 2 naming --key, before writing or recording anything', async () => {
    const runs = (await history()).length;

    const run = await cli(['rekey', 'pg']);

    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^error: backup \S+ is encrypted to [0-9A-F]{40}: pass --key/m);
    expect(await keys()).toEqual(backupKeys);
    expect((await history()).length).toBe(runs);
  });
});

describe('rekey while another run holds the job', () => {
  // Catches a rekey that runs beside a backup or prune of the job, or that refuses without a
  // trace in history (an operator reading `history` must see that it did not happen, and why).
  it('records SKIPPED naming the holder, writes nothing, alerts once, exits 1', async () => {
    const store = new LocalHistoryStore(path.join(ws.dir, '.dumpvault'));
    const held = await store.acquireLease('pg', 'holder01', 10 * 60_000);
    expect(held.acquired).toBe(true);
    const skippedAlerts = async () =>
      (await readFile(path.join(ws.dir, '.dumpvault', 'alerts.log'), 'utf8').catch(() => ''))
        .split('\n')
        .filter((line) => line.includes('"kind":"rekey"') && line.includes('"status":"SKIPPED"'));
    let run: Awaited<ReturnType<typeof cli>>;
    try {
      run = await cli(['rekey', 'pg', '--key', ws.privateKey]);
    } finally {
      await store.releaseLease('pg', 'holder01');
    }

    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      /^error: another run \(holder01\) of pg holds the job until \S+; nothing was re-encrypted, try again when it has finished$/m,
    );
    expect(await keys()).toEqual(backupKeys);
    expect((await manifestOf(manifestKey)).encryption.recipients).toEqual([ws.fingerprint]);
    const [last] = await history();
    expect(last).toMatchObject({ kind: 'rekey', status: 'SKIPPED' });
    expect(last!.error).toMatch(/another run \(holder01\) of pg holds the job/);
    expect(await skippedAlerts()).toHaveLength(1);
  });
});

describe('rekey of a backup whose old object is under Object Lock', () => {
  // Catches a rekey that deletes (or silently skips deleting) a locked old object: it must be
  // kept, and said so, while the backup moves to the new key.
  it('re-encrypts, keeps the locked old object, names it and its lock, sends no delete for it', async () => {
    const dataKey = (await manifestOf(manifestKey)).object.key;
    const until = new Date(Date.now() + 7 * 24 * 3600 * 1000);
    s3.lockObject('backups', dataKey, { mode: 'COMPLIANCE', retainUntil: until });
    const seen = s3.requests.length;

    const run = await cli(['rekey', 'pg', '--key', ws.privateKey]);

    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toContain(`warning: kept ${dataKey}: object lock until ${until.toISOString()}`);
    const manifest = await manifestOf(manifestKey);
    expect(manifest.object.key).toMatch(/\.rekey-[0-9a-f]+\.pgdump\.gz\.gpg$/);
    expect(await keys()).toEqual([...backupKeys, manifest.object.key].sort());
    const deletes = s3.requests.slice(seen).filter((r) => r.method === 'DELETE' || 'delete' in r.query);
    expect(deletes.map((r) => decodeURIComponent(r.path))).not.toContain(`/backups/${dataKey}`);
    const [last] = await history();
    expect(last).toMatchObject({ kind: 'rekey', status: 'SUCCEEDED' });
    expect(last!.details?.['keptLocked']).toEqual([`${dataKey}: object lock until ${until.toISOString()}`]);
  });
});
