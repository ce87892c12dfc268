/**
 * A backup whose process group is SIGKILLed mid-dump (the OOM killer, `docker kill`, a power
 * cut) records nothing: history stays RUNNING, the job's lock stays, the file destination keeps
 * the write's temp file. The next `dumpvault backup` of the job must find that run abandoned,
 * mark it FAILED naming the dead process, alert once for it, remove the temp file, and back up.
 *
 * The CLI bundle runs as a process group of its own; its sqlite3 is the truncating stand-in
 * (scripts/emulators/truncating) told to write part of the real dump and then wait to be killed
 * (DV_HANG). The test kills the group once the data object's temp file exists.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { type FSWatcher, watch } from 'node:fs';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalHistoryStore } from '../../../core/history/local.ts';
import { TRUNCATING_BIN as TRUNCATING } from '../../../scripts/emulators/stand-in-tools.ts';
import { createSqliteObjectsDb } from '../../support/objects.ts';
import { TIMEOUT } from '../../support/timeouts.ts';
import { createWorkspace, type Workspace } from '../../support/workspace.ts';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const JOB = `abandoned-${process.pid}`;
/** The temp file of a data object being written (not the write probe's). */
const DATA_TEMP = /^\.\d{4}-\d{2}-\d{2}T\d{6}Z-[0-9a-f]+\..+\.partial-[0-9a-f]+$/;

let ws: Workspace;

beforeAll(async () => {
  ws = await createWorkspace();
  execFileSync(process.execPath, [
    path.join(ROOT, 'scripts/build-cli.mjs'),
    path.join(ws.dir, 'dumpvault.mjs'),
  ]);
  createSqliteObjectsDb(path.join(ws.dir, 'app.db'), 20000);
  await ws.writeConfig({
    destinations: { local: { type: 'file', path: './backups' } },
    encryption: { ops: { type: 'openpgp', recipients: ['keys/ops.pub.asc'] } },
    jobs: [
      {
        name: JOB,
        engine: 'sqlite',
        source: { url: 'sqlite:./app.db' },
        destinations: ['local'],
        encryption: 'ops',
        retention: { keepLast: 3 },
      },
    ],
  });
}, TIMEOUT.setup);

afterAll(async () => {
  await ws?.remove();
});

/** `dumpvault backup` as a process group of its own, with `env` over the test's environment. */
function startBackup(env: Record<string, string>): {
  child: ChildProcess;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
} {
  const child = spawn(
    process.execPath,
    [path.join(ws.dir, 'dumpvault.mjs'), 'backup', JOB, '--config', ws.configFile],
    { cwd: ws.dir, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'], detached: true },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exit = once(child, 'exit').then(([code, signal]) => ({
    code: code as number | null,
    signal: signal as NodeJS.Signals | null,
    stderr,
  }));
  return { child, exit };
}

/** Resolves with the first entry of `dir` that matches, as soon as it appears (fs.watch, no polling). */
async function entryAppears(dir: string, pattern: RegExp, watcher: FSWatcher): Promise<string> {
  const seen = new Promise<string>((resolve) => {
    watcher.on('change', (_type, name) => {
      if (typeof name === 'string' && pattern.test(name)) resolve(name);
    });
  });
  // It may have appeared before the watcher started.
  const already = (await readdir(dir)).find((name) => pattern.test(name));
  return already ?? seen;
}

async function alertsOf(runId: string): Promise<{ status: string }[]> {
  const log = await readFile(path.join(ws.dir, '.dumpvault', 'alerts.log'), 'utf8').catch(() => '');
  return log
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { status: string; runId: string })
    .filter((alert) => alert.runId === runId);
}

describe('a backup whose process was killed (SIGKILL, nothing recorded)', () => {
  it(
    'is marked FAILED (abandoned) by the next backup, with one alert, its temp file removed, and the next backup succeeds',
    async () => {
      // Prepare: a backup killed with its whole process group while sqlite3 is mid-dump.
      const folder = path.join(ws.dir, 'backups', JOB);
      await mkdir(folder, { recursive: true });
      const watcher = watch(folder);
      const killed = startBackup({
        PATH: `${TRUNCATING}${path.delimiter}${process.env.PATH ?? ''}`,
        DUMPVAULT_CHILD_ENV: 'DV_KEEP_BYTES DV_HANG',
        DV_KEEP_BYTES: '200000',
        DV_HANG: '1',
      });
      const temp = await Promise.race([
        entryAppears(folder, DATA_TEMP, watcher),
        killed.exit.then((e) => {
          throw new Error(`the backup ended before its temp file appeared: ${JSON.stringify(e)}`);
        }),
      ]).finally(() => watcher.close());
      process.kill(-killed.child.pid!, 'SIGKILL');
      expect((await killed.exit).signal).toBe('SIGKILL');

      const history = new LocalHistoryStore(path.join(ws.dir, '.dumpvault'));
      const [left] = await history.list(JOB);
      expect(left).toMatchObject({ status: 'RUNNING' });
      expect(await readdir(folder)).toContain(temp);
      expect(await readdir(path.join(ws.dir, '.dumpvault', 'locks'))).toContain(`${JOB}.lock`);

      // Act: the next backup, with the real sqlite3.
      const next = await startBackup({}).exit;

      // Assess
      expect(next).toMatchObject({ code: 0 });
      const cause = `abandoned: the process that ran it (pid ${killed.child.pid}) ended without recording a result`;
      const runs = await history.list(JOB);
      expect(runs.map((r) => r.status)).toEqual(['SUCCEEDED', 'FAILED']);
      expect(runs[1]).toMatchObject({ runId: left!.runId, status: 'FAILED', error: cause });
      expect(await alertsOf(left!.runId)).toEqual([expect.objectContaining({ status: 'FAILED' })]);
      expect(await alertsOf(runs[0]!.runId)).toEqual([expect.objectContaining({ status: 'RECOVERED' })]);
      const files = await readdir(folder);
      expect(files.filter((f) => f.includes('.partial-'))).toEqual([]);
      expect(files.filter((f) => f.includes(left!.runId))).toEqual([]);
      expect(files.filter((f) => f.includes(runs[0]!.runId))).toHaveLength(2);
      expect(await readdir(path.join(ws.dir, '.dumpvault', 'locks'))).not.toContain(`${JOB}.lock`);

      // A third backup finds nothing abandoned: no second alert for the killed run.
      expect(await startBackup({}).exit).toMatchObject({ code: 0 });
      expect(await alertsOf(left!.runId)).toHaveLength(1);
      expect((await history.list(JOB)).map((r) => r.status)).toEqual(['SUCCEEDED', 'SUCCEEDED', 'FAILED']);
    },
    TIMEOUT.roundTrips,
  );
});
