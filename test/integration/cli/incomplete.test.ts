/**
 * `dumpvault backup` (the CLI bundle, built fresh, as its own process) with dump tools that
 * write part of a real dump and exit 0 (scripts/emulators/truncating; mongodump: the stand-in of
 * scripts/emulators/mongodb, no MongoDB server here): exit 1, the cause on stderr, history FAILED, one
 * alert, no object or manifest in either destination, no pending multipart upload, and the
 * previous backup still there although the job keeps only one.
 */
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalHistoryStore } from '../../../core/history/local.ts';
import {
  MONGO_STANDIN_BIN as MONGO_STANDIN,
  TRUNCATING_BIN as TRUNCATING,
} from '../../../scripts/emulators/stand-in-tools.ts';
import { dropMariaDb, dropPostgresDb, MY, PG } from '../../support/databases.ts';
import {
  createMariaObjectsDb,
  createPostgresObjectsDb,
  createSqliteObjectsDb,
} from '../../support/objects.ts';
import { S3RVER_ENV, type S3rverHandle, s3rverDestination, startS3rver } from '../../support/s3rver.ts';
import { createWorkspace, type Workspace } from '../../support/workspace.ts';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const BUCKET = 'backups';

let ws: Workspace;
let s3: S3rverHandle;
let pgDb: string;
let myDb: string;

beforeAll(async () => {
  ws = await createWorkspace();
  execFileSync(process.execPath, [
    path.join(ROOT, 'scripts/build-cli.mjs'),
    path.join(ws.dir, 'dumpvault.mjs'),
  ]);
  s3 = await startS3rver({ buckets: [BUCKET] });
  pgDb = createPostgresObjectsDb(20000);
  myDb = createMariaObjectsDb(20000);
  createSqliteObjectsDb(path.join(ws.dir, 'app.db'), 20000);
  const job = (name: string, engine: string, url: string) => ({
    name,
    engine,
    source: { url },
    destinations: ['local', 's3'],
    encryption: 'ops',
    retention: { keepLast: 1 },
  });
  await ws.writeConfig({
    destinations: { local: { type: 'file', path: './backups' }, s3: s3rverDestination(s3, BUCKET) },
    encryption: { ops: { type: 'openpgp', recipients: ['keys/ops.pub.asc'] } },
    jobs: [
      job('pg', 'postgres', `postgres://${PG.user}@${PG.host}:${PG.port}/${pgDb}`),
      job('maria', 'mysql', `mysql://${MY.user}@${MY.host}:${MY.port}/${myDb}`),
      job('lite', 'sqlite', 'sqlite:./app.db'),
      job('mongo', 'mongodb', 'mongodb://127.0.0.1:27017/shop'),
    ],
  });
}, 180_000);

afterAll(async () => {
  if (pgDb) dropPostgresDb(pgDb);
  if (myDb) dropMariaDb(myDb);
  await s3?.stop();
  await ws?.remove();
});

/** `dumpvault backup <job>` as a process of its own, with `env` over the test's environment. */
async function backup(
  job: string,
  env: Record<string, string>,
): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(
    process.execPath,
    [path.join(ws.dir, 'dumpvault.mjs'), 'backup', job, '--config', ws.configFile],
    {
      cwd: ws.dir,
      env: { ...process.env, ...S3RVER_ENV, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const [code] = await once(child, 'exit');
  return { code: code as number | null, stderr };
}

async function objects(job: string): Promise<{ local: string[]; s3: string[] }> {
  const out = await s3.client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `${job}/` }));
  return {
    local: (await ws.files(`backups/${job}`)).sort(),
    s3: (out.Contents ?? []).map((o) => o.Key!.slice(job.length + 1)).sort(),
  };
}

async function failedAlerts(job: string): Promise<number> {
  const log = await readFile(path.join(ws.dir, '.dumpvault', 'alerts.log'), 'utf8').catch(() => '');
  return log.split('\n').filter((l) => l.includes(`"job":"${job}"`) && l.includes('"status":"FAILED"'))
    .length;
}

const PATH = process.env.PATH ?? '';
const CASES: { job: string; env: Record<string, string>; tamper: Record<string, string>; tool: string }[] = [
  { job: 'pg', env: {}, tamper: { DV_KEEP_BYTES: '400000' }, tool: 'pg_dump' },
  { job: 'maria', env: {}, tamper: { DV_DROP_LAST: '18' }, tool: 'mariadb-dump' },
  { job: 'lite', env: {}, tamper: { DV_KEEP_BYTES: '300000' }, tool: 'sqlite3' },
  {
    job: 'mongo',
    env: { PATH: `${MONGO_STANDIN}${path.delimiter}${PATH}` },
    tamper: { STANDIN_CUT_AFTER: '500000' },
    tool: 'mongodump',
  },
];

describe('dumpvault backup (CLI bundle) with a dump tool that stops half-way and exits 0', () => {
  for (const c of CASES) {
    it(`fails the ${c.job} job when ${c.tool} writes part of its dump and exits 0: exit 1, FAILED, one alert, nothing stored, nothing pruned`, async () => {
      const good = await backup(c.job, c.env);
      expect(good).toMatchObject({ code: 0 });
      const before = await objects(c.job);
      expect(before.local).toHaveLength(2);

      const run = await backup(c.job, {
        ...c.env,
        PATH: `${TRUNCATING}${path.delimiter}${c.env.PATH ?? PATH}`,
        PG_DUMP_PATH: path.join(TRUNCATING, 'pg_dump'),
        // Children get an allow-list of variables: let the stand-ins' controls through.
        DUMPVAULT_CHILD_ENV: Object.keys(c.tamper).join(' '),
        ...c.tamper,
      });

      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(
        new RegExp(`^error: ${c.tool} exited 0 but its output is incomplete: `, 'm'),
      );
      expect(await objects(c.job)).toEqual(before);
      expect((await s3.pendingUploads(BUCKET)).filter((k) => k.startsWith(`${c.job}/`))).toEqual([]);
      const [latest] = await new LocalHistoryStore(path.join(ws.dir, '.dumpvault')).list(c.job);
      expect(latest).toMatchObject({
        status: 'FAILED',
        error: expect.stringMatching(new RegExp(`^${c.tool} exited 0 but its output is incomplete: `)),
      });
      expect(await failedAlerts(c.job)).toBe(1);
    }, 180_000);
  }
});
