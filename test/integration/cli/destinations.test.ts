/**
 * A job with two destinations through the CLI, against real PostgreSQL, a file directory and
 * s3rver: a destination that cannot be written makes the run PARTIAL (the other copy kept and
 * restorable, exit 1, one alert, no retention), and list / restore / verify / drill find a
 * backup in whichever destination holds a valid copy (or the one `--destination` names);
 * `verify --all` checks every copy.
 */
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HistoryItem } from '../../../core/history/history.ts';
import { LocalHistoryStore } from '../../../core/history/local.ts';
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

const JOB = 'multi-pg';
let ws: Workspace;
let s3: S3rverHandle;
let source: string;
const scratch: string[] = [];
/** Backup ids and the source's content when each was taken. */
const taken: { id: string; fingerprint: string }[] = [];

const cli = (args: string[]) => runCli([...args, '--config', ws.configFile], { ...S3RVER_ENV });
const pgUrl = (db: string) => `postgres://${PG.user}@${PG.host}:${PG.port}/${db}`;

async function s3Keys(): Promise<string[]> {
  const out = await s3.client.send(new ListObjectsV2Command({ Bucket: 'backups' }));
  return (out.Contents ?? []).map((o) => o.Key ?? '').sort();
}

async function newestRun(): Promise<HistoryItem> {
  const [item] = await new LocalHistoryStore(path.join(ws.dir, '.dumpvault')).list(JOB);
  return item!;
}

async function alertsOf(job: string): Promise<Array<{ status: string }>> {
  const text = await readFile(path.join(ws.dir, '.dumpvault', 'alerts.log'), 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { job: string; status: string })
    .filter((a) => a.job === job);
}

/** The local destination's folder replaced by a regular file: every write there fails (ENOTDIR). */
async function breakLocal(): Promise<void> {
  await rename(path.join(ws.dir, 'parent'), path.join(ws.dir, 'parent.saved'));
  await writeFile(path.join(ws.dir, 'parent'), 'a regular file where the backups folder should be');
}

async function repairLocal(): Promise<void> {
  await rm(path.join(ws.dir, 'parent'));
  await rename(path.join(ws.dir, 'parent.saved'), path.join(ws.dir, 'parent'));
}

function newDatabase(): string {
  const name = uniqueName('dvt_pg_multi');
  psql('postgres', `CREATE DATABASE ${name}`);
  scratch.push(name);
  return name;
}

beforeAll(async () => {
  ws = await createWorkspace();
  s3 = await startS3rver({ buckets: ['backups'] });
  source = createPostgresDb();
  await mkdir(path.join(ws.dir, 'parent'), { recursive: true });
  await ws.writeConfig({
    destinations: {
      local: { type: 'file', path: './parent/backups' },
      s3: s3rverDestination(s3, 'backups'),
    },
    encryption: { ops: { type: 'openpgp', recipients: ['keys/ops.pub.asc'] } },
    jobs: [
      {
        name: JOB,
        engine: 'postgres',
        source: { url: pgUrl(source) },
        destinations: ['local', 's3'],
        encryption: 'ops',
        compression: 'gzip',
        retention: { keepLast: 1 },
      },
    ],
  });
});

afterAll(async () => {
  for (const db of scratch) dropPostgresDb(db);
  if (source) dropPostgresDb(source);
  await s3?.stop();
  await ws?.remove();
});

describe('a backup whose first destination cannot be written', () => {
  it('is PARTIAL: the S3 copy is kept with its manifest, history names the local destination, one alert, exit 1, no retention', async () => {
    const first = await cli(['backup', JOB, '--json']);
    expect(first.code).toBe(0);
    taken.push({
      id: (JSON.parse(first.stdout) as { id: string }).id,
      fingerprint: postgresFingerprint(source),
    });
    psql(source, `INSERT INTO customers (name, city) VALUES ('after the first backup', 'Basel')`);
    const s3Before = await s3Keys();
    await breakLocal();

    const run = await cli(['backup', JOB, '--json']);

    expect(run.code).toBe(1);
    const result = JSON.parse(run.stdout) as {
      status: string;
      id: string;
      key: string;
      destinations: string[];
      failures: Array<{ destination: string; error: string }>;
      pruned: string[];
    };
    taken.push({ id: result.id, fingerprint: postgresFingerprint(source) });
    expect(result).toMatchObject({ status: 'PARTIAL', destinations: ['s3'], pruned: [] });
    expect(result.failures).toEqual([
      { destination: 'local', error: expect.stringMatching(/^destination local: [^\n]+$/) },
    ]);
    expect(run.stderr).toMatch(/^error: destination local: /m);
    // The S3 copy: data object and manifest; and the first backup is still there (keepLast 1 not applied).
    expect(await s3Keys()).toEqual([...s3Before, result.key, `${JOB}/${result.id}.manifest.json`].sort());
    expect(s3Before.some((k) => k.startsWith(`${JOB}/${taken[0]!.id}`))).toBe(true);
    expect(await s3.pendingUploads('backups')).toEqual([]);
    // Nothing of the run in the local destination, and its first backup untouched.
    const local = (await ws.files('parent.saved/backups')).filter((f) => f.startsWith(`${JOB}/`));
    expect(local.every((f) => f.includes(taken[0]!.id))).toBe(true);
    expect(local).toHaveLength(2);
    const item = await newestRun();
    expect(item).toMatchObject({
      status: 'PARTIAL',
      key: result.key,
      error: result.failures[0]!.error,
      details: {
        destinations: [
          { name: 'local', status: 'failed', error: result.failures[0]!.error },
          { name: 's3', status: 'ok' },
        ],
      },
    });
    expect(item.pruned).toBeUndefined();
    expect((await alertsOf(JOB)).map((a) => a.status)).toEqual(['PARTIAL']);
    const csv = await cli(['history', JOB, '--csv']);
    expect(csv.stdout.split('\n')[1]).toMatch(/,PARTIAL,.*destination local: .*,local:failed s3:ok$/);
  }, 120_000);

  it('restores the newest backup from S3 while the first destination is unreachable, equal to the source', async () => {
    const target = newDatabase();

    const run = await cli(['restore', JOB, '--to', pgUrl(target), '--key', ws.privateKey]);

    expect(run.stderr).not.toMatch(/^error/m);
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(/^warning: destination local: /m);
    expect(run.stderr).toContain(`reading backup ${taken[1]!.id} from destination s3`);
    expect(run.stdout).toMatch(new RegExp(`SUCCEEDED restored ${taken[1]!.id} from destination s3`));
    expect(postgresFingerprint(target)).toBe(taken[1]!.fingerprint);
    await repairLocal();
  }, 120_000);
});

describe('reading a job whose destinations hold different backups', () => {
  it('list shows every backup with the destinations that hold it; --destination shows one destination', async () => {
    const all = await cli(['list', JOB, '--json']);
    expect(all.code).toBe(0);
    expect(JSON.parse(all.stdout)).toEqual([
      expect.objectContaining({ id: taken[1]!.id, destinations: ['s3'] }),
      expect.objectContaining({ id: taken[0]!.id, destinations: ['local', 's3'] }),
    ]);
    const text = await cli(['list', JOB]);
    expect(text.stdout).toMatch(new RegExp(`${taken[1]!.id} .*\\(s3\\)`));
    expect(text.stdout).toMatch(new RegExp(`${taken[0]!.id} .*\\(local, s3\\)`));

    const localOnly = await cli(['list', JOB, '--destination', 'local', '--json']);
    expect(localOnly.code).toBe(0);
    expect((JSON.parse(localOnly.stdout) as Array<{ id: string }>).map((b) => b.id)).toEqual([taken[0]!.id]);
  });

  it('refuses an unknown --destination with one sentence naming the job destinations, exit 2', async () => {
    for (const command of [['list'], ['verify'], ['restore'], ['drill']]) {
      const run = await cli([...command, JOB, '--destination', 'offsite']);
      expect(run.code).toBe(2);
      expect(run.stderr).toBe(
        `error: --destination: job ${JOB} has no destination "offsite"; its destinations are local, s3\n`,
      );
    }
  });

  it('verify falls back to the destination that holds the selected id, and says which it read', async () => {
    const onlyInS3 = await cli(['verify', JOB, taken[1]!.id, '--key', ws.privateKey]);
    expect(onlyInS3.code).toBe(0);
    expect(onlyInS3.stdout).toContain(`OK ${taken[1]!.id}`);
    expect(onlyInS3.stderr).toContain(
      `warning: destination local: no backup "${taken[1]!.id}" for job ${JOB}`,
    );
    expect(onlyInS3.stderr).toContain(`reading backup ${taken[1]!.id} from destination s3`);

    const inBoth = await cli(['verify', JOB, taken[0]!.id, '--key', ws.privateKey, '--json']);
    expect(inBoth.code).toBe(0);
    expect(JSON.parse(inBoth.stdout)).toMatchObject({ ok: true, destination: 'local', id: taken[0]!.id });

    const named = await cli(['verify', JOB, taken[0]!.id, '--destination', 's3', '--json']);
    expect(named.code).toBe(0);
    expect(JSON.parse(named.stdout)).toMatchObject({ ok: true, destination: 's3' });

    const missing = await cli(['verify', JOB, taken[1]!.id, '--destination', 'local']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^error: no backup .* for job multi-pg in file:\/\//m);
  });

  it('restore --destination reads the named destination; drill takes the newest backup from where it is', async () => {
    const target = newDatabase();
    const restored = await cli([
      'restore',
      JOB,
      taken[0]!.id,
      '--destination',
      's3',
      '--to',
      pgUrl(target),
      '--key',
      ws.privateKey,
    ]);
    expect(restored.code).toBe(0);
    expect(restored.stdout).toMatch(new RegExp(`restored ${taken[0]!.id} from destination s3`));
    expect(postgresFingerprint(target)).toBe(taken[0]!.fingerprint);

    const drill = await cli(['drill', JOB, '--key', ws.privateKey, '--json']);
    expect(drill.stderr).not.toMatch(/^error/m);
    expect(drill.code).toBe(0);
    expect(JSON.parse(drill.stdout)).toMatchObject({
      status: 'SUCCEEDED',
      id: taken[1]!.id,
      destination: 's3',
      comparison: { matches: true },
    });
  }, 180_000);

  it('verify --all checks the copy in every destination and fails on the one that was tampered with', async () => {
    const key = `${JOB}/${(await s3Keys()).find((k) => k.startsWith(`${JOB}/${taken[0]!.id}`) && !k.endsWith('.json'))!.slice(JOB.length + 1)}`;
    const object = await s3.client.send(new GetObjectCommand({ Bucket: 'backups', Key: key }));
    const bytes = Buffer.from(await object.Body!.transformToByteArray());
    bytes[Math.floor(bytes.length / 2)]! ^= 0xff; // same size: only reading it all finds this
    await s3.client.send(new PutObjectCommand({ Bucket: 'backups', Key: key, Body: bytes }));

    const tampered = await cli(['verify', JOB, taken[0]!.id, '--all', '--key', ws.privateKey, '--json']);

    expect(tampered.code).toBe(1);
    expect(JSON.parse(tampered.stdout)).toEqual({
      ok: false,
      id: taken[0]!.id,
      copies: [
        expect.objectContaining({ destination: 'local', status: 'ok', decoded: true }),
        expect.objectContaining({
          destination: 's3',
          status: 'bad',
          detail: expect.stringMatching(/sha256/),
        }),
      ],
    });
    expect(tampered.stderr).toMatch(/^warning: destination s3: the copy of .* is bad: /m);

    const text = await cli(['verify', JOB, '--all', '--key', ws.privateKey]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^ {2}NONE {2}local +no copy of /m);
    expect(text.stdout).toMatch(/^ {2}OK {4}s3 +/m);
  }, 120_000);
});
