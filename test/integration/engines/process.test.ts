/**
 * core/process.ts with real child processes: the behaviours every engine relies on (exit codes
 * decide, a failing tool never leaves its input hanging, a destroyed stream kills its tool).
 */
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ToolError } from '../../../core/errors.ts';
import { processInput, processOutput, runCommand } from '../../../core/process.ts';
import { childPids, collect, rejectionOf, waitFor } from './support.ts';

/** A long input produced lazily, recording how far it got. */
function endlessInput(chunks: number): { stream: Readable; produced: () => number } {
  let produced = 0;
  const stream = Readable.from(
    (function* () {
      for (let i = 0; i < chunks; i++) {
        produced++;
        yield Buffer.alloc(64 * 1024, 97);
      }
    })(),
  );
  return { stream, produced: () => produced };
}

describe('processInput', () => {
  it('rejects with the exit code when the tool fails before reading its input, and stops the input', async () => {
    const input = endlessInput(10_000);

    const error = await rejectionOf(
      processInput(
        { command: 'sh', args: ['-c', 'echo "ERROR: relation missing" >&2; exit 3'] },
        input.stream,
      ),
    );

    expect(error).toBeInstanceOf(ToolError);
    expect(error.message).toBe('sh exited with code 3: ERROR: relation missing');
    expect(input.stream.destroyed).toBe(true);
    expect(input.produced()).toBeLessThan(10_000);
  });

  it('kills the tool and rejects with the input error when the input fails', async () => {
    const input = new Readable({ read() {} });
    const running = processInput({ command: 'cat', args: [] }, input);
    input.push(Buffer.from('partial'));

    input.destroy(new Error('decryption failed: MDC mismatch'));

    await expect(running).rejects.toThrow('decryption failed: MDC mismatch');
  });

  it('drains the rest of the input when the tool exits 0 early, so later input failures still surface', async () => {
    let sent = 0;
    const input = new Readable({
      read() {
        sent++;
        if (sent < 200) this.push(Buffer.alloc(64 * 1024));
        else this.destroy(new Error('truncated download'));
      },
    });

    await expect(
      processInput({ command: 'sh', args: ['-c', 'head -c 10 >/dev/null'] }, input),
    ).rejects.toThrow('truncated download');
  });

  it('resolves with stdout when the tool read everything and exited 0', async () => {
    expect(await runCommand({ command: 'wc', args: ['-c'] }, 'hello')).toBe('5\n');
  });

  it('says what to install when the tool does not exist', async () => {
    const error = await rejectionOf(runCommand({ command: 'no-such-tool-dv', args: [] }));

    expect(error).toBeInstanceOf(ToolError);
    expect(error.message).toBe('no-such-tool-dv is not installed or not on PATH; install it and try again');
  });
});

describe('processOutput', () => {
  it('ends only after the tool exited 0, and fails with its stderr when it exits non-zero', async () => {
    expect((await collect(processOutput({ command: 'printf', args: ['abc'] }))).toString()).toBe('abc');

    const error = await rejectionOf(
      collect(
        processOutput({ command: 'sh', args: ['-c', 'printf partial; echo "fatal: disk full" >&2; exit 2'] }),
      ),
    );
    expect(error).toBeInstanceOf(ToolError);
    expect(error.message).toBe('sh exited with code 2: fatal: disk full');
  });

  it('kills a tool that is silent when the stream is destroyed', async () => {
    const output = processOutput({ command: 'sh', args: ['-c', 'echo ready; exec sleep 30'] });
    await new Promise((resolve) => output.once('data', resolve));
    await waitFor(() => childPids('sleep').length === 1);

    output.destroy();

    await waitFor(() => childPids('sleep').length === 0);
  });

  it('fails the stream when the tool is killed', async () => {
    const output = processOutput({ command: 'sh', args: ['-c', 'echo ready; exec sleep 30'] });
    await new Promise((resolve) => output.once('data', resolve));
    await waitFor(() => childPids('sleep').length === 1);

    process.kill(childPids('sleep')[0]!, 'SIGKILL');

    const error = await rejectionOf(collect(output));
    expect(error).toBeInstanceOf(ToolError);
    expect(error.message).toBe('sh was killed by SIGKILL');
  });
});
