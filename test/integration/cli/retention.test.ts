/**
 * Retention through the CLI against real files: what `prune` (and the retention after a
 * backup) may delete, what it must leave alone, and when it must not run at all.
 */
import { copyFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalHistoryStore } from '../../../core/history/local.ts';
import { formatStamp } from '../../../core/manifest.ts';
import { runCli } from '../../support/cli.ts';
import { createSqliteDb } from '../../support/databases.ts';
import { createWorkspace, type Workspace } from '../../support/workspace.ts';

let ws: Workspace;

const manifests = async (job: string) =>
  (await ws.files(`backups/${job}`)).filter((f) => f.endsWith('.manifest.json')).sort();

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

describe('manifests that do not validate', () => {
  const stamp = (offsetMs: number) => formatStamp(new Date(Date.now() + offsetMs));

  it('neither protect nor are deleted by prune or by the retention after a backup, and are reported', async () => {
    await ws.writeConfig(config([lite('guard', { keepLast: 5 }), lite('other', { keepLast: 5 })]));
    for (const job of ['guard', 'guard', 'other'])
      expect((await runCli(['backup', job, '--config', ws.configFile])).code).toBe(0);
    await ws.writeConfig(config([lite('guard', { keepLast: 1 }), lite('other', { keepLast: 5 })]));
    const [older, newest] = await manifests('guard');
    const dir = path.join(ws.dir, 'backups', 'guard');
    // Garbage stamped a minute after the newest real backup: counted as a backup, it would
    // become "the newest" and get the real newest deleted.
    const garbage = `${stamp(60_000)}-00000bad`;
    await writeFile(path.join(dir, `${garbage}.manifest.json`), 'this is not a manifest');
    await writeFile(path.join(dir, `${garbage}.sql`), 'DROP TABLE customers;');
    // Another job's real manifest copied in, ten days old: counted, it would be deleted.
    const [otherManifest] = await manifests('other');
    const foreign = `${stamp(-10 * 86_400_000)}-0f0f0f0f`;
    await copyFile(
      path.join(ws.dir, 'backups', 'other', otherManifest!),
      path.join(dir, `${foreign}.manifest.json`),
    );
    await writeFile(path.join(dir, `${foreign}.sql`), 'not ours');
    // The job's own older manifest under another id: it points at a backup that is not its own.
    const copied = `${stamp(-9 * 86_400_000)}-0c0c0c0c`;
    await copyFile(path.join(dir, older!), path.join(dir, `${copied}.manifest.json`));
    const planted = [
      `${garbage}.manifest.json`,
      `${garbage}.sql`,
      `${foreign}.manifest.json`,
      `${foreign}.sql`,
      `${copied}.manifest.json`,
    ];

    const list = await runCli(['list', 'guard', '--config', ws.configFile]);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/^2 backup\(s\) of guard/m);
    expect(list.stderr).toContain(`guard/${garbage}.manifest.json is not a dumpvault manifest`);
    expect(list.stderr).toMatch(
      new RegExp(`guard/${foreign}.manifest.json is not a backup of job guard: it names job "other"`),
    );
    expect(list.stderr).toMatch(
      new RegExp(
        `guard/${copied}.manifest.json is not a backup of job guard: it points at .*which is not backup ${copied}`,
      ),
    );

    const prune = await runCli(['prune', 'guard', '--config', ws.configFile]);
    expect(prune.code).toBe(0);
    expect(prune.stdout).toMatch(new RegExp(`left alone guard/${garbage}.manifest.json: invalid manifest`));
    expect(prune.stdout).toMatch(
      new RegExp(
        `left alone guard/${foreign}.manifest.json: invalid manifest, left alone: not a backup of job guard`,
      ),
    );
    const after = await ws.files('backups/guard');
    // The real newest survives, the real older one is gone, everything planted is untouched.
    expect(await manifests('guard')).toEqual(
      [newest!, ...planted.filter((f) => f.endsWith('.manifest.json'))].sort(),
    );
    for (const f of planted) expect(after).toContain(f);
    expect(after).not.toContain(older);

    const json = await runCli(['prune', 'guard', '--dry-run', '--json', '--config', ws.configFile]);
    const [result] = JSON.parse(json.stdout) as Array<{ problems: Array<{ key: string; problem: string }> }>;
    expect(result!.problems.map((p) => p.key).sort()).toEqual(
      [garbage, foreign, copied].map((id) => `guard/${id}.manifest.json`).sort(),
    );

    // The retention after a backup leaves them alone too, and says so.
    const backup = await runCli(['backup', 'guard', '--config', ws.configFile]);
    expect(backup.code).toBe(0);
    expect(backup.stderr).toMatch(new RegExp(`retention left alone guard/${garbage}.manifest.json in local`));
    const final = await ws.files('backups/guard');
    for (const f of planted) expect(final).toContain(f);
    expect(final).not.toContain(newest);
  });
});

describe('the global prefix', () => {
  it('is refused by validate unless it is empty or ends with "/", saying why', async () => {
    await ws.writeConfig(config([lite('app')], 'team'));
    const run = await runCli(['validate', '--config', ws.configFile]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(
      'prefix: expected "" or a key prefix ending with "/" like "team/", got "team": keys are {prefix}{job}/…, so without the "/" job "app" would be stored under "teamapp/", the folder of a job named "teamapp" in a config without a prefix',
    );
  });

  it('keeps job app away from app-2, and prefix "team/" away from job teamapp without a prefix', async () => {
    const teamFile = path.join(ws.dir, 'team.config.json');
    await writeFile(teamFile, JSON.stringify(config([lite('app', { keepLast: 1 })], 'team/')));
    await ws.writeConfig(
      config([
        lite('app', { keepLast: 1 }),
        lite('app-2', { keepLast: 5 }),
        lite('teamapp', { keepLast: 5 }),
      ]),
    );
    for (const job of ['app-2', 'app-2', 'teamapp', 'teamapp', 'app'])
      expect((await runCli(['backup', job, '--config', ws.configFile])).code).toBe(0);
    expect((await runCli(['backup', 'app', '--config', teamFile])).code).toBe(0);
    const others = [...(await ws.files('backups/app-2')), ...(await ws.files('backups/teamapp'))];
    expect(others).toHaveLength(8);

    for (const file of [ws.configFile, teamFile]) {
      const list = await runCli(['list', 'app', '--json', '--config', file]);
      expect(JSON.parse(list.stdout)).toHaveLength(1);
      const prune = await runCli(['prune', 'app', '--json', '--config', file]);
      expect(prune.code).toBe(0);
      const [result] = JSON.parse(prune.stdout) as Array<{ decisions: unknown[]; deleted: string[] }>;
      expect(result!.decisions).toHaveLength(1);
      expect(result!.deleted).toEqual([]);
    }
    expect([...(await ws.files('backups/app-2')), ...(await ws.files('backups/teamapp'))]).toEqual(others);
    expect(await ws.files('backups/team/app')).toHaveLength(2);
  });
});

describe('retention per destination (issue 15 §3)', () => {
  it('keeps 1 backup in a destination without its own rules and 3 in one with { "keepLast": 3 }, from the same 4 backups', async () => {
    await ws.writeConfig({
      destinations: {
        near: { type: 'file', path: './near' },
        far: { type: 'file', path: './far' },
      },
      jobs: [
        {
          ...lite('split', { keepLast: 1 }),
          destinations: ['near', { name: 'far', retention: { keepLast: 3 } }],
        },
      ],
    });
    for (let i = 0; i < 4; i++)
      expect((await runCli(['backup', 'split', '--config', ws.configFile])).code).toBe(0);
    const count = async (dir: string) =>
      (await ws.files(`${dir}/split`)).filter((f) => f.endsWith('.manifest.json')).length;
    expect([await count('near'), await count('far')]).toEqual([1, 3]);
    // Every data object left has its manifest: nothing half-deleted.
    for (const dir of ['near', 'far'])
      expect(await ws.files(`${dir}/split`)).toHaveLength(2 * (await count(dir)));

    const validate = await runCli(['validate', '--config', ws.configFile]);
    expect(validate.code).toBe(0);
    expect(validate.stdout.split('\n').filter((l) => l.includes('retention of'))).toEqual([
      '  retention of split in near: keeps the newest 1',
      '  retention of split in far: keeps the newest 3',
    ]);
  });
});

describe('what retention keeps is said before the first backup', () => {
  it("validate states each job's retention on one line, and the default for a job without one", async () => {
    await ws.writeConfig(
      config([
        lite('plain'),
        lite('kept', 'forever'),
        lite('aged', { maxAgeDays: 30 }),
        lite('counted', { keepLast: 3, daily: 7, maxAgeDays: 400, timezone: 'Europe/Berlin' }),
      ]),
    );
    const run = await runCli(['validate', '--config', ws.configFile]);
    expect(run.code).toBe(0);
    const lines = run.stdout.split('\n').filter((l) => l.includes('retention of'));
    expect(lines).toEqual([
      '  retention of plain: no "retention" set: the default keeps only the newest backup ({"keepLast":1}); set "retention" to keep more, or "forever"',
      '  retention of kept: keeps every backup forever ("forever"): retention deletes nothing',
      '  retention of aged: keeps every backup younger than 30 days, and always the newest',
      '  retention of counted: keeps the newest 3, one a day for 7 days (days counted in Europe/Berlin); deletes anything older than 400 days except the newest',
    ]);
    const json = await runCli(['validate', '--json', '--config', ws.configFile]);
    expect(JSON.parse(json.stdout).retention.plain).toMatch(
      /^no "retention" set: the default keeps only the newest/,
    );
  });

  it('refuses a retention that is neither rules nor "forever", naming what is allowed', async () => {
    await ws.writeConfig(config([lite('x', 'always')]));
    const run = await runCli(['validate', '--config', ws.configFile]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(
      'jobs[0].retention: expected "forever" or an object of rules like { "keepLast": 3, "daily": 7 }, got "always"',
    );
  });

  it('init writes an explicit retention for every job, and the schema offers "forever"', async () => {
    const file = path.join(ws.dir, 'init', 'dumpvault.config.json');
    expect((await runCli(['init', '--config', file])).code).toBe(0);
    const validate = await runCli(['validate', '--config', file]);
    expect(validate.code).toBe(0);
    const lines = validate.stdout.split('\n').filter((l) => l.includes('retention of'));
    expect(lines).toHaveLength(2);
    for (const line of lines) expect(line).not.toContain('no "retention" set');
    const schema = JSON.parse((await runCli(['schema'])).stdout);
    const retention = schema.properties.jobs.items.properties.retention;
    expect(JSON.stringify(retention)).toContain('"const":"forever"');
    expect(retention.description).toMatch(/Omitted = \{ "keepLast": 1 \}/);
  });
});
