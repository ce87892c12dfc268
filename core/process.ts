/**
 * Child processes as streams. The rule everywhere: a process's exit code is awaited and
 * checked, never assumed, and its stderr is kept (bounded) for a one-line cause.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { Readable, type Writable } from 'node:stream';
import { childEnvironment } from './childEnv.ts';
import { ToolError } from './errors.ts';
import { redact } from './redact.ts';

const STDERR_LIMIT = 64 * 1024;

export interface SpawnSpec {
  readonly command: string;
  readonly args: readonly string[];
  /**
   * The child's own environment (e.g. PGPASSWORD), over the allowed part of process.env
   * (core/childEnv.ts): a child never sees the rest. Never logged.
   */
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
    env: childEnvironment(spec.env),
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
 * A second process that reads the first one's stdout pipe itself, as `tool | filter` would in a
 * shell: the bytes between the two never pass through Node (see {@link processOutput}).
 */
export interface ThroughSpec extends SpawnSpec {
  /**
   * Runs once both processes exited 0, with this process's stderr, before the output ends; a
   * throw fails the output (e.g. a summary line that cannot be read).
   */
  readonly onSuccess?: (stderr: string) => void;
}

type Exit = { readonly code: number | null; readonly signal: NodeJS.Signals | null };

/** A started process, its stderr so far and its exit, as {@link processOutput} tracks them. */
interface Running {
  readonly spec: SpawnSpec;
  readonly child: ChildProcess;
  readonly stderr: () => string;
  readonly exited: Promise<Exit>;
}

function running(spec: SpawnSpec, child: ChildProcess): Running {
  const stderr = captureStderr(child);
  const exited = exitPromise(child);
  exited.catch(() => {}); // settled below; a spawn failure must not be an unhandled rejection
  return { spec, child, stderr, exited };
}

/** Why a process failed, or undefined when it exited 0. */
async function failureOf(p: Running): Promise<Error | undefined> {
  let exit: Exit;
  try {
    exit = await p.exited;
  } catch (err) {
    return notFound(p.spec, err);
  }
  return exit.code === 0
    ? undefined
    : new ToolError(describeExit(p.spec.command, exit.code, exit.signal, p.stderr()), {
        signal: exit.signal,
      });
}

/**
 * Runs a process and yields its stdout. The stream ends only after the process exited 0;
 * a non-zero exit or a signal fails the stream with a ToolError. Destroying the stream
 * kills the process.
 *
 * With `through`, the output is that second process's stdout, reading the first one's stdout
 * directly (`spec | through`). The stream then ends only after both exited 0. When both
 * fail, the second one's failure is reported: the first then only lost its reader (a broken
 * pipe), whereas a first process that fails on its own leaves the second exiting 0 at the end
 * of its input.
 */
export function processOutput(spec: SpawnSpec, stdin?: Readable, through?: ThroughSpec): Readable {
  const tool = running(spec, spawnChecked(spec, [stdin ? 'pipe' : 'ignore', 'pipe', 'pipe']));
  let filter: Running | undefined;
  if (through) {
    const child = spawn(through.command, [...through.args], {
      stdio: [tool.child.stdout as Readable, 'pipe', 'pipe'],
      cwd: through.cwd,
      env: childEnvironment(through.env),
    });
    // Only the filter holds the pipe's read end now: if it dies, the tool gets a broken pipe
    // instead of blocking on a pipe nobody reads.
    (tool.child.stdout as Readable).destroy();
    filter = running(through, child);
  }
  const processes = filter ? [tool, filter] : [tool];
  const last = filter ?? tool;
  const stdout = last.child.stdout as Readable;
  // A hand-written Readable rather than an async generator: a generator only notices
  // destroy() at its next yield, so a tool that is silent (waiting on a lock, a dead
  // network) would never be killed when the pipeline gives up.
  const out = new Readable({
    read() {
      stdout.resume();
    },
    destroy(err, callback) {
      for (const p of processes) terminate(p.child);
      callback(err);
    },
  });
  stdout.on('data', (chunk: Buffer) => {
    if (!out.push(chunk)) stdout.pause();
  });
  const fail = (err: Error) => {
    for (const p of processes) terminate(p.child);
    out.destroy(err);
  };
  // A process that cannot start fails the output at once (the other one is stopped).
  for (const p of processes) {
    p.exited.catch((err: unknown) => {
      if (!out.destroyed) fail(notFound(p.spec, err));
    });
  }
  // 'close' fires only after stdout has ended, so every chunk was pushed before this runs.
  void (async () => {
    const [toolFailure, filterFailure] = await Promise.all(processes.map(failureOf));
    if (out.destroyed) return;
    const failure = filterFailure ?? toolFailure;
    if (failure) return fail(failure);
    try {
      if (filter && through?.onSuccess) through.onSuccess(filter.stderr());
    } catch (err) {
      return fail(err instanceof Error ? err : new ToolError(String(err)));
    }
    out.push(null);
  })();
  if (stdin && tool.child.stdin) {
    tool.child.stdin.on('error', () => {}); // EPIPE when the process dies; its exit code tells why
    stdin.on('error', () => terminate(tool.child));
    stdin.pipe(tool.child.stdin);
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
  // An input destroyed before the tool starts (a run aborted meanwhile) emits nothing more:
  // piped into the tool, it would leave the tool waiting for stdin forever.
  if (input.destroyed) {
    throw input.errored ?? new ToolError(`${spec.command} was not started: its input was closed before it`);
  }
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
    const failure = new ToolError(describeExit(spec.command, result.code, result.signal, stderr()), {
      signal: result.signal,
    });
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
