/**
 * Child processes as streams. The rule everywhere: a process's exit code is awaited and
 * checked, never assumed, and its stderr is kept (bounded) for a one-line cause.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { Readable, type Writable } from 'node:stream';
import { ToolError } from './errors.ts';
import { redact } from './redact.ts';

const STDERR_LIMIT = 64 * 1024;

export interface SpawnSpec {
  readonly command: string;
  readonly args: readonly string[];
  /** Extra environment (e.g. PGPASSWORD); merged over process.env. Never logged. */
  readonly env?: Record<string, string | undefined>;
  readonly cwd?: string;
}

/** Keeps the last 64 KiB of a process's stderr. */
function captureStderr(child: ChildProcess): () => string {
  let buf = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    buf += chunk;
    if (buf.length > STDERR_LIMIT) buf = buf.slice(-STDERR_LIMIT);
  });
  return () => buf;
}

/** The useful part of a tool's stderr as one redacted line (at most ~300 characters). */
export function summarizeStderr(stderr: string): string {
  const lines = redact(stderr)
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const important = lines.filter((l) => /error|fatal|denied|does not exist|unknown|failed|refused/i.test(l));
  const chosen = (important.length ? important : lines).slice(-2).join(' | ');
  return chosen.length > 300 ? `${chosen.slice(0, 297)}...` : chosen;
}

function exitPromise(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
}

function describeExit(
  name: string,
  code: number | null,
  signal: NodeJS.Signals | null,
  stderr: string,
): string {
  const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
  const why = summarizeStderr(stderr);
  return `${name} ${how}${why ? `: ${why}` : ''}`;
}

function spawnChecked(spec: SpawnSpec, stdio: ['ignore' | 'pipe', 'pipe' | 'ignore', 'pipe']): ChildProcess {
  return spawn(spec.command, [...spec.args], {
    stdio,
    cwd: spec.cwd,
    env: { ...process.env, ...spec.env },
  });
}

function notFound(spec: SpawnSpec, err: unknown): ToolError {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') {
    return new ToolError(`${spec.command} is not installed or not on PATH; install it and try again`);
  }
  return new ToolError(`cannot start ${spec.command}: ${redact(String((err as Error).message ?? err))}`);
}

/**
 * Runs a process and yields its stdout. The stream ends only after the process exited 0;
 * a non-zero exit or a signal fails the stream with a ToolError. Destroying the stream
 * kills the process.
 */
export function processOutput(spec: SpawnSpec, stdin?: Readable): Readable {
  const child = spawnChecked(spec, [stdin ? 'pipe' : 'ignore', 'pipe', 'pipe']);
  const stderr = captureStderr(child);
  const exited = exitPromise(child);
  exited.catch(() => {});
  if (stdin && child.stdin) {
    child.stdin.on('error', () => {}); // EPIPE when the process dies; its exit code tells why
    stdin.on('error', () => child.kill('SIGTERM'));
    stdin.pipe(child.stdin);
  }
  async function* generate(): AsyncGenerator<Buffer> {
    let finished = false;
    try {
      for await (const chunk of child.stdout as Readable) yield chunk as Buffer;
      let result: { code: number | null; signal: NodeJS.Signals | null };
      try {
        result = await exited;
      } catch (err) {
        throw notFound(spec, err);
      }
      finished = true;
      if (result.code !== 0)
        throw new ToolError(describeExit(spec.command, result.code, result.signal, stderr()));
    } finally {
      if (!finished && child.exitCode === null) child.kill('SIGTERM');
    }
  }
  return Readable.from(generate(), { objectMode: false });
}

/**
 * Runs a process that consumes `input` on stdin; resolves when it exited 0 and rejects with a
 * ToolError otherwise (or when `input` fails, after killing the process).
 */
export async function processInput(spec: SpawnSpec, input: Readable): Promise<string> {
  const child = spawnChecked(spec, ['pipe', 'pipe', 'pipe']);
  const stderr = captureStderr(child);
  let stdout = '';
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (c: string) => {
    if (stdout.length < STDERR_LIMIT) stdout += c;
  });
  const exited = exitPromise(child);
  const stdinDone = new Promise<void>((resolve, reject) => {
    const sink = child.stdin as Writable;
    sink.on('error', () => {}); // EPIPE: the exit code reports the real cause
    input.once('error', (err) => {
      child.kill('SIGTERM');
      reject(err);
    });
    input.pipe(sink);
    input.once('end', () => resolve());
  });
  let result: { code: number | null; signal: NodeJS.Signals | null };
  try {
    [result] = await Promise.all([exited, stdinDone]);
  } catch (err) {
    if (
      (err as NodeJS.ErrnoException).code === 'ENOENT' ||
      (err as NodeJS.ErrnoException).syscall?.startsWith('spawn')
    ) {
      throw notFound(spec, err);
    }
    await exited.catch(() => {});
    throw err;
  }
  if (result.code !== 0)
    throw new ToolError(describeExit(spec.command, result.code, result.signal, stderr()));
  return stdout;
}

/** Runs a short command and returns its stdout; rejects with a ToolError on failure. */
export async function runCommand(spec: SpawnSpec, input?: string): Promise<string> {
  return processInput(spec, Readable.from(input === undefined ? [] : [Buffer.from(input)]));
}
