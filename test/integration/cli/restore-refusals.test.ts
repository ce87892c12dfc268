/**
 * Restore refusals through the CLI against real SQLite files: every refusal after the command
 * line was accepted is recorded FAILED with its reason, the same way, whichever check refused;
 * and selectors (dates, run ids) pick what they say.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPair } from '../../../core/crypto/openpgp.ts';
import type { HistoryItem } from '../../../core/history/history.ts';
import { LocalHistoryStore } from '../../../core/history/local.ts';
import { runCli } from '../../support/cli.ts';
import { createSqliteDb, sqliteFingerprint } from '../../support/databases.ts';
import { createWorkspace, type Workspace } from '../../support/workspace.ts';

let ws: Workspace;
let history: LocalHistoryStore;
let ids: Array<{ id: string; runId: string }>;

beforeAll(async () => {
  ws = await createWorkspace();
  history = new LocalHistoryStore(path.join(ws.dir, '.dumpvault'));
  createSqliteDb(path.join(ws.dir, 'app.db'));
  await ws.writeConfig({
    destinations: { local: { type: 'file', path: './backups' } },
    encryption: { ops: { type: 'openpgp', recipients: ['keys/ops.pub.asc'] } },
    jobs: [
      {
        name: 'lite',
        engine: 'sqlite',
        source: { url: 'sqlite:./app.db' },
        destinations: ['local'],
        encryption: 'ops',
        retention: { keepLast: 5 },
      },
    ],
  });
  for (let i = 0; i < 2; i++) {
    const run = await runCli(['backup', 'lite', '--json', '--config', ws.configFile]);
    expect(run.code).toBe(0);
  }
  const list = await runCli(['list', 'lite', '--json', '--config', ws.configFile]);
  ids = (JSON.parse(list.stdout) as Array<{ id: string }>).map(({ id }) => ({
    id,
    runId: id.split('-').at(-1)!,
  }));
}, 60_000);

afterAll(async () => {
  await ws?.remove();
});

/** The newest restore run in history. */
async function lastRestore(): Promise<HistoryItem | undefined> {
  return (await history.list('lite')).find((i) => i.kind === 'restore');
}

describe('restore refusals are recorded FAILED with their reason, whichever check refuses', () => {
  const key = () => ['--key', ws.privateKey];
  const cases: Array<[string, () => string[], number, RegExp]> = [
    [
      'no backup at or before the time given',
      () => ['restore', 'lite', '2001-01-01', ...key()],
      1,
      /no backup in .* started at or before 2001-01-01T00:00:00.000Z/,
    ],
    ['no key for an encrypted backup', () => ['restore', 'lite'], 2, /encrypted|--key/],
    [
      'the target already has data',
      () => ['restore', 'lite', '--to', `sqlite:${path.join(ws.dir, 'app.db')}`, ...key()],
      2,
      /already has data: pass --drop/,
    ],
    [
      'a file without manifest into a target that has data',
      () => [
        'restore',
        'lite',
        '--from',
        path.join(ws.dir, 'app.db'),
        '--to',
        `sqlite:${path.join(ws.dir, 'app.db')}`,
        ...key(),
      ],
      2,
      /already has data: pass --drop/,
    ],
  ];

  it.each(cases)('%s', async (_name, args, code, reason) => {
    const before = (await history.list('lite')).length;
    const run = await runCli([...args(), '--config', ws.configFile], { DUMPVAULT_PRIVATE_KEY: undefined });
    expect(run.code).toBe(code);
    expect(run.stderr).toMatch(reason);
    const items = await history.list('lite');
    expect(items).toHaveLength(before + 1);
    const item = await lastRestore();
    expect(item).toMatchObject({ kind: 'restore', status: 'FAILED' });
    expect(item!.error).toMatch(reason);
    expect(item!.finishedAt).toBeDefined();
  });

  it('a wrong key', async () => {
    const other = await generateKeyPair({ name: 'other', email: 'other@dumpvault.invalid' });
    const file = path.join(ws.dir, 'keys', 'other.private.asc');
    await import('node:fs/promises').then((fs) => fs.writeFile(file, other.privateKey, { mode: 0o600 }));
    const run = await runCli(['restore', 'lite', '--key', file, '--config', ws.configFile]);
    expect(run.code).not.toBe(0);
    const item = await lastRestore();
    expect(item).toMatchObject({ kind: 'restore', status: 'FAILED' });
    expect(item!.error).toMatch(/key/i);
  });

  it('a command-line mistake is not a run and is not recorded', async () => {
    const before = (await history.list('lite')).length;
    for (const args of [
      ['restore', 'lite', '--drop'],
      ['restore', 'lite', '2026-02-30'],
      ['restore', 'lite', '--destination', 'elsewhere'],
      ['drill', 'lite', '--destination', 'elsewhere'],
    ]) {
      const run = await runCli([...args, '--config', ws.configFile]);
      expect(run.code).toBe(2);
    }
    expect(await history.list('lite')).toHaveLength(before);
  });
});

describe('restore and verify selectors', () => {
  it('a date alone never selects a backup taken during that day', async () => {
    const today = new Date().toISOString().slice(0, 10);
    const run = await runCli(['verify', 'lite', today, '--config', ws.configFile]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(
      `started at or before ${today}T00:00:00.000Z ("${today}": a date alone means 00:00 UTC that day)`,
    );
  });

  it('the run id shown in alerts selects its backup', async () => {
    for (const { id, runId } of ids) {
      const run = await runCli(['verify', 'lite', runId, '--config', ws.configFile]);
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(new RegExp(`^OK ${id}:`, 'm'));
    }
    const older = ids.at(-1)!;
    const out = path.join(ws.dir, 'restored.db');
    const restore = await runCli([
      'restore',
      'lite',
      older.runId,
      '--to',
      `sqlite:${out}`,
      '--key',
      ws.privateKey,
      '--config',
      ws.configFile,
    ]);
    expect(restore.code).toBe(0);
    expect(restore.stdout).toContain(`selected backup ${older.id}`);
    expect(sqliteFingerprint(out)).toBe(sqliteFingerprint(path.join(ws.dir, 'app.db')));
    expect(await lastRestore()).toMatchObject({
      status: 'SUCCEEDED',
      key: expect.stringContaining(older.id),
    });
  });
});
