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

/** How long a process may ignore SIGTERM before it is sent SIGKILL. */
const KILL_GRACE_MS = 5_000;

/** Stops a running process: SIGTERM first, SIGKILL if it is still alive after a grace period. */
function terminate(child: ChildProcess): void {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }, KILL_GRACE_MS);
  timer.unref();
  child.once('exit', () => clearTimeout(timer));
}

/**
 * Runs a process and yields its stdout. The stream ends only after the process exited 0;
 * a non-zero exit or a signal fails the stream with a ToolError. Destroying the stream
 * kills the process.
 */
export function processOutput(spec: SpawnSpec, stdin?: Readable): Readable {
  const child = spawnChecked(spec, [stdin ? 'pipe' : 'ignore', 'pipe', 'pipe']);
  const stderr = captureStderr(child);
  const stdout = child.stdout as Readable;
  // A hand-written Readable rather than an async generator: a generator only notices
  // destroy() at its next yield, so a tool that is silent (waiting on a lock, a dead
  // network) would never be killed when the pipeline gives up.
  const out = new Readable({
    read() {
      stdout.resume();
    },
    destroy(err, callback) {
      terminate(child);
      callback(err);
    },
  });
  stdout.on('data', (chunk: Buffer) => {
    if (!out.push(chunk)) stdout.pause();
  });
  // 'close' fires only after stdout has ended, so every chunk was pushed before this runs.
  exitPromise(child).then(
    ({ code, signal }) => {
      if (out.destroyed) return;
      if (code === 0) out.push(null);
      else out.destroy(new ToolError(describeExit(spec.command, code, signal, stderr())));
    },
    (err: unknown) => out.destroy(notFound(spec, err)),
  );
  if (stdin && child.stdin) {
    child.stdin.on('error', () => {}); // EPIPE when the process dies; its exit code tells why
    stdin.on('error', () => terminate(child));
    stdin.pipe(child.stdin);
  }
  return out;
}

/**
 * Runs a process that consumes `input` on stdin; resolves when it exited 0 and rejects with a
 * ToolError otherwise (or when `input` fails, after killing the process).
 *
 * The exit code decides, not the end of `input`: a tool that fails half-way stops reading, and
 * waiting for `input` to end would then wait forever. On failure `input` is destroyed with the
 * same error so the stages feeding it stop too. A tool that exits 0 before reading everything
 * (some ignore trailing bytes) has the rest of `input` drained, so a failure further upstream
 * (a truncated download, a failed decryption) still surfaces here.
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
  const sink = child.stdin as Writable;
  sink.on('error', () => {}); // EPIPE: the exit code reports the real cause
  let inputError: unknown;
  let inputEnded = false;
  const inputDone = new Promise<void>((resolve) => {
    input.once('end', () => {
      inputEnded = true;
      resolve();
    });
    input.once('error', (err) => {
      inputError ??= err;
      terminate(child);
      resolve();
    });
    input.once('close', () => resolve());
  });
  if (input.readableEnded) {
    // Already consumed: 'end' will not fire again, and the tool must still see end of input.
    inputEnded = true;
    sink.end();
  } else input.pipe(sink);
  let result: { code: number | null; signal: NodeJS.Signals | null };
  try {
    result = await exited;
  } catch (err) {
    input.unpipe(sink);
    const failure = notFound(spec, err);
    if (!inputEnded) input.destroy(failure);
    throw failure;
  }
  if (inputError !== undefined) throw inputError;
  if (result.code !== 0) {
    input.unpipe(sink);
    const failure = new ToolError(describeExit(spec.command, result.code, result.signal, stderr()));
    if (!inputEnded) input.destroy(failure);
    throw failure;
  }
  if (!inputEnded) {
    input.unpipe(sink);
    input.resume();
    await inputDone;
    if (inputError !== undefined) throw inputError;
    if (!inputEnded) throw new ToolError(`the input of ${spec.command} was closed before it ended`);
  }
  return stdout;
}

/** Runs a short command and returns its stdout; rejects with a ToolError on failure. */
export async function runCommand(spec: SpawnSpec, input?: string): Promise<string> {
  return processInput(spec, Readable.from(input === undefined ? [] : [Buffer.from(input)]));
}
