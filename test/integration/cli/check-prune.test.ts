/** `check` and `prune` through the CLI. */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../support/cli.ts';
import { createPostgresDb, createSqliteDb, dropPostgresDb, PG } from '../../support/databases.ts';
import { createWorkspace, type Workspace } from '../../support/workspace.ts';

let ws: Workspace;
let pgDb: string;

beforeAll(async () => {
  ws = await createWorkspace();
  pgDb = createPostgresDb();
  createSqliteDb(path.join(ws.dir, 'app.db'));
  await ws.writeConfig({
    destinations: {
      local: { type: 'file', path: './backups' },
      readonly: { type: 'file', path: './blocked/backups' },
    },
    encryption: { ops: { type: 'openpgp', recipients: ['keys/ops.pub.asc'] } },
    jobs: [
      {
        name: 'pg',
        engine: 'postgres',
        source: { url: `postgres://${PG.user}@${PG.host}:${PG.port}/${pgDb}` },
        destinations: ['local'],
        encryption: 'ops',
      },
      {
        name: 'pg-ro',
        engine: 'postgres',
        source: { url: `postgres://${PG.user}@${PG.host}:${PG.port}/${pgDb}` },
        destinations: ['readonly'],
        encryption: 'ops',
      },
      {
        name: 'lite',
        engine: 'sqlite',
        source: { url: 'sqlite:./app.db' },
        destinations: ['local'],
        retention: { keepLast: 5 },
      },
    ],
  });
});

afterAll(async () => {
  dropPostgresDb(pgDb);
  await ws?.remove();
});

describe('dumpvault check', () => {
  it('reports server and tool versions, a writable destination and readable keys', async () => {
    const run = await runCli(['check', 'pg', '--config', ws.configFile]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^ok +source +postgres 1\d\.\d+.*pg_dump 1\d/m);
    expect(run.stdout).toMatch(/^ok +destination local +file:\/\/.* is writable/m);
    expect(run.stdout).toMatch(new RegExp(`^ok +encryption +public keys readable: ${ws.fingerprint}`, 'm'));
    // The job's codec is the default, zstd: the zstd a backup would pipe the dump into is tried.
    expect(run.stdout).toMatch(/^ok +compression +zstd \d+\.\d+\.\d+ compresses at level 1/m);
  });

  it('fails the compression check, as the backup would fail, when zstd reports no byte count', async () => {
    const bin = path.join(ws.dir, 'fake-zstd-bin');
    await mkdir(bin, { recursive: true });
    await writeFile(path.join(bin, 'zstd'), '#!/bin/sh\ncat\n', { mode: 0o755 });
    // runCli runs the CLI in this process, whose own PATH is what spawn searches.
    const savedPath = process.env.PATH;
    process.env.PATH = `${bin}:${savedPath}`;
    let run: Awaited<ReturnType<typeof runCli>>;
    try {
      run = await runCli(['check', 'pg', '--config', ws.configFile]);
    } finally {
      process.env.PATH = savedPath;
    }
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/^ok +source /m);
    expect(run.stdout).toMatch(/^FAIL +compression +zstd did not report how many bytes it compressed/m);
  });

  it('fails (exit 1) and says which check failed when a destination is not writable', async () => {
    // A file where the directory should be: unwritable even for root.
    await writeFile(path.join(ws.dir, 'blocked'), 'not a directory');
    const run = await runCli(['check', 'pg-ro', '--config', ws.configFile]);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/^ok +source /m);
    expect(run.stdout).toMatch(/^FAIL +destination readonly +.*blocked/m);
  });

  it('fails when the database does not exist, naming it', async () => {
    const cfg = JSON.parse(await readFile(ws.configFile, 'utf8'));
    cfg.jobs[0].source.url = `postgres://${PG.user}@${PG.host}:${PG.port}/no_such_db_check`;
    const other = await createWorkspace();
    await other.writeConfig(cfg);
    const run = await runCli(['check', 'pg', '--config', other.configFile]);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/^FAIL +source .*no_such_db_check/m);
    await other.remove();
  });
});

describe('dumpvault prune', () => {
  it('--dry-run prints keep/delete with the deciding rule and deletes nothing; prune then deletes', async () => {
    for (let i = 0; i < 3; i++)
      expect((await runCli(['backup', 'lite', '--config', ws.configFile])).code).toBe(0);
    const before = (await ws.files('backups/lite')).filter((f) => f.endsWith('.manifest.json'));
    expect(before).toHaveLength(3);
    const cfg = JSON.parse(await readFile(ws.configFile, 'utf8'));
    cfg.jobs[2].retention = { keepLast: 1 };
    await ws.writeConfig(cfg);

    const plan = await runCli(['prune', 'lite', '--dry-run', '--config', ws.configFile]);
    expect(plan.code).toBe(0);
    const lines = plan.stdout.split('\n');
    expect(lines.filter((l) => /^\s+keep\s/.test(l))).toHaveLength(1);
    expect(lines.find((l) => /^\s+keep\s/.test(l))).toMatch(/newest/);
    expect(lines.filter((l) => /^\s+delete\s.*not selected by any rule/.test(l))).toHaveLength(2);
    expect((await ws.files('backups/lite')).filter((f) => f.endsWith('.manifest.json'))).toEqual(before);

    const prune = await runCli(['prune', 'lite', '--config', ws.configFile]);
    expect(prune.code).toBe(0);
    const after = await ws.files('backups/lite');
    expect(after.filter((f) => f.endsWith('.manifest.json'))).toEqual([before.sort().at(-1)]);
    expect(after).toHaveLength(2); // the newest data object and its manifest
  });
});
