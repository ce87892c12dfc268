/**
 * The failure contract (DESIGN.md §6), each case through the CLI: no partial object in any
 * destination, history FAILED with a one-line cause, an alert, a non-zero exit code, retention
 * not run, one clear sentence for bad input, and no secret anywhere in what the run produced.
 */
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalHistoryStore } from '../../../core/history/local.ts';
import { runCli } from '../../support/cli.ts';
import {
  createPostgresDb,
  createSqliteDb,
  dropPostgresDb,
  PG,
  psql,
  sqlite,
  uniqueName,
} from '../../support/databases.ts';
import { S3RVER_ENV, type S3rverHandle, s3rverDestination, startS3rver } from '../../support/s3rver.ts';
import { createWorkspace, type Workspace } from '../../support/workspace.ts';

const PASSWORD = 'Sup3r-Secret-Pa55word-7f3a';
const PASSPHRASE = 'correct-horse-battery-staple-91x';

let ws: Workspace;
let s3: S3rverHandle;
let pgDb: string;

const env = () => ({
  ...S3RVER_ENV,
  DV_PG_PASSWORD: PASSWORD,
  DV_PASSPHRASE: PASSPHRASE,
});

function baseConfig(overrides: { jobs: unknown[] }) {
  return {
    destinations: {
      local: { type: 'file', path: './backups' },
      s3: s3rverDestination(s3, 'backups'),
    },
    encryption: {
      ops: { type: 'openpgp', recipients: ['keys/ops.pub.asc'] },
      pass: { type: 'passphrase', passphraseEnv: 'DV_PASSPHRASE' },
    },
    ...overrides,
  };
}

async function s3Keys(): Promise<string[]> {
  const { ListObjectsV2Command } = await import('@aws-sdk/client-s3');
  const out = await s3.client.send(new ListObjectsV2Command({ Bucket: 'backups' }));
  return (out.Contents ?? []).map((o) => o.Key ?? '');
}

beforeAll(async () => {
  ws = await createWorkspace();
  s3 = await startS3rver({ buckets: ['backups'] });
  pgDb = createPostgresDb();
  createSqliteDb(path.join(ws.dir, 'app.db'));
  await ws.writeConfig(
    baseConfig({
      jobs: [
        {
          name: 'pg-ok',
          engine: 'postgres',
          source: {
            url: `postgres://${PG.user}@${PG.host}:${PG.port}/${pgDb}`,
            passwordEnv: 'DV_PG_PASSWORD',
          },
          destinations: ['local', 's3'],
          encryption: 'pass',
        },
        {
          name: 'pg-missing',
          engine: 'postgres',
          source: {
            url: `postgres://${PG.user}@${PG.host}:${PG.port}/no_such_db_dv`,
            passwordEnv: 'DV_PG_PASSWORD',
          },
          destinations: ['local', 's3'],
          encryption: 'ops',
        },
        {
          name: 'lite',
          engine: 'sqlite',
          source: { url: 'sqlite:./app.db' },
          destinations: ['local'],
          encryption: 'ops',
          retention: { keepLast: 5 },
        },
      ],
    }),
  );
});

afterAll(async () => {
  dropPostgresDb(pgDb);
  await s3?.stop();
  await ws?.remove();
});

describe('a dump tool that fails', () => {
  it('leaves no object or manifest anywhere, records FAILED with the cause, alerts and exits 1', async () => {
    const run = await runCli(['backup', 'pg-missing', '--config', ws.configFile], env());

    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^error: .*no_such_db_dv/m);
    expect((await ws.files('backups')).filter((f) => f.startsWith('pg-missing'))).toEqual([]);
    expect((await s3Keys()).filter((k) => k.startsWith('pg-missing'))).toEqual([]);
    expect(await s3.pendingUploads('backups')).toEqual([]);
    const [item] = await new LocalHistoryStore(path.join(ws.dir, '.dumpvault')).list('pg-missing');
    expect(item?.status).toBe('FAILED');
    expect(item?.error).toMatch(/pg_dump|no_such_db_dv/);
    const alerts = await readFile(path.join(ws.dir, '.dumpvault', 'alerts.log'), 'utf8');
    expect(alerts).toMatch(/"status":"FAILED".*"job":"pg-missing"|"job":"pg-missing".*"status":"FAILED"/);
  });

  it('alerts once per failing streak, then once when the job recovers', async () => {
    const alertsFile = path.join(ws.dir, '.dumpvault', 'alerts.log');
    const count = async (status: string) =>
      (await readFile(alertsFile, 'utf8').catch(() => ''))
        .split('\n')
        .filter((l) => l.includes('"job":"lite"') && l.includes(`"status":"${status}"`)).length;
    await copyFile(path.join(ws.dir, 'app.db'), path.join(ws.dir, 'app.db.bak'));
    await writeFile(path.join(ws.dir, 'app.db'), 'this is not a database');
    expect((await runCli(['backup', 'lite', '--config', ws.configFile], env())).code).toBe(1);
    expect((await runCli(['backup', 'lite', '--config', ws.configFile], env())).code).toBe(1);
    expect(await count('FAILED')).toBe(1);
    await copyFile(path.join(ws.dir, 'app.db.bak'), path.join(ws.dir, 'app.db'));
    expect((await runCli(['backup', 'lite', '--config', ws.configFile], env())).code).toBe(0);
    expect(await count('RECOVERED')).toBe(1);
  });
});

describe('retention after a failure', () => {
  it('does not run: every backup survives a failed run and prune refuses', async () => {
    expect((await runCli(['backup', 'lite', '--config', ws.configFile], env())).code).toBe(0);
    expect((await runCli(['backup', 'lite', '--config', ws.configFile], env())).code).toBe(0);
    const before = await ws.files('backups/lite');
    expect(before.filter((f) => f.endsWith('.manifest.json')).length).toBeGreaterThanOrEqual(2);
    // Tighten retention to keepLast 1 and make the next run fail.
    const cfg = JSON.parse(await readFile(ws.configFile, 'utf8'));
    cfg.jobs[2].retention = { keepLast: 1 };
    cfg.jobs[2].source.url = 'sqlite:./missing-dir/none.db';
    await ws.writeConfig(cfg);
    try {
      expect((await runCli(['backup', 'lite', '--config', ws.configFile], env())).code).toBe(1);
      expect(await ws.files('backups/lite')).toEqual(before);
      const prune = await runCli(['prune', 'lite', '--config', ws.configFile], env());
      expect(prune.code).toBe(1);
      expect(prune.stdout).toMatch(/fail/i);
      expect(await ws.files('backups/lite')).toEqual(before);
    } finally {
      cfg.jobs[2].retention = { keepLast: 5 };
      cfg.jobs[2].source.url = 'sqlite:./app.db';
      await ws.writeConfig(cfg);
    }
  });
});

describe('bad input gets one sentence naming what to fix, before anything is written', () => {
  it('invalid config: the JSON path and the expected value, exit 2', async () => {
    const dir = await createWorkspace();
    await dir.writeConfig({
      destinations: { local: { type: 'file', path: './b' } },
      jobs: [
        {
          name: 'x',
          engine: 'sqlite',
          source: { url: 'sqlite:./a.db' },
          destinations: ['local'],
          retention: { daily: -1 },
        },
      ],
    });
    const run = await runCli(['backup', 'x', '--config', dir.configFile]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('jobs[0].retention.daily: expected a whole number ≥ 0, got -1');
    expect(await dir.files('b')).toEqual([]);
    await dir.remove();
  });

  it('unknown job: names the jobs there are, exit 2', async () => {
    const run = await runCli(['backup', 'nope', '--config', ws.configFile], env());
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/no job named "nope".*pg-ok, pg-missing, lite/);
  });

  it('malformed URL and a password inside a URL are refused by validate, exit 2', async () => {
    const dir = await createWorkspace();
    await dir.writeConfig({
      destinations: { local: { type: 'file', path: './b' } },
      jobs: [
        { name: 'a', engine: 'postgres', source: { url: 'not a url' }, destinations: ['local'] },
        {
          name: 'b',
          engine: 'postgres',
          source: { url: `postgres://u:${PASSWORD}@h/db` },
          destinations: ['local'],
        },
        { name: 'c', engine: 'postgres', source: { url: 'mysql://u@h/db' }, destinations: ['local'] },
      ],
    });
    const run = await runCli(['validate', '--config', dir.configFile]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/jobs\[0\]\.source\.url: expected a postgres URL/);
    expect(run.stderr).toMatch(/jobs\[1\]\.source\.url: contains a password/);
    expect(run.stderr).toMatch(/jobs\[2\]\.source\.url: expected a URL starting with postgres:/);
    expect(run.stderr).not.toContain(PASSWORD);
    await dir.remove();
  });

  it('unreadable recipient key: names the file, exit 2, nothing written', async () => {
    const dir = await createWorkspace();
    createSqliteDb(path.join(dir.dir, 'a.db'));
    await dir.writeConfig({
      destinations: { local: { type: 'file', path: './b' } },
      encryption: { ops: { type: 'openpgp', recipients: ['keys/missing.pub.asc'] } },
      jobs: [
        {
          name: 'a',
          engine: 'sqlite',
          source: { url: 'sqlite:./a.db' },
          destinations: ['local'],
          encryption: 'ops',
        },
      ],
    });
    const run = await runCli(['backup', 'a', '--config', dir.configFile]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/missing\.pub\.asc/);
    expect(await dir.files('b')).toEqual([]);
    await dir.remove();
  });

  it('a private key given as recipient is refused', async () => {
    const dir = await createWorkspace();
    await dir.writeConfig({
      destinations: { local: { type: 'file', path: './b' } },
      encryption: { ops: { type: 'openpgp', recipients: ['keys/ops.private.asc'] } },
      jobs: [
        {
          name: 'a',
          engine: 'sqlite',
          source: { url: 'sqlite:./a.db' },
          destinations: ['local'],
          encryption: 'ops',
        },
      ],
    });
    const run = await runCli(['validate', '--config', dir.configFile]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/private key/i);
    await dir.remove();
  });

  it('wrong private key: restore fails, exit 1, the target is never touched', async () => {
    expect((await runCli(['backup', 'lite', '--config', ws.configFile], env())).code).toBe(0);
    const other = await runCli(['keygen', '--out', path.join(ws.dir, 'other-keys'), '--json']);
    expect(other.code).toBe(0);
    const target = path.join(ws.dir, `${uniqueName('never')}.db`);
    const run = await runCli(
      [
        'restore',
        'lite',
        '--to',
        `sqlite:${target}`,
        '--key',
        path.join(ws.dir, 'other-keys', 'dumpvault.private.asc'),
        '--config',
        ws.configFile,
      ],
      env(),
    );
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^error: .*(key|encrypted)/im);
    await expect(readFile(target)).rejects.toThrow(/ENOENT/);
  });

  it('tampered object: verify and restore refuse, exit 1, target untouched', async () => {
    const backup = await runCli(['backup', 'lite', '--json', '--config', ws.configFile], env());
    expect(backup.code).toBe(0);
    const key = (JSON.parse(backup.stdout) as { key: string }).key;
    const file = path.join(ws.dir, 'backups', key);
    const bytes = await readFile(file);
    bytes[Math.floor(bytes.length / 2)]! ^= 0xff;
    await writeFile(file, bytes);
    const verify = await runCli(
      ['verify', 'lite', 'latest', '--key', ws.privateKey, '--config', ws.configFile],
      env(),
    );
    expect(verify.code).toBe(1);
    expect(verify.stderr).toMatch(/^error: .*(sha256|modified|tampered|integrity)/im);
    const target = path.join(ws.dir, `${uniqueName('never')}.db`);
    const restore = await runCli(
      ['restore', 'lite', '--to', `sqlite:${target}`, '--key', ws.privateKey, '--config', ws.configFile],
      env(),
    );
    expect(restore.code).toBe(1);
    await expect(readFile(target)).rejects.toThrow(/ENOENT/);
  });

  it('tampered header: decryption gives up at once, and verify still names the checksum, not the key', async () => {
    const backup = await runCli(['backup', 'lite', '--json', '--config', ws.configFile], env());
    expect(backup.code).toBe(0);
    const key = (JSON.parse(backup.stdout) as { key: string }).key;
    const file = path.join(ws.dir, 'backups', key);
    const bytes = await readFile(file);
    bytes[5]! ^= 0xff; // inside the recipient's key id: the object now names another key
    await writeFile(file, bytes);

    const verify = await runCli(
      ['verify', 'lite', key.replace(/^.*\/|\..*$/g, ''), '--key', ws.privateKey, '--config', ws.configFile],
      env(),
    );

    expect(verify.code).toBe(1);
    expect(verify.stderr).toMatch(
      /^error: .*does not match its manifest's sha256.*the object was modified/im,
    );
  });

  it('a foreign file in the job folder is not taken for a backup', async () => {
    const folder = path.join(ws.dir, 'backups', 'lite');
    await writeFile(path.join(folder, '2099-01-01T000000Z-deadbeef.manifest.json'), '{"hello": "world"}');
    const list = await runCli(['list', 'lite', '--json', '--config', ws.configFile], env());
    expect(list.code).toBe(0);
    expect(list.stderr).toMatch(/not a valid dumpvault manifest/);
    const ids = (JSON.parse(list.stdout) as Array<{ id: string }>).map((b) => b.id);
    expect(ids).not.toContain('2099-01-01T000000Z-deadbeef');
  });
});

describe('two runs of the same job', () => {
  it('refuses the second with a clear message and records it SKIPPED', async () => {
    const history = new LocalHistoryStore(path.join(ws.dir, '.dumpvault'));
    const lease = await history.acquireLease('lite', 'otherrun', 60_000);
    expect(lease.acquired).toBe(true);
    try {
      const run = await runCli(['backup', 'lite', '--config', ws.configFile], env());
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/another run \(otherrun\) of lite is still in progress/);
      const [latest] = await history.list('lite');
      expect(latest?.status).toBe('SKIPPED');
    } finally {
      await history.releaseLease('lite', 'otherrun');
    }
  });
});

describe('secrets', () => {
  it('never appear in stdout, stderr, history, alerts, manifests or objects', async () => {
    const ok = await runCli(['backup', 'pg-ok', '--config', ws.configFile], env());
    expect(ok.code).toBe(0);
    const okJson = await runCli(['backup', 'pg-ok', '--json', '--config', ws.configFile], env());
    expect(okJson.code).toBe(0);
    const bad = await runCli(['backup', 'pg-missing', '--config', ws.configFile], env());
    expect(bad.code).toBe(1);
    const history = await runCli(['history', 'pg-ok', '--csv', '--config', ws.configFile], env());
    const produced =
      [ok, okJson, bad, history].map((r) => r.stdout + r.stderr).join('\n') + (await ws.everything());
    expect(produced).toContain('pg-ok'); // the grep looks at real output
    expect(produced).not.toContain(PASSWORD);
    expect(produced).not.toContain(PASSPHRASE);
    const objects = await s3Keys();
    expect(objects.some((k) => k.startsWith('pg-ok/'))).toBe(true);
  });

  it('the passphrase-encrypted backup decrypts only with the passphrase', async () => {
    expect((await runCli(['backup', 'pg-ok', '--config', ws.configFile], env())).code).toBe(0);
    const restoreDb = uniqueName('dvt_pg_pass');
    psql('postgres', `CREATE DATABASE ${restoreDb}`);
    try {
      const wrong = await runCli(
        [
          'restore',
          'pg-ok',
          '--to',
          `postgres://${PG.user}@${PG.host}:${PG.port}/${restoreDb}`,
          '--config',
          ws.configFile,
        ],
        { ...env(), DV_PASSPHRASE: 'not-the-passphrase' },
      );
      expect(wrong.code).toBe(1);
      expect(psql(restoreDb, `SELECT count(*) FROM pg_tables WHERE schemaname = 'public'`).trim()).toBe('0');
      const right = await runCli(
        [
          'restore',
          'pg-ok',
          '--to',
          `postgres://${PG.user}@${PG.host}:${PG.port}/${restoreDb}`,
          '--config',
          ws.configFile,
        ],
        env(),
      );
      expect(right.stderr).not.toMatch(/^error/m);
      expect(right.stderr).toMatch(/restore of pg-ok recovered/);
      expect(right.code).toBe(0);
      expect(psql(restoreDb, 'SELECT count(*) FROM customers').trim()).toBe(
        psql(pgDb, 'SELECT count(*) FROM customers').trim(),
      );
    } finally {
      dropPostgresDb(restoreDb);
    }
  });
});

describe('restore into a target that has data', () => {
  it('is refused without --drop, and --drop without --yes needs a confirmation', async () => {
    const target = path.join(ws.dir, 'has-data.db');
    sqlite(target, 'CREATE TABLE keep_me (x INTEGER); INSERT INTO keep_me VALUES (42);');
    const refused = await runCli(
      ['restore', 'lite', '--to', `sqlite:${target}`, '--key', ws.privateKey, '--config', ws.configFile],
      env(),
    );
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/already has data: pass --drop/);
    const unconfirmed = await runCli(
      [
        'restore',
        'lite',
        '--to',
        `sqlite:${target}`,
        '--drop',
        '--key',
        ws.privateKey,
        '--config',
        ws.configFile,
      ],
      env(),
    );
    expect(unconfirmed.code).toBe(2);
    expect(unconfirmed.stderr).toMatch(/--yes/);
    expect(sqlite(target, 'SELECT x FROM keep_me').trim()).toBe('42');
    const declined = await runCli(
      [
        'restore',
        'lite',
        '--to',
        `sqlite:${target}`,
        '--drop',
        '--key',
        ws.privateKey,
        '--config',
        ws.configFile,
      ],
      env(),
      async () => 'no',
    );
    expect(declined.code).toBe(2);
    expect(sqlite(target, 'SELECT x FROM keep_me').trim()).toBe('42');
  });
});
