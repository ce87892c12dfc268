/**
 * A destination that is unreachable or fails: the backup says `destination <name>: <cause>`
 * (the errno, or the HTTP status and S3 error code), one sentence, exit 1, FAILED in history,
 * never "this is a bug in dumpvault"; it checks every destination before the dump tool starts;
 * and a multipart upload it could not abort is named. Against real things: s3rver stopped,
 * s3rver without the bucket, s3rver answering 403 (the harness injects the answer), a file
 * destination where a file is in the way, and — in a private mount namespace (`unshare -rm`,
 * so nothing outside the test sees the mount) — a read-only and a full tmpfs.
 */
import { execFile } from 'node:child_process';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalHistoryStore } from '../../../core/history/local.ts';
import { DEFAULT_PG_LIB_ROOTS, locatePgTool } from '../../../task-image/engines/pg-tools.ts';
import { runCli } from '../../support/cli.ts';
import {
  createPostgresDb,
  createSqliteDb,
  dropPostgresDb,
  PG,
  psql,
  sqlite,
} from '../../support/databases.ts';
import { S3RVER_ENV, type S3rverHandle, s3rverDestination, startS3rver } from '../../support/s3rver.ts';
import { createWorkspace, type Workspace } from '../../support/workspace.ts';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const TSX = createRequire(import.meta.url).resolve('tsx/esm');

let ws: Workspace;
let s3: S3rverHandle;
let gone: S3rverHandle;
let pgDb: string;
let pgDumpLog: string;
const savedPgDumpPath = process.env.PG_DUMP_PATH;

const pgSource = () => ({ url: `postgres://${PG.user}@${PG.host}:${PG.port}/${pgDb}` });

async function history(job: string) {
  return new LocalHistoryStore(path.join(ws.dir, '.dumpvault')).list(job);
}

/** The checks every failed run must pass: exit 1, one `error:` line, FAILED with the same cause. */
async function expectFailed(job: string, run: { code: number; stderr: string }): Promise<string> {
  expect(run.code).toBe(1);
  expect(run.stderr).not.toMatch(/this is a bug/);
  const errorLines = run.stderr.split('\n').filter((l) => l.startsWith('error: '));
  expect(errorLines).toHaveLength(1);
  const [last] = await history(job);
  expect(last?.status).toBe('FAILED');
  expect(`error: ${last?.error}`).toBe(errorLines[0]);
  return last!.error!;
}

beforeAll(async () => {
  ws = await createWorkspace();
  [s3, gone] = await Promise.all([
    startS3rver({ buckets: ['backups'] }),
    startS3rver({ buckets: ['backups'] }),
  ]);
  await gone.interrupt();
  pgDb = createPostgresDb();
  psql(
    pgDb,
    'CREATE TABLE big AS SELECT i, md5(i::text) || md5((i * 3)::text) AS t FROM generate_series(1, 150000) i',
  );
  createSqliteDb(path.join(ws.dir, 'app.db'));
  // Random blobs, so the dump (hex text, uncompressed) is ~4 MB: more than the 1 MiB tmpfs below.
  sqlite(
    path.join(ws.dir, 'big.db'),
    'CREATE TABLE b (x BLOB); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) INSERT INTO b SELECT randomblob(1000) FROM n;',
  );
  // pg_dump and psql behind wrappers that log every start: the dump tool must not start when a
  // destination check fails.
  const bin = path.join(ws.dir, 'pgbin');
  pgDumpLog = path.join(ws.dir, 'pg-starts.log');
  await mkdir(bin);
  const search = { libRoots: DEFAULT_PG_LIB_ROOTS, env: { PATH: process.env.PATH } };
  for (const tool of ['pg_dump', 'psql'] as const) {
    const real = await locatePgTool(tool, undefined, search);
    await writeFile(
      path.join(bin, tool),
      `#!/bin/sh\necho "${tool} $*" >> "${pgDumpLog}"\nexec "${real}" "$@"\n`,
    );
    await chmod(path.join(bin, tool), 0o755);
  }
  process.env.PG_DUMP_PATH = bin;
  await writeFile(path.join(ws.dir, 'not-a-dir'), 'a file where the destination folder should be\n');
  await mkdir(path.join(ws.dir, 'mnt'));
  await ws.writeConfig({
    destinations: {
      s3: s3rverDestination(s3, 'backups'),
      gone: s3rverDestination(gone, 'backups'),
      nobucket: s3rverDestination(s3, 'dv-no-such-bucket'),
      blocked: { type: 'file', path: './not-a-dir/backups' },
      mounted: { type: 'file', path: './mnt/backups' },
    },
    jobs: [
      { name: 'down', engine: 'postgres', source: pgSource(), destinations: ['gone'] },
      { name: 'nobucket', engine: 'postgres', source: pgSource(), destinations: ['nobucket'] },
      { name: 'denied', engine: 'postgres', source: pgSource(), destinations: ['s3'] },
      { name: 'orphan', engine: 'postgres', source: pgSource(), destinations: ['s3'], compression: 'none' },
      { name: 'blocked', engine: 'sqlite', source: { url: 'sqlite:./app.db' }, destinations: ['blocked'] },
      {
        name: 'full',
        engine: 'sqlite',
        source: { url: 'sqlite:./big.db' },
        destinations: ['mounted'],
        compression: 'none',
      },
    ],
  });
});

afterAll(async () => {
  if (savedPgDumpPath === undefined) delete process.env.PG_DUMP_PATH;
  else process.env.PG_DUMP_PATH = savedPgDumpPath;
  dropPostgresDb(pgDb);
  await Promise.all([s3?.stop(), gone?.stop()]);
  await ws?.remove();
});

const backup = (job: string) => runCli(['backup', job, '--config', ws.configFile], S3RVER_ENV);
const pgStarts = async () => (await readFile(pgDumpLog, 'utf8').catch(() => '')).trim();

describe('S3 destinations that fail', () => {
  it('names the destination and ECONNREFUSED when the store is down, before any PostgreSQL tool starts', async () => {
    await writeFile(pgDumpLog, '');

    const run = await backup('down');

    const cause = await expectFailed('down', run);
    expect(cause).toMatch(
      /^destination gone: could not list s3:\/\/backups\/down\/\.dumpvault-probe- at http:\S+ \(ECONNREFUSED\): /,
    );
    expect(await pgStarts()).toBe('');
  });

  it('names the destination and 404 NoSuchBucket when the bucket does not exist', async () => {
    const run = await backup('nobucket');

    const cause = await expectFailed('nobucket', run);
    expect(cause).toBe(
      `destination nobucket: bucket dv-no-such-bucket does not exist at ${s3.endpoint} (404 NoSuchBucket): create it or fix destinations.nobucket.bucket`,
    );
  });

  it('names the destination and 403 AccessDenied when the store refuses the upload, before the dump starts', async () => {
    await writeFile(pgDumpLog, '');
    const refusal = s3.failRequests((r) => r.method === 'POST' && 'uploads' in r.query, {
      status: 403,
      code: 'AccessDenied',
    });

    let run: Awaited<ReturnType<typeof backup>>;
    try {
      run = await backup('denied');
    } finally {
      refusal.restore();
    }

    const cause = await expectFailed('denied', run);
    expect(cause).toMatch(
      /^destination s3: access to s3:\/\/backups\/ at http:\S+ was denied \(403 AccessDenied when asked to start an upload of denied\/\.dumpvault-probe-[0-9a-f]+\): grant /,
    );
    expect(await pgStarts()).toBe('');
  });

  it('names the upload it could not abort, with its key and upload id, when parts and the abort are refused', async () => {
    // The probe passes; the backup's own parts and its abort are refused.
    const refusal = s3.failRequests(
      (r) =>
        !r.path.includes('.dumpvault-probe-') &&
        ((r.method === 'PUT' && 'partNumber' in r.query) || (r.method === 'DELETE' && 'uploadId' in r.query)),
      { status: 403, code: 'AccessDenied' },
    );

    let run: Awaited<ReturnType<typeof backup>>;
    try {
      run = await backup('orphan');
    } finally {
      refusal.restore();
    }

    const cause = await expectFailed('orphan', run);
    const pending = (await s3.pendingUploads('backups')).filter((k) => k.startsWith('orphan/'));
    expect(pending).toHaveLength(1);
    const key = pending[0]!;
    expect(cause).toMatch(
      new RegExp(
        `^destination s3: access to s3://backups/ at http:\\S+ was denied \\(403 AccessDenied when asked to write ${key}\\): .*; upload s3://backups/${key} \\(upload id [^)]+\\) could not be aborted: access to s3://backups/ at http:\\S+ was denied \\(403 AccessDenied when asked to abort the upload of ${key}\\): .*; the bucket's AbortIncompleteMultipartUpload lifecycle rule removes it$`,
      ),
    );
  });
});

describe('file destinations that fail', () => {
  it('names the destination when a file is in the way of its folder (what fails for root too)', async () => {
    const run = await backup('blocked');

    const cause = await expectFailed('blocked', run);
    expect(cause).toMatch(
      /^destination blocked: cannot write \S+\/not-a-dir\/backups\/blocked\/\.dumpvault-probe-[0-9a-f]+: a file is in the way of a folder \(ENOTDIR\); move it or fix destinations\.blocked\.path$/,
    );
  });

  /**
   * Runs `dumpvault backup <job>` in a mount namespace of its own with a tmpfs over `mnt/`
   * (read-only when `readOnly`); root can write anywhere else, a full or read-only file system
   * stops it too.
   */
  async function backupOnTmpfs(job: string, options: { sizeKiB: number; readOnly: boolean }) {
    const mnt = path.join(ws.dir, 'mnt');
    const mount = `mount -t tmpfs -o size=${options.sizeKiB}k,mode=0700 tmpfs "${mnt}"${options.readOnly ? ` && mount -o remount,ro "${mnt}"` : ''}`;
    const cli = `exec "${process.execPath}" --import "${TSX}" "${path.join(ROOT, 'task-image/dumpvault.ts')}" backup ${job} --config "${ws.configFile}"`;
    try {
      const { stdout, stderr } = await promisify(execFile)(
        'unshare',
        ['-rm', 'sh', '-c', `${mount} && ${cli}`],
        {
          cwd: ws.dir,
          env: { ...process.env, DUMPVAULT_LOG: 'silent' },
        },
      );
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code?: number; stdout?: string; stderr?: string };
      return {
        code: typeof e.code === 'number' ? e.code : -1,
        stdout: e.stdout ?? '',
        stderr: e.stderr ?? '',
      };
    }
  }

  it('names the destination and EROFS when its file system is read-only, before the dump starts', async () => {
    const run = await backupOnTmpfs('full', { sizeKiB: 1024, readOnly: true });

    const cause = await expectFailed('full', run);
    expect(cause).toMatch(
      /^destination mounted: cannot write \S+\/mnt\/backups\/full\/\.dumpvault-probe-[0-9a-f]+: the file system is read-only \(EROFS\); point destinations\.mounted\.path at a writable directory$/,
    );
    expect(run.stderr).not.toContain('dumping');
  }, 120_000);

  it('names the destination and ENOSPC when its file system fills up during the backup', async () => {
    const run = await backupOnTmpfs('full', { sizeKiB: 1024, readOnly: false });

    const cause = await expectFailed('full', run);
    expect(cause).toMatch(
      /^destination mounted: cannot write \S+\/mnt\/backups\/full\/\S+\.sql: no space left on the device \(ENOSPC\)$/,
    );
  }, 120_000);
});
