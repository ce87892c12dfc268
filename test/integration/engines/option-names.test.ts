/**
 * Names from a URL never become options of a tool, tested with the real tools and servers:
 * databases literally named like an option (`--database=<victim>`), dumped from and restored
 * into, while a database of the name the option points at (the victim) holds data that must
 * stay untouched. Config validation and the CLI refuse such names too (test/unit/config,
 * test/integration/cli/option-names.test.ts); these tests go past that refusal on purpose, to
 * the engines, to show that the tools are called safely even so.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../../../core/engine.ts';
import { MysqlEngine } from '../../../task-image/engines/mysql.ts';
import { PostgresEngine } from '../../../task-image/engines/postgres.ts';
import { SqliteEngine } from '../../../task-image/engines/sqlite.ts';
import { collect, mariadb, psql, sqlite, uniqueName } from './support.ts';

/** Dumps `from` with `engine` and returns the raw dump. */
async function dumpOf(engine: Engine, url: string): Promise<{ dump: Buffer; stats: Record<string, number> }> {
  const session = engine.dump({ url }, { format: 'custom' });
  const dump = await collect(session.output);
  return { dump, stats: await session.stats };
}

describe('MariaDB: a database named --database=<victim>', () => {
  const victim = uniqueName('dv_my_victim');
  const shaped = `--database=${victim}`;
  const small = uniqueName('dv_my_small');
  const engine = new MysqlEngine();
  const server = 'mysql://root@127.0.0.1:3306';
  const q = (name: string) => `\`${name}\``;

  beforeAll(() => {
    mariadb(
      null,
      `CREATE DATABASE ${q(victim)}; CREATE TABLE ${q(victim)}.customers (id INT PRIMARY KEY, name VARCHAR(20));
       INSERT INTO ${q(victim)}.customers VALUES (1, 'victim-a'), (2, 'victim-b'), (3, 'victim-c');
       CREATE DATABASE ${q(shaped)}; CREATE TABLE ${q(shaped)}.decoy (id INT PRIMARY KEY);
       INSERT INTO ${q(shaped)}.decoy VALUES (7);
       CREATE DATABASE ${q(small)}; CREATE TABLE ${q(small)}.customers (id INT PRIMARY KEY, name VARCHAR(20));
       INSERT INTO ${q(small)}.customers VALUES (9, 'restored');`,
    );
  });

  afterAll(() => {
    mariadb(null, [victim, shaped, small].map((d) => `DROP DATABASE IF EXISTS ${q(d)};`).join(' '));
  });

  const victimRows = () => mariadb(null, `SELECT id, name FROM ${q(victim)}.customers ORDER BY id;`);

  it('dumps and counts the database of that name, not the victim (mariadb-dump after --, the client with --database=)', async () => {
    const { dump, stats } = await dumpOf(engine, `${server}/${encodeURIComponent(shaped)}`);

    expect(stats).toEqual({ decoy: 1 });
    expect(dump.toString('utf8')).toContain('CREATE TABLE `decoy`');
    expect(dump.toString('utf8')).not.toContain('victim-a');
  });

  it('restores into the database of that name and leaves the victim untouched, past the "target has data" check', async () => {
    const before = victimRows();
    const { dump } = await dumpOf(engine, `${server}/${small}`);

    await engine.restore({ url: `${server}/${encodeURIComponent(shaped)}` }, Readable.from([dump]), {
      drop: true,
      dumpFormat: engine.dumpFormat({ format: 'custom' }),
    });

    expect(victimRows()).toBe(before);
    expect(mariadb(null, `SELECT id, name FROM ${q(shaped)}.customers;`)).toBe('9\trestored\n');
  });
});

describe('PostgreSQL: a database named --dbname=<victim> (libpq URLs are passed after --dbname)', () => {
  const victim = uniqueName('dv_pg_victim');
  const shaped = `--dbname=${victim}`;
  const small = uniqueName('dv_pg_small');
  const engine = new PostgresEngine();
  const server = 'postgres://postgres@127.0.0.1:5432';
  const q = (name: string) => `"${name}"`;
  // psql -d reads a name with "=" as a connection string: reach that database through a URL.
  const shapedUrl = `${server}/${encodeURIComponent(shaped)}`;

  beforeAll(() => {
    psql(
      'postgres',
      `CREATE DATABASE ${q(victim)}; CREATE DATABASE ${q(shaped)}; CREATE DATABASE ${q(small)};`,
    );
    psql(
      victim,
      `CREATE TABLE customers (id int PRIMARY KEY, name text); INSERT INTO customers VALUES (1, 'victim-a'), (2, 'victim-b');`,
    );
    psql(shapedUrl, 'CREATE TABLE decoy (id int PRIMARY KEY); INSERT INTO decoy VALUES (7);');
    psql(
      small,
      `CREATE TABLE customers (id int PRIMARY KEY, name text); INSERT INTO customers VALUES (9, 'restored');`,
    );
  });

  afterAll(() => {
    for (const d of [victim, shaped, small])
      psql('postgres', `DROP DATABASE IF EXISTS ${q(d)} WITH (FORCE);`);
  });

  it('dumps that database and restores into it, leaving the victim untouched', async () => {
    const before = psql(victim, 'SELECT id, name FROM customers ORDER BY id;');
    const { stats } = await dumpOf(engine, `${server}/${encodeURIComponent(shaped)}`);
    const { dump } = await dumpOf(engine, `${server}/${small}`);

    await engine.restore({ url: `${server}/${encodeURIComponent(shaped)}` }, Readable.from([dump]), {
      drop: true,
      dumpFormat: engine.dumpFormat({ format: 'custom' }),
    });

    expect(stats).toEqual({ 'public.decoy': 1 });
    expect(psql(victim, 'SELECT id, name FROM customers ORDER BY id;')).toBe(before);
    expect(psql(shapedUrl, 'SELECT id, name FROM customers;')).toBe('9|restored\n');
  });
});

describe('SQLite: files named -x.db and --help in the current directory (sqlite3 gets absolute paths)', () => {
  let dir: string;
  const engine = new SqliteEngine();

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'dv-optnames-'));
    sqlite(path.join(dir, '-x.db'), "CREATE TABLE t (v TEXT); INSERT INTO t VALUES ('from -x.db');");
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('dumps sqlite:-x.db and restores it into sqlite:--help, relative to the current directory', async () => {
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      const { dump, stats } = await dumpOf(engine, 'sqlite:-x.db');
      await engine.restore({ url: 'sqlite:--help' }, Readable.from([dump]), {
        drop: false,
        dumpFormat: engine.dumpFormat({ format: 'custom' }),
      });

      expect(stats).toEqual({ t: 1 });
    } finally {
      process.chdir(cwd);
    }
    expect(sqlite(path.join(dir, '--help'), 'SELECT v FROM t;')).toBe('from -x.db\n');
  });
});
