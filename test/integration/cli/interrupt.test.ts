/**
 * A backup stopped by a real signal (Ctrl-C sends SIGINT, ECS StopTask sends SIGTERM) in the
 * middle of its multipart upload: the CLI bundle, built fresh from the source, runs as its own
 * process (not under tsx, which handles signals itself), gets the signal from the test, and
 * must stop the way any failure does — upload aborted, no object, FAILED in history with the
 * cause, an alert, exit code 1.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
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
  // Enough rows for several 5 MiB parts after zstd.
  psql(
    pgDb,
    'CREATE TABLE big AS SELECT i, md5(i::text) || md5((i * 7)::text) AS t FROM generate_series(1, 400000) AS i',
  );
  await ws.writeConfig({
    destinations: {
      s3: s3rverDestination(s3, 'backups'),
    },
    encryption: { ops: { type: 'openpgp', recipients: ['keys/ops.pub.asc'] } },
    // One job per signal: alerts go out once per failing streak of a job.
    jobs: ['sigterm', 'sigint'].map((name) => ({
      name,
      engine: 'postgres',
      source: { url: `postgres://${PG.user}@${PG.host}:${PG.port}/${pgDb}` },
      destinations: ['s3'],
      encryption: 'ops',
    })),
  });
}, TIMEOUT.setup);

afterAll(async () => {
  dropPostgresDb(pgDb);
  await s3?.stop();
  await ws?.remove();
});

/**
 * The job's pending multipart uploads. (A part the store held until after the abort can leave
 * s3rver a nameless upload directory of its own; it is no upload of the job's key.)
 */
async function pendingOf(job: string): Promise<string[]> {
  return (await s3.pendingUploads('backups')).filter((key) => key.startsWith(`${job}/`));
}

/** `dumpvault <args>` as a process of its own; `done` resolves with its exit code and output. */
function startCli(args: readonly string[]): {
  child: ChildProcess;
  stdout: () => string;
  done: Promise<{ code: number | null; stderr: string }>;
} {
  const child = spawn(
    process.execPath,
    [path.join(ws.dir, 'dumpvault.mjs'), ...args, '--config', ws.configFile],
    {
      cwd: ws.dir,
      env: {
        ...process.env,
        ...S3RVER_ENV,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const done = once(child, 'exit').then(([code]) => ({ code: code as number | null, stderr }));
  return { child, stdout: () => stdout, done };
}

describe('a backup interrupted by a signal', { timeout: TIMEOUT.roundTrips }, () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`aborts the upload, records FAILED with the cause, alerts and exits 1 on ${signal}`, async () => {
      // Parts are held at the store, so the signal surely arrives while the upload is open.
      const hold = s3.holdPartUploads();
      const job = signal.toLowerCase();
      const { child, done } = startCli(['backup', job]);
      try {
        // The first part is held at the store: the upload is open.
        await Promise.race([
          s3.nextRequest((r) => S3_CALLS.uploadPart(r) && r.path.startsWith(`/backups/${job}/`)),
          done.then((exit) => {
            throw new Error(`the backup ended before its first part: ${exit.stderr}`);
          }),
        ]);
        child.kill(signal);
        const { code, stderr } = await done;

        expect(code).toBe(1);
        expect(stderr).toMatch(new RegExp(`^error: .*stopped by ${signal} before it finished`, 'm'));
      } finally {
        hold.release();
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      expect(await pendingOf(job)).toEqual([]);
      const objects = await s3.client.send(new ListObjectsV2Command({ Bucket: 'backups' }));
      expect(objects.Contents ?? []).toEqual([]);
      const [item] = await new LocalHistoryStore(path.join(ws.dir, '.dumpvault')).list(job);
      expect(item).toMatchObject({
        status: 'FAILED',
        error: expect.stringContaining(`stopped by ${signal}`),
      });
      const alerts = (await readFile(path.join(ws.dir, '.dumpvault', 'alerts.log'), 'utf8'))
        .trim()
        .split('\n')
        .filter((line) => line.includes(`"job":"${job}"`));
      expect(alerts).toHaveLength(1);
      expect(alerts[0]).toContain(`stopped by ${signal}`);
    });
  }
});

/**
 * Sends SIGINT as soon as the restore pass starts (after the verify pass): from the listener of
 * the stdout chunk that says so, not from a poll, which on a busy machine let the restore run on
 * for a whole scheduling slice (or to its end) before the signal went out.
 */
function interruptRestorePass(run: ReturnType<typeof startCli>): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const look = () => {
      if (!run.stdout().includes('restoring into')) return;
      run.child.stdout?.off('data', look);
      run.child.off('exit', early);
      run.child.kill('SIGINT');
      resolve();
    };
    const early = () => {
      run.child.stdout?.off('data', look);
      reject(new Error(`the run ended early: ${run.stdout()}`));
    };
    // Registered after startCli's own listener, so stdout() already holds the chunk.
    run.child.stdout?.on('data', look);
    run.child.once('exit', early);
    look();
  });
}

/** The scratch database a restore or drill said it created. */
function scratchOf(run: ReturnType<typeof startCli>): string {
  const name = run.stdout().match(/created scratch target postgres:\/\/\S+\/(\w+)/)?.[1];
  expect(name).toBeTruthy();
  return name!;
}

describe('a restore interrupted by a signal', () => {
  it('stops the restore tool, records FAILED with the cause and exits 1', async () => {
    const backup = startCli(['backup', 'sigint']);
    expect((await backup.done).code).toBe(0);
    const restore = startCli(['restore', 'sigint', 'latest', '--key', ws.privateKey]);
    await interruptRestorePass(restore);
    const { code, stderr } = await restore.done;

    expect(code).toBe(1);
    expect(stderr).toMatch(/^error: .*stopped by SIGINT before it finished/m);
    const scratch = scratchOf(restore);
    try {
      // No restore tool left working on the scratch database.
      const tools = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' })
        .split('\n')
        .filter((line) => line.includes(scratch) && !line.includes('ps -eo'));
      expect(tools).toEqual([]);
      const items = await new LocalHistoryStore(path.join(ws.dir, '.dumpvault')).list('sigint');
      expect(items.find((i) => i.kind === 'restore')).toMatchObject({
        status: 'FAILED',
        error: 'stopped by SIGINT before it finished',
      });
    } finally {
      dropPostgresDb(scratch);
    }
  });

  it('drops the scratch database of a drill once the restore tool has stopped', async () => {
    const drill = startCli(['drill', 'sigint', '--key', ws.privateKey]);
    await interruptRestorePass(drill);
    const { code, stderr } = await drill.done;

    expect(code).toBe(1);
    expect(stderr).toMatch(/^error: .*stopped by SIGINT before it finished/m);
    const scratch = scratchOf(drill);
    expect(psql('postgres', `SELECT count(*) FROM pg_database WHERE datname = '${scratch}'`).trim()).toBe(
      '0',
    );
  });
});
