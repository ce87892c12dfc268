/**
 * The CLI as people install it: `npm pack`, `npm install --global` of the tarball into a temp
 * prefix, run from another folder. The CLI is one bundled file; the package's few runtime
 * dependencies are the construct library's (lib/), and its CDK peers are optional, so a CLI
 * install never pulls aws-cdk-lib. Plus what running `dumpvault init` inside this repository
 * must not break.
 */
import { execFile } from 'node:child_process';
import { access, copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TIMEOUT } from '../../support/timeouts.ts';

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../../..');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'dv-package-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Runs a command; resolves with its exit code and output instead of throwing on a non-zero exit. */
async function exec(
  file: string,
  args: string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv },
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(file, args, { ...options, maxBuffer: 16 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

describe('npm pack and a global install', () => {
  it(
    'installs from the tarball and runs from any folder, without the CDK peers (the tarball once had no bin: dist/ was left out)',
    async () => {
      // npm pack builds the bundle (prepare) and packs only what "files" names.
      const pack = await exec(npm, ['pack', '--json', '--pack-destination', dir], { cwd: ROOT });
      expect(pack.code, pack.stderr).toBe(0);
      const [packed] = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('['))) as Array<{
        filename: string;
        files: Array<{ path: string }>;
      }>;
      const files = packed!.files.map((f) => f.path).sort();
      expect(files).toContain('dist/dumpvault.mjs');
      expect(files).toContain('lib/infra/index.js');
      expect(files).toContain('task-image/Dockerfile');
      // Compiled output only: no TypeScript sources, tests or scripts.
      expect(files.filter((f) => /\.ts$/.test(f) && !f.endsWith('.d.ts'))).toEqual([]);
      expect(files.filter((f) => /^(test|scripts|core|infra|functions)\//.test(f))).toEqual([]);

      const manifest = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as Record<
        string,
        unknown
      >;
      // The CLI bundle needs nothing; the library needs three small packages and its CDK peers,
      // which are optional so that a CLI install does not fetch aws-cdk-lib (hundreds of MB).
      expect(Object.keys(manifest['dependencies'] as object).sort()).toEqual([
        'croner',
        'jsonc-parser',
        'zod',
      ]);
      expect(manifest['peerDependenciesMeta']).toEqual({
        'aws-cdk-lib': { optional: true },
        constructs: { optional: true },
      });

      const prefix = path.join(dir, 'prefix');
      const install = await exec(
        npm,
        [
          'install',
          '--global',
          '--prefix',
          prefix,
          // The three small dependencies from the cache that `npm ci` filled, else the registry.
          '--prefer-offline',
          '--no-audit',
          '--no-fund',
          path.join(dir, packed!.filename),
        ],
        { cwd: dir },
      );
      expect(install.code, install.stderr).toBe(0);
      // Bug caught: CDK peers not optional, so every CLI install pulled aws-cdk-lib and constructs.
      const installed = path.join(prefix, 'lib', 'node_modules', 'dumpvault', 'node_modules');
      for (const peer of ['aws-cdk-lib', 'constructs']) {
        await expect(access(path.join(installed, peer))).rejects.toThrow(/ENOENT/);
        await expect(access(path.join(prefix, 'lib', 'node_modules', peer))).rejects.toThrow(/ENOENT/);
      }

      const elsewhere = path.join(dir, 'x');
      await mkdir(elsewhere);
      const bin = path.join(prefix, 'bin', 'dumpvault');
      const version = await exec(bin, ['--version'], { cwd: tmpdir() });
      expect(version.stdout.trim()).toBe(`dumpvault ${manifest['version']}`);

      await writeFile(
        path.join(elsewhere, 'dumpvault.config.json'),
        `{
        // a comment, as "dumpvault init" writes them
        "destinations": { "local": { "type": "file", "path": "./b" } },
        "jobs": [{ "name": "a", "engine": "sqlite", "source": { "url": "sqlite:./a,}.db" }, "destinations": ["local"],
                   "schedule": { "cron": "0 3 ? * MON-FRI *", "timezone": "Europe/Berlin" } }],
      }`,
      );
      const validate = await exec(
        bin,
        ['validate', '--config', path.join(elsewhere, 'dumpvault.config.json')],
        {
          cwd: tmpdir(),
        },
      );
      expect(validate.stderr).not.toMatch(/error/);
      expect(validate.code).toBe(0);
      expect(validate.stdout).toMatch(/is valid: 1 job\(s\) \(a\)/);
    },
    TIMEOUT.build,
  );

  it('does not print the AWS SDK NodeVersionSupportWarning on a command that builds an S3 client', async () => {
    const bundle = path.join(dir, 'bundle', 'dumpvault.mjs');
    await exec(process.execPath, [path.join(ROOT, 'scripts/build-cli.mjs'), bundle], { cwd: ROOT });
    const config = path.join(dir, 's3.config.json');
    await writeFile(
      config,
      JSON.stringify({
        destinations: { s: { type: 's3', bucket: 'b', endpoint: 'http://127.0.0.1:9' } },
        jobs: [{ name: 'a', engine: 'sqlite', source: { url: 'sqlite:./a.db' }, destinations: ['s'] }],
      }),
    );
    const env = { ...process.env };
    delete env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'];
    for (const name of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_PROFILE']) delete env[name];
    // `list` opens the S3 destination (an SDK client) and then fails for want of credentials.
    const list = await exec(process.execPath, [bundle, 'list', 'a', '--config', config], { cwd: dir, env });
    expect(list.stderr).toMatch(/error: /);
    expect(list.stderr).not.toContain('NodeVersionSupportWarning');
  }, 120_000);
});

describe('dumpvault init inside the repository', () => {
  it('writes nothing lint checks or git would pick up (the commented config failed "biome check", the private key was committable)', async () => {
    // A copy of the repository's lint and ignore rules, with what init writes beside them.
    const repo = path.join(dir, 'repo');
    await mkdir(repo);
    await copyFile(path.join(ROOT, 'biome.json'), path.join(repo, 'biome.json'));
    await copyFile(path.join(ROOT, '.gitignore'), path.join(repo, '.gitignore'));
    await writeFile(path.join(repo, 'ok.ts'), 'export const ok = 1;\n');
    const bundle = path.join(dir, 'bundle', 'dumpvault.mjs');
    await exec(process.execPath, [path.join(ROOT, 'scripts/build-cli.mjs'), bundle], { cwd: ROOT });
    const init = await exec(process.execPath, [bundle, 'init'], { cwd: repo });
    expect(init.code, init.stderr).toBe(0);

    const lint = await exec(path.join(ROOT, 'node_modules/.bin/biome'), ['check', '.'], { cwd: repo });
    expect(lint.stdout + lint.stderr).toMatch(/Checked 2 files/); // biome.json and ok.ts
    expect(lint.code, lint.stdout + lint.stderr).toBe(0);

    await exec('git', ['init', '-q'], { cwd: repo });
    const status = await exec('git', ['status', '--porcelain', '--untracked-files=all'], { cwd: repo });
    expect(status.stdout.split('\n').filter(Boolean).sort()).toEqual([
      '?? .gitignore',
      '?? biome.json',
      '?? ok.ts',
    ]);
  }, 120_000);
});
