/**
 * Interoperability both ways: what dumpvault writes is restored with GnuPG, gunzip/zstd and the
 * engines' own tools alone; and a file made by hand (`pg_dump -Fc | gzip | gpg --encrypt`) is
 * restored by `dumpvault restore --from`.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
  sqliteFingerprint,
  uniqueName,
} from '../../support/databases.ts';
import { createWorkspace, type Workspace } from '../../support/workspace.ts';

let ws: Workspace;
let gnupgHome: string;
let pgDb: string;
let myDb: string;
const cleanups: Array<() => void> = [];

const sh = (script: string) =>
  execFileSync('bash', ['-o', 'pipefail', '-c', script], {
    env: { ...process.env, GNUPGHOME: gnupgHome },
    stdio: ['ignore', 'pipe', 'pipe'],
  });

beforeAll(async () => {
  ws = await createWorkspace();
  gnupgHome = await mkdtemp(path.join(tmpdir(), 'dv-gnupg-'));
  sh(`gpg --batch --quiet --import ${ws.privateKey}`);
  pgDb = createPostgresDb();
  myDb = createMariaDb();
  createSqliteDb(path.join(ws.dir, 'app.db'));
  cleanups.push(
    () => dropPostgresDb(pgDb),
    () => dropMariaDb(myDb),
  );
  await ws.writeConfig({
    destinations: { local: { type: 'file', path: './backups' } },
    encryption: { ops: { type: 'openpgp', recipients: ['keys/ops.pub.asc'] } },
    jobs: [
      {
        name: 'pg',
        engine: 'postgres',
        source: { url: `postgres://${PG.user}@${PG.host}:${PG.port}/${pgDb}` },
        destinations: ['local'],
        compression: 'gzip',
        encryption: 'ops',
      },
      {
        name: 'pg-plain',
        engine: 'postgres',
        dumpFormat: 'plain',
        source: { url: `postgres://${PG.user}@${PG.host}:${PG.port}/${pgDb}` },
        destinations: ['local'],
        compression: 'zstd',
        encryption: 'ops',
      },
      {
        name: 'my',
        engine: 'mysql',
        source: { url: `mysql://${MY.user}@${MY.host}:${MY.port}/${myDb}` },
        destinations: ['local'],
        compression: 'zstd',
        encryption: 'ops',
      },
      {
        name: 'lite',
        engine: 'sqlite',
        source: { url: 'sqlite:./app.db' },
        destinations: ['local'],
        compression: 'gzip',
        encryption: 'ops',
      },
    ],
  });
});

afterAll(async () => {
  for (const c of cleanups) {
    try {
      c();
    } catch {
      // best effort
    }
  }
  await rm(gnupgHome, { recursive: true, force: true });
  await ws?.remove();
});

async function backupKey(job: string): Promise<string> {
  const run = await runCli(['backup', job, '--json', '--config', ws.configFile]);
  expect(run.code).toBe(0);
  return path.join(ws.dir, 'backups', (JSON.parse(run.stdout) as { key: string }).key);
}

function newPgDb(): string {
  const db = uniqueName('dvt_pg_interop');
  psql('postgres', `CREATE DATABASE ${db}`);
  cleanups.push(() => dropPostgresDb(db));
  return db;
}

describe('restoring a dumpvault backup without dumpvault', () => {
  it('PostgreSQL custom format: gpg --decrypt | gunzip | pg_restore', async () => {
    const file = await backupKey('pg');
    const target = newPgDb();
    sh(
      `gpg --batch --quiet --decrypt ${file} | gunzip | pg_restore --no-owner -h ${PG.host} -U ${PG.user} -d ${target}`,
    );
    expect(postgresFingerprint(target)).toBe(postgresFingerprint(pgDb));
  });

  it('PostgreSQL plain format: gpg --decrypt | zstd -d | psql', async () => {
    const file = await backupKey('pg-plain');
    const target = newPgDb();
    sh(
      `gpg --batch --quiet --decrypt ${file} | zstd -d -q -c | psql -q -v ON_ERROR_STOP=1 -h ${PG.host} -U ${PG.user} -d ${target} >/dev/null`,
    );
    expect(postgresFingerprint(target)).toBe(postgresFingerprint(pgDb));
  });

  it('MariaDB: gpg --decrypt | zstd -d | mariadb', async () => {
    const file = await backupKey('my');
    const target = uniqueName('dvt_my_interop');
    mariadb(undefined, `CREATE DATABASE ${target} CHARACTER SET utf8mb4`);
    cleanups.push(() => dropMariaDb(target));
    sh(
      `gpg --batch --quiet --decrypt ${file} | zstd -d -q -c | mariadb -h ${MY.host} -u ${MY.user} ${target}`,
    );
    expect(mariaFingerprint(target)).toBe(mariaFingerprint(myDb));
  });

  it('SQLite: gpg --decrypt | gunzip | sqlite3', async () => {
    const file = await backupKey('lite');
    const target = path.join(ws.dir, 'by-hand.db');
    sh(`gpg --batch --quiet --decrypt ${file} | gunzip | sqlite3 ${target}`);
    expect(sqliteFingerprint(target)).toBe(sqliteFingerprint(path.join(ws.dir, 'app.db')));
  });

  it('the object matches the sha256 its manifest records (sha256sum)', async () => {
    const file = await backupKey('lite');
    const manifest = JSON.parse(
      execFileSync('cat', [file.replace(/\.sql\.gz\.gpg$/, '.manifest.json')], { encoding: 'utf8' }),
    ) as { object: { sha256: string } };
    expect(sh(`sha256sum ${file}`).toString().split(' ')[0]).toBe(manifest.object.sha256);
  });
});

describe('restoring a hand-made file with dumpvault restore --from', () => {
  it('pg_dump -Fc | gzip | gpg --encrypt is restored and equals the source', async () => {
    const file = path.join(ws.dir, 'by-hand.pgdump.gz.gpg');
    sh(
      `pg_dump -Fc -h ${PG.host} -U ${PG.user} ${pgDb} | gzip | gpg --batch --quiet --trust-model always --encrypt -r ${ws.fingerprint} -o ${file}`,
    );
    const target = newPgDb();
    const run = await runCli([
      'restore',
      'pg',
      '--from',
      file,
      '--to',
      `postgres://${PG.user}@${PG.host}:${PG.port}/${target}`,
      '--key',
      ws.privateKey,
      '--config',
      ws.configFile,
    ]);
    expect(run.stderr).not.toMatch(/^error/m);
    expect(run.code).toBe(0);
    expect(postgresFingerprint(target)).toBe(postgresFingerprint(pgDb));
  });

  it('a plain SQL dump compressed with zstd and not encrypted is restored too', async () => {
    const file = path.join(ws.dir, 'by-hand.sql.zst');
    sh(`pg_dump -h ${PG.host} -U ${PG.user} ${pgDb} | zstd -q -c > ${file}`);
    const target = newPgDb();
    const run = await runCli([
      'restore',
      'pg',
      '--from',
      file,
      '--to',
      `postgres://${PG.user}@${PG.host}:${PG.port}/${target}`,
      '--config',
      ws.configFile,
    ]);
    expect(run.code).toBe(0);
    expect(postgresFingerprint(target)).toBe(postgresFingerprint(pgDb));
  });
});
