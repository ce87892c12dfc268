/**
 * The dumpvault CLI: parse, dispatch, and turn errors into one clear sentence and an exit
 * code (0 success, 1 the operation failed, 2 usage or configuration). A UserError is printed
 * as its message; anything else is a bug and is printed with its stack.
 */
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline/promises';
import { ExitCode, UsageError, UserError } from '../../core/errors.ts';
import { redact } from '../../core/redact.ts';
import { checkCommandFlags, parseCommandLine, USAGE } from './args.ts';
import { processInterrupts } from './interrupts.ts';
import { type Io, Output } from './output.ts';

declare const DUMPVAULT_VERSION: string | undefined;

function version(): string {
  if (typeof DUMPVAULT_VERSION === 'string') return DUMPVAULT_VERSION;
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    return pkg.version;
  } catch {
    return 'unknown';
  }
}

const remote = () => import('./commands/remote.ts');

/** Runs one CLI invocation; resolves with the exit code (never calls process.exit). */
export async function main(argv: readonly string[], io: Io): Promise<number> {
  let out = new Output(io, argv.includes('--json'));
  try {
    const { command, positionals, flags } = parseCommandLine(argv);
    out = new Output(io, Boolean(flags.json));
    if (flags.version) {
      io.stdout.write(`dumpvault ${version()}\n`);
      return ExitCode.ok;
    }
    if (flags.help || !command || command === 'help') {
      io.stdout.write(USAGE);
      return command || flags.help ? ExitCode.ok : ExitCode.usage;
    }
    checkCommandFlags(command, flags);
    const [first, second] = positionals;
    // Commands load on demand: a backup never pays for the CloudFormation, Lambda or Step
    // Functions clients of the remote commands (start-up time and baseline memory).
    switch (command) {
      case 'init':
        return await (await import('./commands/setup.ts')).initCommand(flags, out);
      case 'validate':
        return await (await import('./commands/setup.ts')).validateCommand(flags, out);
      case 'keygen':
        return await (await import('./commands/setup.ts')).keygenCommand(flags, out);
      case 'schema':
        io.stdout.write((await import('./commands/setup.ts')).schemaText());
        return ExitCode.ok;
      case 'check':
        return await (await import('./commands/backup.ts')).checkCommand(first, flags, out, io);
      case 'backup':
        return await (await import('./commands/backup.ts')).backupCommand(first, flags, out, io);
      case 'list':
        return await (await import('./commands/catalog.ts')).listCommand(first, flags, out, io);
      case 'verify':
        return await (await import('./commands/catalog.ts')).verifyCommand(first, second, flags, out, io);
      case 'restore':
        return flags.remote
          ? await (await remote()).remoteRestoreCommand(first, second, flags, out, io, { drill: false })
          : await (await import('./commands/restore.ts')).restoreCommand(first, second, flags, out, io);
      case 'drill':
        return flags.remote
          ? await (await remote()).remoteRestoreCommand(first, undefined, flags, out, io, { drill: true })
          : await (await import('./commands/restore.ts')).drillCommand(first, flags, out, io);
      case 'standby':
        return flags.remote
          ? await (await remote()).remoteRestoreCommand(first, undefined, flags, out, io, {
              drill: false,
              standby: true,
            })
          : await (await import('./commands/standby.ts')).standbyCommand(first, flags, out, io);
      case 'prune':
        return await (await import('./commands/prune.ts')).pruneCommand(first, flags, out, io);
      case 'rekey':
        return await (await import('./commands/rekey.ts')).rekeyCommand(first, flags, out, io);
      case 'history':
        if (flags.rebuild)
          return await (await import('./commands/recover.ts')).rebuildHistoryCommand(
            first,
            flags,
            out,
            io,
            flags.remote ? (await remote()).remoteHistoryStore(io.env) : undefined,
          );
        return flags.remote
          ? await (await remote()).remoteHistoryCommand(first, flags, out, io)
          : await (await import('./commands/catalog.ts')).historyCommand(first, flags, out, io);
      case 'export':
        return await (await import('./commands/recover.ts')).exportCommand(flags, out, io);
      case 'recover':
        return await (await import('./commands/recover.ts')).recoverCommand(flags, out, io);
      case 'run':
        return await (await remote()).remoteRunCommand(first, flags, out, io);
      case 'status':
        return flags.remote
          ? await (await remote()).remoteStatusCommand(flags, out, io)
          : await (await import('./commands/serve.ts')).statusCommand(flags, out, io);
      case 'serve':
        return await (await import('./commands/serve.ts')).serveCommand(flags, out, io);
      case 'decrypt':
        return await (await import('./commands/restore.ts')).decryptCommand(first, flags, out, io);
      case 'task':
        return await (await import('./commands/task.ts')).taskCommand(
          first,
          new Output(io, true),
          io.env,
          io.interrupts ? { interrupts: io.interrupts } : {},
        );
      default:
        throw new UsageError(`unknown command "${command}"; see "dumpvault --help"`);
    }
  } catch (err) {
    return reportError(err, io, out);
  }
}

/** Prints an error the way its kind deserves and returns the exit code. */
export function reportError(err: unknown, io: Io, out?: Output): number {
  if (err instanceof UserError) {
    const text = redact(err.message);
    if (out?.isJson) io.stdout.write(`${JSON.stringify({ status: 'FAILED', error: text }, null, 2)}\n`);
    io.stderr.write(`error: ${text}\n`);
    return err.exitCode;
  }
  const text = redact(err instanceof Error ? (err.stack ?? err.message) : String(err));
  if (out?.isJson)
    io.stdout.write(
      `${JSON.stringify({ status: 'FAILED', error: redact(String((err as Error)?.message ?? err)) }, null, 2)}\n`,
    );
  io.stderr.write(`error: ${redact(String((err as Error)?.message ?? err))}\n`);
  io.stderr.write(`(this is a bug in dumpvault; please report it with this trace)\n${text}\n`);
  return ExitCode.failed;
}

/**
 * `stream` with a reader that may go away (`dumpvault list | head -1`): EPIPE then means nobody
 * reads any more, and what is still written is dropped. Without this the write error is an
 * uncaught exception that kills the process, a backup half-way through its upload included; with
 * it a backup finishes (or records its failure) and a read command exits 0 without a trace.
 */
export function quietWhenReaderLeaves<T extends NodeJS.WritableStream>(stream: T): T {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') return;
    throw err;
  });
  return stream;
}

/** The real process's Io. */
export function processIo(): Io {
  const interactive = Boolean(process.stdin.isTTY && process.stderr.isTTY);
  return {
    stdout: quietWhenReaderLeaves(process.stdout),
    stderr: quietWhenReaderLeaves(process.stderr),
    env: process.env,
    interrupts: () => processInterrupts(),
    ...(interactive
      ? {
          prompt: async (question: string) => {
            const rl = createInterface({ input: process.stdin, output: process.stderr });
            try {
              return await rl.question(question);
            } finally {
              rl.close();
            }
          },
        }
      : {}),
  };
}
