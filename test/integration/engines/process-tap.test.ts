/**
 * core/process.ts's raw tap (the relay that lets a backup check the dump on its way to zstd)
 * and its error lines (a tool that reports an error on stderr and exits 0), with real child
 * processes.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ToolError } from '../../../core/errors.ts';
import { processOutput, type RawTap } from '../../../core/process.ts';
import { collect, rejectionOf } from './support.ts';

/** A tap that hashes what it sees and fails its end with `failure` when given. */
function hashingTap(
  failure?: Error,
): RawTap & { seen: () => { bytes: number; sha256: string }; ended: () => boolean } {
  const hash = createHash('sha256');
  let bytes = 0;
  let ended = false;
  return {
    write: (chunk) => {
      bytes += chunk.length;
      hash.update(chunk);
    },
    end: async () => {
      ended = true;
      if (failure) throw failure;
    },
    seen: () => ({ bytes, sha256: hash.copy().digest('hex') }),
    ended: () => ended,
  };
}

describe('processOutput with a tap between the tool and its filter', () => {
  it('shows the tap every raw byte on its way to the filter, which gets them unchanged', async () => {
    const tap = hashingTap();
    const out = await collect(
      processOutput(
        { command: 'sh', args: ['-c', 'head -c 5000000 /dev/urandom | od -An -tx1'] },
        undefined,
        { command: 'sha256sum', args: ['-b'], tap },
      ),
    );

    expect(tap.ended()).toBe(true);
    expect(tap.seen().bytes).toBeGreaterThan(10_000_000);
    expect(out.toString().split(' ')[0]).toBe(tap.seen().sha256);
  });

  it("fails the output with the tap's error when its end rejects (an incomplete dump), after both exited 0", async () => {
    const tap = hashingTap(new ToolError('pg_dump exited 0 but its output is incomplete: it is empty'));

    const error = await rejectionOf(
      collect(
        processOutput({ command: 'printf', args: ['x'] }, undefined, { command: 'cat', args: [], tap }),
      ),
    );

    expect(error.message).toBe('pg_dump exited 0 but its output is incomplete: it is empty');
  });

  it("reports the tool's own failure, not the tap's, when the tool exits non-zero", async () => {
    const tap = hashingTap(new ToolError('incomplete'));

    const error = await rejectionOf(
      collect(
        processOutput(
          {
            command: 'sh',
            args: ['-c', 'head -c 300000 /dev/zero; echo "pg_dump: error: lost" >&2; exit 1'],
          },
          undefined,
          { command: 'cat', args: [], tap },
        ),
      ),
    );

    expect(error.message).toBe('sh exited with code 1: pg_dump: error: lost');
    expect(tap.ended()).toBe(false);
  });

  it('stops the tool with a broken pipe when the filter dies, and reports the filter', async () => {
    const tap = hashingTap();

    const error = await rejectionOf(
      collect(
        processOutput({ command: 'sh', args: ['-c', 'cat /dev/zero'] }, undefined, {
          command: 'sh',
          args: ['-c', 'head -c 100000 >/dev/null; echo "zstd: out of memory" >&2; exit 1'],
          tap,
        }),
      ),
    );

    expect(error.message).toBe('sh exited with code 1: zstd: out of memory');
  });
});

describe('processOutput with error lines', () => {
  it('fails the output when the tool prints a line matching errorLines and exits 0, naming the tool and the line', async () => {
    const error = await rejectionOf(
      collect(
        processOutput({
          command: 'sh',
          args: [
            '-c',
            // Many lines before it: the error line must not scroll out of the kept stderr.
            'printf "data"; for i in $(seq 1 3000); do echo "-- progress line $i of a verbose tool" >&2; done; echo "mariadb-dump: Error 2013: Lost connection to server during query when dumping table orders at row: 5" >&2; for i in $(seq 1 3000); do echo "-- more $i" >&2; done; exit 0',
          ],
          errorLines: [/^mariadb-dump: Error/],
        }),
      ),
    );

    expect(error).toBeInstanceOf(ToolError);
    expect(error.message).toBe(
      'sh exited 0 but reported an error: mariadb-dump: Error 2013: Lost connection to server during query when dumping table orders at row: 5',
    );
  });

  it('passes output through when no stderr line matches', async () => {
    const out = await collect(
      processOutput({
        command: 'sh',
        args: ['-c', 'printf data; echo "mariadb-dump: Deprecated program name" >&2'],
        errorLines: [/^mariadb-dump: Error/],
      }),
    );

    expect(out.toString()).toBe('data');
  });
});
