/**
 * A reader that goes away (`dumpvault backup … | head -1`, a closed terminal, a pager quit
 * early): writing to its pipe fails with EPIPE. A backup must never die of that half-way; read
 * commands stop quietly, exit 0, no stack trace. The CLI bundle runs as a process of its own,
 * with its stdout a real pipe.
 */
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalHistoryStore } from '../../../core/history/local.ts';
import { runCli } from '../../support/cli.ts';
import { createSqliteDb } from '../../support/databases.ts';
import { createWorkspace, type Workspace } from '../../support/workspace.ts';

const ROOT = path.resolve(import.meta.dirname, '../../..');

let ws: Workspace;
let bin: string;

beforeAll(async () => {
  ws = await createWorkspace();
  bin = path.join(ws.dir, 'dumpvault.mjs');
  execFileSync(process.execPath, [path.join(ROOT, 'scripts/build-cli.mjs'), bin]);
  createSqliteDb(path.join(ws.dir, 'app.db'));
  await ws.writeConfig({
    destinations: { local: { type: 'file', path: './backups' } },
    encryption: { ops: { type: 'openpgp', recipients: ['keys/ops.pub.asc'] } },
    jobs: [
      {
        name: 'lite',
        engine: 'sqlite',
        source: { url: 'sqlite:./app.db' },
        destinations: ['local'],
        encryption: 'ops',
        retention: { keepLast: 10 },
      },
    ],
  });
});

afterAll(async () => {
  await ws?.remove();
});

describe('a closed stdout', () => {
  it('never abandons a backup piped into `head -1`: it finishes, records SUCCEEDED and exits 0', async () => {
    const before = (await new LocalHistoryStore(path.join(ws.dir, '.dumpvault')).list('lite')).length;
    const shell = spawn(
      'bash',
      [
        '-c',
        `"${process.execPath}" "${bin}" backup lite --config "${ws.configFile}" | head -1; echo "dumpvault exited \${PIPESTATUS[0]}" >&2`,
      ],
      { cwd: ws.dir, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    shell.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    shell.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    await once(shell, 'exit');

    expect(stdout).toBe('backup lite\n');
    expect(stderr).toContain('dumpvault exited 0');
    expect(stderr).not.toMatch(/EPIPE|this is a bug|Error:/);
    const items = await new LocalHistoryStore(path.join(ws.dir, '.dumpvault')).list('lite');
    expect(items).toHaveLength(before + 1);
    expect(items[0]).toMatchObject({ kind: 'backup', status: 'SUCCEEDED' });
    // The backup it wrote is complete: it verifies against its manifest, decryption included.
    const verify = await runCli([
      'verify',
      'lite',
      'latest',
      '--key',
      ws.privateKey,
      '--config',
      ws.configFile,
    ]);
    expect(verify.code).toBe(0);
  });

  for (const command of [
    ['list', 'lite'],
    ['history', 'lite'],
    ['history', 'lite', '--csv'],
    ['verify', 'lite'],
  ]) {
    it(`lets \`${command.join(' ')}\` exit 0 without a stack trace when nobody reads its output`, async () => {
      expect((await runCli(['backup', 'lite', '--config', ws.configFile])).code).toBe(0);
      const child = spawn(process.execPath, [bin, ...command, '--config', ws.configFile], {
        cwd: ws.dir,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      // The reader is gone before the command writes its first line.
      child.stdout.destroy();
      let stderr = '';
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      const [code, signal] = await once(child, 'exit');

      expect({ code, signal }).toEqual({ code: 0, signal: null });
      expect(stderr).not.toMatch(/EPIPE|this is a bug|Error:|\n\s+at /);
    });
  }
});
