/**
 * Runs the dumpvault CLI in-process (same code as the binary, minus process.exit) and captures
 * what it printed, so tests can assert on exit codes and every byte of output.
 */
import { Writable } from 'node:stream';
import { main } from '../../task-image/cli/main.ts';

export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function capture(): { stream: Writable & { isTTY?: boolean }; text: () => string } {
  const chunks: Buffer[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(Buffer.from(chunk));
      cb();
    },
  });
  return { stream, text: () => Buffer.concat(chunks).toString('utf8') };
}

/** Runs `dumpvault <args>` with `env` layered over process.env. */
export async function runCli(
  args: readonly string[],
  env: Record<string, string | undefined> = {},
  prompt?: (question: string) => Promise<string>,
): Promise<CliRun> {
  const out = capture();
  const err = capture();
  const code = await main(args, {
    stdout: out.stream,
    stderr: err.stream,
    env: { ...process.env, ...env },
    ...(prompt ? { prompt } : {}),
  });
  return { code, stdout: out.text(), stderr: err.text() };
}
