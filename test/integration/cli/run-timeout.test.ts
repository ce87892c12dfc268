/**
 * A local backup is bounded like the task on AWS (issue 11 §4): `dumpvault backup --timeout`
 * (else the job's task.timeoutMinutes) aborts a run that does not finish, the way SIGTERM does.
 * The dump tool is the mongodump stand-in of scripts/emulators/mongodb (no MongoDB server here), told to
 * write part of its archive and then never end; the CLI bundle, built fresh, runs as its own
 * process so that a child left running would also keep it from exiting.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalHistoryStore } from '../../../core/history/local.ts';
import { MONGO_STANDIN_BIN as MONGO_STANDIN } from '../../../scripts/emulators/stand-in-tools.ts';
import { formatRunTimeout, parseRunTimeout, runTimeoutOf } from '../../../task-image/cli/run-timeout.ts';
import { S3RVER_ENV, type S3rverHandle, s3rverDestination, startS3rver } from '../../support/s3rver.ts';
import { TIMEOUT } from '../../support/timeouts.ts';
import { createWorkspace, type Workspace } from '../../support/workspace.ts';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const BUCKET = 'backups';

let ws: Workspace;
let s3: S3rverHandle;
/** CLI processes still running (a run that never ends must not outlive the test file). */
const running = new Set<ChildProcess>();

beforeAll(async () => {
  ws = await createWorkspace();
  execFileSync(process.execPath, [
    path.join(ROOT, 'scripts/build-cli.mjs'),
    path.join(ws.dir, 'dumpvault.mjs'),
  ]);
  s3 = await startS3rver({ buckets: [BUCKET] });
  const job = (name: string) => ({
    name,
    engine: 'mongodb',
    source: { url: 'mongodb://127.0.0.1:27017/shop' },
    destinations: ['local', 's3'],
    encryption: 'ops',
  });
  await ws.writeConfig({
    destinations: { local: { type: 'file', path: './backups' }, s3: s3rverDestination(s3, BUCKET) },
    encryption: { ops: { type: 'openpgp', recipients: ['keys/ops.pub.asc'] } },
    jobs: [job('flag')],
  });
}, TIMEOUT.setup);

afterAll(async () => {
  for (const child of running) child.kill('SIGKILL');
  await s3?.stop();
  await ws?.remove();
});

/** `dumpvault backup <args>` as its own process, with mongodump writing 6 MB and then hanging. */
async function stalledBackup(
  args: readonly string[],
): Promise<{ code: number | null; stderr: string; seconds: number; dumpPids: number[] }> {
  const log = path.join(ws.dir, `standin-${Date.now()}-${Math.random().toString(36).slice(2)}.log`);
  const started = Date.now();
  const child = spawn(
    process.execPath,
    [path.join(ws.dir, 'dumpvault.mjs'), 'backup', ...args, '--config', ws.configFile],
    {
      cwd: ws.dir,
      env: {
        ...process.env,
        ...S3RVER_ENV,
        PATH: `${MONGO_STANDIN}${path.delimiter}${process.env.PATH ?? ''}`,
        STANDIN_ARCHIVE_BYTES: String(8 << 20),
        STANDIN_STALL_AFTER: String(6 << 20),
        STANDIN_LOG: log,
        DUMPVAULT_CHILD_ENV: 'STANDIN_ARCHIVE_BYTES STANDIN_STALL_AFTER STANDIN_LOG',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  running.add(child);
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const [code] = await once(child, 'exit');
  running.delete(child);
  const calls = (await readFile(log, 'utf8').catch(() => ''))
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { tool: string; pid: number });
  return {
    code: code as number | null,
    stderr,
    seconds: (Date.now() - started) / 1000,
    dumpPids: calls.filter((c) => c.tool === 'mongodump').map((c) => c.pid),
  };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function failedAlerts(job: string): Promise<string[]> {
  const log = await readFile(path.join(ws.dir, '.dumpvault', 'alerts.log'), 'utf8').catch(() => '');
  return log.split('\n').filter((l) => l.includes(`"job":"${job}"`) && l.includes('"status":"FAILED"'));
}

describe('dumpvault backup --timeout', { timeout: TIMEOUT.roundTrips }, () => {
  it('fails a backup whose dump tool never ends: FAILED "timed out after 20 seconds", nothing stored, tool stopped, lock released, exit 1, one alert', async () => {
    // 20 s: long enough for the stand-in tools (node processes) to start on a busy machine.
    const run = await stalledBackup(['flag', '--timeout', '20s']);

    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^error: the backup timed out after 20 seconds \(--timeout 20s\)$/m);
    // Without the bound, never; with it, the process exits once the run is recorded.
    expect(run.seconds).toBeLessThan(120);
    expect(run.dumpPids, run.stderr).toHaveLength(1);
    expect(alive(run.dumpPids[0]!)).toBe(false);
    const [item] = await new LocalHistoryStore(path.join(ws.dir, '.dumpvault')).list('flag');
    expect(item).toMatchObject({
      status: 'FAILED',
      error: 'the backup timed out after 20 seconds (--timeout 20s)',
    });
    expect(await ws.files('backups/flag')).toEqual([]);
    expect((await s3.pendingUploads(BUCKET)).filter((key) => key.startsWith('flag/'))).toEqual([]);
    const stored = await s3.client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'flag/' }));
    expect(stored.Contents ?? []).toEqual([]);
    expect(await failedAlerts('flag')).toHaveLength(1);

    // The lock was released: the next run runs (and times out again) instead of being SKIPPED.
    const again = await stalledBackup(['flag', '--timeout', '0.05']);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^error: the backup timed out after 3 seconds \(--timeout 0\.05\)$/m);
    const items = await new LocalHistoryStore(path.join(ws.dir, '.dumpvault')).list('flag');
    expect(items.map((i) => i.status)).toEqual(['FAILED', 'FAILED']);
    // The same outage: still one alert.
    expect(await failedAlerts('flag')).toHaveLength(1);
  });

  it("bounds a run without --timeout by the job's task.timeoutMinutes", () => {
    // A real minute is too long to wait for here; the run above shows what the bound does.
    const timeout = runTimeoutOf(undefined, {
      task: { cpu: 1024, memoryMiB: 2048, timeoutMinutes: 1 },
    } as Parameters<typeof runTimeoutOf>[1]);

    expect(timeout).toEqual({ ms: 60_000, source: 'task.timeoutMinutes' });
  });
});

describe('parseRunTimeout', () => {
  it('reads minutes, decimals and s/m/h units', () => {
    expect(parseRunTimeout('90')).toBe(90 * 60_000);
    expect(parseRunTimeout('0.5')).toBe(30_000);
    expect(parseRunTimeout('3s')).toBe(3000);
    expect(parseRunTimeout('45m')).toBe(45 * 60_000);
    expect(parseRunTimeout('2h')).toBe(2 * 3_600_000);
    expect(formatRunTimeout(3000)).toBe('3 seconds');
    expect(formatRunTimeout(60_000)).toBe('1 minute');
    expect(formatRunTimeout(90_000)).toBe('1.5 minutes');
  });

  it('refuses anything else, and bounds shorter than a second', () => {
    for (const bad of ['', 'soon', '-1', '0', '0.001', '5d', '1e3', '3 s']) {
      expect(() => parseRunTimeout(bad)).toThrow(/^--timeout: expected minutes/);
    }
  });
});
