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

  it('does not start the tool when its input was destroyed before (an abort), and rejects with the input error', async () => {
    const input = new Readable({ read() {} });
    input.on('error', () => {});
    input.destroy(new Error('stopped by SIGINT before it finished'));

    // `cat` would wait for stdin forever if it were started on this input.
    await expect(processInput({ command: 'cat', args: [] }, input)).rejects.toThrow(
      'stopped by SIGINT before it finished',
    );
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

describe('processOutput through a second process (tool | filter)', () => {
  const upper = { command: 'tr', args: ['a-z', 'A-Z'] };

  it("yields the filter's output of everything the tool wrote, and runs onSuccess with the filter's stderr", async () => {
    const seen: string[] = [];
    const output = processOutput(
      { command: 'sh', args: ['-c', 'head -c 3000000 /dev/zero | tr "\\0" a'] },
      undefined,
      {
        command: 'sh',
        args: ['-c', 'tr a-z A-Z; echo "summary 3000000" >&2'],
        onSuccess: (e) => seen.push(e),
      },
    );

    const data = await collect(output);

    expect(data.length).toBe(3_000_000);
    expect(data.every((b) => b === 65)).toBe(true); // 'A': every byte went through the filter
    expect(seen).toEqual(['summary 3000000\n']);
  });

  it("fails with the tool's error when the tool fails, although the filter exits 0 at the end of its input", async () => {
    const error = await rejectionOf(
      collect(
        processOutput(
          {
            command: 'sh',
            args: ['-c', 'printf partial; echo "pg_dump: error: connection lost" >&2; exit 1'],
          },
          undefined,
          upper,
        ),
      ),
    );

    expect(error).toBeInstanceOf(ToolError);
    expect(error.message).toBe('sh exited with code 1: pg_dump: error: connection lost');
  });

  it("fails with the filter's error when the filter dies, and the tool is stopped by the broken pipe", async () => {
    const output = processOutput({ command: 'sh', args: ['-c', 'exec yes'] }, undefined, {
      command: 'sh',
      args: ['-c', 'head -c 100000 >/dev/null; echo "zstd: error 70 : Write error" >&2; exit 70'],
    });

    const error = await rejectionOf(collect(output));

    expect(error).toBeInstanceOf(ToolError);
    expect(error.message).toBe('sh exited with code 70: zstd: error 70 : Write error');
    await waitFor(() => childPids('yes').length === 0);
  });

  it('kills both processes when the stream is destroyed', async () => {
    const output = processOutput({ command: 'sh', args: ['-c', 'echo ready; exec sleep 30'] }, undefined, {
      command: 'sh',
      args: ['-c', 'cat; exec sleep 31'],
    });
    await new Promise((resolve) => output.once('data', resolve));
    await waitFor(() => childPids('sleep').length === 1);

    output.destroy();

    await waitFor(() => childPids('sleep').length === 0 && childPids('sh').length === 0);
  });

  it('fails with what to install when the filter does not exist, and stops the tool', async () => {
    const output = processOutput({ command: 'sh', args: ['-c', 'exec sleep 30'] }, undefined, {
      command: 'no-such-zstd-dv',
      args: [],
    });

    const error = await rejectionOf(collect(output));

    expect(error.message).toBe('no-such-zstd-dv is not installed or not on PATH; install it and try again');
    await waitFor(() => childPids('sleep').length === 0);
  });

  it('fails when onSuccess throws (e.g. the filter reported nothing readable)', async () => {
    const output = processOutput({ command: 'printf', args: ['x'] }, undefined, {
      ...upper,
      onSuccess: () => {
        throw new ToolError('zstd did not report how many bytes it compressed');
      },
    });

    await expect(collect(output)).rejects.toThrow('zstd did not report how many bytes it compressed');
  });
});
