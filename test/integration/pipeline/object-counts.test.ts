/**
 * The manifest's object counts (issue 11 §1): a backup records how many tables, views,
 * routines, triggers and sequences its dump defines; `verify` (which decodes the whole object)
 * runs the backup's completeness checker on the decoded dump and compares those counts; a
 * restore or drill compares them with the restored database. Real PostgreSQL, MariaDB and
 * sqlite3, a file destination, passphrase encryption (a real OpenPGP envelope).
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../../../core/config/load.ts';
import type { EngineName } from '../../../core/config/schema.ts';
import { encryptStage } from '../../../core/crypto/openpgp.ts';
import type { Connection, Engine, RestoreOptions } from '../../../core/engine.ts';
import { IntegrityError } from '../../../core/errors.ts';
import type { ObjectCounts } from '../../../core/formats/checker.ts';
import { LocalHistoryStore } from '../../../core/history/local.ts';
import { MANIFEST_SUFFIX, type Manifest } from '../../../core/manifest.ts';
import type { Alert } from '../../../core/notify/notifier.ts';
import { runBackup } from '../../../core/pipeline/backup.ts';
import { compressStage } from '../../../core/pipeline/compress.ts';
import type { JobContext } from '../../../core/pipeline/context.ts';
import { decodeStages } from '../../../core/pipeline/decode.ts';
import { runRestore } from '../../../core/pipeline/restore.ts';
import { verifyBackup } from '../../../core/pipeline/verify.ts';
import { createDestination } from '../../../core/storage/index.ts';
import { asDuplex } from '../../../core/streams/stages.ts';
import { engineFor } from '../../../task-image/engines/index.ts';
import { dropMariaDb, dropPostgresDb, MY, mariadb, PG, psql, uniqueName } from '../../support/databases.ts';
import {
  createMariaObjectsDb,
  createPostgresObjectsDb,
  createSqliteObjectsDb,
  MARIA_OBJECTS,
  PG_OBJECTS,
  SQLITE_OBJECTS,
} from '../../support/objects.ts';
import { TIMEOUT } from '../../support/timeouts.ts';

const PASSPHRASE = 'object counts test passphrase';

let work: string;
let pgDb: string;
let myDb: string;

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'dv-objects-'));
  pgDb = createPostgresObjectsDb(500);
  myDb = createMariaObjectsDb(500);
  createSqliteObjectsDb(path.join(work, 'app.db'), 500);
}, TIMEOUT.setup);

afterAll(async () => {
  if (pgDb) dropPostgresDb(pgDb);
  if (myDb) dropMariaDb(myDb);
  if (work) await rm(work, { recursive: true, force: true });
});

interface Case {
  readonly title: string;
  readonly engine: EngineName;
  readonly url: () => string;
  readonly dumpFormat?: 'custom' | 'plain';
  readonly compression: 'gzip' | 'zstd' | 'none';
  readonly encrypted: boolean;
  readonly objects: ObjectCounts;
  /** The dump cut short: what a dump tool that stops early and exits 0 leaves. */
  readonly truncate: (raw: Buffer) => Buffer;
  readonly missing: RegExp;
}

const CASES: Case[] = [
  {
    title: 'PostgreSQL custom format, gzip, encrypted',
    engine: 'postgres',
    url: () => `postgres://${PG.user}@${PG.host}:${PG.port}/${pgDb}`,
    compression: 'gzip',
    encrypted: true,
    objects: PG_OBJECTS,
    truncate: (raw) => raw.subarray(0, Math.floor(raw.length * 0.7)),
    missing: /incomplete pg_dump-custom dump \(it ends inside the data of /,
  },
  {
    title: 'PostgreSQL plain format, zstd',
    engine: 'postgres',
    url: () => `postgres://${PG.user}@${PG.host}:${PG.port}/${pgDb}`,
    dumpFormat: 'plain',
    compression: 'zstd',
    encrypted: false,
    objects: PG_OBJECTS,
    truncate: (raw) => {
      const text = raw.toString('utf8');
      return Buffer.from(text.slice(0, text.lastIndexOf('-- PostgreSQL database dump complete')));
    },
    missing:
      /incomplete pg_dump-plain dump \(it does not end with pg_dump's "-- PostgreSQL database dump complete" trailer/,
  },
  {
    title: 'MariaDB, gzip, encrypted',
    engine: 'mysql',
    url: () => `mysql://${MY.user}@${MY.host}:${MY.port}/${myDb}`,
    compression: 'gzip',
    encrypted: true,
    objects: MARIA_OBJECTS,
    truncate: (raw) => {
      const text = raw.toString('utf8');
      return Buffer.from(text.slice(0, text.lastIndexOf('-- Dump completed')));
    },
    missing: /incomplete mysqldump-sql dump \(it does not end with the "-- Dump completed" line\)/,
  },
  {
    title: 'SQLite, no compression',
    engine: 'sqlite',
    url: () => `sqlite:${path.join(work, 'app.db')}`,
    compression: 'none',
    encrypted: false,
    objects: SQLITE_OBJECTS,
    truncate: (raw) => raw.subarray(0, raw.length - 'COMMIT;\n'.length),
    missing: /incomplete sqlite3-sql dump \(it does not end its transaction with "COMMIT;"\)/,
  },
];

function context(
  c: Case,
  job: string,
  alerts: Alert[] = [],
  engine: Engine = engineFor(c.engine),
): JobContext {
  const config = validateConfig({
    destinations: { local: { type: 'file', path: './out' } },
    jobs: [
      {
        name: job,
        engine: c.engine,
        source: { url: c.url() },
        destinations: ['local'],
        compression: c.compression,
        ...(c.dumpFormat ? { dumpFormat: c.dumpFormat } : {}),
        retention: { keepLast: 5 },
      },
    ],
  });
  const j = config.jobs[0]!;
  return {
    job: j,
    prefix: '',
    engine,
    source: { url: j.source.url },
    destinations: [createDestination('local', config.destinations.local!, { baseDir: work })],
    encryption: c.encrypted ? { type: 'passphrase', passphrase: PASSPHRASE } : undefined,
    history: new LocalHistoryStore(path.join(work, 'state')),
    notifier: { publish: async (a) => void alerts.push(a) },
    trigger: 'manual',
    investigate: () => `dumpvault history ${job}`,
  };
}

const keysOf = (c: Case) => (c.encrypted ? { passphrase: PASSPHRASE } : undefined);
const fileOf = (key: string) => path.join(work, 'out', key);
const jobName = () => uniqueName('objs').replace(/_/g, '-');

async function collect(source: Readable, stages: NodeJS.ReadWriteStream[]): Promise<Buffer> {
  const chunks: Buffer[] = [];
  await pipeline([
    source,
    ...stages,
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        chunks.push(chunk);
        cb();
      },
    }),
  ]);
  return Buffer.concat(chunks);
}

/**
 * Replaces a backup's dump by `edit(raw)`, in a valid envelope (the job's compression and
 * encryption), and rewrites its manifest to match (size, sha256, raw size): what a version
 * without the in-stream check stored when its dump tool stopped early and exited 0.
 */
async function replaceDump(c: Case, manifest: Manifest, edit: (raw: Buffer) => Buffer): Promise<Manifest> {
  const file = fileOf(manifest.object.key);
  const raw = await collect(Readable.from([await readFile(file)]), decodeStages(manifest, keysOf(c)));
  const cut = edit(raw);
  const stored = await collect(Readable.from([cut]), [
    asDuplex(compressStage(manifest.compression)),
    ...(c.encrypted ? [encryptStage({ passphrase: PASSPHRASE })] : []),
  ]);
  await writeFile(file, stored);
  const replaced: Manifest = {
    ...manifest,
    object: {
      ...manifest.object,
      bytes: stored.length,
      sha256: createHash('sha256').update(stored).digest('hex'),
    },
    rawBytes: cut.length,
  };
  await saveManifest(replaced);
  return replaced;
}

async function saveManifest(m: Manifest): Promise<void> {
  const id = path.basename(m.object.key).split('.')[0]!;
  await writeFile(fileOf(`${m.job}/${id}${MANIFEST_SUFFIX}`), JSON.stringify(m, null, 2));
}

describe.each(CASES)('object counts: $title', (c) => {
  it(
    'records the objects the dump defines in the manifest, and verify finds the same in the decoded dump',
    async () => {
      const { manifest } = await runBackup(context(c, jobName()));

      expect(manifest.stats.objects).toEqual(c.objects);
      const dest = context(c, manifest.job).destinations[0]!;
      const verified = await verifyBackup(dest, manifest, keysOf(c));
      expect(verified).toMatchObject({ decoded: true, objects: c.objects });
    },
    TIMEOUT.roundTrips,
  );

  it(
    'verify fails on a backup whose dump was cut short although envelope, size, checksum and raw size agree with the manifest; a drill refuses it before creating anything',
    async () => {
      const job = jobName();
      const { manifest: good } = await runBackup(context(c, job));
      const manifest = await replaceDump(c, good, c.truncate);
      const ctx = context(c, job);

      const verifying = verifyBackup(ctx.destinations[0]!, manifest, keysOf(c));

      await expect(verifying).rejects.toThrow(IntegrityError);
      await expect(verifying).rejects.toThrow(c.missing);
      const drill = runRestore(ctx, {
        manifest,
        from: ctx.destinations[0]!,
        target: { kind: 'scratch' },
        keys: keysOf(c),
        kind: 'drill',
      });
      await expect(drill).rejects.toThrow(c.missing);
      const [latest] = await ctx.history.list(job);
      expect(latest).toMatchObject({
        kind: 'drill',
        status: 'FAILED',
        error: expect.stringMatching(c.missing),
      });
    },
    TIMEOUT.roundTrips,
  );

  it(
    'verify fails when the manifest records a view the dump does not define, naming the difference',
    async () => {
      const job = jobName();
      const { manifest: good } = await runBackup(context(c, job));
      const views = good.stats.objects!.views!;
      const manifest: Manifest = {
        ...good,
        stats: { ...good.stats, objects: { ...good.stats.objects, views: views + 1 } },
      };
      await saveManifest(manifest);

      const verifying = verifyBackup(context(c, job).destinations[0]!, manifest, keysOf(c));

      await expect(verifying).rejects.toThrow(
        `does not hold what its manifest records: manifest records ${views + 1} views, the dump defines ${views}`,
      );
    },
    TIMEOUT.roundTrips,
  );
});

/** The target's database name (PostgreSQL and MariaDB URLs). */
const databaseOf = (target: Connection) => decodeURIComponent(new URL(target.url).pathname.slice(1));

/** `engine`, except that its restores lose an object afterwards (`lose` runs on the target). */
function losing(engine: Engine, lose: (target: Connection) => void): Engine {
  return Object.assign(Object.create(engine) as Engine, {
    async restore(target: Connection, input: Readable, options: RestoreOptions) {
      await engine.restore(target, input, options);
      lose(target);
    },
  });
}

describe('a drill whose restored database lacks an object the backup has', () => {
  const LOSSES = [
    {
      title: 'a PostgreSQL view',
      c: CASES[0]!,
      lose: (t: Connection) => psql(databaseOf(t), 'DROP VIEW v1'),
      named: 'manifest records 2 views, the restored database has 1',
    },
    {
      title: 'a PostgreSQL function',
      c: CASES[1]!,
      lose: (t: Connection) => psql(databaseOf(t), 'DROP FUNCTION f1()'),
      named: 'manifest records 3 routines, the restored database has 2',
    },
    {
      title: 'a MariaDB function',
      c: CASES[2]!,
      lose: (t: Connection) => mariadb(databaseOf(t), 'DROP FUNCTION f1'),
      named: 'manifest records 2 routines, the restored database has 1',
    },
    {
      title: 'a MariaDB view',
      c: CASES[2]!,
      lose: (t: Connection) => mariadb(databaseOf(t), 'DROP VIEW v1'),
      named: 'manifest records 1 view, the restored database has 0',
    },
  ];

  it.each(LOSSES)(
    'fails naming the difference when the restore loses $title: FAILED, one alert, scratch dropped',
    async ({ c, lose, named }) => {
      const job = jobName();
      const { manifest } = await runBackup(context(c, job));
      const alerts: Alert[] = [];
      let scratch: Connection | undefined;
      const ctx = context(
        c,
        job,
        alerts,
        losing(engineFor(c.engine), (t) => {
          scratch = t;
          lose(t);
        }),
      );

      const drill = runRestore(ctx, {
        manifest,
        from: ctx.destinations[0]!,
        target: { kind: 'scratch' },
        keys: keysOf(c),
        kind: 'drill',
      });

      await expect(drill).rejects.toThrow(`restored data differs from backup`);
      await expect(drill).rejects.toThrow(named);
      const [latest] = await ctx.history.list(job);
      expect(latest).toMatchObject({
        kind: 'drill',
        status: 'FAILED',
        error: expect.stringContaining(named),
      });
      expect(alerts.map((a) => a.status)).toEqual(['FAILED']);
      expect(scratch).toBeDefined();
      expect(await engineFor(c.engine).isEmpty(scratch!)).toBe(true); // dropped (a missing database is empty)
    },
    TIMEOUT.roundTrips,
  );

  it(
    'passes when nothing is lost (the same drill with the real engine)',
    async () => {
      const c = CASES[0]!;
      const job = jobName();
      const { manifest } = await runBackup(context(c, job));
      const ctx = context(c, job);

      const result = await runRestore(ctx, {
        manifest,
        from: ctx.destinations[0]!,
        target: { kind: 'scratch' },
        keys: keysOf(c),
        kind: 'drill',
      });

      expect(result.comparison).toMatchObject({
        matches: true,
        objectsCompared: PG_OBJECTS,
        differences: [],
      });
      expect(result.dropped).toBe(true);
    },
    TIMEOUT.roundTrips,
  );
});
