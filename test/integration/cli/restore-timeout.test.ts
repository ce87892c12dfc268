/**
 * A local restore is bounded like a backup (issue 11's left gap: restore and drill had no run
 * timeout, so a restore stuck behind a lock waited for as long as the lock was held — the
 * database's own lock wait is 5 minutes per statement, and a restore has many statements).
 *
 * The hang is real: a second session of the real PostgreSQL server holds a lock on the target's
 * table, so `restore --drop` (one transaction that drops and recreates the table) waits on it.
 * `--timeout 5s` must stop the restore the way SIGTERM does: the restore tool stopped, its
 * transaction rolled back (the target keeps its rows), FAILED "the restore timed out after 5
 * seconds (--timeout 5s)" recorded, one alert, exit 1.
 *
 * Bug it catches: `restore --timeout` not accepted, or accepted and not bounding the run (the
 * test then waits on the lock until its own timeout).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalHistoryStore } from '../../../core/history/local.ts';
import { runCli } from '../../support/cli.ts';
import { createPostgresDb, dropPostgresDb, PG, psql } from '../../support/databases.ts';
import { TIMEOUT } from '../../support/timeouts.ts';
import { createWorkspace, type Workspace } from '../../support/workspace.ts';

let ws: Workspace;
let db: string;
let locker: ChildProcess | undefined;

beforeAll(async () => {
  ws = await createWorkspace();
  db = createPostgresDb();
  psql(db, 'CREATE TABLE held AS SELECT i, md5(i::text) AS t FROM generate_series(1, 1000) AS i');
  await ws.writeConfig({
    destinations: { local: { type: 'file', path: './backups' } },
    encryption: { ops: { type: 'openpgp', recipients: ['keys/ops.pub.asc'] } },
    jobs: [
      {
        name: 'held',
        engine: 'postgres',
        source: { url: `postgres://${PG.user}@${PG.host}:${PG.port}/${db}` },
        destinations: ['local'],
        encryption: 'ops',
      },
    ],
  });
}, TIMEOUT.setup);

afterAll(async () => {
  locker?.kill('SIGKILL');
  if (locker && locker.exitCode === null) await once(locker, 'exit');
  dropPostgresDb(db);
  await ws?.remove();
});

/** Resolves once a session of `psql` holds an ACCESS SHARE lock on `held` (and keeps it). */
async function holdLock(): Promise<ChildProcess> {
  const child = spawn('psql', ['-h', PG.host, '-p', String(PG.port), '-U', PG.user, '-d', db, '-qX'], {
    stdio: ['pipe', 'ignore', 'inherit'],
  });
  child.stdin!.write(
    "SET application_name = 'dv_lock_holder'; BEGIN; LOCK TABLE held IN ACCESS SHARE MODE;\n",
  );
  // Polled, not slept: the lock is held once pg_locks says so.
  for (;;) {
    const granted = psql(
      'postgres',
      `SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
       WHERE a.application_name = 'dv_lock_holder' AND a.datname = '${db}' AND l.relation IS NOT NULL AND l.granted`,
    ).trim();
    if (granted !== '0') return child;
    if (child.exitCode !== null) throw new Error('the lock-holding psql session ended');
    await new Promise((resolve) => setImmediate(resolve));
  }
}

describe('dumpvault restore --timeout', { timeout: TIMEOUT.roundTrips }, () => {
  it('stops a restore that waits on a lock: FAILED "timed out", target unchanged, no session left, one alert, exit 1', async () => {
    const key = [
      '--key',
      ws.privateKey,
      '--config',
      ws.configFile,
      '--state-dir',
      path.join(ws.dir, '.dumpvault'),
    ];
    expect(
      (
        await runCli([
          'backup',
          'held',
          '--config',
          ws.configFile,
          '--state-dir',
          path.join(ws.dir, '.dumpvault'),
        ])
      ).code,
    ).toBe(0);
    psql(db, 'DELETE FROM held WHERE i > 10');
    locker = await holdLock();

    const url = `postgres://${PG.user}@${PG.host}:${PG.port}/${db}`;
    const run = await runCli([
      'restore',
      'held',
      'latest',
      '--to',
      url,
      '--drop',
      '--yes',
      '--timeout',
      '5s',
      ...key,
    ]);

    expect(run.code, run.stderr).toBe(1);
    expect(run.stderr).toMatch(/^error: the restore timed out after 5 seconds \(--timeout 5s\)$/m);
    const items = await new LocalHistoryStore(path.join(ws.dir, '.dumpvault')).list('held');
    expect(items.find((i) => i.kind === 'restore')).toMatchObject({
      status: 'FAILED',
      error: 'the restore timed out after 5 seconds (--timeout 5s)',
    });
    const alerts = (await readFile(path.join(ws.dir, '.dumpvault', 'alerts.log'), 'utf8'))
      .split('\n')
      .filter((l) => l.includes('"kind":"restore"') && l.includes('"status":"FAILED"'));
    expect(alerts).toHaveLength(1);
    // Its transaction rolled back: once the lock is released, the restore's session (which the
    // server ends when it next finds its client gone) leaves the target as it was.
    locker.kill('SIGKILL');
    await once(locker, 'exit');
    locker = undefined;
    for (;;) {
      const sessions = psql(
        'postgres',
        `SELECT count(*) FROM pg_stat_activity WHERE datname = '${db}' AND pid <> pg_backend_pid()`,
      ).trim();
      if (sessions === '0') break;
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(psql(db, 'SELECT count(*) FROM held').trim()).toBe('10');
  });
});
