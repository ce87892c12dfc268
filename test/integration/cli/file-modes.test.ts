/**
 * Files dumpvault creates hold database contents or what is known about them: under the
 * common umask 022 they must still be readable by the owner only (files 0600, folders 0700) —
 * backups and their temp files, local history, locks, alert state, restored SQLite files
 * (into a scratch file or a --to file). Real sqlite3, the real CLI in this process.
 */
import { once } from 'node:events';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileDestination } from '../../../core/storage/file.ts';
import { runCli } from '../../support/cli.ts';
import { createSqliteDb } from '../../support/databases.ts';
import { createWorkspace, type Workspace } from '../../support/workspace.ts';

let ws: Workspace;
let savedUmask: number;

/** Mode bits (e.g. `600`) of every file and folder below `dir`, `dir` included. */
async function modes(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const visit = async (p: string) => {
    const info = await stat(p);
    out[path.relative(ws.dir, p) || '.'] =
      `${info.isDirectory() ? 'dir ' : ''}${(info.mode & 0o777).toString(8)}`;
    if (info.isDirectory()) for (const e of await readdir(p)) await visit(path.join(p, e));
  };
  await visit(dir);
  return out;
}

const modeOf = async (file: string) => ((await stat(file)).mode & 0o777).toString(8);

beforeAll(async () => {
  savedUmask = process.umask(0o022);
  ws = await createWorkspace();
  createSqliteDb(path.join(ws.dir, 'app.db'));
  await ws.writeConfig({
    destinations: { local: { type: 'file', path: './backups/nested' } },
    jobs: [{ name: 'lite', engine: 'sqlite', source: { url: 'sqlite:./app.db' }, destinations: ['local'] }],
  });
});

afterAll(async () => {
  process.umask(savedUmask);
  await ws?.remove();
});

describe('file modes under umask 022', () => {
  it('creates backups, history, locks and alert state 0600 in 0700 folders', async () => {
    const backup = await runCli(['backup', 'lite', '--config', ws.configFile]);
    // A failing run writes alert state and alerts.log too.
    await ws.writeConfig({
      destinations: { local: { type: 'file', path: './backups/nested' } },
      jobs: [
        { name: 'lite', engine: 'sqlite', source: { url: 'sqlite:./missing.db' }, destinations: ['local'] },
      ],
    });
    const failed = await runCli(['backup', 'lite', '--config', ws.configFile]);

    expect(backup.code, backup.stderr).toBe(0);
    expect(failed.code).toBe(1);
    const found = {
      ...(await modes(path.join(ws.dir, 'backups'))),
      ...(await modes(path.join(ws.dir, '.dumpvault'))),
    };
    const files = Object.entries(found).filter(([, m]) => !m.startsWith('dir'));
    const dirs = Object.entries(found).filter(([, m]) => m.startsWith('dir'));
    expect(files.length).toBeGreaterThanOrEqual(4);
    expect(dirs.length).toBeGreaterThanOrEqual(4);
    for (const [file, mode] of files) expect(mode, file).toBe('600');
    for (const [dir, mode] of dirs) expect(mode, dir).toBe('dir 700');
  });

  it('restores SQLite files 0600, into a scratch file and into a --to file', async () => {
    await ws.writeConfig({
      destinations: { local: { type: 'file', path: './backups/nested' } },
      jobs: [{ name: 'lite', engine: 'sqlite', source: { url: 'sqlite:./app.db' }, destinations: ['local'] }],
    });
    const target = path.join(ws.dir, 'copy.db');

    const scratch = await runCli(['restore', 'lite', '--json', '--config', ws.configFile]);
    const into = await runCli(['restore', 'lite', '--to', `sqlite:${target}`, '--config', ws.configFile]);

    expect(scratch.code, scratch.stderr).toBe(0);
    expect(into.code, into.stderr).toBe(0);
    const scratchUrl = (JSON.parse(scratch.stdout) as { target: string }).target;
    expect(await modeOf(scratchUrl.replace(/^sqlite:/, ''))).toBe('600');
    expect(await modeOf(target)).toBe('600');
  });

  it('writes the temp file of a file destination 0600 while the write is in progress', async () => {
    const dest = new FileDestination('local', path.join(ws.dir, 'partials'));
    const body = new PassThrough();
    const writing = dest.write('job/object.bin', body);
    // More than the body buffers (16 KiB): 'drain' comes once the destination reads it, which it
    // does only after opening its temp file, so the file is there then, however busy the machine.
    if (!body.write(Buffer.alloc(64 * 1024, 1))) await once(body, 'drain');
    const folder = path.join(ws.dir, 'partials', 'job');
    const partial = (await readdir(folder)).find((f) => f.includes('.partial-'));

    const partialMode = await modeOf(path.join(folder, partial!));
    body.end();
    await writing;

    expect(partialMode).toBe('600');
    expect(await modeOf(folder)).toBe('700');
  });
});
