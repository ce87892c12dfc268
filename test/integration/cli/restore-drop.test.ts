/**
 * `restore --drop` through the real CLI against the real PostgreSQL and MariaDB servers and real
 * SQLite files: the target ends equal to the backup — objects the backup does not have are gone,
 * data equals the source — and a drop the target refuses is recorded like every other refusal
 * (FAILED with the cause, one alert, non-zero exit), with the target left as it was.
 *
 * Bug it catches: --drop ran pg_restore --clean (PostgreSQL), the dump's own DROP TABLEs
 * (MariaDB) or mongorestore --drop, which drop only what the backup contains; tables, views,
 * functions and schemas the target had besides stayed.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HistoryItem } from '../../../core/history/history.ts';
import { LocalHistoryStore } from '../../../core/history/local.ts';
import { runCli } from '../../support/cli.ts';
import {
  createMariaDb,
  createPostgresDb,
  createSqliteDb,
  dropMariaDb,
  dropPostgresDb,
  MY,
  mariadb,
  mariaFingerprint,
  PG,
  postgresFingerprint,
  psql,
  sqlite,
  sqliteFingerprint,
  uniqueName,
} from '../../support/databases.ts';
import { TIMEOUT } from '../../support/timeouts.ts';
import { createWorkspace, type Workspace } from '../../support/workspace.ts';

let ws: Workspace;
let history: LocalHistoryStore;
const cleanups: Array<() => void> = [];
let pgSource: string;
let mySource: string;

beforeAll(async () => {
  pgSource = createPostgresDb();
  mySource = createMariaDb();
  cleanups.push(
    () => dropPostgresDb(pgSource),
    () => dropMariaDb(mySource),
  );
  ws = await createWorkspace();
  history = new LocalHistoryStore(path.join(ws.dir, '.dumpvault'));
  psql(
    pgSource,
    `CREATE FUNCTION billing.total() RETURNS bigint LANGUAGE sql AS 'SELECT sum(amount) FROM billing.invoices';`,
  );
  mariadb(mySource, 'CREATE PROCEDURE order_count() SELECT COUNT(*) FROM orders;');
  createSqliteDb(path.join(ws.dir, 'source.db'));
  await ws.writeConfig({
    destinations: { local: { type: 'file', path: './backups' } },
    jobs: [
      {
        name: 'pg',
        engine: 'postgres',
        source: { url: `postgres://${PG.user}@${PG.host}:${PG.port}/${pgSource}` },
        destinations: ['local'],
        retention: { keepLast: 5 },
      },
      {
        name: 'my',
        engine: 'mysql',
        source: { url: `mysql://${MY.user}@${MY.host}:${MY.port}/${mySource}` },
        destinations: ['local'],
        retention: { keepLast: 5 },
      },
      {
        name: 'lite',
        engine: 'sqlite',
        source: { url: 'sqlite:./source.db' },
        destinations: ['local'],
        retention: { keepLast: 5 },
      },
    ],
  });
  for (const job of ['pg', 'my', 'lite']) {
    const run = await runCli(['backup', job, '--config', ws.configFile]);
    expect(run.stderr).not.toMatch(/error/i);
    expect(run.code).toBe(0);
  }
}, TIMEOUT.setup);

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) {
    try {
      cleanup();
    } catch {
      // best effort: a failed cleanup must not hide the test result
    }
  }
  await ws?.remove();
});

async function restore(job: string, url: string, ...extra: string[]) {
  return runCli(['restore', job, '--to', url, ...extra, '--config', ws.configFile]);
}

async function lastRestore(job: string): Promise<HistoryItem | undefined> {
  return (await history.list(job)).find((i) => i.kind === 'restore');
}

async function alerts(): Promise<string[]> {
  const text = await readFile(path.join(ws.dir, '.dumpvault', 'alerts.log'), 'utf8').catch(() => '');
  return text.split('\n').filter(Boolean);
}

/** Every user schema, extension and schema object of a PostgreSQL database, sorted. */
function pgCatalog(db: string): string[] {
  return psql(
    db,
    `SELECT x FROM (
       SELECT o.type || ' ' || o.identity AS x FROM pg_depend d, pg_identify_object(d.classid, d.objid, 0) o
         WHERE d.refclassid = 'pg_namespace'::regclass AND d.deptype = 'n'
           AND o.schema !~ '^pg_' AND o.schema <> 'information_schema'
       UNION SELECT 'schema ' || nspname FROM pg_namespace WHERE nspname !~ '^pg_' AND nspname <> 'information_schema'
       UNION SELECT 'extension ' || extname FROM pg_extension) t ORDER BY 1;`,
  )
    .trim()
    .split('\n');
}

/** Every table, view, routine, trigger and event of a MariaDB database, sorted. */
function myCatalog(db: string): string[] {
  return mariadb(
    undefined,
    `SELECT x FROM (
       SELECT CONCAT(TABLE_TYPE, ' ', TABLE_NAME) AS x FROM information_schema.TABLES WHERE TABLE_SCHEMA = '${db}'
       UNION ALL SELECT CONCAT(ROUTINE_TYPE, ' ', ROUTINE_NAME) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = '${db}'
       UNION ALL SELECT CONCAT('TRIGGER ', TRIGGER_NAME) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '${db}'
       UNION ALL SELECT CONCAT('EVENT ', EVENT_NAME) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = '${db}') t ORDER BY 1;`,
  )
    .trim()
    .split('\n');
}

describe('restore --drop yields a target equal to the backup', () => {
  it(
    'postgres: an extra schema, table, view and function in the target are gone, data equals the source',
    async () => {
      const db = uniqueName('dvt_pg_drop');
      cleanups.push(() => dropPostgresDb(db));
      const url = `postgres://${PG.user}@${PG.host}:${PG.port}/${db}`;
      expect((await restore('pg', url)).code).toBe(0);
      psql(
        db,
        `CREATE SCHEMA stray; CREATE TABLE stray.t (x int);
         CREATE TABLE public.extra (x int); INSERT INTO public.extra VALUES (1);
         CREATE VIEW public.extra_view AS SELECT * FROM public.extra;
         CREATE FUNCTION public.extra_fn() RETURNS int LANGUAGE sql AS 'SELECT 1';
         CREATE TABLE billing.extra_bill (x int);
         DELETE FROM orders WHERE id > 10;`,
      );
      expect(pgCatalog(db)).toEqual(
        expect.arrayContaining(['schema stray', 'table public.extra', 'view public.extra_view']),
      );

      const run = await restore('pg', url, '--drop', '--yes');

      expect(run.stderr).not.toMatch(/error/i);
      expect(run.code).toBe(0);
      expect(pgCatalog(db)).toEqual(pgCatalog(pgSource));
      expect(postgresFingerprint(db)).toBe(postgresFingerprint(pgSource));
      expect(await lastRestore('pg')).toMatchObject({ status: 'SUCCEEDED' });
    },
    TIMEOUT.roundTrips,
  );

  it(
    'mysql: an extra table, view and procedure in the target are gone, data equals the source',
    async () => {
      const db = uniqueName('dvt_my_drop');
      cleanups.push(() => dropMariaDb(db));
      const url = `mysql://${MY.user}@${MY.host}:${MY.port}/${db}`;
      expect((await restore('my', url)).code).toBe(0);
      mariadb(
        db,
        `CREATE TABLE extra (x INT); INSERT INTO extra VALUES (1);
         CREATE VIEW extra_view AS SELECT * FROM extra;
         CREATE PROCEDURE extra_proc() SELECT 1;
         DELETE FROM orders WHERE id > 10;`,
      );
      expect(myCatalog(db)).toEqual(
        expect.arrayContaining(['BASE TABLE extra', 'VIEW extra_view', 'PROCEDURE extra_proc']),
      );

      const run = await restore('my', url, '--drop', '--yes');

      expect(run.stderr).not.toMatch(/error/i);
      expect(run.code).toBe(0);
      expect(myCatalog(db)).toEqual(myCatalog(mySource));
      expect(mariaFingerprint(db)).toBe(mariaFingerprint(mySource));
    },
    TIMEOUT.roundTrips,
  );

  it(
    'sqlite: the file is replaced, so an extra table, view and trigger are gone',
    async () => {
      const file = path.join(ws.dir, `${uniqueName('target')}.db`);
      sqlite(
        file,
        `CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT);
         CREATE TABLE extra (x); CREATE VIEW extra_view AS SELECT * FROM extra;
         CREATE TRIGGER extra_trigger AFTER INSERT ON extra BEGIN SELECT 1; END;`,
      );
      const schema = (f: string) => sqlite(f, 'SELECT type, name FROM sqlite_master ORDER BY 1, 2;');

      const run = await restore('lite', `sqlite:${file}`, '--drop', '--yes');

      expect(run.stderr).not.toMatch(/error/i);
      expect(run.code).toBe(0);
      expect(schema(file)).toBe(schema(path.join(ws.dir, 'source.db')));
      expect(sqliteFingerprint(file)).toBe(sqliteFingerprint(path.join(ws.dir, 'source.db')));
    },
    TIMEOUT.roundTrips,
  );
});

describe('a drop the target refuses is recorded like every refusal, and changes nothing', () => {
  it(
    'postgres: a schema the restoring user does not own fails the run FAILED naming it, one alert, target as it was',
    async () => {
      const role = uniqueName('dvt_restorer');
      const db = uniqueName('dvt_pg_notmine');
      psql('postgres', `CREATE ROLE ${role} LOGIN; CREATE DATABASE ${db} OWNER ${role};`);
      cleanups.push(() => psql('postgres', `DROP ROLE IF EXISTS ${role}`));
      cleanups.push(() => dropPostgresDb(db));
      const url = `postgres://${role}@${PG.host}:${PG.port}/${db}`;
      expect((await restore('pg', url)).code).toBe(0);
      // Owned by the superuser, not by the role that restores (in public, the database owner
      // may drop anything: public belongs to pg_database_owner).
      psql(
        db,
        'CREATE SCHEMA not_mine; CREATE TABLE not_mine.t (x int); INSERT INTO not_mine.t VALUES (42);',
      );
      psql(db, 'DELETE FROM orders WHERE id > 10;');
      const before = { catalog: pgCatalog(db), data: postgresFingerprint(db) };
      const alertsBefore = (await alerts()).length;

      const run = await restore('pg', url, '--drop', '--yes');

      expect(run.code).not.toBe(0);
      expect(run.stderr).toMatch(/must be owner of schema not_mine/);
      const item = await lastRestore('pg');
      expect(item).toMatchObject({ kind: 'restore', status: 'FAILED' });
      expect(item!.error).toMatch(/must be owner of schema not_mine/);
      const added = (await alerts()).slice(alertsBefore);
      expect(added).toHaveLength(1);
      expect(added[0]).toMatch(/"status":"FAILED"/);
      expect(pgCatalog(db)).toEqual(before.catalog);
      expect(postgresFingerprint(db)).toBe(before.data);
    },
    TIMEOUT.roundTrips,
  );
});
