/**
 * Configuration and flags are checked once, completely, before anything is written: a bad
 * time zone or cron is a `validate` error, not a surprise after a backup; `--limit` is a whole
 * number ≥ 1.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../support/cli.ts';
import { createSqliteDb } from '../../support/databases.ts';
import { createWorkspace, type Workspace } from '../../support/workspace.ts';

let ws: Workspace;
const job = (extra: Record<string, unknown> = {}) => ({
  name: 'a',
  engine: 'sqlite',
  source: { url: 'sqlite:./a.db' },
  destinations: ['local'],
  encryption: 'ops',
  ...extra,
});
const config = (extra: Record<string, unknown> = {}) => ({
  destinations: { local: { type: 'file', path: './b' } },
  encryption: { ops: { type: 'openpgp', recipients: ['keys/ops.pub.asc'] } },
  jobs: [job(extra)],
});

beforeAll(async () => {
  ws = await createWorkspace();
  createSqliteDb(path.join(ws.dir, 'a.db'));
});
afterAll(async () => {
  await ws.remove();
});

describe('time zones and schedules are checked by validate', () => {
  it('refuses an unknown retention time zone at validate and before a backup writes anything (it once passed, the backup was recorded SUCCEEDED, then the run exited 2)', async () => {
    await ws.writeConfig(config({ retention: { keepLast: 2, timezone: 'Europe/Berln' } }));

    const validate = await runCli(['validate', '--config', ws.configFile]);
    expect(validate.code).toBe(2);
    expect(validate.stderr).toContain(
      'jobs[0].retention.timezone: expected an IANA time zone such as "Europe/Berlin" or "UTC", got "Europe/Berln"',
    );

    const backup = await runCli(['backup', 'a', '--config', ws.configFile]);
    expect(backup.code).toBe(2);
    expect(backup.stderr).toContain('jobs[0].retention.timezone');
    expect(await ws.files('b')).toEqual([]);
    expect(await ws.files('.dumpvault')).toEqual([]);
  });

  it('refuses "not a cron" and a schedule time zone that does not exist, with their JSON paths', async () => {
    await ws.writeConfig(
      config({
        schedule: { cron: 'not a cron', timezone: 'Atlantis/Capital' },
        restoreDrill: { schedule: { rate: '0 days' } },
      }),
    );

    const run = await runCli(['validate', '--config', ws.configFile]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/jobs\[0\]\.schedule\.cron: expected 6 fields/);
    expect(run.stderr).toContain('jobs[0].schedule.timezone: expected an IANA time zone');
    expect(run.stderr).toContain('jobs[0].restoreDrill.schedule.rate: expected a rate of at least 1 day');
  });
});

describe('--limit', () => {
  it('is a whole number ≥ 1: 0, -1, 1.5 and "ten" are usage errors, not "no limit"', async () => {
    await ws.writeConfig(config());
    expect((await runCli(['backup', 'a', '--config', ws.configFile])).code).toBe(0);
    expect((await runCli(['backup', 'a', '--config', ws.configFile])).code).toBe(0);

    for (const bad of ['0', '-1', '1.5', 'ten']) {
      const run = await runCli(['history', 'a', '--config', ws.configFile, `--limit=${bad}`]);
      expect(run.code, bad).toBe(2);
      expect(run.stderr).toContain(`--limit: expected a whole number ≥ 1, got ${JSON.stringify(bad)}`);
    }
    const one = await runCli(['history', 'a', '--config', ws.configFile, '--limit', '1', '--json']);
    expect(one.code).toBe(0);
    expect(JSON.parse(one.stdout)).toHaveLength(1);
  });
});
