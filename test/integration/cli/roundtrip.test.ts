/**
 * Backup -> restore -> content equal, through the real CLI, against the real PostgreSQL and
 * MariaDB servers and real SQLite files, for gzip and zstd, encrypted and not, to a file
 * destination and to S3 (s3rver on loopback).
 */
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
import { S3RVER_ENV, type S3rverHandle, s3rverDestination, startS3rver } from '../../support/s3rver.ts';
import { createWorkspace, type Workspace } from '../../support/workspace.ts';

type Engine = 'postgres' | 'mysql' | 'sqlite';
interface Case {
  engine: Engine;
  compression: 'gzip' | 'zstd' | 'none';
  encrypted: boolean;
  dest: 'local' | 's3';
}

// Every engine with every (compression, encryption, destination) combination would be 24
// runs; all pairs of those three settings appear at least once per engine in these 4.
const COMBOS: Omit<Case, 'engine'>[] = [
  { compression: 'gzip', encrypted: true, dest: 'local' },
  { compression: 'zstd', encrypted: true, dest: 's3' },
  { compression: 'gzip', encrypted: false, dest: 's3' },
  { compression: 'zstd', encrypted: false, dest: 'local' },
];
const CASES: Case[] = (['sqlite', 'postgres', 'mysql'] as const).flatMap((engine) =>
  COMBOS.map((c) => ({ engine, ...c })),
);
CASES.push({ engine: 'postgres', compression: 'none', encrypted: true, dest: 'local' });

let ws: Workspace;
let s3: S3rverHandle;
const cleanups: Array<() => void> = [];
let source: Record<Engine, { url: string; fingerprint: () => string }>;

beforeAll(async () => {
  ws = await createWorkspace();
  s3 = await startS3rver({ buckets: ['backups'] });
  const pgDb = createPostgresDb();
  const myDb = createMariaDb();
  const sqliteFile = path.join(ws.dir, 'source.db');
  createSqliteDb(sqliteFile);
  cleanups.push(
    () => dropPostgresDb(pgDb),
    () => dropMariaDb(myDb),
  );
  source = {
    postgres: {
      url: `postgres://${PG.user}@${PG.host}:${PG.port}/${pgDb}`,
      fingerprint: () => postgresFingerprint(pgDb),
    },
    mysql: {
      url: `mysql://${MY.user}@${MY.host}:${MY.port}/${myDb}`,
      fingerprint: () => mariaFingerprint(myDb),
    },
    sqlite: { url: `sqlite:./source.db`, fingerprint: () => sqliteFingerprint(sqliteFile) },
  };
  await ws.writeConfig({
    destinations: {
      local: { type: 'file', path: './backups' },
      s3: s3rverDestination(s3, 'backups', { prefix: 'dv/' }),
    },
    encryption: { ops: { type: 'openpgp', recipients: ['keys/ops.pub.asc'] } },
    jobs: CASES.map((c, i) => ({
      name: `${c.engine}-${i}`,
      engine: c.engine,
      source: { url: source[c.engine].url },
      destinations: [c.dest],
      compression: c.compression,
      ...(c.encrypted ? { encryption: 'ops' } : {}),
      retention: { keepLast: 5 },
    })),
  });
});

afterAll(async () => {
  for (const c of cleanups) {
    try {
      c();
    } catch {
      // best effort: a failed cleanup must not hide the test result
    }
  }
  await s3?.stop();
  await ws?.remove();
});

const env = () => ({
  ...S3RVER_ENV,
  DUMPVAULT_PRIVATE_KEY: ws.privateKey,
});

/** A fresh empty restore target of the engine and a way to fingerprint it. */
function newTarget(engine: Engine): { url: string; fingerprint: () => string } {
  if (engine === 'postgres') {
    const db = uniqueName('dvt_pg_restore');
    psql('postgres', `CREATE DATABASE ${db}`);
    cleanups.push(() => dropPostgresDb(db));
    return {
      url: `postgres://${PG.user}@${PG.host}:${PG.port}/${db}`,
      fingerprint: () => postgresFingerprint(db),
    };
  }
  if (engine === 'mysql') {
    const db = uniqueName('dvt_my_restore');
    mariadb(undefined, `CREATE DATABASE ${db} CHARACTER SET utf8mb4`);
    cleanups.push(() => dropMariaDb(db));
    return { url: `mysql://${MY.user}@${MY.host}:${MY.port}/${db}`, fingerprint: () => mariaFingerprint(db) };
  }
  const file = path.join(ws.dir, `${uniqueName('restored')}.db`);
  return { url: `sqlite:${file}`, fingerprint: () => sqliteFingerprint(file) };
}

describe.each(CASES.map((c, i) => ({ ...c, job: `${c.engine}-${i}` })))(
  '$engine, $compression, encrypted=$encrypted, to $dest',
  ({ engine, compression, encrypted, dest, job }) => {
    it('restores exactly what was dumped', async () => {
      const backup = await runCli(['backup', job, '--json', '--config', ws.configFile], env());
      expect(backup.stderr).not.toMatch(/error/i);
      expect(backup.code).toBe(0);
      const result = JSON.parse(backup.stdout) as {
        key: string;
        bytes: number;
        tables: Record<string, number>;
      };
      const ext = `${compression === 'gzip' ? '.gz' : compression === 'zstd' ? '.zst' : ''}${encrypted ? '.gpg' : ''}`;
      expect(result.key.endsWith(ext)).toBe(true);
      expect(Object.keys(result.tables).length).toBeGreaterThanOrEqual(2);

      const list = await runCli(['list', job, '--json', '--config', ws.configFile], env());
      expect(list.code).toBe(0);
      const listed = JSON.parse(list.stdout) as Array<{ key: string; encryption: string }>;
      expect(listed.map((l) => l.key)).toContain(result.key);
      expect(listed[0]!.encryption).toBe(encrypted ? 'openpgp' : 'none');
      if (dest === 'local') expect(await ws.files('backups')).toContain(result.key);

      const target = newTarget(engine);
      const restore = await runCli(
        ['restore', job, 'latest', '--to', target.url, '--json', '--config', ws.configFile],
        env(),
      );
      expect(restore.stderr).not.toMatch(/^error/m);
      expect(restore.code).toBe(0);
      const restored = JSON.parse(restore.stdout) as {
        comparison: { matches: boolean; tablesCompared: number };
      };
      expect(restored.comparison.matches).toBe(true);
      expect(target.fingerprint()).toBe(source[engine].fingerprint());
    });
  },
);

describe('restore --from an s3:// URL of a prefixed destination', () => {
  it('reads the full key with the destination’s endpoint and credentials', async () => {
    const job = CASES.findIndex((c) => c.engine === 'sqlite' && c.dest === 's3' && c.encrypted);
    const name = `sqlite-${job}`;
    const backup = await runCli(['backup', name, '--json', '--config', ws.configFile], env());
    expect(backup.code).toBe(0);
    const key = (JSON.parse(backup.stdout) as { key: string }).key;
    const target = newTarget('sqlite');
    const run = await runCli(
      ['restore', name, '--from', `s3://backups/dv/${key}`, '--to', target.url, '--config', ws.configFile],
      env(),
    );
    expect(run.stderr).not.toMatch(/^error/m);
    expect(run.code).toBe(0);
    expect(target.fingerprint()).toBe(source.sqlite.fingerprint());
  });
});
