/**
 * A backup stopped the ways operators stop one: GNU `timeout` (SIGTERM to the process and then
 * to its whole process group, so pg_dump and zstd get it in the same instant and dumpvault gets
 * it twice), `timeout --foreground` (to the process only), and `kill -TERM -<pgid>`. The CLI
 * bundle runs as a process of its own, mid-dump: the store holds every part, so pg_dump, zstd
 * and the psql snapshot session are alive and blocked when the signal comes. Each way must end
 * the same: FAILED "stopped by SIGTERM", one alert, the job's lock released, no temp file in the
 * file destination, no pending upload, no tool left running, exit 1.
 *
 * `timeout` is not left to its own clock: on a busy machine any duration can run out before the
 * upload opened. It is given ten minutes and sent SIGTERM once the first part is held; GNU
 * timeout delivers a signal it receives exactly as it delivers its own on expiry (to the
 * command, then to the group unless --foreground), and --preserve-status keeps the exit code.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalHistoryStore } from '../../../core/history/local.ts';
import { createPostgresDb, dropPostgresDb, PG, psql } from '../../support/databases.ts';
import {
  S3_CALLS,
  S3RVER_ENV,
  type S3rverHandle,
  s3rverDestination,
  startS3rver,
} from '../../support/s3rver.ts';
import { TIMEOUT } from '../../support/timeouts.ts';
import { createWorkspace, type Workspace } from '../../support/workspace.ts';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const JOBS = ['gnu-timeout', 'gnu-timeout-foreground', 'group-kill', 'signal-twice'] as const;

let ws: Workspace;
let s3: S3rverHandle;
let pgDb: string;

beforeAll(async () => {
  ws = await createWorkspace();
  execFileSync(process.execPath, [
    path.join(ROOT, 'scripts/build-cli.mjs'),
    path.join(ws.dir, 'dumpvault.mjs'),
  ]);
  s3 = await startS3rver({ buckets: ['backups'] });
  pgDb = createPostgresDb();
  // Enough rows for several 5 MiB parts after zstd: pg_dump is far from done when parts are held.
  psql(
    pgDb,
    'CREATE TABLE big AS SELECT i, md5(i::text) || md5((i * 7)::text) AS t FROM generate_series(1, 400000) AS i',
  );
  await ws.writeConfig({
    destinations: {
      s3: s3rverDestination(s3, 'backups'),
      local: { type: 'file', path: './backups' },
    },
    encryption: { ops: { type: 'openpgp', recipients: ['keys/ops.pub.asc'] } },
    // One job per way of stopping: alerts go out once per failing streak of a job.
    jobs: JOBS.map((name) => ({
      name,
      engine: 'postgres',
      source: { url: `postgres://${PG.user}@${PG.host}:${PG.port}/${pgDb}` },
      destinations: ['s3', 'local'],
      encryption: 'ops',
    })),
  });
}, TIMEOUT.setup);

afterAll(async () => {
  dropPostgresDb(pgDb);
  await s3?.stop();
  await ws?.remove();
});

/** Runs `command` with the CLI's arguments appended, in a process group of its own. */
function start(command: readonly string[], job: string): { child: ChildProcess; done: Promise<Exit> } {
  const child = spawn(
    command[0]!,
    [
      ...command.slice(1),
      process.execPath,
      path.join(ws.dir, 'dumpvault.mjs'),
      'backup',
      job,
      '--config',
      ws.configFile,
    ],
    {
      cwd: ws.dir,
      env: { ...process.env, ...S3RVER_ENV },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    },
  );
  let stderr = '';
  child.stdout?.resume();
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const done = once(child, 'exit').then(([code, signal]) => ({
    code: code as number | null,
    signal: signal as NodeJS.Signals | null,
    stderr,
  }));
  return { child, done };
}

interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stderr: string;
}

async function pendingOf(job: string): Promise<string[]> {
  return (await s3.pendingUploads('backups')).filter((key) => key.startsWith(`${job}/`));
}

/** Processes still working on the test database (pg_dump, psql), other than `ps` itself. */
function toolsOnDatabase(): string[] {
  return execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' })
    .split('\n')
    .filter((line) => line.includes(pgDb) && !line.includes('ps -eo'));
}

/** What every stopped run must leave: FAILED, one alert, no lock, no temp file, no upload, no object. */
async function expectStoppedCleanly(job: string, exit: Exit): Promise<void> {
  expect(exit.stderr).toMatch(/^error: stopped by SIGTERM before it finished$/m);
  expect(exit.stderr).not.toMatch(/this is a bug/);
  const [item] = await new LocalHistoryStore(path.join(ws.dir, '.dumpvault')).list(job);
  expect(item).toMatchObject({ status: 'FAILED', error: 'stopped by SIGTERM before it finished' });
  const alerts = (await readFile(path.join(ws.dir, '.dumpvault', 'alerts.log'), 'utf8'))
    .split('\n')
    .filter((line) => line.includes(`"job":"${job}"`));
  expect(alerts).toHaveLength(1);
  expect(await readdir(path.join(ws.dir, '.dumpvault', 'locks'))).not.toContain(`${job}.lock`);
  expect(await readdir(path.join(ws.dir, 'backups', job)).catch(() => [])).toEqual([]);
  expect(await pendingOf(job)).toEqual([]);
  const objects = await s3.client.send(new ListObjectsV2Command({ Bucket: 'backups', Prefix: `${job}/` }));
  expect(objects.Contents ?? []).toEqual([]);
  // pg_dump and psql may take a moment to notice their session ended (longer on a busy machine).
  const deadline = Date.now() + 60_000;
  while (toolsOnDatabase().length > 0 && Date.now() < deadline) await sleep(100);
  expect(toolsOnDatabase()).toEqual([]);
}

describe('a backup stopped mid-dump', { timeout: TIMEOUT.roundTrips }, () => {
  /**
   * Starts `job` under `command` and calls `stop` with the command's pid once the upload is open
   * (its first part held at the store: the dump is then mid-way).
   */
  async function stopMidUpload(
    job: string,
    stop: (pid: number) => Promise<void>,
    command: readonly string[] = ['env'],
  ): Promise<Exit> {
    const hold = s3.holdPartUploads();
    const { child, done } = start(command, job);
    try {
      await Promise.race([
        s3.nextRequest((r) => S3_CALLS.uploadPart(r) && r.path.startsWith(`/backups/${job}/`)),
        done.then((exit) => {
          throw new Error(`the backup ended before its first part: ${exit.stderr}`);
        }),
      ]);
      await stop(child.pid!);
      return await done;
    } finally {
      hold.release();
      // A group already gone (the run ended, or died of a signal: exitCode null) is no error
      // here; throwing ESRCH would hide what the test found.
      if (child.exitCode === null) {
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          // ESRCH: the group is gone already
        }
      }
    }
  }

  it('by GNU timeout (SIGTERM to the process, then to its group) records FAILED "stopped by SIGTERM" and cleans up', async () => {
    const exit = await stopMidUpload('gnu-timeout', async (pid) => void process.kill(pid, 'SIGTERM'), [
      'timeout',
      '--preserve-status',
      '600',
    ]);

    expect(exit.code).toBe(1);
    await expectStoppedCleanly('gnu-timeout', exit);
  });

  it('by GNU timeout --foreground (SIGTERM to the process only) records FAILED and stops the tools itself', async () => {
    const exit = await stopMidUpload(
      'gnu-timeout-foreground',
      async (pid) => void process.kill(pid, 'SIGTERM'),
      ['timeout', '--foreground', '--preserve-status', '600'],
    );

    expect(exit.code).toBe(1);
    await expectStoppedCleanly('gnu-timeout-foreground', exit);
  });

  it('by SIGTERM to its whole process group (pg_dump and zstd die of it too) records FAILED "stopped by SIGTERM"', async () => {
    const exit = await stopMidUpload('group-kill', async (pid) => {
      process.kill(-pid, 'SIGTERM');
    });

    expect(exit.code).toBe(1);
    await expectStoppedCleanly('group-kill', exit);
  });

  it('by SIGTERM to its group and again to itself 100 ms later, which is not taken for "exit now"', async () => {
    // What timeout does, spread out the way a loaded machine spreads it: two deliveries, not one.
    const exit = await stopMidUpload('signal-twice', async (pid) => {
      process.kill(-pid, 'SIGTERM');
      await sleep(100);
      try {
        process.kill(pid, 'SIGTERM');
      } catch (err) {
        // Gone within 100 ms: the second signal has nothing to reach; the exit is checked below.
        if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
      }
    });

    expect(exit, exit.stderr).toMatchObject({ code: 1, signal: null });
    await expectStoppedCleanly('signal-twice', exit);
  });
});
