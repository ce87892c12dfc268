/**
 * Local restore drills (`dumpvault drill <job>`): the latest backup restored into a scratch
 * database on the same server (a temp file for SQLite), compared with the manifest, dropped.
 */
import { readdir, readFile, writeFile } from 'node:fs/promises';
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
  PG,
  psql,
} from '../../support/databases.ts';
import { createWorkspace, type Workspace } from '../../support/workspace.ts';

let ws: Workspace;
let pgDb: string;
let myDb: string;

/**
 * The scratch databases a drill run left on the servers: named `<job>_drill_<runId>`, so only
 * that run's count. (Comparing every `localdrill_` database before and after failed when a
 * second copy of the suite ran at once: its drills create and drop databases of the same
 * prefix in between.)
 */
function leftBehind(runId: string): string[] {
  const ofRun = (d: string) => d.startsWith('localdrill_') && d.endsWith(`_${runId}`);
  return [
    ...psql('postgres', 'SELECT datname FROM pg_database ORDER BY 1').trim().split('\n').filter(ofRun),
    ...mariadb(undefined, 'SHOW DATABASES').trim().split('\n').filter(ofRun),
  ];
}

beforeAll(async () => {
  ws = await createWorkspace();
  pgDb = createPostgresDb();
  myDb = createMariaDb();
  createSqliteDb(path.join(ws.dir, 'app.db'));
  await ws.writeConfig({
    destinations: { local: { type: 'file', path: './backups' } },
    encryption: { ops: { type: 'openpgp', recipients: ['keys/ops.pub.asc'] } },
    jobs: [
      {
        name: 'localdrill-pg',
        engine: 'postgres',
        source: { url: `postgres://${PG.user}@${PG.host}:${PG.port}/${pgDb}` },
        destinations: ['local'],
        encryption: 'ops',
      },
      {
        name: 'localdrill-my',
        engine: 'mysql',
        source: { url: `mysql://${MY.user}@${MY.host}:${MY.port}/${myDb}` },
        destinations: ['local'],
        encryption: 'ops',
      },
      {
        name: 'localdrill-lite',
        engine: 'sqlite',
        source: { url: 'sqlite:./app.db' },
        destinations: ['local'],
        encryption: 'ops',
      },
    ],
  });
});

afterAll(async () => {
  dropPostgresDb(pgDb);
  dropMariaDb(myDb);
  await ws?.remove();
});

const env = () => ({ DUMPVAULT_PRIVATE_KEY: ws.privateKey });

describe.each(['localdrill-pg', 'localdrill-my', 'localdrill-lite'])('drill %s', (job) => {
  it('restores the latest backup into a scratch target, verifies it, drops it, records kind drill', async () => {
    expect((await runCli(['backup', job, '--config', ws.configFile], env())).code).toBe(0);
    const filesBefore = await readdir(ws.dir);

    const run = await runCli(['drill', job, '--json', '--config', ws.configFile], env());

    expect(run.stderr).not.toMatch(/^error/m);
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout) as {
      comparison: { matches: boolean; tablesCompared: number };
      dropped: boolean;
      target: string;
    };
    expect(result.comparison.matches).toBe(true);
    expect(result.comparison.tablesCompared).toBeGreaterThanOrEqual(2);
    expect(result.dropped).toBe(true);
    expect(result.target).toMatch(/_drill_/);
    expect(await readdir(ws.dir)).toEqual(filesBefore);
    const [latest] = await new LocalHistoryStore(path.join(ws.dir, '.dumpvault')).list(job);
    expect(latest).toMatchObject({ kind: 'drill', status: 'SUCCEEDED' });
    expect(result.target).toContain(latest!.runId);
    expect(leftBehind(latest!.runId)).toEqual([]);
  });
});

describe('a drill that must fail', () => {
  it('names the table whose row count disagrees with the manifest, records FAILED and still drops the scratch database', async () => {
    expect((await runCli(['backup', 'localdrill-pg', '--config', ws.configFile], env())).code).toBe(0);
    const folder = path.join(ws.dir, 'backups', 'localdrill-pg');
    const manifestFile = (await readdir(folder))
      .filter((f) => f.endsWith('.manifest.json'))
      .sort()
      .at(-1)!;
    const manifest = JSON.parse(await readFile(path.join(folder, manifestFile), 'utf8'));
    manifest.stats.tables['public.orders'] += 1;
    await writeFile(path.join(folder, manifestFile), JSON.stringify(manifest));

    const run = await runCli(['drill', 'localdrill-pg', '--config', ws.configFile], env());

    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/public\.orders: expected \d+ rows, found \d+/);
    const [latest] = await new LocalHistoryStore(path.join(ws.dir, '.dumpvault')).list('localdrill-pg');
    expect(latest).toMatchObject({ kind: 'drill', status: 'FAILED' });
    expect(leftBehind(latest!.runId)).toEqual([]);
    expect(latest?.error).toMatch(/public\.orders/);
  });

  it.each([
    ['localdrill-pg', 'views'],
    ['localdrill-my', 'routines'],
  ])(
    '%s: verify --key and drill fail naming the object kind when the manifest records more %s than the backup holds',
    async (job, kind) => {
      expect((await runCli(['backup', job, '--config', ws.configFile], env())).code).toBe(0);
      const folder = path.join(ws.dir, 'backups', job);
      const manifestFile = (await readdir(folder))
        .filter((f) => f.endsWith('.manifest.json'))
        .sort()
        .at(-1)!;
      const manifest = JSON.parse(await readFile(path.join(folder, manifestFile), 'utf8'));
      const recorded: number = manifest.stats.objects[kind];
      manifest.stats.objects[kind] = recorded + 1;
      await writeFile(path.join(folder, manifestFile), JSON.stringify(manifest));
      const counted = (n: number) => `${n} ${n === 1 ? kind.replace(/s$/, '') : kind}`;
      const difference = `manifest records ${counted(recorded + 1)}, the dump defines ${recorded}`;

      const verify = await runCli(['verify', job, '--key', ws.privateKey, '--config', ws.configFile], env());
      const drill = await runCli(['drill', job, '--config', ws.configFile], env());

      expect(verify.code).not.toBe(0);
      expect(verify.stderr).toContain(difference);
      expect(drill.code).toBe(1);
      expect(drill.stderr).toContain(difference);
      const [latest] = await new LocalHistoryStore(path.join(ws.dir, '.dumpvault')).list(job);
      expect(latest).toMatchObject({
        kind: 'drill',
        status: 'FAILED',
        error: expect.stringContaining(difference),
      });
    },
  );

  it('verify --key prints that the dump is complete and what it defines', async () => {
    expect((await runCli(['backup', 'localdrill-lite', '--config', ws.configFile], env())).code).toBe(0);

    const run = await runCli(
      ['verify', 'localdrill-lite', '--key', ws.privateKey, '--config', ws.configFile],
      env(),
    );

    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/the dump is complete; it defines \d+ tables?, \d+ views?, \d+ triggers?/);
  });
});
