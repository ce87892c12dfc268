/**
 * The construct as a library (issue 13 §2): the package as `npm pack` makes it, installed into
 * another project's node_modules, imported by a plain tsc CDK app (test/infra/consumer/) and
 * synthesized there — in a child process whose system temp folder is a private, empty one.
 *
 * The package is built into this process's own scratch folder by the same script `npm pack`
 * runs (scripts/build-lib.ts), so two runs of the suite never write the same files. Its
 * dependencies come from this repository's node_modules as symlinks: no network, and a
 * dependency the package forgets to declare is missing in the consumer.
 *
 * Bugs caught: the construct shipped only as TypeScript sources (`exports` pointing at .ts);
 * `.d.ts` that lose their types (a consumer's mistakes type-check); a runtime import missing
 * from `dependencies`; the Lambda bundles, the Dockerfile or the CLI bundle looked up relative
 * to the repository instead of the installed package; a synth that leaves `dumpvault-functions-*`
 * (or anything else) in the system temp folder.
 */
import { execFile } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TIMEOUT } from '../support/timeouts.ts';

const run = promisify(execFile);
const repo = path.join(import.meta.dirname, '..', '..');
const fixture = path.join(import.meta.dirname, 'consumer');
const bin = (pkg: string, file: string) => path.join(repo, 'node_modules', pkg, file);

interface PackageJson {
  readonly files: string[];
  readonly dependencies?: Record<string, string>;
  readonly peerDependencies?: Record<string, string>;
}

const work = mkdtempSync(path.join(tmpdir(), 'dvt-consumer-'));
const app = path.join(work, 'app');
const installed = path.join(app, 'node_modules', 'dumpvault');
const childTmp = path.join(work, 'tmp');
const outdir = path.join(app, 'cdk.out');
let packed: PackageJson;
let template: Template;
let synthOutput = '';

const stage = path.join(work, 'pkg');

/** Builds the package into `stage` as `npm pack` would (prepare + prepack). */
async function build(): Promise<void> {
  const manifest = JSON.parse(readFileSync(path.join(repo, 'package.json'), 'utf8')) as PackageJson;
  mkdirSync(stage);
  for (const file of ['package.json', 'README.md']) cpSync(path.join(repo, file), path.join(stage, file));
  // What `files` names from the sources; lib/ and dist/ are build outputs, made below.
  for (const entry of manifest.files.filter((f) => !/^(lib|dist)\b/.test(f))) {
    cpSync(path.join(repo, entry), path.join(stage, entry), { recursive: true });
  }
  await Promise.all([
    run(process.execPath, [bin('tsx', 'dist/cli.mjs'), 'scripts/build-lib.ts', stage], { cwd: repo }),
    run(process.execPath, ['scripts/build-cli.mjs', path.join(stage, 'dist', 'dumpvault.mjs')], {
      cwd: repo,
    }),
  ]);
}

/** Packs the built package (what `files` selects) and installs the tarball into the app. */
async function packAndInstall(): Promise<void> {
  const { stdout } = await run(
    'npm',
    ['pack', '--ignore-scripts', '--offline', '--json', '--pack-destination', work],
    { cwd: stage },
  );
  const [{ filename }] = JSON.parse(stdout) as [{ filename: string }];
  mkdirSync(installed, { recursive: true });
  await run('tar', ['-xzf', path.join(work, filename), '-C', installed, '--strip-components=1']);
}

beforeAll(build, TIMEOUT.setup);

beforeAll(async () => {
  await packAndInstall();
  packed = JSON.parse(readFileSync(path.join(installed, 'package.json'), 'utf8')) as PackageJson;
  // The consumer's own dependencies (the peers, @types/node) and the package's, from this repository.
  const deps = [
    ...Object.keys(packed.dependencies ?? {}),
    ...Object.keys(packed.peerDependencies ?? {}),
    '@types/node',
  ];
  for (const dep of deps) {
    mkdirSync(path.dirname(path.join(app, 'node_modules', dep)), { recursive: true });
    symlinkSync(path.join(repo, 'node_modules', dep), path.join(app, 'node_modules', dep), 'dir');
  }
  cpSync(fixture, app, { recursive: true });
  writeFileSync(path.join(app, 'package.json'), '{ "type": "module", "private": true }\n');
}, TIMEOUT.setup);

beforeAll(async () => {
  await run(process.execPath, [bin('typescript', 'bin/tsc'), '-p', app]);
  mkdirSync(childTmp);
  const { stdout, stderr } = await run(process.execPath, [path.join(app, 'app.js')], {
    cwd: app,
    env: { ...process.env, TMPDIR: childTmp, TMP: childTmp, TEMP: childTmp, CONSUMER_OUTDIR: outdir },
  });
  synthOutput = stdout + stderr;
  template = Template.fromJSON(JSON.parse(readFileSync(path.join(outdir, 'Consumer.template.json'), 'utf8')));
}, TIMEOUT.setup);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('the packed dumpvault package in another CDK app', () => {
  it('declares the CDK libraries as peer dependencies and ships compiled JavaScript with types', () => {
    expect(Object.keys(packed.peerDependencies ?? {}).sort()).toEqual(['aws-cdk-lib', 'constructs']);
    expect(packed.dependencies).not.toHaveProperty('aws-cdk-lib');
    expect(existsSync(path.join(installed, 'lib', 'infra', 'index.js'))).toBe(true);
    expect(existsSync(path.join(installed, 'lib', 'infra', 'index.d.ts'))).toBe(true);
    // No TypeScript sources: the consumer runs what the package compiled.
    expect(existsSync(path.join(installed, 'infra'))).toBe(false);
  });

  it('synthesizes the construct: a schedule for the job, its Lambdas and its task definition', () => {
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'cron(0 3 * * ? *)',
      ScheduleExpressionTimezone: 'Europe/Berlin',
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Handler: 'index.handler',
      Runtime: 'nodejs22.x',
    });
    template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      ContainerDefinitions: Match.arrayWith([Match.objectLike({ Name: 'dumpvault' })]),
    });
  });

  it('stages every Lambda asset in the app outdir from the bundles the package ships, with its config', () => {
    const assets = JSON.parse(readFileSync(path.join(outdir, 'Consumer.assets.json'), 'utf8')) as {
      files: Record<string, { source: { path: string } }>;
    };
    const lambdaDirs = Object.values(assets.files)
      .map((f) => path.join(outdir, f.source.path))
      .filter((dir) => existsSync(path.join(dir, 'index.mjs')));
    // start-backup, task-stopped, watchdog, prune (one per job) and the five restore steps.
    expect(lambdaDirs.length).toBeGreaterThanOrEqual(9);
    const shipped = readFileSync(path.join(installed, 'lib', 'functions', 'start-backup', 'index.mjs'));
    const startBackup = lambdaDirs.find((dir) => readFileSync(path.join(dir, 'index.mjs')).equals(shipped));
    expect(startBackup).toBeDefined();
    const config = JSON.parse(readFileSync(path.join(startBackup!, 'config.json'), 'utf8'));
    expect(config.jobs[0].name).toBe('orders');
  });

  it('builds the task image from the installed package: its Dockerfile and CLI bundle', () => {
    const assets = JSON.parse(readFileSync(path.join(outdir, 'Consumer.assets.json'), 'utf8')) as {
      dockerImages: Record<string, { source: { directory: string } }>;
    };
    const [image] = Object.values(assets.dockerImages);
    const context = path.join(outdir, image!.source.directory);
    // Buffer.equals: a deep equality over megabytes of bytes takes minutes.
    const same = (staged: string, shipped: string) =>
      readFileSync(path.join(context, staged)).equals(readFileSync(path.join(installed, shipped)));
    expect(same('Dockerfile', 'task-image/Dockerfile')).toBe(true);
    expect(same('dumpvault.mjs', 'dist/dumpvault.mjs')).toBe(true);
  });

  it('leaves nothing in the system temp folder of the synth', () => {
    expect(readdirSync(childTmp)).toEqual([]);
    expect(synthOutput).not.toMatch(/warn|error/i);
  });
});
