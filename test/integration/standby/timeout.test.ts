/**
 * `dumpvault standby <job> --timeout` (issue 16 §2): a standby run is bounded like restore and
 * drill. The hang is real and sits inside the restore tool: the newest backup grants SELECT to a
 * role, and a second session of the real PostgreSQL server holds `DROP ROLE` of that role in an
 * open transaction, so pg_restore's GRANT (which takes a share lock on the role) waits on it.
 * `--timeout 10s` must stop the run: pg_restore killed, `<db>__dv_next` dropped, the standby
 * exactly as it was, FAILED "the standby timed out after 10 seconds (--timeout 10s)", one alert,
 * exit 1.
 *
 * Bug caught: `standby --timeout` refused as an unknown flag, or accepted and not bounding the
 * run (the test then waits on the role lock until its own timeout), or a timed-out run leaving
 * the next database (and the session of the restore tool) behind.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../support/cli.ts';
import {
  createPostgresDb,
  dropPostgresDb,
  PG,
  postgresFingerprint,
  psql,
  uniqueName,
} from '../../support/databases.ts';
import { TIMEOUT } from '../../support/timeouts.ts';
import { createWorkspace, type Workspace } from '../../support/workspace.ts';
import { alerts, standbyRuns } from './support.ts';

const JOB = 'pg-standby-timeout';
const execFileAsync = promisify(execFile);
const PSQL = ['-h', PG.host, '-p', String(PG.port), '-U', PG.user, '-d', 'postgres', '-qAtX'];
let ws: Workspace;
let source: string;
let standby: string;
let role: string;
let locker: ChildProcess | undefined;
const env = () => ({ DUMPVAULT_PRIVATE_KEY: ws.privateKey });
const cli = (...args: string[]) => runCli([...args, '--config', ws.configFile], env());

async function writeConfig(withStandby: boolean): Promise<void> {
  await ws.writeConfig({
    destinations: { local: { type: 'file', path: './backups' } },
    encryption: { ops: { type: 'openpgp', recipients: ['keys/ops.pub.asc'] } },
    jobs: [
      {
        name: JOB,
        engine: 'postgres',
        source: { url: `postgres://${PG.user}@${PG.host}:${PG.port}/${source}` },
        destinations: ['local'],
        encryption: 'ops',
        ...(withStandby
          ? { standby: { url: `postgres://${PG.user}@${PG.host}:${PG.port}/${standby}` } }
          : {}),
      },
    ],
  });
}

/** Sessions of the server connected to `database` (other than the one asking). */
const sessionsOn = (database: string, where = 'true') =>
  Number(
    psql(
      'postgres',
      `SELECT count(*) FROM pg_stat_activity WHERE datname = '${database}' AND pid <> pg_backend_pid() AND ${where}`,
    ).trim(),
  );

beforeAll(async () => {
  ws = await createWorkspace();
  source = createPostgresDb();
  standby = uniqueName('dvt_sbt');
  role = uniqueName('dvt_sbt_role');
  psql('postgres', `CREATE ROLE ${role}`);
}, TIMEOUT.setup);

afterAll(async () => {
  locker?.kill('SIGKILL');
  if (locker && locker.exitCode === null) await once(locker, 'exit');
  dropPostgresDb(source);
  for (const d of [standby, `${standby}__dv_next`, `${standby}__dv_prev`]) dropPostgresDb(d);
  psql('postgres', `DROP ROLE IF EXISTS ${role}`);
  await ws?.remove();
});

/** Resolves once a psql session holds `DROP ROLE <role>` uncommitted (and keeps holding it). */
async function holdRoleLock(): Promise<ChildProcess> {
  const child = spawn(
    'psql',
    ['-h', PG.host, '-p', String(PG.port), '-U', PG.user, '-d', 'postgres', '-qX'],
    {
      stdio: ['pipe', 'ignore', 'inherit'],
    },
  );
  child.stdin!.write(`SET application_name = 'dv_role_lock'; BEGIN; DROP ROLE ${role};\n`);
  // Polled, not slept: the lock is held once pg_locks says so.
  for (;;) {
    const granted = psql(
      'postgres',
      `SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
       WHERE a.application_name = 'dv_role_lock' AND l.locktype = 'object' AND l.mode = 'AccessExclusiveLock' AND l.granted`,
    ).trim();
    if (granted !== '0') return child;
    if (child.exitCode !== null) throw new Error('the lock-holding psql session ended');
    await new Promise((resolve) => setImmediate(resolve));
  }
}

describe('dumpvault standby --timeout', { timeout: TIMEOUT.roundTrips }, () => {
  it('stops a standby whose restore waits on a lock: restore tool gone, next database dropped, standby unchanged, FAILED, one alert, exit 1', async () => {
    // Prepare: a standby holding the first backup; a second backup whose dump grants to the role,
    // made without a standby run (so no database but the source depends on the role), then the
    // source's grant revoked so DROP ROLE can take its lock without failing on a dependency.
    await writeConfig(true);
    expect((await cli('backup', JOB)).code).toBe(0);
    const held = postgresFingerprint(standby);
    psql(
      source,
      `INSERT INTO billing.invoices SELECT i, i FROM generate_series(1001, 1100) i;
                  GRANT SELECT ON customers TO ${role};`,
    );
    await writeConfig(false);
    expect((await cli('backup', JOB)).code).toBe(0);
    psql(source, `REVOKE SELECT ON customers FROM ${role}`);
    await writeConfig(true);
    const alertsBefore = (await alerts(ws.dir)).length;
    locker = await holdRoleLock();

    // Act: the run starts; pg_restore's GRANT waits on the role lock inside the next database.
    let ended = false;
    const running = cli('standby', JOB, '--timeout', '10s').finally(() => {
      ended = true;
    });
    let waitedOnLock = false;
    while (!ended && !waitedOnLock) {
      // Asked without blocking: the run shares this process's event loop.
      const { stdout } = await execFileAsync('psql', [
        ...PSQL,
        '-c',
        `SELECT count(*) FROM pg_stat_activity WHERE datname = '${standby}__dv_next' AND wait_event_type = 'Lock'`,
      ]);
      waitedOnLock = stdout.trim() !== '0';
    }
    const run = await running;
    expect(waitedOnLock, `the run ended before its restore reached the lock: ${run.stderr}`).toBe(true);

    // Assess
    expect(run.code, run.stderr).toBe(1);
    expect(run.stderr).toMatch(/^error: the standby timed out after 10 seconds \(--timeout 10s\)$/m);
    const [latest] = await standbyRuns(ws.dir, JOB);
    expect(latest).toMatchObject({
      kind: 'standby',
      status: 'FAILED',
      error: 'the standby timed out after 10 seconds (--timeout 10s)',
    });
    const raised = (await alerts(ws.dir)).slice(alertsBefore);
    expect(raised).toHaveLength(1);
    expect(raised[0]).toMatchObject({ kind: 'standby', status: 'FAILED' });
    expect(
      psql('postgres', `SELECT count(*) FROM pg_database WHERE datname = '${standby}__dv_next'`).trim(),
    ).toBe('0');
    expect(sessionsOn(`${standby}__dv_next`)).toBe(0);
    expect(postgresFingerprint(standby)).toBe(held);
  });
});
