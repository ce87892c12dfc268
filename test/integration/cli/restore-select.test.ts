/**
 * `restore --list`, `--table` and `--schema` through the real CLI against the real PostgreSQL
 * and MariaDB servers and real SQLite files, from encrypted, zstd-compressed backups: the
 * listing names what the backup holds; a selective restore brings exactly the selected tables,
 * with content equal to the source's, and nothing else; bad names are refused in one sentence
 * before anything is written.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
  // What belongs to a table must come with it: an index, a trigger and its function, a comment.
  psql(
    pgSource,
    `CREATE INDEX customers_city ON customers (city);
     CREATE FUNCTION billing.touch() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END';
     CREATE TRIGGER invoices_touch BEFORE INSERT ON billing.invoices FOR EACH ROW EXECUTE FUNCTION billing.touch();
     COMMENT ON TABLE customers IS 'who buys';`,
  );
  mariadb(
    mySource,
    `CREATE TRIGGER orders_total BEFORE INSERT ON orders FOR EACH ROW SET NEW.total = IFNULL(NEW.total, 0);
     CREATE PROCEDURE order_count() SELECT COUNT(*) FROM orders;`,
  );
  ws = await createWorkspace();
  history = new LocalHistoryStore(path.join(ws.dir, '.dumpvault'));
  createSqliteDb(path.join(ws.dir, 'source.db'));
  const job = (name: string, engine: string, url: string) => ({
    name,
    engine,
    source: { url },
    destinations: ['local'],
    compression: 'zstd',
    encryption: 'ops',
    retention: { keepLast: 5 },
  });
  await ws.writeConfig({
    destinations: { local: { type: 'file', path: './backups' } },
    encryption: { ops: { type: 'openpgp', recipients: ['keys/ops.pub.asc'] } },
    jobs: [
      job('pg', 'postgres', `postgres://${PG.user}@${PG.host}:${PG.port}/${pgSource}`),
      job('my', 'mysql', `mysql://${MY.user}@${MY.host}:${MY.port}/${mySource}`),
      job('lite', 'sqlite', 'sqlite:./source.db'),
    ],
  });
  for (const name of ['pg', 'my', 'lite']) {
    const run = await runCli(['backup', name, '--config', ws.configFile]);
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

function cli(...args: string[]) {
  return runCli([...args, '--key', ws.privateKey, '--config', ws.configFile]);
}

/** The fingerprint lines of `tables` only. */
function only(fingerprint: string, tables: string[]): string {
  return fingerprint
    .split('\n')
    .filter((line) => tables.includes(line.slice(0, line.lastIndexOf(':', line.lastIndexOf(':') - 1))))
    .join('\n');
}

describe('restore --list', () => {
  // Bug caught: --list printed nothing (or the manifest's stats) instead of reading the dump.
  it(
    'postgres: names every table with its schema, and the schemas, from the archive',
    async () => {
      const run = await cli('restore', 'pg', '--list', '--json');
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      const listed = JSON.parse(run.stdout) as {
        tables: { name: string; rows: number }[];
        schemas: string[];
      };
      expect(listed.tables.map((t) => t.name).sort()).toEqual([
        'billing.invoices',
        'public.customers',
        'public.orders',
      ]);
      expect(listed.tables.find((t) => t.name === 'public.orders')?.rows).toBe(2000);
      expect(listed.schemas).toEqual(['billing', 'public']);
    },
    TIMEOUT.roundTrips,
  );

  it(
    'mysql and sqlite: the tables the script creates, views left out',
    async () => {
      const my = await cli('restore', 'my', '--list');
      expect(my.code).toBe(0);
      expect(my.stdout).toMatch(/holds 2 tables\n {2}customers {2}500 rows\n {2}orders {5}2000 rows\n/);
      const lite = await cli('restore', 'lite', '--list', '--json');
      expect(lite.code).toBe(0);
      expect((JSON.parse(lite.stdout) as { tables: { name: string }[] }).tables.map((t) => t.name)).toEqual([
        'customers',
        'orders',
      ]);
    },
    TIMEOUT.roundTrips,
  );
});

describe('restore --table / --schema', () => {
  // Bug caught: pg_restore -t restores the table without its index and comment, and a foreign
  // key to a table left out fails the restore; the whole backup restored instead of the table.
  it(
    'postgres --table: only that table, equal to the source, with its index, comment and sequence',
    async () => {
      const db = uniqueName('dvt_pg_table');
      cleanups.push(() => dropPostgresDb(db));
      const url = `postgres://${PG.user}@${PG.host}:${PG.port}/${db}`;
      const run = await cli('restore', 'pg', '--to', url, '--table', 'orders', '--table', 'customers');
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(/verified: 2 tables, 2500 rows match/);
      const tables = ['public.customers', 'public.orders'];
      expect(postgresFingerprint(db)).toBe(only(postgresFingerprint(pgSource), tables));
      expect(psql(db, `SELECT indexname FROM pg_indexes WHERE tablename = 'customers' ORDER BY 1`)).toBe(
        'customers_city\ncustomers_pkey\n',
      );
      expect(psql(db, `SELECT obj_description('customers'::regclass)`)).toBe('who buys\n');
      expect(psql(db, `SELECT count(*) FROM pg_constraint WHERE contype = 'f'`)).toBe('1\n');
      expect(psql(db, `SELECT count(*) FROM pg_views WHERE schemaname = 'public'`)).toBe('0\n');
      psql(db, `INSERT INTO orders (customer_id, total) VALUES (1, 1)`); // the sequence came along
    },
    TIMEOUT.roundTrips,
  );

  it(
    'postgres --table schema.name into a scratch database: a foreign key to a table left out is left out',
    async () => {
      const run = await cli('restore', 'pg', '--table', 'public.orders', '--json');
      expect(run.code).toBe(0);
      const result = JSON.parse(run.stdout) as { target: string; comparison: { tablesCompared: number } };
      expect(result.comparison.tablesCompared).toBe(1);
      const db = new URL(result.target).pathname.slice(1);
      cleanups.push(() => dropPostgresDb(db));
      expect(postgresFingerprint(db)).toBe(only(postgresFingerprint(pgSource), ['public.orders']));
      expect(psql(db, `SELECT count(*) FROM pg_constraint WHERE contype = 'f'`)).toBe('0\n');
    },
    TIMEOUT.roundTrips,
  );

  // Bug caught: pg_restore -n leaves out CREATE SCHEMA, so restoring a schema into a new
  // database fails; its trigger function (same schema) must come too.
  it(
    'postgres --schema: the schema, its table with its trigger and function, and nothing of public',
    async () => {
      const db = uniqueName('dvt_pg_schema');
      cleanups.push(() => dropPostgresDb(db));
      const url = `postgres://${PG.user}@${PG.host}:${PG.port}/${db}`;
      const run = await cli('restore', 'pg', '--to', url, '--schema', 'billing');
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      expect(postgresFingerprint(db)).toBe(only(postgresFingerprint(pgSource), ['billing.invoices']));
      expect(psql(db, `SELECT tgname FROM pg_trigger WHERE NOT tgisinternal`)).toBe('invoices_touch\n');
    },
    TIMEOUT.roundTrips,
  );

  // Bug caught: the whole script went to the client (every table restored), or the filter cut
  // the session settings and the data of the kept table came back mangled.
  it(
    'mysql --table: only that table, equal to the source, with its trigger; no view, no routine',
    async () => {
      const db = uniqueName('dvt_my_table');
      cleanups.push(() => dropMariaDb(db));
      const url = `mysql://${MY.user}@${MY.host}:${MY.port}/${db}`;
      const run = await cli('restore', 'my', '--to', url, '--table', 'orders');
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      expect(mariaFingerprint(db)).toBe(only(mariaFingerprint(mySource), ['orders']));
      expect(
        mariadb(undefined, `SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = '${db}'`),
      ).toBe('orders\n');
      expect(
        mariadb(
          undefined,
          `SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '${db}'`,
        ),
      ).toBe('orders_total\n');
      expect(
        mariadb(undefined, `SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = '${db}'`),
      ).toBe('0\n');
    },
    TIMEOUT.roundTrips,
  );
});

describe('refusals, before anything is written', () => {
  // Bug caught: an unknown name restored nothing and reported success, or failed after
  // creating the target.
  it(
    'an unknown table is one sentence listing what the backup holds; the target is not created',
    async () => {
      const db = uniqueName('dvt_pg_unknown');
      cleanups.push(() => dropPostgresDb(db));
      const url = `postgres://${PG.user}@${PG.host}:${PG.port}/${db}`;
      const run = await cli('restore', 'pg', '--to', url, '--table', 'ordres');
      expect(run.code).not.toBe(0);
      expect(run.stderr).toMatch(
        /has no table "ordres"; it holds billing\.invoices, public\.customers, public\.orders \(3 tables\)\n/,
      );
      expect(psql('postgres', `SELECT count(*) FROM pg_database WHERE datname = '${db}'`)).toBe('0\n');
      const item = (await history.list('pg')).find((i) => i.kind === 'restore');
      expect(item?.status).toBe('FAILED');
      expect(item?.error).toMatch(/has no table "ordres"/);

      const my = await cli('restore', 'my', '--table', 'nope');
      expect(my.code).not.toBe(0);
      expect(my.stderr).toMatch(/has no table "nope"; it holds customers, orders \(2 tables\)/);
    },
    TIMEOUT.roundTrips,
  );

  // Bug caught: --schema on a MariaDB job was ignored and the whole backup restored.
  it.each([
    [['restore', 'my', '--schema', 'x'], /--schema is for PostgreSQL; job my uses mysql/],
    [['restore', 'lite', '--table', 'orders'], /--table is not available for sqlite jobs/],
    [['restore', 'pg', '--table', 'a', '--schema', 'b'], /--table and --schema do not combine/],
    [
      ['restore', 'pg', '--table', 'orders', '--to', 'postgres://x@127.0.0.1/y', '--drop', '--yes'],
      /--drop replaces the whole database/,
    ],
    [
      ['restore', 'pg', '--list', '--to', 'postgres://x@127.0.0.1/y'],
      /--list only reads the backup; leave out --to/,
    ],
  ])('%j is refused by validation in one sentence', async (args, message) => {
    const before = (await history.list(args[1]!)).length;
    const run = await cli(...args);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(message);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect((await history.list(args[1]!)).length).toBe(before);
  });
});
