/**
 * A MariaDB backup user that cannot read every object. mariadb-dump leaves out, and still exits
 * 0 for, the stored procedures and functions it may not read (the README's former grant list
 * did exactly that), the triggers of tables it holds no TRIGGER privilege on and the tables it
 * holds no privilege on at all. `check` must name what the user cannot read and the grant to
 * add; `backup` must fail before anything is uploaded. The documented grants (docs/configuration.md), read from the
 * file itself so the two cannot drift, must give a complete dump, routines included.
 * Real MariaDB, real users (unique names, dropped afterwards).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalHistoryStore } from '../../../core/history/local.ts';
import { runCli } from '../../support/cli.ts';
import { MY, mariadb, uniqueName } from '../../support/databases.ts';
import { TIMEOUT } from '../../support/timeouts.ts';
import { createWorkspace, type Workspace } from '../../support/workspace.ts';

let ws: Workspace;
const db = uniqueName('dvt_my_priv');
const restored = uniqueName('dvt_my_priv_restored');
const users = {
  readme: uniqueName('dvt_readme'),
  noProc: uniqueName('dvt_noproc'),
  noTrigger: uniqueName('dvt_notrig'),
  someTables: uniqueName('dvt_some'),
};

/** The MariaDB GRANT statements of docs/configuration.md (the README links there), for `database` and `user`. */
async function readmeGrants(database: string, user: string): Promise<string[]> {
  const readme = await readFile(path.join(import.meta.dirname, '../../../docs/configuration.md'), 'utf8');
  const section = /MariaDB up to 11\.2[\s\S]*?```sql\n([\s\S]*?)```/.exec(readme);
  if (!section) throw new Error('docs/configuration.md has no "MariaDB up to 11.2" ```sql block of grants');
  return section[1]!
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith('GRANT '))
    .map((l) => l.replaceAll(' app.* ', ` \`${database}\`.* `).replaceAll("'backup'@'%'", `'${user}'@'%'`));
}

function job(name: string, user: string) {
  return {
    name,
    engine: 'mysql',
    source: { url: `mysql://${user}@${MY.host}:${MY.port}/${db}` },
    destinations: ['local'],
  };
}

beforeAll(async () => {
  ws = await createWorkspace();
  mariadb(undefined, `CREATE DATABASE \`${db}\``);
  mariadb(
    db,
    `CREATE TABLE accounts (id INT PRIMARY KEY, balance INT NOT NULL) ENGINE=InnoDB;
     CREATE TABLE audit (id INT AUTO_INCREMENT PRIMARY KEY, account_id INT) ENGINE=InnoDB;
     CREATE TRIGGER accounts_audit AFTER INSERT ON accounts FOR EACH ROW INSERT INTO audit (account_id) VALUES (NEW.id);
     INSERT INTO accounts VALUES (1, 10), (2, 20), (3, 30);
     CREATE VIEW rich AS SELECT id FROM accounts WHERE balance > 15;
     CREATE PROCEDURE close_account(IN which INT) DELETE FROM accounts WHERE id = which;
     CREATE FUNCTION total_balance() RETURNS INT READS SQL DATA RETURN (SELECT SUM(balance) FROM accounts);
     CREATE EVENT nightly ON SCHEDULE EVERY 1 DAY DISABLE DO DELETE FROM audit WHERE id < 0;`,
  );
  const grants = await readmeGrants(db, users.readme);
  // The README names two grants: the database's objects and the routines of MariaDB ≤ 11.2.
  expect(grants).toHaveLength(2);
  const withoutProc = (await readmeGrants(db, users.noProc)).filter((g) => !g.includes('mysql.proc'));
  mariadb(
    undefined,
    [
      ...Object.values(users).map((u) => `CREATE USER '${u}'@'%';`),
      ...grants.map((g) => `${g};`),
      ...withoutProc.map((g) => `${g};`),
      `GRANT SELECT, EVENT ON \`${db}\`.* TO '${users.noTrigger}'@'%';`,
      `GRANT SELECT ON mysql.proc TO '${users.noTrigger}'@'%';`,
      `GRANT SELECT, TRIGGER ON \`${db}\`.\`accounts\` TO '${users.someTables}'@'%';`,
      `GRANT SELECT ON mysql.proc TO '${users.someTables}'@'%';`,
    ].join('\n'),
  );
  await ws.writeConfig({
    destinations: { local: { type: 'file', path: './backups' } },
    jobs: [
      job('readme', users.readme),
      job('no-proc', users.noProc),
      job('no-trigger', users.noTrigger),
      job('some-tables', users.someTables),
    ],
  });
}, TIMEOUT.setup);

afterAll(async () => {
  mariadb(
    undefined,
    [
      `DROP DATABASE IF EXISTS \`${db}\`;`,
      `DROP DATABASE IF EXISTS \`${restored}\`;`,
      ...Object.values(users).map((u) => `DROP USER IF EXISTS '${u}'@'%';`),
    ].join('\n'),
  );
  await ws?.remove();
});

describe('a MariaDB backup user with exactly the README’s grants', () => {
  it(
    'passes check and backs up a dump whose restore has the procedure, function, trigger, view and event',
    async () => {
      const check = await runCli(['check', 'readme', '--config', ws.configFile]);
      expect(check.stdout).toMatch(/^ok +source /m);
      expect(check.code).toBe(0);

      const backup = await runCli(['backup', 'readme', '--config', ws.configFile]);
      expect(backup.stderr).not.toMatch(/^error/m);
      expect(backup.code).toBe(0);
      const restore = await runCli([
        'restore',
        'readme',
        'latest',
        '--to',
        `mysql://${MY.user}@${MY.host}:${MY.port}/${restored}`,
        '--config',
        ws.configFile,
      ]);
      expect(restore.stderr).not.toMatch(/^error/m);
      expect(restore.code).toBe(0);

      const objects = (sql: string) => mariadb(undefined, sql).trim().split('\n').sort();
      expect(
        objects(
          `SELECT CONCAT(ROUTINE_TYPE, ' ', ROUTINE_NAME) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = '${restored}'`,
        ),
      ).toEqual(['FUNCTION total_balance', 'PROCEDURE close_account']);
      expect(mariadb(restored, 'SELECT total_balance();').trim()).toBe('60');
      expect(
        objects(`SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '${restored}'`),
      ).toEqual(['accounts_audit']);
      expect(
        objects(`SELECT TABLE_NAME FROM information_schema.VIEWS WHERE TABLE_SCHEMA = '${restored}'`),
      ).toEqual(['rich']);
      expect(
        objects(`SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = '${restored}'`),
      ).toEqual(['nightly']);
    },
    TIMEOUT.roundTrips,
  );
});

describe('a MariaDB backup user that cannot read everything', () => {
  it(
    'check names the routines and the grant to add; backup fails before uploading anything',
    async () => {
      const check = await runCli(['check', 'no-proc', '--config', ws.configFile]);
      expect(check.code).toBe(1);
      expect(check.stdout).toMatch(
        new RegExp(
          `^FAIL +source +The backup user cannot see the stored procedures and functions of \`${db}\` .*; GRANT SELECT ON mysql\\.proc TO '${users.noProc}'@'%'\\.$`,
          'm',
        ),
      );

      const backup = await runCli(['backup', 'no-proc', '--config', ws.configFile]);
      expect(backup.code).toBe(1);
      expect(backup.stderr).toContain(`GRANT SELECT ON mysql.proc TO '${users.noProc}'@'%'`);
      const history = await new LocalHistoryStore(`${ws.dir}/.dumpvault`).list('no-proc');
      expect(history.map((h) => h.status)).toEqual(['FAILED']);
      expect(history[0]!.error).toContain('stored procedures and functions');
      expect((await ws.files('backups')).filter((f) => f.includes('no-proc'))).toEqual([]);
    },
    TIMEOUT.roundTrips,
  );

  it(
    'check prints one sentence per kind it cannot read: view definitions and triggers',
    async () => {
      const check = await runCli(['check', 'no-trigger', '--config', ws.configFile]);

      expect(check.code).toBe(1);
      const lines = check.stdout.split('\n');
      const first = lines.findIndex((l) => /^FAIL +source /.test(l));
      expect(lines[first]).toContain(
        `cannot read the definition of these views of \`${db}\`: \`rich\`; GRANT SHOW VIEW ON \`${db}\`.* TO '${users.noTrigger}'@'%'.`,
      );
      expect(lines[first + 1]).toMatch(
        new RegExp(
          `^ {29}The backup user cannot see the triggers of .*; GRANT TRIGGER ON \`${db}\`\\.\\* TO`,
        ),
      );
      expect(check.stdout).not.toContain('stored procedures');
      const backup = await runCli(['backup', 'no-trigger', '--config', ws.configFile]);
      expect(backup.code).toBe(1);
      expect((await ws.files('backups')).filter((f) => f.includes('no-trigger'))).toEqual([]);
    },
    TIMEOUT.roundTrips,
  );

  it(
    'fails when the user holds SELECT on some tables only: the others are invisible to it',
    async () => {
      const check = await runCli(['check', 'some-tables', '--config', ws.configFile, '--json']);

      expect(check.code).toBe(1);
      const result = JSON.parse(check.stdout) as { checks: Array<{ check: string; problems?: string[] }> };
      const problems = result.checks.find((c) => c.check === 'source')?.problems ?? [];
      expect(problems[0]).toContain(
        `cannot read every table and view of \`${db}\`: without SELECT on the whole database`,
      );
      expect(problems[0]).toContain(`GRANT SELECT ON \`${db}\`.* TO '${users.someTables}'@'%'`);
      const backup = await runCli(['backup', 'some-tables', '--config', ws.configFile]);
      expect(backup.code).toBe(1);
      expect((await ws.files('backups')).filter((f) => f.includes('some-tables'))).toEqual([]);
    },
    TIMEOUT.roundTrips,
  );
});
