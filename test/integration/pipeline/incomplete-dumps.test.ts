/**
 * A dump tool that writes part of its dump and exits 0 (or reports an error on stderr and
 * exits 0) never becomes a backup: runBackup with the real engines, real databases, a file
 * destination and s3rver, the tools replaced by stand-ins that run the real tool and cut its
 * output (scripts/emulators/truncating; mongodump: the stand-in of scripts/emulators/mongodb, no MongoDB
 * server here). Each case first makes a good backup with keepLast 1, so a wrongly successful
 * run would have pruned it.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../../../core/config/load.ts';
import { type EngineName, jobDestinations } from '../../../core/config/schema.ts';
import { ToolError } from '../../../core/errors.ts';
import { LocalHistoryStore } from '../../../core/history/local.ts';
import type { Alert } from '../../../core/notify/notifier.ts';
import { runBackup } from '../../../core/pipeline/backup.ts';
import type { JobContext } from '../../../core/pipeline/context.ts';
import { createDestination } from '../../../core/storage/index.ts';
import {
  MONGO_STANDIN_BIN as MONGO_STANDIN,
  TRUNCATING_BIN as TRUNCATING,
} from '../../../scripts/emulators/stand-in-tools.ts';
import { engineFor } from '../../../task-image/engines/index.ts';
import { dropMariaDb, dropPostgresDb, MY, PG, psql, uniqueName } from '../../support/databases.ts';
import {
  createMariaObjectsDb,
  createPostgresObjectsDb,
  createSqliteObjectsDb,
} from '../../support/objects.ts';
import { S3RVER_CREDENTIALS, type S3rverHandle, startS3rver } from '../../support/s3rver.ts';

const BUCKET = 'incomplete';
/** The stand-ins' controls, let through to the tools (children get an allow-list of variables). */
const STANDIN_CONTROLS = 'DV_KEEP_BYTES DV_DROP_LAST DV_STDERR_LINE DV_STANDIN_LOG STANDIN_CUT_AFTER';

let s3: S3rverHandle;
let work: string;
let pgDb: string;
let myDb: string;
const savedEnv = { ...process.env };

beforeAll(async () => {
  s3 = await startS3rver({ buckets: [BUCKET] });
  work = await mkdtemp(path.join(tmpdir(), 'dv-incomplete-'));
  pgDb = createPostgresObjectsDb(2000);
  // More than one 5 MiB part after zstd: a multipart upload is under way when the dump stops.
  psql(
    pgDb,
    'CREATE TABLE big AS SELECT i, md5(i::text) || md5((i * 7)::text) AS t FROM generate_series(1, 300000) AS i',
  );
  myDb = createMariaObjectsDb(2000);
  createSqliteObjectsDb(path.join(work, 'app.db'), 2000);
}, 120_000);

afterAll(async () => {
  await s3?.stop();
  if (pgDb) dropPostgresDb(pgDb);
  if (myDb) dropMariaDb(myDb);
  if (work) await rm(work, { recursive: true, force: true });
});

afterEach(() => {
  for (const key of Object.keys(process.env)) if (!(key in savedEnv)) delete process.env[key];
  Object.assign(process.env, savedEnv);
});

interface Case {
  readonly title: string;
  readonly engine: EngineName;
  readonly url: () => string;
  readonly dumpFormat?: 'custom' | 'plain';
  readonly compression: 'zstd' | 'gzip' | 'none';
  /** Environment of the tampered run, given the good backup's raw size. */
  readonly tamper: (rawBytes: number) => Record<string, string>;
  readonly cause: RegExp;
}

const CASES: Case[] = [
  {
    title: 'pg_dump -Fc stops after 60 % and exits 0 (zstd: the check sits in the relay to zstd)',
    engine: 'postgres',
    url: () => `postgres://${PG.user}@${PG.host}:${PG.port}/${pgDb}`,
    compression: 'zstd',
    tamper: (raw) => ({ DV_KEEP_BYTES: String(Math.floor(raw * 0.6)) }),
    cause:
      /^pg_dump exited 0 but its output is incomplete: it ends inside the data of TABLE DATA public\.big/,
  },
  {
    title: 'pg_dump plain leaves out its completion trailer and exits 0 (gzip: the check is a stage)',
    engine: 'postgres',
    url: () => `postgres://${PG.user}@${PG.host}:${PG.port}/${pgDb}`,
    dumpFormat: 'plain',
    compression: 'gzip',
    tamper: () => ({ DV_DROP_LAST: '150' }),
    cause:
      /^pg_dump exited 0 but its output is incomplete: it does not end with pg_dump's "-- PostgreSQL database dump complete" trailer/,
  },
  {
    title: 'mariadb-dump leaves out its "-- Dump completed" line and exits 0',
    engine: 'mysql',
    url: () => `mysql://${MY.user}@${MY.host}:${MY.port}/${myDb}`,
    compression: 'zstd',
    tamper: () => ({ DV_DROP_LAST: '18' }),
    cause:
      /^mariadb-dump exited 0 but its output is incomplete: it does not end with the "-- Dump completed" line/,
  },
  {
    title: 'mariadb-dump prints "Error 2013: Lost connection … when dumping table" and exits 0',
    engine: 'mysql',
    url: () => `mysql://${MY.user}@${MY.host}:${MY.port}/${myDb}`,
    compression: 'zstd',
    tamper: () => ({
      DV_STDERR_LINE:
        'mariadb-dump: Error 2013: Lost connection to server during query when dumping table `t` at row: 1042',
    }),
    cause:
      /^mariadb-dump exited 0 but reported an error: mariadb-dump: Error 2013: Lost connection to server during query when dumping table `t` at row: 1042/,
  },
  {
    title: 'sqlite3 .dump stops after 60 % and exits 0 (no compression)',
    engine: 'sqlite',
    url: () => `sqlite:${path.join(work, 'app.db')}`,
    compression: 'none',
    tamper: (raw) => ({ DV_KEEP_BYTES: String(Math.floor(raw * 0.6)) }),
    cause: /^sqlite3 exited 0 but its output is incomplete: it does not end its transaction with "COMMIT;"/,
  },
  {
    title: 'mongodump (stand-in) stops after 60 % of its archive and exits 0',
    engine: 'mongodb',
    url: () => 'mongodb://127.0.0.1:27017/shop',
    compression: 'zstd',
    tamper: (raw) => ({ STANDIN_CUT_AFTER: String(Math.floor(raw * 0.6)) }),
    cause: /^mongodump exited 0 but its output is incomplete: it ends inside a collection's data/,
  },
];

function context(c: Case, job: string, alerts: Alert[]): JobContext {
  const config = validateConfig({
    destinations: {
      local: { type: 'file', path: './out' },
      s3: { type: 's3', bucket: BUCKET, endpoint: s3.endpoint, partSizeMiB: 5, queueSize: 2 },
    },
    jobs: [
      {
        name: job,
        engine: c.engine,
        source: { url: c.url() },
        destinations: ['local', 's3'],
        compression: c.compression,
        ...(c.dumpFormat ? { dumpFormat: c.dumpFormat } : {}),
        retention: { keepLast: 1 },
      },
    ],
  });
  const j = config.jobs[0]!;
  return {
    job: j,
    prefix: '',
    engine: engineFor(c.engine),
    source: { url: j.source.url },
    destinations: jobDestinations(j).map(({ name: n }) =>
      createDestination(n, config.destinations[n]!, {
        baseDir: work,
        s3Credentials: { ...S3RVER_CREDENTIALS },
        retry: { attempts: 1, baseDelayMs: 1 },
      }),
    ),
    encryption: undefined,
    history: new LocalHistoryStore(path.join(work, 'state')),
    notifier: { publish: async (a) => void alerts.push(a) },
    trigger: 'manual',
    investigate: () => `dumpvault history ${job}`,
  };
}

async function fileKeys(job: string): Promise<string[]> {
  return (await readdir(path.join(work, 'out', job)).catch(() => [] as string[])).sort();
}

async function s3Keys(job: string): Promise<string[]> {
  const out = await s3.client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `${job}/` }));
  return (out.Contents ?? []).map((o) => o.Key!.slice(job.length + 1)).sort();
}

describe('runBackup with a dump tool that stops half-way (or reports an error) and exits 0', () => {
  for (const c of CASES) {
    it(`fails the run when ${c.title}: FAILED, no object, no manifest, no pending upload, one alert, no retention`, async () => {
      const job = uniqueName('inc').replace(/_/g, '-');
      const alerts: Alert[] = [];
      if (c.engine === 'mongodb') process.env.PATH = `${MONGO_STANDIN}${path.delimiter}${savedEnv.PATH}`;
      const good = await runBackup(context(c, job, alerts));
      const before = { files: await fileKeys(job), s3: await s3Keys(job) };
      expect(before.files).toHaveLength(2);
      expect(before.s3).toEqual(before.files);

      const log = path.join(work, `${job}.standin.log`);
      process.env.PATH = `${TRUNCATING}${path.delimiter}${process.env.PATH}`;
      process.env.PG_DUMP_PATH = path.join(TRUNCATING, 'pg_dump');
      Object.assign(
        process.env,
        { DV_STANDIN_LOG: log, DUMPVAULT_CHILD_ENV: STANDIN_CONTROLS },
        c.tamper(good.manifest.rawBytes),
      );
      const ctx = context(c, job, alerts);
      const run = runBackup(ctx);

      const error = await run.then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(error).toBeInstanceOf(ToolError);
      expect((error as Error).message).toMatch(c.cause);
      if (c.engine !== 'mongodb') expect(await readFile(log, 'utf8')).toMatch(/exits 0/);
      // Nothing new anywhere, the good backup untouched (retention did not run).
      expect(await fileKeys(job)).toEqual(before.files);
      expect(await s3Keys(job)).toEqual(before.s3);
      expect((await s3.pendingUploads(BUCKET)).filter((k) => k.startsWith(`${job}/`))).toEqual([]);
      const [latest] = await ctx.history.list(job);
      expect(latest).toMatchObject({ status: 'FAILED', error: expect.stringMatching(c.cause) });
      expect(alerts.map((a) => a.status)).toEqual(['FAILED']);
    }, 120_000);
  }
});
