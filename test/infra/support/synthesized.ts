/**
 * Synthesizes each infra fixture once per test run and shares the result between test files
 * (issue 18: infra synth in every file's `beforeAll` hit 60 s hook timeouts on a busy machine).
 *
 * The first test process that asks for a fixture takes a lock (an exclusive mkdir) in the run's
 * directory (provided by test/infra/support/global-setup.ts, else a per-process one), builds and
 * synthesizes it with cdk-nag, and writes what tests read: each stack's template, the logical
 * id of every construct path, cdk-nag's report, and the fixture's extras. The others watch the
 * directory for that file (renamed into place whole, so it appears complete) with a generous
 * deadline.
 */
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  watch,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CfnElement, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { inject } from 'vitest';
import { type FixtureName, fixtures } from './fixtures.ts';
import type { CfnTemplate } from './resolve.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    infraSynthDir: string;
  }
}

/** How long a test file may wait for a synth (a busy 2-core machine needs minutes, not seconds). */
export const SYNTH_TIMEOUT_MS = 8 * 60_000;

export interface SynthesizedStack {
  readonly template: CfnTemplate;
  /** Construct path below the stack (`DumpVault/Key/Resource`) → logical id. */
  readonly logicalIds: Readonly<Record<string, string>>;
}

export interface Synthesized {
  readonly stacks: Readonly<Record<string, SynthesizedStack>>;
  /** cdk-nag's validation report when synth failed on findings, else empty. */
  readonly nagReport: string;
  /** The synth error's message, if any. */
  readonly synthError?: string;
  /** Whatever the fixture recorded from its construct objects (metric names, ARNs…). */
  readonly extras: Readonly<Record<string, unknown>>;
  /** What building and synthesizing the fixture left in the system temp folder (os.tmpdir()). */
  readonly tempLeftovers: readonly string[];
}

/** What a fixture builder returns. */
export interface FixtureBuild {
  readonly stacks: Stack[];
  readonly extras?: () => Record<string, unknown>;
}

function runDir(): string {
  let dir: string | undefined;
  try {
    dir = inject('infraSynthDir');
  } catch {
    dir = undefined;
  }
  return dir ?? mkdtempSync(path.join(tmpdir(), 'dumpvault-synth-'));
}

let dirOfProcess: string | undefined;
const memo = new Map<FixtureName, Promise<Synthesized>>();

/** The synthesized fixture, built by whichever test process asked first. */
export function synthesized(name: FixtureName): Promise<Synthesized> {
  let result = memo.get(name);
  if (!result) {
    dirOfProcess ??= runDir();
    result = loadOrBuild(dirOfProcess, name);
    memo.set(name, result);
  }
  return result;
}

async function loadOrBuild(dir: string, name: FixtureName): Promise<Synthesized> {
  const file = path.join(dir, `${name}.json`);
  const failed = path.join(dir, `${name}.failed`);
  try {
    mkdirSync(path.join(dir, `${name}.lock`));
  } catch {
    return synthesizedByOther(dir, name);
  }
  try {
    const result = build(dir, name);
    writeWhole(file, JSON.stringify(result));
    return result;
  } catch (err) {
    writeWhole(failed, err instanceof Error ? (err.stack ?? err.message) : String(err));
    throw err;
  }
}

/** Writes `file` under a temporary name and renames it: a watcher never sees it half written. */
function writeWhole(file: string, text: string): void {
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
}

/**
 * The fixture another test process is synthesizing, once its file appears: the directory is
 * watched (set up before the first look, so the rename cannot slip between them) and looked at
 * again on every change, whenever the other process gets to it on a busy machine.
 */
function synthesizedByOther(dir: string, name: FixtureName): Promise<Synthesized> {
  const file = path.join(dir, `${name}.json`);
  const failed = path.join(dir, `${name}.failed`);
  return new Promise((resolve, reject) => {
    const watcher = watch(dir);
    const deadline = setTimeout(
      () => finish(() => Promise.reject(new Error(`synth of ${name} by another test file did not finish`))),
      SYNTH_TIMEOUT_MS,
    );
    let done = false;
    const finish = (outcome: () => Promise<Synthesized>) => {
      if (done) return;
      done = true;
      clearTimeout(deadline);
      watcher.close();
      outcome().then(resolve, reject);
    };
    const look = () => {
      if (existsSync(file)) finish(async () => JSON.parse(readFileSync(file, 'utf8')) as Synthesized);
      else if (existsSync(failed))
        finish(() => Promise.reject(new Error(`synth of ${name} failed: ${readFileSync(failed, 'utf8')}`)));
    };
    watcher.on('change', look);
    watcher.on('error', (err) => finish(() => Promise.reject(err)));
    look();
  });
}

function build(dir: string, name: FixtureName): Synthesized {
  const work = mkdtempSync(path.join(dir, `${name}-`));
  const outdir = path.join(work, 'cdk.out');
  // The system temp folder of this build and synth is an empty folder of its own: os.tmpdir()
  // reads TMPDIR on every call, and both are synchronous, so nothing else of this process can
  // write there meanwhile; whatever is in it afterwards, the construct left behind.
  const systemTemp = mkdtempSync(path.join(dir, `${name}-system-temp-`));
  const savedTmpdir = process.env['TMPDIR'];
  process.env['TMPDIR'] = systemTemp;
  let synthError: string | undefined;
  let built: ReturnType<(typeof fixtures)[FixtureName]>;
  try {
    built = fixtures[name](work, outdir);
    try {
      built.app.synth();
    } catch (err) {
      synthError = err instanceof Error ? err.message : String(err);
    }
  } finally {
    if (savedTmpdir === undefined) delete process.env['TMPDIR'];
    else process.env['TMPDIR'] = savedTmpdir;
  }
  const made = built.build;
  const tempLeftovers = readdirSync(systemTemp);
  const report = path.join(outdir, 'validation-report.json');
  const nagReport = synthError && existsSync(report) ? readFileSync(report, 'utf8') : '';
  const stacks: Record<string, SynthesizedStack> = {};
  for (const stack of made.stacks) stacks[stack.node.id] = describeStack(stack);
  return {
    stacks,
    nagReport,
    ...(synthError ? { synthError } : {}),
    extras: made.extras?.() ?? {},
    tempLeftovers,
  };
}

function describeStack(stack: Stack): SynthesizedStack {
  const template = Template.fromStack(stack).toJSON() as unknown as CfnTemplate;
  const logicalIds: Record<string, string> = {};
  for (const node of stack.node.findAll()) {
    if (!(node instanceof CfnElement) || Stack.of(node) !== stack) continue;
    logicalIds[node.node.path.slice(stack.node.path.length + 1)] = stack.getLogicalId(node);
  }
  return { template, logicalIds };
}

/** The logical id of the construct at `constructPath` (below the stack); throws when there is none. */
export function logicalIdIn(stack: SynthesizedStack, constructPath: string): string {
  const id = stack.logicalIds[constructPath];
  if (!id) throw new Error(`no construct at ${constructPath}`);
  return id;
}
