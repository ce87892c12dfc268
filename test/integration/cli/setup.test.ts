/** init, validate, keygen, decrypt, schema, usage errors: the commands around the backups. */
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../core/config/load.ts';
import { tasksOf } from '../../../core/serve/scheduler.ts';
import { runCli } from '../../support/cli.ts';
import { createSqliteDb } from '../../support/databases.ts';
import { createWorkspace, type Workspace } from '../../support/workspace.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'dv-setup-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('dumpvault init', () => {
  it('writes a commented config that validates, a keypair and the schema, and refuses to overwrite', async () => {
    const config = path.join(dir, 'dumpvault.config.json');
    const first = await runCli(['init', '--config', config]);
    expect(first.code).toBe(0);
    expect(await readFile(config, 'utf8')).toMatch(/^\s*\/\/ /m);
    expect((await stat(path.join(dir, 'keys', 'dumpvault.private.asc'))).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(path.join(dir, 'dumpvault.schema.json'), 'utf8')).type).toBe('object');
    expect(first.stdout).toMatch(/NOT in the backup destination/);

    const validate = await runCli(['validate', '--config', config]);
    expect(validate.stderr).toBe('');
    expect(validate.code).toBe(0);
    expect(validate.stdout).toMatch(/is valid: 2 job\(s\) \(app-sqlite, app-postgres\)/);
    // Both example jobs carry a schedule that "dumpvault serve" runs as written.
    expect(tasksOf(loadConfig(config).config.jobs).map((t) => t.id)).toEqual([
      'backup:app-sqlite',
      'backup:app-postgres',
    ]);

    const before = await readFile(config, 'utf8');
    const again = await runCli(['init', '--config', config]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/already exists; refusing to overwrite/);
    expect(await readFile(config, 'utf8')).toBe(before);
  });
});

describe('dumpvault keygen and decrypt', () => {
  let ws: Workspace;
  beforeAll(async () => {
    ws = await createWorkspace();
    createSqliteDb(path.join(ws.dir, 'a.db'));
    await ws.writeConfig({
      destinations: { local: { type: 'file', path: './b' } },
      encryption: { ops: { type: 'openpgp', recipients: ['keys/ops.pub.asc'] } },
      jobs: [
        {
          name: 'a',
          engine: 'sqlite',
          source: { url: 'sqlite:./a.db' },
          destinations: ['local'],
          // The decrypt test pipes the plaintext through gunzip.
          compression: 'gzip',
          encryption: 'ops',
        },
      ],
    });
  });
  afterAll(() => ws.remove());

  it('keygen prints the fingerprint and where the private key must not live', async () => {
    const run = await runCli(['keygen', '--out', path.join(dir, 'k')]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/fingerprint {2}[0-9A-F]{40}/);
    expect(run.stdout).toMatch(/NOT on the database server/);
    const again = await runCli(['keygen', '--out', path.join(dir, 'k')]);
    expect(again.code).toBe(2);
  });

  it('decrypt -o writes what gunzip turns back into the dump', async () => {
    const backup = await runCli(['backup', 'a', '--json', '--config', ws.configFile]);
    expect(backup.code).toBe(0);
    const key = (JSON.parse(backup.stdout) as { key: string }).key;
    const out = path.join(ws.dir, 'plain.sql.gz');
    const run = await runCli(['decrypt', path.join(ws.dir, 'b', key), '--key', ws.privateKey, '-o', out]);
    expect(run.code).toBe(0);
    const sql = gunzipSync(await readFile(out)).toString('utf8');
    expect(sql).toContain('CREATE TABLE customers');
    expect(sql).toContain('Kunde 1 ✓ ünïcödé');
  });

  it('decrypt with the wrong key fails and leaves no partial output', async () => {
    const files = execFileSync('find', [path.join(ws.dir, 'b'), '-name', '*.gpg'], { encoding: 'utf8' })
      .trim()
      .split('\n');
    const out = path.join(ws.dir, 'never.sql.gz');
    const run = await runCli([
      'decrypt',
      files[0]!,
      '--key',
      path.join(dir, 'k', 'dumpvault.private.asc'),
      '-o',
      out,
    ]);
    expect(run.code).not.toBe(0);
    await expect(stat(out)).rejects.toThrow(/ENOENT/);
  });
});

describe('usage', () => {
  it('an unknown command or option is a usage error (exit 2) naming it', async () => {
    const a = await runCli(['frobnicate']);
    expect(a.code).toBe(2);
    expect(a.stderr).toMatch(/unknown command "frobnicate"/);
    const b = await runCli(['backup', 'x', '--frobnicate']);
    expect(b.code).toBe(2);
    expect(b.stderr).toMatch(/--frobnicate/);
  });

  it('--help lists every command; schema prints JSON Schema', async () => {
    const help = await runCli(['--help']);
    expect(help.code).toBe(0);
    for (const c of [
      'init',
      'validate',
      'check',
      'backup',
      'list',
      'verify',
      'restore',
      'prune',
      'history',
      'keygen',
      'decrypt',
      'drill',
      'serve',
      'status',
    ]) {
      expect(help.stdout).toContain(`  ${c}`);
    }
    const schema = await runCli(['schema']);
    const parsed = JSON.parse(schema.stdout);
    expect(parsed.properties.jobs.type).toBe('array');
    // Bug caught: the schedule described to editors as "ignored by the local CLI", which serve runs.
    expect(parsed.properties.jobs.items.properties.schedule.description).toMatch(/dumpvault serve/);
  });

  it('the built binary runs (npx dumpvault)', () => {
    const out = execFileSync('npx', ['--no-install', 'dumpvault', '--version'], {
      encoding: 'utf8',
      cwd: path.resolve(import.meta.dirname, '../../..'),
    });
    expect(out).toMatch(/^dumpvault \d+\.\d+\.\d+/);
  });
});
