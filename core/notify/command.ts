/**
 * Command hook: a program started for each event with the event as JSON on stdin. It gets the
 * minimal child environment (core/child-env.ts) plus the variables its config names, never
 * dumpvault's whole environment (passphrases, cloud credentials, database passwords). Exit 0
 * is a delivery; anything else, or running past the timeout, is a failed attempt.
 */
import { spawn } from 'node:child_process';
import { childEnvironment } from '../child-env.ts';
import { type Channel, NotifyError, type NotifyEvent } from './notifier.ts';

export interface CommandChannelProps {
  readonly label: string;
  /** Stable across runs and config edits of its address (see Channel.id). @default label */
  readonly id?: string;
  /** Program and arguments; no shell. */
  readonly command: readonly [string, ...string[]];
  /** Names of parent variables the command gets. */
  readonly env: readonly string[];
  readonly cwd: string;
  readonly timeoutMs: number;
  readonly retries: number;
  /** The parent environment; default process.env. */
  readonly parentEnv?: NodeJS.ProcessEnv;
}

/** Runs the command once per attempt. */
export class CommandChannel implements Channel {
  readonly label: string;
  readonly id: string;
  readonly retries: number;

  constructor(private readonly props: CommandChannelProps) {
    this.label = props.label;
    this.id = props.id ?? props.label;
    this.retries = props.retries;
  }

  send(event: NotifyEvent): Promise<void> {
    const p = this.props;
    const parent = p.parentEnv ?? process.env;
    const own = Object.fromEntries(p.env.map((name) => [name, parent[name]]));
    const [program, ...args] = p.command;
    return new Promise((resolve, reject) => {
      const child = spawn(program, args, {
        cwd: p.cwd,
        env: childEnvironment(own, parent),
        stdio: ['pipe', 'ignore', 'ignore'],
        timeout: p.timeoutMs,
        killSignal: 'SIGKILL',
      });
      // A command that exits without reading stdin is judged by its exit code, not by EPIPE.
      child.stdin.on('error', () => {});
      child.once('error', (err: NodeJS.ErrnoException) => {
        reject(
          new NotifyError(`cannot start ${program} (${err.code ?? err.message})`, {
            permanent: err.code === 'ENOENT',
          }),
        );
      });
      child.once('close', (code, signal) => {
        if (code === 0) resolve();
        else if (signal === 'SIGKILL')
          reject(new NotifyError(`${program} ran past ${p.timeoutMs / 1000} s and was killed`));
        else reject(new NotifyError(`${program} exited with ${signal ?? `code ${code}`}`));
      });
      child.stdin.end(`${JSON.stringify(event)}\n`);
    });
  }
}
