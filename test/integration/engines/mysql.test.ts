/**
 * The MySQL engine against the real MariaDB 10.11 server on this machine (127.0.0.1:3306, root
 * without a password): dump, restore into scratch databases, compare contents; failures surface.
 */
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Connection, TableStats } from '../../../core/engine.ts';
import { ToolError, UserError } from '../../../core/errors.ts';
import { MysqlEngine } from '../../../task-image/engines/mysql.ts';
import { parseMysqlToolVersion } from '../../../task-image/engines/mysql-tools.ts';
import { childPids, collect, mariadb, rejectionOf, uniqueName, waitFor } from './support.ts';

const SERVER = 'mysql://root@127.0.0.1:3306';
const engine = new MysqlEngine();
const source = uniqueName('dv_my_src');
const src: Connection = { url: `${SERVER}/${source}` };
const created = new Set<string>([source]);

const FIXTURE_SQL = `
CREATE TABLE accounts (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(100) NOT NULL,
  balance DECIMAL(12,2) NOT NULL DEFAULT 0, note TEXT NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE audit (id BIGINT AUTO_INCREMENT PRIMARY KEY, account_id INT NOT NULL, what VARCHAR(20) NOT NULL) ENGINE=InnoDB;
CREATE TRIGGER accounts_audit AFTER INSERT ON accounts FOR EACH ROW INSERT INTO audit (account_id, what) VALUES (NEW.id, 'insert');
INSERT INTO accounts (name, balance, note)
  WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < 1000)
  SELECT CONCAT('user ', n), n * 1.5, IF(n % 3 = 0, NULL, CONCAT('note ', n)) FROM seq;
INSERT INTO accounts (name, balance, note) VALUES ('Zoë 日本語 🦄', 0, 'tab\\there\\nnewline'), ('Ελληνικά', 1, NULL);
CREATE TABLE blobs (id INT PRIMARY KEY, data LONGBLOB NULL, flags BIT(8) NULL) ENGINE=InnoDB;
INSERT INTO blobs VALUES (1, X'00FF10', b'10100101'), (2, NULL, NULL), (3, REPEAT(X'AB', 10000), b'1');
CREATE TABLE \`odd name\` (k VARCHAR(10) NULL) ENGINE=InnoDB;
INSERT INTO \`odd name\` VALUES ('a'), (NULL);
CREATE TABLE empty_table (x INT) ENGINE=InnoDB;
CREATE TABLE filler (id INT PRIMARY KEY, pad VARCHAR(100) NOT NULL) ENGINE=InnoDB;
INSERT INTO filler
  WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < 150)
  SELECT a.n * 1000 + b.n, REPEAT(MD5(a.n * 1000 + b.n), 3) FROM seq a CROSS JOIN seq b;
CREATE VIEW rich AS SELECT id, name FROM accounts WHERE balance > 1000;
CREATE PROCEDURE account_count() SELECT COUNT(*) FROM accounts;
CREATE EVENT nightly_cleanup ON SCHEDULE EVERY 1 DAY DISABLE DO DELETE FROM audit WHERE id < 0;
`;

const EXPECTED: TableStats = {
  accounts: 1002,
  audit: 1002,
  blobs: 3,
  empty_table: 0,
  filler: 22500,
  'odd name': 2,
};

/** The dump with the database it came from (named only in comments) replaced by a placeholder. */
function comparable(dump: Buffer, database: string): string {
  return dump.toString('utf8').split(database).join('<database>');
}

function dbOf(conn: Connection): string {
  return decodeURIComponent(new URL(conn.url).pathname.slice(1));
}

/** Every table, view, routine, trigger and event of a database, as `TYPE name`, sorted. */
function objectsOf(database: string): string[] {
  const db = `'${database}'`;
  return mariadb(
    null,
    `SELECT CONCAT(IF(TABLE_TYPE = 'VIEW', 'VIEW', 'TABLE'), ' ', TABLE_NAME) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ${db}
     UNION ALL SELECT CONCAT(ROUTINE_TYPE, ' ', ROUTINE_NAME) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ${db}
     UNION ALL SELECT CONCAT('TRIGGER ', TRIGGER_NAME) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ${db}
     UNION ALL SELECT CONCAT('EVENT ', EVENT_NAME) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ${db};`,
  )
    .trim()
    .split('\n')
    .filter(Boolean)
    .sort();
}

/** Per base table: row count and a checksum of its rows. */
function contentOf(database: string): string {
  const tables = mariadb(
    null,
    `SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = '${database}' AND TABLE_TYPE = 'BASE TABLE' ORDER BY 1;`,
  )
    .trim()
    .split('\n')
    .filter(Boolean);
  return tables
    .map(
      (t) =>
        `${t}: ${mariadb(database, `CHECKSUM TABLE \`${t}\` EXTENDED;`).trim().split('\t').at(-1)} ${mariadb(database, `SELECT COUNT(*) FROM \`${t}\`;`).trim()}`,
    )
    .join('\n');
}

beforeAll(() => {
  mariadb(null, `CREATE DATABASE \`${source}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;`);
  mariadb(source, FIXTURE_SQL);
});

afterAll(() => {
  for (const name of created) mariadb(null, `DROP DATABASE IF EXISTS \`${name}\`;`);
});

describe('MysqlEngine against the real MariaDB server', () => {
  it('names the format: sql / mysqldump-sql', () => {
    expect(engine.dumpExtension({ format: 'custom' })).toBe('sql');
    expect(engine.dumpFormat({ format: 'plain' })).toBe('mysqldump-sql');
  });

  it('inspects the server and the dump tool', async () => {
    const info = await engine.inspect(src);

    expect(info.serverVersion).toMatch(/^10\.11\.\d+-MariaDB/);
    expect(info.tool.name).toMatch(/^(mariadb-dump|mysqldump)$/);
    expect(info.tool.version).toMatch(/^10\.11\.\d+-MariaDB$/);
    expect(info.database).toBe(source);
  });

  it('reads versions of MariaDB and Oracle dump tools', () => {
    expect(
      parseMysqlToolVersion('mariadb-dump  Ver 10.19 Distrib 10.11.19-MariaDB, for debian-linux-gnu'),
    ).toEqual({ version: '10.11.19-MariaDB', mariadb: true });
    expect(parseMysqlToolVersion('mariadb-dump from 11.4.2-MariaDB, client 10.19 for linux-systemd')).toEqual(
      {
        version: '11.4.2-MariaDB',
        mariadb: true,
      },
    );
    expect(
      parseMysqlToolVersion('mysqldump  Ver 8.0.36 for Linux on x86_64 (MySQL Community Server - GPL)'),
    ).toEqual({ version: '8.0.36', mariadb: false });
  });

  it('counts the rows of every base table (views excluded)', async () => {
    expect(await engine.stats(src)).toEqual(EXPECTED);
  });

  it('restores into a scratch database so that a second dump is identical, with view, trigger, routine and event', async () => {
    const session = engine.dump(src, { format: 'custom' });
    const dump = await collect(session.output);
    const text = dump.toString('utf8');

    expect(await session.stats).toEqual(EXPECTED);
    expect(text).not.toMatch(/CREATE DATABASE|^USE /m);
    expect(text).toContain('Zoë 日本語 🦄');
    expect(text).toContain('0x00FF10');

    const scratch = await engine.createScratch(src, `drill-${source}`);
    const scratchDb = dbOf(scratch);
    created.add(scratchDb);
    expect(await engine.isEmpty(scratch)).toBe(true);
    expect(
      mariadb(
        null,
        `SELECT DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '${scratchDb}';`,
      ).trim(),
    ).toBe('utf8mb4_unicode_ci');
    await engine.restore(scratch, Readable.from([dump]), { drop: false, dumpFormat: 'mysqldump-sql' });

    expect(await engine.stats(scratch)).toEqual(EXPECTED);
    expect(comparable(await collect(engine.dump(scratch, { format: 'custom' }).output), scratchDb)).toBe(
      comparable(dump, source),
    );
    expect(mariadb(scratchDb, 'SELECT HEX(data), BIN(flags) FROM blobs WHERE id = 1;').trim()).toBe(
      '00FF10\t10100101',
    );
    expect(mariadb(scratchDb, 'SELECT note IS NULL FROM accounts WHERE id = 3;').trim()).toBe('1');
    expect(mariadb(scratchDb, 'SELECT COUNT(*) FROM rich;').trim()).toBe(
      mariadb(source, 'SELECT COUNT(*) FROM rich;').trim(),
    );
    mariadb(scratchDb, "INSERT INTO accounts (name) VALUES ('after restore');");
    expect(mariadb(scratchDb, 'SELECT COUNT(*) FROM audit;').trim()).toBe('1003');
    expect(mariadb(scratchDb, 'CALL account_count();').trim()).toBe('1003');
    expect(
      mariadb(
        null,
        `SELECT COUNT(*) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = '${scratchDb}';`,
      ).trim(),
    ).toBe('1');

    await engine.dropScratch(scratch);
    expect(mariadb(null, `SHOW DATABASES LIKE '${scratchDb}';`).trim()).toBe('');
  });

  it('refuses a non-empty target without drop, replaces its tables with drop, and creates a missing one', async () => {
    const dump = await collect(engine.dump(src, { format: 'custom' }).output);
    const target = uniqueName('dv_my_new');
    created.add(target);
    const conn = { url: `${SERVER}/${target}` };
    expect(await engine.isEmpty(conn)).toBe(true);
    await engine.restore(conn, Readable.from([dump]), { drop: false, dumpFormat: 'mysqldump-sql' });
    mariadb(target, 'DELETE FROM filler WHERE id > 2000;');

    const refused = await rejectionOf(
      engine.restore(conn, Readable.from([dump]), { drop: false, dumpFormat: 'mysqldump-sql' }),
    );
    expect(refused).toBeInstanceOf(UserError);
    expect(refused.message).toMatch(/already has tables: restore with --drop/);

    await engine.restore(conn, Readable.from([dump]), { drop: true, dumpFormat: 'mysqldump-sql' });
    expect(await engine.stats(conn)).toEqual(EXPECTED);
  });

  // Bug: --drop only lifted the refusal; the dump drops and recreates its own tables, so tables,
  // views, routines and events the target had besides stayed.
  it('with drop leaves exactly the backup: tables, views, routines, triggers and events it does not have are gone', async () => {
    const dump = await collect(engine.dump(src, { format: 'custom' }).output);
    const expected = { objects: objectsOf(source), data: contentOf(source) };
    const target = uniqueName('dv_my_exact');
    created.add(target);
    const conn = { url: `${SERVER}/${target}` };
    await engine.restore(conn, Readable.from([dump]), { drop: false, dumpFormat: 'mysqldump-sql' });
    mariadb(
      target,
      `CREATE TABLE extra_parent (id INT PRIMARY KEY) ENGINE=InnoDB;
       CREATE TABLE extra_child (id INT PRIMARY KEY, parent INT, FOREIGN KEY (parent) REFERENCES extra_parent (id)) ENGINE=InnoDB;
       INSERT INTO extra_parent VALUES (1); INSERT INTO extra_child VALUES (1, 1);
       CREATE TABLE \`odd \`\` extra\` (x INT);
       CREATE VIEW extra_view AS SELECT id FROM extra_parent;
       CREATE VIEW extra_view_of_view AS SELECT id FROM extra_view;
       CREATE PROCEDURE extra_proc() SELECT 1;
       CREATE FUNCTION extra_fn() RETURNS INT DETERMINISTIC RETURN 1;
       CREATE TRIGGER extra_trigger BEFORE INSERT ON blobs FOR EACH ROW SET NEW.flags = NEW.flags;
       CREATE EVENT extra_event ON SCHEDULE EVERY 1 DAY DISABLE DO SELECT 1;
       CREATE SEQUENCE extra_seq;
       DROP VIEW rich;
       DELETE FROM filler WHERE id > 2000;`,
    );
    expect(objectsOf(target)).toEqual(
      expect.arrayContaining([
        'TABLE extra_child',
        'VIEW extra_view',
        'PROCEDURE extra_proc',
        'EVENT extra_event',
      ]),
    );

    await engine.restore(conn, Readable.from([dump]), { drop: true, dumpFormat: 'mysqldump-sql' });

    expect(objectsOf(target)).toEqual(expected.objects);
    expect(contentOf(target)).toEqual(expected.data);
  });

  it('fails the restore when the client hits an error, and refuses foreign formats', async () => {
    const target = uniqueName('dv_my_bad');
    created.add(target);
    const conn = { url: `${SERVER}/${target}` };

    const failing = await rejectionOf(
      engine.restore(conn, Readable.from(['CREATE TABLE ok (x INT);\nSELECT * FROM no_such_table;\n']), {
        drop: false,
        dumpFormat: 'mysqldump-sql',
      }),
    );
    expect(failing).toBeInstanceOf(ToolError);
    expect(failing.message).toMatch(/exited with code 1: .*no_such_table' doesn't exist/);

    const foreign = await rejectionOf(
      engine.restore(conn, Readable.from(['x']), { drop: true, dumpFormat: 'pg_dump-custom' }),
    );
    expect(foreign).toBeInstanceOf(UserError);
    expect(foreign.message).toMatch(/cannot restore a "pg_dump-custom" dump/);
  });

  it('fails a dump of a database that does not exist with a ToolError naming it', async () => {
    const missing = uniqueName('dv_my_missing');
    const session = engine.dump({ url: `${SERVER}/${missing}` }, { format: 'custom' });

    const error = await rejectionOf(collect(session.output));

    expect(error).toBeInstanceOf(ToolError);
    expect(error.message).toContain(`Unknown database '${missing}'`);
    expect(error.message).toContain('create the database or fix its name in the URL');
    expect(await rejectionOf(session.stats)).toBeInstanceOf(ToolError);
  });

  it('reports a rejected login with what to fix and without the password', async () => {
    const password = 'my-Sup3r-s3cret-pw';
    const error = await rejectionOf(
      engine.inspect({ url: `mysql://nobody_${Date.now()}@127.0.0.1:3306/${source}`, password }),
    );

    expect(error).toBeInstanceOf(ToolError);
    expect(error.message).toMatch(/Access denied for user/);
    expect(error.message).toContain('check the user name and the password');
    expect(error.message).not.toContain(password);
  });

  it('fails the output with a ToolError when the dump tool is killed mid-stream', async () => {
    const session = engine.dump(src, { format: 'custom' });
    await new Promise<Buffer>((resolve) => session.output.once('data', resolve));
    session.output.pause();
    const tool = await waitForChild(['mariadb-dump', 'mysqldump']);

    process.kill(tool, 'SIGKILL');
    const error = await rejectionOf(collect(session.output));

    expect(error).toBeInstanceOf(ToolError);
    expect(error.message).toMatch(/was killed by SIGKILL/);
  });

  it('fails when the scratch database exists and never drops a database it did not create', async () => {
    const scratch = await engine.createScratch(src, `twice-${source}`);
    created.add(dbOf(scratch));

    const again = await rejectionOf(engine.createScratch(src, `twice-${source}`));
    expect(again).toBeInstanceOf(UserError);
    expect(again.message).toMatch(/already exists at 127\.0\.0\.1:3306: drop it or choose another name/);
    const refused = await rejectionOf(engine.dropScratch(src));
    expect(refused).toBeInstanceOf(UserError);
    expect(mariadb(null, `SHOW DATABASES LIKE '${source}';`).trim()).toBe(source);
    await engine.dropScratch(scratch);
  });

  it('says which client to install when neither mariadb nor mysql tools are on PATH', async () => {
    const path = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      const error = await rejectionOf(collect(engine.dump(src, { format: 'custom' }).output));

      expect(error).toBeInstanceOf(ToolError);
      expect(error.message).toBe(
        'mariadb-dump or mysqldump is not installed or not on PATH; install mariadb-client (or mysql-client)',
      );
    } finally {
      process.env.PATH = path;
    }
  });

  it('refuses URLs with a password or parameters before running anything', async () => {
    await expect(engine.stats({ url: 'mysql://root:pw@127.0.0.1:3306/x' })).rejects.toThrow(
      /contains a password/,
    );
    await expect(engine.stats({ url: 'mysql://root@127.0.0.1:3306/x?ssl-mode=REQUIRED' })).rejects.toThrow(
      /does not support URL parameters/,
    );
    await expect(engine.stats({ url: 'mysql://root@127.0.0.1:3306/' })).rejects.toThrow(
      /add the database name/,
    );
  });
});

async function waitForChild(names: readonly string[]): Promise<number> {
  let pid: number | undefined;
  await waitFor(() => {
    pid = names.flatMap((n) => childPids(n))[0];
    return pid !== undefined;
  });
  return pid!;
}
