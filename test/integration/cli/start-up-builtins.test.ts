/**
 * Start-up of the CLI bundle: a command that sends no HTTP request loads none of Node's HTTP
 * modules. esbuild hoists every `import … from 'node:http'` of the bundled code (the lazily
 * loaded S3 and Azure SDKs' included) to the top of the bundle, and Node 22 — the task image's
 * runtime — evaluates the ESM facade of `node:http` by reading every export, which loads its
 * fetch implementation with it: ~40 ms of CPU at every start (docs/performance.md, start-up).
 * scripts/build-cli.mjs turns them into `require` calls where first used.
 *
 * Read from the real bundle as it runs: Node lists every builtin it loaded in
 * `process.moduleLoadList`, which a preloaded script writes out at exit.
 */
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSqliteObjectsDb } from '../../support/objects.ts';
import { TIMEOUT } from '../../support/timeouts.ts';
import { createWorkspace, type Workspace } from '../../support/workspace.ts';

const exec = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../../..');
const HTTP_MODULES = ['NativeModule http', 'NativeModule https', 'NativeModule http2'];

let ws: Workspace;
let bundle: string;
let probe: string;

beforeAll(async () => {
  ws = await createWorkspace();
  bundle = path.join(ws.dir, 'dumpvault.mjs');
  await exec(process.execPath, [path.join(ROOT, 'scripts/build-cli.mjs'), bundle], { cwd: ROOT });
  probe = path.join(ws.dir, 'loaded.cjs');
  await writeFile(
    probe,
    `process.on('exit', () => require('node:fs').writeFileSync(process.env.DV_LOADED, JSON.stringify(process.moduleLoadList)));\n`,
  );
  createSqliteObjectsDb(path.join(ws.dir, 'app.db'), 100);
  await ws.writeConfig({
    destinations: { local: { type: 'file', path: './backups' } },
    jobs: [
      {
        name: 'app',
        engine: 'sqlite',
        source: { url: 'sqlite:./app.db' },
        destinations: ['local'],
        retention: { keepLast: 1 },
      },
    ],
  });
}, TIMEOUT.setup);

afterAll(async () => {
  await ws?.remove();
});

/** The builtins a run of the bundle with `args` loaded, and whether it exited 0. */
async function loadedBy(args: string[]): Promise<{ loaded: string[]; ok: boolean }> {
  const out = path.join(ws.dir, `loaded-${args[0]}.json`);
  const ok = await exec(process.execPath, ['--require', probe, bundle, ...args], {
    cwd: ws.dir,
    // Credentials of no account: the check's request must reach the network code, not stop before.
    env: { ...process.env, DV_LOADED: out, AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'y' },
  }).then(
    () => true,
    () => false,
  );
  return { loaded: JSON.parse(await readFile(out, 'utf8')) as string[], ok };
}

describe('the CLI bundle at start', () => {
  // Bug caught: an `import … from 'node:http'` hoisted to the top of the bundle runs at every start.
  it.each([[['--version']], [['backup', 'app', '--config', 'dumpvault.config.json']]])(
    '%j loads no HTTP module (a backup to a file sends no request)',
    async (args) => {
      const { loaded, ok } = await loadedBy(args);
      expect(ok).toBe(true);
      expect(loaded.length).toBeGreaterThan(10); // the probe saw the run
      expect(loaded.filter((m) => HTTP_MODULES.includes(m))).toEqual([]);
    },
    TIMEOUT.roundTrips,
  );

  it(
    'still loads them where a command needs them (the probe finds what it looks for)',
    async () => {
      // An S3 destination checked by `dumpvault check` sends a request (to a closed port: it fails).
      await ws.writeConfig({
        destinations: {
          s3: { type: 's3', bucket: 'b', endpoint: 'http://127.0.0.1:9', region: 'us-east-1' },
        },
        jobs: [{ name: 'app', engine: 'sqlite', source: { url: 'sqlite:./app.db' }, destinations: ['s3'] }],
      });
      const { loaded, ok } = await loadedBy(['check', 'app', '--config', 'dumpvault.config.json']);
      expect(ok).toBe(false);
      expect(loaded).toContain('NativeModule http');
    },
    TIMEOUT.roundTrips,
  );
});
