/**
 * The CLI refuses names a tool could read as an option, and secrets in a URL's query string,
 * in `--to` targets — with one sentence, exit 2, before anything is touched — and passes
 * option-looking file names below a directory safely. Real MariaDB and sqlite3.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../support/cli.ts';
import { createSqliteDb, mariadb, sqliteFingerprint, uniqueName } from '../../support/databases.ts';
import { createWorkspace, type Workspace } from '../../support/workspace.ts';

let ws: Workspace;
const source = uniqueName('dvt_my_optsrc');
const victim = uniqueName('dvt_my_victim');
const SERVER = 'mysql://root@127.0.0.1:3306';
const victimRows = () => mariadb(undefined, `SELECT id, name FROM \`${victim}\`.customers ORDER BY id`);

beforeAll(async () => {
  ws = await createWorkspace();
  mariadb(
    undefined,
    `CREATE DATABASE ${source}; CREATE TABLE ${source}.customers (id INT PRIMARY KEY, name VARCHAR(20));
     INSERT INTO ${source}.customers VALUES (9, 'from-backup');
     CREATE DATABASE ${victim}; CREATE TABLE ${victim}.customers (id INT PRIMARY KEY, name VARCHAR(20));
     INSERT INTO ${victim}.customers VALUES (1, 'victim-a'), (2, 'victim-b');`,
  );
  createSqliteDb(path.join(ws.dir, '--help'));
  await ws.writeConfig({
    destinations: { local: { type: 'file', path: './backups' } },
    jobs: [
      { name: 'shop', engine: 'mysql', source: { url: `${SERVER}/${source}` }, destinations: ['local'] },
      // A file whose name looks like an option, below the config's directory.
      { name: 'lite', engine: 'sqlite', source: { url: 'sqlite:./--help' }, destinations: ['local'] },
    ],
  });
  const backups = await Promise.all(
    ['shop', 'lite'].map((job) => runCli(['backup', job, '--config', ws.configFile])),
  );
  for (const run of backups) expect(run.code, run.stderr).toBe(0);
});

afterAll(async () => {
  mariadb(undefined, `DROP DATABASE IF EXISTS ${source}; DROP DATABASE IF EXISTS ${victim};`);
  mariadb(undefined, `DROP DATABASE IF EXISTS \`--database=${victim}\``);
  await ws?.remove();
});

describe('restore --to with option-shaped names and secrets in the query string', () => {
  it('refuses --to mysql://…/--database=<victim> with one sentence and exit 2; the victim keeps its rows', async () => {
    const before = victimRows();

    const run = await runCli([
      'restore',
      'shop',
      '--to',
      `${SERVER}/--database=${victim}`,
      '--drop',
      '--yes',
      '--config',
      ws.configFile,
    ]);

    expect(run.code).toBe(2);
    expect(run.stderr.trim()).toBe(
      `error: --to: the database name "--database=${victim}" starts with "-", which a database tool could take for an option: use a database name that starts with a letter, digit, "_" or "."`,
    );
    expect(victimRows()).toBe(before);
    expect(mariadb(undefined, `SHOW DATABASES LIKE '--database=${victim}'`)).toBe('');
  });

  it('refuses a --to URL with ?password= in its query string without echoing the password', async () => {
    const run = await runCli([
      'restore',
      'shop',
      '--to',
      `${SERVER}/${uniqueName('dvt_my_never')}?password=Qu3ry-Secret-81f2`,
      '--config',
      ws.configFile,
    ]);

    expect(run.code).toBe(2);
    expect(run.stderr.trim()).toBe(
      'error: --to: has the secret parameter "password" in its query string: remove it from the URL and use "passwordEnv" (local) or "passwordSecret" (AWS)',
    );
    expect(run.stdout + run.stderr).not.toContain('Qu3ry-Secret-81f2');
  });

  it('refuses --to sqlite:-restored.db, and restores sqlite:./--help into ./-restored.db by absolute path', async () => {
    const refused = await runCli([
      'restore',
      'lite',
      '--to',
      'sqlite:-restored.db',
      '--config',
      ws.configFile,
    ]);
    const target = path.join(ws.dir, '-restored.db');
    const restored = await runCli([
      'restore',
      'lite',
      '--to',
      `sqlite:${path.relative(process.cwd(), target)}`,
      '--config',
      ws.configFile,
    ]);

    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('--to: the file path "-restored.db" starts with "-"');
    expect(restored.code, restored.stderr).toBe(0);
    expect(sqliteFingerprint(target)).toBe(sqliteFingerprint(path.join(ws.dir, '--help')));
  });
});
