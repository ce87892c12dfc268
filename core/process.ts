/**
 * Child processes as streams. The rule everywhere: a process's exit code is awaited and
 * checked, never assumed, and its stderr is kept (bounded) for a one-line cause.
 */
import { type ChildProcess, type StdioOptions, spawn } from 'node:child_process';
import path from 'node:path';
import { Readable, type Writable } from 'node:stream';
import { childEnvironment } from './child-env.ts';
import { ToolError } from './errors.ts';
import { openRelayChannel, type RawTap, type RelayChannel, relayStream } from './raw-relay.ts';
import { redact } from './redact.ts';
import { type CapturedStderr, captureStderr, describeExit } from './tool-stderr.ts';

/** Kept here too for the callers that import them with the process helpers. */
export type { RawTap } from './raw-relay.ts';
export { summarizeStderr } from './tool-stderr.ts';

/** The most of a tool's stdout {@link processInput} keeps (as much as of its stderr). */
const STDOUT_LIMIT = 64 * 1024;

export interface SpawnSpec {
  readonly command: string;
  readonly args: readonly string[];
  /**
   * The child's own environment (e.g. PGPASSWORD), over the allowed part of process.env
   * (core/child-env.ts): a child never sees the rest. Never logged.
   */
  readonly env?: Record<string, string | undefined>;
  readonly cwd?: string;
  /**
   * Lines on stderr that mean the tool failed even when it exits 0 (mariadb-dump reports a
   * lost connection half-way through a table this way). Honoured by {@link processOutput}.
   */
  readonly errorLines?: readonly RegExp[];
  /**
   * Stops the process (SIGTERM, then SIGKILL after a grace period) when it aborts: a helper
   * (a row count, a probe) must not outlive the run that started it, nor keep a stopped process
   * alive until a table lock it waits for is released. Honoured by {@link processInput} and
   * {@link runCommand}, which then reject with the signal's reason.
   */
  readonly signal?: AbortSignal;
}

function exitPromise(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
}

function spawnChecked(spec: SpawnSpec, stdio: ['ignore' | 'pipe', 'pipe' | 'ignore', 'pipe']): ChildProcess {
  return spawnWith(spec, stdio);
}

function spawnWith(spec: SpawnSpec, stdio: StdioOptions): ChildProcess {
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
  /**
   * Sees the first process's output on its way to this one. The bytes then pass through Node
   * (a relay instead of a shared pipe); `end` runs once both processes exited 0, before
   * `onSuccess`, and a rejection fails the output (e.g. a dump that is incomplete).
   */
  readonly tap?: RawTap;
}

/**
 * A process's output that the process consuming it may take as its stdin ({@link processInput}):
 * the producer then writes into the consumer's pipe itself, and the bytes never pass through
 * Node. Read here instead (piped, iterated), it is an ordinary stream.
 */
export interface HandOffReadable extends Readable {
  /** Starts the producer writing into `stdin`'s pipe; false once the output is read here. */
  handOff(stdin: Writable): boolean;
}

const isHandOff = (input: Readable): input is HandOffReadable =>
  typeof (input as Partial<HandOffReadable>).handOff === 'function';

/** The producer of a handed-off input died of a broken pipe: its consumer stopped reading. */
const lostReader = (err: unknown): boolean => err instanceof ToolError && err.signal === 'SIGPIPE';

/** Options of {@link processOutput}. */
export interface OutputOptions {
  /** Start when first read or handed off ({@link HandOffReadable}); not with `through`. @default false */
  readonly handOff?: boolean;
  /** The output's error for the process's failure (with handOff, `stdin`'s failure wins). @default - as is */
  readonly mapError?: (err: Error) => Error;
}

type Exit = { readonly code: number | null; readonly signal: NodeJS.Signals | null };

/** A started process, its stderr so far and its exit, as {@link processOutput} tracks them. */
interface Running {
  readonly spec: SpawnSpec;
  readonly child: ChildProcess;
  readonly stderr: CapturedStderr;
  readonly exited: Promise<Exit>;
}

function running(spec: SpawnSpec, child: ChildProcess): Running {
  const stderr = captureStderr(child, spec.errorLines);
  const exited = exitPromise(child);
  exited.catch(() => {}); // settled below; a spawn failure must not be an unhandled rejection
  return { spec, child, stderr, exited };
}

/** Why a process failed, or undefined when it exited 0 and printed no error line. */
async function failureOf(p: Running): Promise<Error | undefined> {
  let exit: Exit;
  try {
    exit = await p.exited;
  } catch (err) {
    return notFound(p.spec, err);
  }
  if (exit.code !== 0) {
    return new ToolError(describeExit(p.spec.command, exit.code, exit.signal, p.stderr.text()), {
      signal: exit.signal,
    });
  }
  const line = p.stderr.errorLine();
  if (line === undefined) return undefined;
  const shown = redact(line);
  return new ToolError(
    `${path.basename(p.spec.command)} exited 0 but reported an error: ${shown.length > 300 ? `${shown.slice(0, 297)}...` : shown}`,
  );
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
 * of its input. With a tap, the processes start once the relay's socket is open (core/raw-relay.ts).
 */
export function processOutput(
  spec: SpawnSpec,
  stdin?: Readable,
  through?: ThroughSpec,
  options: OutputOptions = {},
): Readable {
  let started: Started | undefined;
  // A hand-written Readable rather than an async generator: a generator only notices
  // destroy() at its next yield, so a tool that is silent (waiting on a lock, a dead
  // network) would never be killed when the pipeline gives up.
  const out = new Readable({
    read() {
      if (options.handOff) started ??= start(out, spec, stdin, undefined, options);
      started?.stdout?.resume();
    },
    destroy(err, callback) {
      for (const p of started?.processes ?? []) terminate(p.child);
      if (options.handOff) stdin?.destroy();
      callback(err);
    },
  });
  if (options.handOff) {
    const handOff = (sink: Writable): boolean => {
      if (started || out.destroyed) return false;
      started = start(out, spec, stdin, undefined, options, sink);
      return true;
    };
    return Object.assign(out, { handOff });
  }
  if (through?.tap) {
    void openRelayChannel().then((channel) => {
      if (out.destroyed) channel?.close();
      else started = start(out, spec, stdin, through, options, channel);
    });
  } else started = start(out, spec, stdin, through, options);
  return out;
}

/** The processes behind a {@link processOutput} stream, and the stdout it reads. */
interface Started {
  readonly processes: readonly Running[];
  /** Undefined when the output was handed off. */
  readonly stdout: Readable | undefined;
}

/** Starts the processes of {@link processOutput} and ties `out` to them. */
function start(
  out: Readable,
  spec: SpawnSpec,
  stdin: Readable | undefined,
  through: ThroughSpec | undefined,
  options: OutputOptions,
  to?: RelayChannel | Writable,
): Started {
  const input = stdin ? 'pipe' : 'ignore';
  const channel = to && 'relay' in to ? to : undefined;
  const sink = to && !('relay' in to) ? to : undefined;
  const tool = running(spec, spawnWith(spec, [input, channel?.toolEnd ?? sink ?? 'pipe', 'pipe']));
  channel?.spawned();
  // The consumer and the producer hold the pipe now: this process's copy would keep it open.
  sink?.destroy();
  let stdinError: unknown;
  let filter: Running | undefined;
  if (through?.tap) {
    filter = running(through, spawnWith(through, ['pipe', 'pipe', 'pipe']));
    const sink = filter.child.stdin as Writable;
    if (channel) channel.relay(sink, through.tap);
    else relayStream(tool.child.stdout as Readable, sink, through.tap);
  } else if (through) {
    filter = running(through, spawnWith(through, [tool.child.stdout as Readable, 'pipe', 'pipe']));
    // Only the filter holds the pipe's read end now: if it dies, the tool gets a broken pipe
    // instead of blocking on a pipe nobody reads.
    (tool.child.stdout as Readable).destroy();
  }
  const processes = filter ? [tool, filter] : [tool];
  const stdout = (filter ?? tool).child.stdout ?? undefined;
  stdout?.on('data', (chunk: Buffer) => {
    if (!out.push(chunk)) stdout.pause();
  });
  const fail = (err: Error) => {
    for (const p of processes) terminate(p.child);
    const mapped = lostReader(err) ? err : (options.mapError?.(err) ?? err);
    out.destroy(options.handOff ? ((stdinError as Error | undefined) ?? mapped) : mapped);
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
      await through?.tap?.end();
      if (out.destroyed) return;
      if (filter && through?.onSuccess) through.onSuccess(filter.stderr.text());
    } catch (err) {
      return fail(err instanceof Error ? err : new ToolError(String(err)));
    }
    out.push(null);
  })();
  if (stdin && tool.child.stdin) {
    tool.child.stdin.on('error', () => {}); // EPIPE when the process dies; its exit code tells why
    stdin.on('error', (err) => {
      stdinError ??= err;
      terminate(tool.child);
    });
    stdin.pipe(tool.child.stdin);
  }
  return { processes, stdout };
}

/**
 * Runs a process that consumes `input` on stdin; resolves when it exited 0 and rejects with a
 * ToolError otherwise (or when `input` fails, after killing the process).
 *
 * The exit code decides, not the end of `input`: a tool that fails half-way stops reading, and
 * waiting for `input` to end would then wait forever. On failure `input` is destroyed with the
 * same error so the stages feeding it stop too. A tool that exits 0 before reading everything
 * (some ignore trailing bytes) has the rest of `input` drained, so a failure further upstream
 * (a truncated download, a failed decryption) still surfaces here; a handed-off input
 * ({@link HandOffReadable}) cannot be drained, so that fails.
 */
export async function processInput(spec: SpawnSpec, input: Readable): Promise<string> {
  // An input destroyed before the tool starts (a run aborted meanwhile) emits nothing more:
  // piped into the tool, it would leave the tool waiting for stdin forever.
  if (input.destroyed) {
    throw input.errored ?? new ToolError(`${spec.command} was not started: its input was closed before it`);
  }
  spec.signal?.throwIfAborted();
  const child = spawnChecked(spec, ['pipe', 'pipe', 'pipe']);
  let stopped: unknown;
  const stop = () => {
    stopped = spec.signal?.reason ?? new ToolError(`${spec.command} was stopped`);
    terminate(child);
  };
  spec.signal?.addEventListener('abort', stop, { once: true });
  try {
    return await awaitInput(spec, child, input, () => stopped);
  } finally {
    spec.signal?.removeEventListener('abort', stop);
  }
}

/** The rest of {@link processInput}, once `child` runs; `stopped` is the abort reason, if any. */
async function awaitInput(
  spec: SpawnSpec,
  child: ChildProcess,
  input: Readable,
  stopped: () => unknown,
): Promise<string> {
  const stderr = captureStderr(child).text;
  let stdout = '';
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (c: string) => {
    if (stdout.length < STDOUT_LIMIT) stdout += c;
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
  } else if (!(isHandOff(input) && input.handOff(sink))) input.pipe(sink);
  let result: { code: number | null; signal: NodeJS.Signals | null };
  try {
    result = await exited;
  } catch (err) {
    input.unpipe(sink);
    const failure = notFound(spec, err);
    if (!inputEnded) input.destroy(failure);
    throw failure;
  }
  if (stopped() !== undefined) {
    input.unpipe(sink);
    if (!inputEnded) input.destroy();
    throw stopped();
  }
  // A handed-off producer dies of a broken pipe once the tool stopped reading: the tool's exit says why.
  const unread = () =>
    new ToolError(
      `${path.basename(spec.command)} exited before it read all of its input, so the rest was never checked`,
    );
  if (inputError !== undefined && !lostReader(inputError)) throw inputError;
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
    if (inputError !== undefined) throw lostReader(inputError) ? unread() : inputError;
    if (!inputEnded) throw new ToolError(`the input of ${spec.command} was closed before it ended`);
  }
  return stdout;
}

/** Runs a short command and returns its stdout; rejects with a ToolError on failure. */
export async function runCommand(spec: SpawnSpec, input?: string): Promise<string> {
  return processInput(spec, Readable.from(input === undefined ? [] : [Buffer.from(input)]));
}
