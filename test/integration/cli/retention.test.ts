/**
 * Retention through the CLI against real files: what `prune` (and the retention after a
 * backup) may delete, what it must leave alone, and when it must not run at all.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalHistoryStore } from '../../../core/history/local.ts';
import { runCli } from '../../support/cli.ts';
import { createSqliteDb } from '../../support/databases.ts';
import { createWorkspace, type Workspace } from '../../support/workspace.ts';

let ws: Workspace;

function config(jobs: unknown[], prefix = '') {
  return { prefix, destinations: { local: { type: 'file', path: './backups' } }, jobs };
}
const lite = (name: string, retention?: unknown) => ({
  name,
  engine: 'sqlite',
  source: { url: 'sqlite:./app.db' },
  destinations: ['local'],
  ...(retention === undefined ? {} : { retention }),
});

beforeAll(async () => {
  ws = await createWorkspace();
  createSqliteDb(path.join(ws.dir, 'app.db'));
});

afterAll(async () => {
  await ws?.remove();
});

describe('prune after a failed backup', () => {
  it('refuses after a FAILED backup run even when SKIPPED runs came after it', async () => {
    await ws.writeConfig(config([lite('gate', { keepLast: 5 })]));
    for (let i = 0; i < 2; i++)
      expect((await runCli(['backup', 'gate', '--config', ws.configFile])).code).toBe(0);
    const before = await ws.files('backups/gate');
    // The next run fails (its database is gone), then a run is SKIPPED because another holds the lease.
    await ws.writeConfig(
      config([{ ...lite('gate', { keepLast: 1 }), source: { url: 'sqlite:./gone/none.db' } }]),
    );
    expect((await runCli(['backup', 'gate', '--config', ws.configFile])).code).toBe(1);
    const store = new LocalHistoryStore(path.join(ws.dir, '.dumpvault'));
    expect((await store.acquireLease('gate', 'someone', 60_000)).acquired).toBe(true);
    try {
      expect((await runCli(['backup', 'gate', '--config', ws.configFile])).code).toBe(1);
    } finally {
      await store.releaseLease('gate', 'someone');
    }
    expect((await store.list('gate')).map((i) => i.status).slice(0, 2)).toEqual(['SKIPPED', 'FAILED']);

    await ws.writeConfig(config([lite('gate', { keepLast: 1 })]));
    const prune = await runCli(['prune', 'gate', '--config', ws.configFile]);
    expect(prune.code).toBe(1);
    expect(prune.stderr).toMatch(/last finished backup run of gate .* is FAILED/);
    expect(prune.stdout).toMatch(/not run: .*failed/);
    expect(await ws.files('backups/gate')).toEqual(before);
  });
});
