/**
 * The PostgreSQL engine against the real PostgreSQL 15 server on this machine (127.0.0.1:5432,
 * trust auth): dump, restore into scratch databases, compare contents; failures surface.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Connection, TableStats } from '../../../core/engine.ts';
import { ToolError, UserError } from '../../../core/errors.ts';
import {
  checkPgDumpCanDump,
  locatePgTool,
  majorFromVersionNum,
  parsePgToolVersion,
} from '../../../task-image/engines/pg-tools.ts';
import { PostgresEngine } from '../../../task-image/engines/postgres.ts';
import { childPids, collect, psql, rejectionOf, uniqueName, waitFor } from './support.ts';

const SERVER = 'postgres://postgres@127.0.0.1:5432';
const engine = new PostgresEngine();
const source = uniqueName('dv_pg_src');
const src: Connection = { url: `${SERVER}/${source}` };
/** Databases to drop after the suite, whatever happened. */
const created = new Set<string>([source]);

const FIXTURE_SQL = `
CREATE SCHEMA app;
CREATE TABLE public.accounts (id serial PRIMARY KEY, name text NOT NULL, balance numeric(12,2) NOT NULL DEFAULT 0, note text);
CREATE TABLE app.audit (id bigserial PRIMARY KEY, account_id int NOT NULL, what text NOT NULL);
CREATE FUNCTION app.log_account() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN INSERT INTO app.audit (account_id, what) VALUES (NEW.id, 'insert'); RETURN NEW; END $$;
CREATE TRIGGER accounts_audit AFTER INSERT ON public.accounts FOR EACH ROW EXECUTE FUNCTION app.log_account();
INSERT INTO public.accounts (name, balance, note)
  SELECT 'user ' || g, g * 1.5, CASE WHEN g % 3 = 0 THEN NULL ELSE 'note ' || g END FROM generate_series(1, 1000) g;
INSERT INTO public.accounts (name, balance, note) VALUES ('Zoë 日本語 🦄', 0, E'tab\\there\\nnewline'), ('Ελληνικά', 1, NULL);
CREATE TABLE app.blobs (id int PRIMARY KEY, data bytea, meta jsonb);
INSERT INTO app.blobs VALUES (1, '\\x00ff10', '{"k": "v"}'), (2, NULL, NULL), (3, decode(repeat('ab', 5000), 'hex'), '[1, 2]');
CREATE TABLE public."Mixed Case" (k text);
INSERT INTO public."Mixed Case" VALUES ('a'), (NULL);
CREATE TABLE public.empty_table (x int);
CREATE TABLE public.filler (id int PRIMARY KEY, pad text NOT NULL);
INSERT INTO public.filler SELECT g, repeat(md5(g::text), 3) FROM generate_series(1, 20000) g;
CREATE VIEW public.rich AS SELECT id, name FROM public.accounts WHERE balance > 1000;
`;

const EXPECTED: TableStats = {
  'app.audit': 1002,
  'app.blobs': 3,
  'public.Mixed Case': 2,
  'public.accounts': 1002,
  'public.empty_table': 0,
  'public.filler': 20000,
};

/** Row counts and an md5 of the ordered rows of every table, computed by the server. */
function fingerprint(database: string): Record<string, string> {
  const out = psql(
    database,
    `SELECT json_object_agg(format('%s.%s', n.nspname, c.relname),
       (xpath('/row/f/text()', query_to_xml(format(
         'SELECT count(*) || '':'' || md5(coalesce(string_agg(t::text, E''\\n'' ORDER BY t::text), '''')) AS f FROM %I.%I t',
         n.nspname, c.relname), false, true, '')))[1]::text)
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind = 'r' AND n.nspname IN ('public', 'app');`,
  );
  return JSON.parse(out.trim()) as Record<string, string>;
}

/** What a restore with drop must remove: objects of every kind, in public and elsewhere. */
const EXTRA_OBJECTS_SQL = `
CREATE SCHEMA extra;
CREATE TABLE extra.stray (x int);
CREATE TABLE public.extra_table (x int);
INSERT INTO public.extra_table VALUES (1);
CREATE TABLE app.extra_in_app (x int);
CREATE VIEW public.extra_view AS SELECT 1 AS one;
CREATE FUNCTION public.extra_fn(int) RETURNS int LANGUAGE sql AS 'SELECT $1';
CREATE PROCEDURE public.extra_proc() LANGUAGE sql AS 'SELECT 1';
CREATE SEQUENCE public.extra_seq;
CREATE TYPE public.extra_enum AS ENUM ('a');
CREATE DOMAIN public.extra_domain AS int;
CREATE TYPE public.extra_range AS RANGE (subtype = int8);
CREATE EXTENSION hstore;
SELECT lo_create(0);
DROP VIEW public.rich;
`;

/** Some of what {@link EXTRA_OBJECTS_SQL} makes, as {@link catalog} lists it. */
const EXTRA_OBJECTS = [
  'schema extra',
  'table extra.stray',
  'table public.extra_table',
  'table app.extra_in_app',
  'view public.extra_view',
  'function public.extra_fn(integer)',
  'procedure public.extra_proc()',
  'sequence public.extra_seq',
  'type public.extra_enum',
  'type public.extra_domain',
  'type public.extra_range',
  'extension hstore',
];

/** Every user schema, extension and schema object of a database, as `type identity`, sorted. */
function catalog(database: string): string[] {
  const out = psql(
    database,
    `SELECT coalesce(json_agg(x ORDER BY x), '[]') FROM (
       SELECT o.type || ' ' || o.identity AS x FROM pg_depend d, pg_identify_object(d.classid, d.objid, 0) o
         JOIN pg_namespace n ON n.nspname = o.schema
         WHERE d.refclassid = 'pg_namespace'::regclass AND d.deptype = 'n'
           AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
       UNION SELECT 'schema ' || nspname FROM pg_namespace WHERE nspname !~ '^pg_' AND nspname <> 'information_schema'
       UNION SELECT 'extension ' || extname FROM pg_extension) t;`,
  );
  return JSON.parse(out.trim()) as string[];
}

function dropDatabase(name: string): void {
  psql('test', `SET client_min_messages = warning; DROP DATABASE IF EXISTS "${name}" WITH (FORCE);`);
}

function databaseExists(name: string): boolean {
  return psql('test', `SELECT count(*) FROM pg_database WHERE datname = '${name}';`).trim() === '1';
}

beforeAll(() => {
  psql('test', `CREATE DATABASE "${source}";`);
  psql(source, FIXTURE_SQL);
});

afterAll(() => {
  for (const name of created) dropDatabase(name);
});

describe('PostgresEngine against the real PostgreSQL server', () => {
  it('names the formats: custom is pgdump / pg_dump-custom, plain is sql / pg_dump-plain', () => {
    expect(engine.dumpExtension({ format: 'custom' })).toBe('pgdump');
    expect(engine.dumpFormat({ format: 'custom' })).toBe('pg_dump-custom');
    expect(engine.dumpExtension({ format: 'plain' })).toBe('sql');
    expect(engine.dumpFormat({ format: 'plain' })).toBe('pg_dump-plain');
  });

  it('inspects the server version, the pg_dump version and the database', async () => {
    const info = await engine.inspect(src);

    expect(info.serverVersion).toMatch(/^15\.\d+/);
    expect(info.tool.name).toBe('pg_dump');
    expect(parsePgToolVersion(`pg_dump (PostgreSQL) ${info.tool.version}`).major).toBeGreaterThanOrEqual(15);
    expect(info.database).toBe(source);
  });

  it('counts the rows of every user table, qualified by schema', async () => {
    expect(await engine.stats(src)).toEqual(EXPECTED);
  });

  it('restores a custom dump into a scratch database with identical contents, view and trigger', async () => {
    const before = fingerprint(source);
    const session = engine.dump(src, { format: 'custom' });
    const dump = await collect(session.output);

    expect(dump.subarray(0, 5).toString('latin1')).toBe('PGDMP');
    expect(await session.stats).toEqual(EXPECTED);

    const scratch = await engine.createScratch(src, `drill-${source}-custom`);
    created.add(new URL(scratch.url).pathname.slice(1));
    expect(await engine.isEmpty(scratch)).toBe(true);
    await engine.restore(scratch, Readable.from([dump]), { drop: false, dumpFormat: 'pg_dump-custom' });

    const scratchDb = new URL(scratch.url).pathname.slice(1);
    expect(await engine.stats(scratch)).toEqual(EXPECTED);
    expect(fingerprint(scratchDb)).toEqual(before);
    expect(psql(scratchDb, 'SELECT count(*) FROM public.rich;').trim()).toBe(
      psql(source, 'SELECT count(*) FROM public.rich;').trim(),
    );
    psql(scratchDb, "INSERT INTO public.accounts (name) VALUES ('after restore');");
    expect(psql(scratchDb, 'SELECT count(*) FROM app.audit;').trim()).toBe('1003');

    await engine.dropScratch(scratch);
    expect(databaseExists(scratchDb)).toBe(false);
  });

  it('restores a plain dump through psql with identical contents', async () => {
    const session = engine.dump(src, { format: 'plain' });
    const dump = await collect(session.output);

    expect(dump.toString('utf8')).toContain('CREATE TABLE app.blobs');
    expect(dump.toString('utf8')).not.toContain('OWNER TO');
    expect(await session.stats).toEqual(EXPECTED);

    const scratch = await engine.createScratch(src, `drill-${source}-plain`);
    const scratchDb = new URL(scratch.url).pathname.slice(1);
    created.add(scratchDb);
    await engine.restore(scratch, Readable.from([dump]), { drop: false, dumpFormat: 'pg_dump-plain' });

    expect(fingerprint(scratchDb)).toEqual(fingerprint(source));
    await engine.dropScratch(scratch);
  });

  it('refuses a non-empty target without drop and replaces its objects with drop', async () => {
    const dump = await collect(engine.dump(src, { format: 'custom' }).output);
    const scratch = await engine.createScratch(src, `drop-${source}`);
    const scratchDb = new URL(scratch.url).pathname.slice(1);
    created.add(scratchDb);
    await engine.restore(scratch, Readable.from([dump]), { drop: false, dumpFormat: 'pg_dump-custom' });
    psql(scratchDb, 'DELETE FROM public.filler WHERE id > 10;');

    const refused = await rejectionOf(
      engine.restore(scratch, Readable.from([dump]), { drop: false, dumpFormat: 'pg_dump-custom' }),
    );
    expect(refused).toBeInstanceOf(UserError);
    expect(refused.message).toMatch(/already has tables: restore with --drop/);

    await engine.restore(scratch, Readable.from([dump]), { drop: true, dumpFormat: 'pg_dump-custom' });
    expect(fingerprint(scratchDb)).toEqual(fingerprint(source));
    await engine.dropScratch(scratch);
  });

  // Bug: --drop ran pg_restore --clean, which drops only what the dump contains: tables, views,
  // functions and schemas the target had besides stayed (and a plain dump could not --drop).
  it.each(['custom', 'plain'] as const)(
    'with drop (%s dump) leaves exactly the backup: objects it does not have are gone',
    async (format) => {
      const session = engine.dump(src, { format });
      const dump = await collect(session.output);
      const expected = { catalog: catalog(source), data: fingerprint(source) };
      const scratch = await engine.createScratch(src, `exact-${format}-${source}`);
      const scratchDb = new URL(scratch.url).pathname.slice(1);
      created.add(scratchDb);
      await engine.restore(scratch, Readable.from([dump]), {
        drop: false,
        dumpFormat: `pg_dump-${format}`,
      });
      psql(scratchDb, EXTRA_OBJECTS_SQL);
      expect(catalog(scratchDb)).toEqual(expect.arrayContaining(EXTRA_OBJECTS));

      await engine.restore(scratch, Readable.from([dump]), { drop: true, dumpFormat: `pg_dump-${format}` });

      expect(catalog(scratchDb)).toEqual(expected.catalog);
      expect(fingerprint(scratchDb)).toEqual(expected.data);
      expect(psql(scratchDb, 'SELECT count(*) FROM pg_largeobject_metadata;').trim()).toBe('0');
      await engine.dropScratch(scratch);
    },
  );

  it('with drop, a restore that fails half-way leaves the target exactly as it was', async () => {
    const dump = await collect(engine.dump(src, { format: 'custom' }).output);
    const plain = await collect(engine.dump(src, { format: 'plain' }).output);
    const scratch = await engine.createScratch(src, `atomic-${source}`);
    const scratchDb = new URL(scratch.url).pathname.slice(1);
    created.add(scratchDb);
    await engine.restore(scratch, Readable.from([dump]), { drop: false, dumpFormat: 'pg_dump-custom' });
    psql(scratchDb, EXTRA_OBJECTS_SQL);
    psql(scratchDb, 'DELETE FROM public.filler WHERE id > 10;');
    const before = { catalog: catalog(scratchDb), data: fingerprint(scratchDb) };

    const truncated = await rejectionOf(
      engine.restore(scratch, Readable.from([dump.subarray(0, Math.floor(dump.length * 0.9))]), {
        drop: true,
        dumpFormat: 'pg_dump-custom',
      }),
    );
    expect(truncated).toBeInstanceOf(ToolError);
    expect(truncated.message).toMatch(/pg_restore exited with code 1/);
    expect(catalog(scratchDb)).toEqual(before.catalog);
    expect(fingerprint(scratchDb)).toEqual(before.data);

    const failing = await rejectionOf(
      engine.restore(scratch, Readable.from([plain, '\nSELECT * FROM no_such_table;\n']), {
        drop: true,
        dumpFormat: 'pg_dump-plain',
      }),
    );
    expect(failing).toBeInstanceOf(ToolError);
    expect(failing.message).toMatch(/psql exited with code 3: .*relation "no_such_table" does not exist/);
    expect(catalog(scratchDb)).toEqual(before.catalog);
    expect(fingerprint(scratchDb)).toEqual(before.data);
    await engine.dropScratch(scratch);
  });

  it('creates a missing restore target and reports a database that does not exist as empty', async () => {
    const target = uniqueName('dv_pg_new');
    created.add(target);
    const conn = { url: `${SERVER}/${target}` };
    expect(await engine.isEmpty(conn)).toBe(true);

    const dump = await collect(engine.dump(src, { format: 'custom' }).output);
    await engine.restore(conn, Readable.from([dump]), { drop: false, dumpFormat: 'pg_dump-custom' });

    expect(await engine.stats(conn)).toEqual(EXPECTED);
  });

  it('fails the restore when pg_restore or psql hit an error, instead of reporting success', async () => {
    const dump = await collect(engine.dump(src, { format: 'custom' }).output);
    const scratch = await engine.createScratch(src, `broken-${source}`);
    created.add(new URL(scratch.url).pathname.slice(1));

    const truncated = await rejectionOf(
      engine.restore(scratch, Readable.from([dump.subarray(0, Math.floor(dump.length / 2))]), {
        drop: true,
        dumpFormat: 'pg_dump-custom',
      }),
    );
    expect(truncated).toBeInstanceOf(ToolError);
    expect(truncated.message).toMatch(/pg_restore exited with code 1/);

    const fresh = uniqueName('dv_pg_fail');
    created.add(fresh);
    const failing = await rejectionOf(
      engine.restore(
        { url: `${SERVER}/${fresh}` },
        Readable.from(['CREATE TABLE ok (x int);\nSELECT * FROM no_such_table;\n']),
        { drop: false, dumpFormat: 'pg_dump-plain' },
      ),
    );
    expect(failing).toBeInstanceOf(ToolError);
    expect(failing.message).toMatch(/psql exited with code 3: .*relation "no_such_table" does not exist/);
    await engine.dropScratch(scratch);
  });

  it('fails a dump of a database that does not exist with a ToolError naming it, without the password', async () => {
    const password = 'pg-Sup3r-s3cret-pw';
    const missing = uniqueName('dv_pg_missing');
    const session = engine.dump({ url: `${SERVER}/${missing}`, password }, { format: 'custom' });

    const error = await rejectionOf(collect(session.output));

    expect(error).toBeInstanceOf(ToolError);
    expect(error.message).toContain(`database "${missing}" does not exist`);
    expect(error.message).toContain('create the database or fix its name in the URL');
    expect(error.message).not.toContain(password);
    expect(await rejectionOf(session.stats)).toBeInstanceOf(ToolError);
  });

  it('fails the output with a ToolError when pg_dump is killed mid-stream', async () => {
    const session = engine.dump(src, { format: 'custom' });
    const first = await new Promise<Buffer>((resolve) => session.output.once('data', resolve));
    session.output.pause();
    expect(first.length).toBeGreaterThan(0);
    await waitFor(() => childPids('pg_dump').length === 1);

    const pid = childPids('pg_dump')[0]!;
    // The dump reads the snapshot exported by dumpvault's psql session.
    expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')).toContainEqual(
      expect.stringMatching(/^--snapshot=[0-9A-F]+-[0-9A-F]+-\d+$/),
    );
    process.kill(pid, 'SIGKILL');
    const error = await rejectionOf(collect(session.output));

    expect(error).toBeInstanceOf(ToolError);
    expect(error.message).toMatch(/pg_dump was killed by SIGKILL/);
    await waitFor(() => childPids('psql').length === 0);
  });

  it('kills pg_dump and ends the snapshot session when the consumer destroys the output', async () => {
    const session = engine.dump(src, { format: 'custom' });
    await new Promise<Buffer>((resolve) => session.output.once('data', resolve));
    session.output.pause();

    session.output.destroy();

    await waitFor(() => childPids('pg_dump').length === 0 && childPids('psql').length === 0);
  });

  it('counts rows in the snapshot the dump reads while another session keeps committing', async () => {
    psql(source, 'CREATE TABLE public.ticks (id bigserial PRIMARY KEY);');
    // One row per transaction, committed continuously until the test kills it.
    const writer = spawn(
      'psql',
      [
        '-X',
        '-q',
        '-h',
        '127.0.0.1',
        '-U',
        'postgres',
        '-d',
        source,
        '-c',
        'DO $$ BEGIN LOOP INSERT INTO public.ticks DEFAULT VALUES; COMMIT; PERFORM pg_sleep(0.0005); END LOOP; END $$;',
      ],
      { stdio: 'ignore' },
    );
    try {
      await waitFor(() => Number(psql(source, 'SELECT count(*) FROM public.ticks;')) > 50);

      const session = engine.dump(src, { format: 'custom' });
      const dump = await collect(session.output);
      const stats = await session.stats;
      const afterDump = Number(psql(source, 'SELECT count(*) FROM public.ticks;'));

      const scratch = await engine.createScratch(src, `snapshot-${source}`);
      created.add(new URL(scratch.url).pathname.slice(1));
      await engine.restore(scratch, Readable.from([dump]), { drop: false, dumpFormat: 'pg_dump-custom' });
      const restored = await engine.stats(scratch);

      expect(restored).toEqual(stats);
      expect(stats['public.ticks']).toBeGreaterThan(50);
      expect(afterDump).toBeGreaterThan(stats['public.ticks']!);
      await engine.dropScratch(scratch);
    } finally {
      writer.kill();
      await new Promise((resolve) => writer.once('close', resolve));
    }
  });

  it('fails when the scratch database already exists and never drops a database it did not create', async () => {
    const scratch = await engine.createScratch(src, `twice-${source}`);
    created.add(new URL(scratch.url).pathname.slice(1));

    const again = await rejectionOf(engine.createScratch(src, `twice-${source}`));
    expect(again).toBeInstanceOf(UserError);
    expect(again.message).toMatch(/already exists at 127\.0\.0\.1:5432: drop it or choose another name/);

    const refused = await rejectionOf(engine.dropScratch(src));
    expect(refused).toBeInstanceOf(UserError);
    expect(refused.message).toMatch(/refusing to drop/);
    expect(databaseExists(source)).toBe(true);
    await engine.dropScratch(scratch);
  });

  it('names the clash when two restores create the same scratch database at once', async () => {
    // Bug caught: the loser of the race got PostgreSQL's raw 'duplicate key value violates unique
    // constraint "pg_database_datname_index"' (both passed the name check before either committed)
    // instead of the sentence that says what to do. Several rounds: the race is lost most times.
    for (let round = 0; round < 5; round++) {
      const name = `race-${randomBytes(4).toString('hex')}`;
      const results = await Promise.allSettled([
        engine.createScratch(src, name),
        engine.createScratch(src, name),
      ]);
      const made = results.filter((r) => r.status === 'fulfilled');
      const refused = results.filter((r) => r.status === 'rejected').map((r) => r.reason as Error);
      for (const r of made) created.add(new URL(r.value.url).pathname.slice(1));
      expect(made).toHaveLength(1);
      expect(refused).toHaveLength(1);
      expect(refused[0]).toBeInstanceOf(UserError);
      expect(refused[0]!.message).toMatch(
        /already exists at 127\.0\.0\.1:5432: drop it or choose another name$/,
      );
      await engine.dropScratch(made[0]!.value);
    }
  });

  it('sanitises scratch names into valid identifiers', async () => {
    // A name of its own: the same name in another suite on this server would be the same database.
    const run = randomBytes(4).toString('hex');
    const scratch = await engine.createScratch(src, `Nightly-Drill ${run} ${'x'.repeat(80)}`);
    const name = new URL(scratch.url).pathname.slice(1);
    created.add(name);

    expect(name).toMatch(new RegExp(`^nightly_drill_${run}_x+_[0-9a-f]{8}$`));
    expect(name.length).toBeLessThanOrEqual(63);
    expect(databaseExists(name)).toBe(true);
    await engine.dropScratch(scratch);
  });
});

describe('pg_dump major version check', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'dv-pgtools-'));
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** A fake client binary that only answers --version. */
  async function fakeTool(file: string, version: string): Promise<void> {
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, `#!/bin/sh\necho "${path.basename(file)} (PostgreSQL) ${version}"\n`);
    await chmod(file, 0o755);
  }

  it('reads majors from server_version_num and from tool output', () => {
    expect(majorFromVersionNum(150020)).toBe(15);
    expect(majorFromVersionNum(170000)).toBe(17);
    expect(majorFromVersionNum(90624)).toBe(9.6);
    expect(parsePgToolVersion('pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)')).toEqual({
      text: '15.20',
      major: 15,
    });
    expect(parsePgToolVersion('pg_dump (PostgreSQL) 9.6.24')).toEqual({ text: '9.6.24', major: 9.6 });
    expect(parsePgToolVersion('pg_dump (PostgreSQL) 17beta1')).toEqual({ text: '17beta1', major: 17 });
  });

  it('refuses an older pg_dump with the package to install', () => {
    expect(() => checkPgDumpCanDump({ text: '15.4', major: 15 }, 16, 'db:5432')).toThrow(
      'pg_dump 15 cannot dump PostgreSQL 16 at db:5432: install postgresql-client-16 (or set PG_DUMP_PATH)',
    );
    expect(() => checkPgDumpCanDump({ text: '17.0', major: 17 }, 16, 'db:5432')).not.toThrow();
    expect(() => checkPgDumpCanDump({ text: '16.1', major: 16 }, 16, 'db:5432')).not.toThrow();
  });

  it('picks the newest versioned pg_dump at least as new as the server, then PATH', async () => {
    const root = path.join(dir, 'lib');
    const onPath = path.join(dir, 'path-bin');
    for (const major of ['13', '16', '17'])
      await fakeTool(path.join(root, major, 'bin', 'pg_dump'), `${major}.2`);
    await fakeTool(path.join(onPath, 'pg_dump'), '18.0');
    const search = { libRoots: [root], env: { PATH: onPath } };

    expect(await locatePgTool('pg_dump', 14, search)).toBe(path.join(root, '17', 'bin', 'pg_dump'));
    expect(await locatePgTool('pg_dump', 13, search)).toBe(path.join(root, '17', 'bin', 'pg_dump'));
    expect(await locatePgTool('pg_dump', 18, search)).toBe(path.join(onPath, 'pg_dump'));
    expect(await locatePgTool('pg_dump', 18, { libRoots: [root], env: { PATH: '' } })).toBe(
      path.join(root, '17', 'bin', 'pg_dump'),
    );
    const none = await rejectionOf(locatePgTool('pg_restore', 16, { libRoots: [root], env: { PATH: '' } }));
    expect(none).toBeInstanceOf(ToolError);
    expect(none.message).toBe(
      'pg_restore is not installed or not on PATH; install postgresql-client-16 (or set PG_DUMP_PATH)',
    );
  });

  it('honours PG_DUMP_PATH as the pg_dump file or its directory', async () => {
    const pinned = path.join(dir, 'pinned', 'pg_dump');
    await fakeTool(pinned, '16.3');
    await fakeTool(path.join(dir, 'pinned', 'pg_restore'), '16.3');
    const search = { libRoots: [], env: { PATH: '', PG_DUMP_PATH: pinned } };

    expect(await locatePgTool('pg_dump', 17, search)).toBe(pinned);
    expect(await locatePgTool('pg_restore', undefined, search)).toBe(path.join(dir, 'pinned', 'pg_restore'));
    expect(
      await locatePgTool('pg_dump', undefined, { libRoots: [], env: { PG_DUMP_PATH: path.dirname(pinned) } }),
    ).toBe(pinned);
  });

  it('refuses in inspect and in dump when the local pg_dump is older than the real server', async () => {
    const old = path.join(dir, 'old', 'pg_dump');
    await fakeTool(old, '14.11');
    const stale = new PostgresEngine({ env: { ...process.env, PG_DUMP_PATH: old } });
    const expected =
      'pg_dump 14 cannot dump PostgreSQL 15 at 127.0.0.1:5432: install postgresql-client-15 (or set PG_DUMP_PATH)';

    const inspected = await rejectionOf(stale.inspect(src));
    expect(inspected).toBeInstanceOf(UserError);
    expect(inspected.message).toBe(expected);

    const session = stale.dump(src, { format: 'custom' });
    const dumped = await rejectionOf(collect(session.output));
    expect(dumped.message).toBe(expected);
    expect((await rejectionOf(session.stats)).message).toBe(expected);
  });
});
