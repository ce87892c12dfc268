/**
 * The SQLite engine against the sqlite3 CLI on real files, including a dump taken while another
 * process keeps writing to the database.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Connection, TableStats } from '../../../core/engine.ts';
import { ToolError, UserError } from '../../../core/errors.ts';
import { SqliteEngine, StatsLineSplitter, sqliteFile } from '../../../task-image/engines/sqlite.ts';
import { childPids, collect, rejectionOf, sqlite, waitFor } from './support.ts';

const engine = new SqliteEngine();
let dir: string;
let sourceFile: string;
let src: Connection;

const FIXTURE_SQL = `
PRAGMA journal_mode = WAL;
CREATE TABLE accounts (id INTEGER PRIMARY KEY, name TEXT NOT NULL, balance REAL NOT NULL DEFAULT 0, note TEXT);
CREATE TABLE audit (id INTEGER PRIMARY KEY AUTOINCREMENT, account_id INTEGER NOT NULL, what TEXT NOT NULL);
CREATE TRIGGER accounts_audit AFTER INSERT ON accounts BEGIN INSERT INTO audit (account_id, what) VALUES (NEW.id, 'insert'); END;
WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < 1000)
  INSERT INTO accounts (name, balance, note) SELECT 'user ' || n, n * 1.5, CASE WHEN n % 3 = 0 THEN NULL ELSE 'note ' || n END FROM seq;
INSERT INTO accounts (name, balance, note) VALUES ('Zoë 日本語 🦄', 0, 'line one' || char(10) || '.shell echo not a command'), ('Ελληνικά', 1, NULL);
CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB);
INSERT INTO blobs VALUES (1, x'00ff10'), (2, NULL), (3, randomblob(10000));
CREATE TABLE "odd ""name""" (k TEXT);
INSERT INTO "odd ""name""" VALUES ('a'), (NULL);
CREATE TABLE empty_table (x INTEGER);
CREATE INDEX accounts_by_name ON accounts (name);
CREATE VIEW rich AS SELECT id, name FROM accounts WHERE balance > 1000;
`;

const EXPECTED: TableStats = {
  accounts: 1002,
  audit: 1002,
  blobs: 3,
  empty_table: 0,
  'odd "name"': 2,
};

/** The database's own dump, for comparing two databases. */
function dumpOf(file: string): string {
  return sqlite(file, '.dump\n');
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'dv-sqlite-'));
  sourceFile = path.join(dir, 'app.db');
  sqlite(sourceFile, FIXTURE_SQL);
  // Relative to the current directory, as a URL may still be when it reaches an engine.
  src = { url: `sqlite:./${path.relative(process.cwd(), sourceFile)}` };
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('SqliteEngine against the sqlite3 CLI', () => {
  it('resolves relative sqlite: URLs against the current directory', () => {
    expect(src.url).toMatch(/^sqlite:\.\/\.\.\//);
    expect(sqliteFile(src)).toBe(sourceFile);
    expect(sqliteFile({ url: `sqlite://${sourceFile}` })).toBe(sourceFile);
    expect(engine.dumpExtension({ format: 'custom' })).toBe('sql');
    expect(engine.dumpFormat({ format: 'custom' })).toBe('sqlite3-sql');
  });

  it('inspects the file and the sqlite3 version', async () => {
    const info = await engine.inspect(src);

    expect(info).toEqual({
      serverVersion: expect.stringMatching(/^3\.\d+\.\d+$/),
      tool: { name: 'sqlite3', version: info.serverVersion },
      database: sourceFile,
    });
  });

  it('counts the rows of every table', async () => {
    expect(await engine.stats(src)).toEqual(EXPECTED);
  });

  it('restores into a scratch file beside the source that dumps identically', async () => {
    const session = engine.dump(src, { format: 'custom' });
    const dump = await collect(session.output);

    expect(await session.stats).toEqual(EXPECTED);
    expect(dump.toString('utf8')).toMatch(/^PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;\n/);
    expect(dump.toString('utf8')).toMatch(/COMMIT;\n$/);

    const scratch = await engine.createScratch(src, 'Drill 2024-01-01');
    const scratchFile = sqliteFile(scratch);
    expect(scratchFile).toBe(path.join(dir, 'drill_2024_01_01.db'));
    expect(await engine.isEmpty(scratch)).toBe(true);
    await engine.restore(scratch, Readable.from([dump]), { drop: false, dumpFormat: 'sqlite3-sql' });

    expect(await engine.stats(scratch)).toEqual(EXPECTED);
    expect(dumpOf(scratchFile)).toBe(dumpOf(sourceFile));
    expect(sqlite(scratchFile, 'SELECT note FROM accounts WHERE id = 1001;')).toBe(
      'line one\n.shell echo not a command\n',
    );
    sqlite(scratchFile, "INSERT INTO accounts (name) VALUES ('after restore');");
    expect(sqlite(scratchFile, 'SELECT count(*) FROM audit;').trim()).toBe('1003');

    await engine.dropScratch(scratch);
    expect(existsSync(scratchFile)).toBe(false);
  });

  it('dumps a consistent snapshot while another process keeps writing', async () => {
    // ledger is created first and meta last, so .dump reads them far apart in time: only a
    // single read transaction keeps "rows in ledger" equal to "transfers in meta".
    const file = path.join(dir, 'busy.db');
    sqlite(
      file,
      `PRAGMA journal_mode = WAL;
       CREATE TABLE ledger (id INTEGER PRIMARY KEY, amount INTEGER NOT NULL);
       CREATE TABLE filler (id INTEGER PRIMARY KEY, pad TEXT NOT NULL);
       WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < 60000)
         INSERT INTO filler SELECT n, hex(randomblob(60)) FROM seq;
       CREATE TABLE meta (transfers INTEGER NOT NULL, total INTEGER NOT NULL);
       INSERT INTO meta VALUES (0, 0);`,
    );
    const busy = { url: `sqlite:${file}` };
    const writer = spawn('sqlite3', [file], { stdio: ['pipe', 'ignore', 'ignore'] });
    writer.stdin.write('.timeout 10000\nPRAGMA synchronous = OFF;\n');
    let writing = true;
    let i = 0;
    const pump = (): void => {
      while (writing) {
        i++;
        const ok = writer.stdin.write(
          `BEGIN IMMEDIATE; INSERT INTO ledger (amount) VALUES (${i % 7}); UPDATE meta SET transfers = transfers + 1, total = total + ${i % 7}; COMMIT;\n`,
        );
        if (!ok) {
          writer.stdin.once('drain', pump);
          return;
        }
      }
    };
    const transfers = (): number => Number(sqlite(file, 'SELECT transfers FROM meta;'));
    try {
      pump();
      await waitFor(() => transfers() > 100);

      const session = engine.dump(busy, { format: 'custom' });
      const dump = await collect(session.output);
      const stats = await session.stats;
      const afterDump = transfers();

      const copy = { url: `sqlite:${path.join(dir, 'busy-copy.db')}` };
      await engine.restore(copy, Readable.from([dump]), { drop: false, dumpFormat: 'sqlite3-sql' });
      const [rows, sum, metaTransfers, metaTotal] = sqlite(
        sqliteFile(copy),
        'SELECT (SELECT count(*) FROM ledger), (SELECT coalesce(sum(amount), 0) FROM ledger), transfers, total FROM meta;',
      )
        .trim()
        .split('|')
        .map(Number);

      expect(rows).toBe(metaTransfers);
      expect(sum).toBe(metaTotal);
      expect(stats).toEqual({ ledger: rows, filler: 60000, meta: 1 });
      expect(rows).toBeGreaterThan(100);
      // The writer was not blocked: it committed more while the dump ran.
      expect(afterDump).toBeGreaterThan(rows!);
    } finally {
      writing = false;
      writer.stdin.end();
      await new Promise((resolve) => writer.once('close', resolve));
    }
  });

  it('refuses an existing database without drop and replaces it (and its WAL) with drop', async () => {
    const dump = await collect(engine.dump(src, { format: 'custom' }).output);
    const target = path.join(dir, 'existing.db');
    sqlite(target, 'PRAGMA journal_mode = WAL; CREATE TABLE stale (x); INSERT INTO stale VALUES (1);');
    const conn = { url: `sqlite:${target}` };

    const refused = await rejectionOf(
      engine.restore(conn, Readable.from([dump]), { drop: false, dumpFormat: 'sqlite3-sql' }),
    );
    expect(refused).toBeInstanceOf(UserError);
    expect(refused.message).toMatch(/already holds a database: restore with --drop/);
    expect(sqlite(target, 'SELECT count(*) FROM stale;').trim()).toBe('1');

    await engine.restore(conn, Readable.from([dump]), { drop: true, dumpFormat: 'sqlite3-sql' });
    expect(await engine.stats(conn)).toEqual(EXPECTED);
    expect(sqlite(target, "SELECT count(*) FROM sqlite_master WHERE name = 'stale';").trim()).toBe('0');
  });

  it('leaves no file behind when the restore fails, and runs no shell commands from a tampered dump', async () => {
    const target = path.join(dir, 'never.db');
    const marker = path.join(dir, 'pwned');
    const conn = { url: `sqlite:${target}` };

    const bad = await rejectionOf(
      engine.restore(conn, Readable.from(['CREATE TABLE t (x);\nINSERT INTO nope VALUES (1);\n']), {
        drop: false,
        dumpFormat: 'sqlite3-sql',
      }),
    );
    expect(bad).toBeInstanceOf(ToolError);
    expect(bad.message).toMatch(/sqlite3 exited with code 1: .*no such table: nope/);

    const tampered = await rejectionOf(
      engine.restore(conn, Readable.from([`CREATE TABLE t (x);\n.shell touch ${marker}\n`]), {
        drop: false,
        dumpFormat: 'sqlite3-sql',
      }),
    );
    expect(tampered).toBeInstanceOf(ToolError);
    expect(existsSync(marker)).toBe(false);
    expect(existsSync(target)).toBe(false);
    expect((await readdir(dir)).filter((f) => f.includes('restoring'))).toEqual([]);
  });

  it('refuses a source file that does not exist without creating it', async () => {
    const missing = path.join(dir, 'missing.db');

    const error = await rejectionOf(
      collect(engine.dump({ url: `sqlite:${missing}` }, { format: 'custom' }).output),
    );

    expect(error).toBeInstanceOf(UserError);
    expect(error.message).toBe(`SQLite database ${missing} does not exist: fix the path in the source URL`);
    expect(existsSync(missing)).toBe(false);
  });

  it('fails with what to fix when the file is not a database', async () => {
    const garbage = path.join(dir, 'garbage.db');
    await writeFile(garbage, 'this is not an sqlite database, just text that is long enough '.repeat(20));

    const session = engine.dump({ url: `sqlite:${garbage}` }, { format: 'custom' });
    const error = await rejectionOf(collect(session.output));

    expect(error).toBeInstanceOf(ToolError);
    expect(error.message).toMatch(
      /file is not a database.*; the file is not a healthy SQLite database; check the path/,
    );
    expect(await rejectionOf(session.stats)).toBe(error);
  });

  it('splits off the stats line; its dump checker fails a dump that .dump ended with ROLLBACK due to errors', async () => {
    let stats: string | undefined;
    const splitter = new StatsLineSplitter((line) => {
      stats = line;
    }, '/data/app.db');

    const dump = await collect(
      Readable.from([
        '{"t":1}\nPRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;\n',
        '/**** ERROR: (11) database disk image is malformed *****/\nROLLBACK; -- due to errors\n',
      ]).pipe(splitter),
    );
    const checker = engine.dumpChecker({ format: 'custom' });
    checker.write(dump);

    expect(stats).toBe('{"t":1}');
    expect(dump.toString()).toMatch(/^PRAGMA foreign_keys=OFF;\n/);
    expect(checker.finish()).toMatchObject({
      complete: false,
      missing: expect.stringMatching(/ROLLBACK; -- due to errors.*run PRAGMA integrity_check/),
    });
  });

  it('fails the output with a ToolError when sqlite3 is killed mid-stream', async () => {
    const file = path.join(dir, 'big.db');
    sqlite(
      file,
      `CREATE TABLE big (id INTEGER PRIMARY KEY, pad TEXT);
       WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < 30000)
         INSERT INTO big SELECT n, hex(randomblob(50)) FROM seq;`,
    );
    const session = engine.dump({ url: `sqlite:${file}` }, { format: 'custom' });
    await new Promise<Buffer>((resolve) => session.output.once('data', resolve));
    session.output.pause();
    let pid: number | undefined;
    await waitFor(() => {
      pid = childPids('sqlite3')[0];
      return pid !== undefined;
    });

    process.kill(pid!, 'SIGKILL');
    const error = await rejectionOf(collect(session.output));

    expect(error).toBeInstanceOf(ToolError);
    expect(error.message).toMatch(/sqlite3 was killed by SIGKILL/);
  });

  it('fails when the scratch file exists and never deletes a file it did not create', async () => {
    const scratch = await engine.createScratch(src, 'twice');

    const again = await rejectionOf(engine.createScratch(src, 'twice'));
    expect(again).toBeInstanceOf(UserError);
    expect(again.message).toMatch(/already exists: remove it or choose another name/);
    const refused = await rejectionOf(engine.dropScratch(src));
    expect(refused).toBeInstanceOf(UserError);
    expect(existsSync(sourceFile)).toBe(true);
    await engine.dropScratch(scratch);
  });
});
