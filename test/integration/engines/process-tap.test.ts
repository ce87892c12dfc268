/**
 * core/process.ts's raw tap (the relay that lets a backup check the dump on its way to zstd)
 * and its error lines (a tool that reports an error on stderr and exits 0), with real child
 * processes.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ToolError } from '../../../core/errors.ts';
import { processOutput, type RawTap } from '../../../core/process.ts';
import { openRelayChannel } from '../../../core/raw-relay.ts';
import { childPids, collect, rejectionOf, waitFor } from './support.ts';

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

  it('reads into a few reused buffers, and reuses one only once the filter has taken it', async () => {
    // A relay that reads into fresh memory for every read is what costs a backup its CPU
    // (docs/performance.md); one that reads into a buffer the filter has not taken yet hands
    // the filter other bytes than the tap saw. The sink here takes each chunk only when it
    // calls back, two turns of the event loop later, so reads outpace it.
    const channel = await openRelayChannel();
    if (!channel) throw new Error('no relay channel on this machine');
    const tap = hashingTap();
    const buffers = new Set<ArrayBufferLike>();
    const taken = createHash('sha256');
    let takenBytes = 0;
    const sink = new Writable({
      highWaterMark: 1024,
      write(chunk: Buffer, _encoding, callback) {
        // Two turns later: the relay reads again in between.
        setImmediate(() =>
          setImmediate(() => {
            taken.update(chunk);
            takenBytes += chunk.length;
            callback();
          }),
        );
      },
    });
    const tool = spawn('head', ['-c', '20000000', '/dev/urandom'], {
      stdio: ['ignore', channel.toolEnd, 'inherit'],
    });
    channel.spawned();
    channel.relay(sink, {
      write: (chunk) => {
        buffers.add(chunk.buffer);
        tap.write(chunk);
      },
      end: () => tap.end(),
    });
    await Promise.all([once(tool, 'close'), once(sink, 'finish')]);

    expect(takenBytes).toBe(20_000_000);
    expect(taken.digest('hex')).toBe(tap.seen().sha256);
    expect(buffers.size).toBeLessThanOrEqual(4);
  });

  it('relays the pipe itself when no socket can be opened for it (no writable temporary folder)', async () => {
    const tap = hashingTap();
    const tmp = process.env.TMPDIR;
    process.env.TMPDIR = '/nonexistent/dumpvault-test';
    try {
      const out = await collect(
        processOutput({ command: 'sh', args: ['-c', 'head -c 2000000 /dev/urandom'] }, undefined, {
          command: 'sha256sum',
          args: ['-b'],
          tap,
        }),
      );

      expect(out.toString().split(' ')[0]).toBe(tap.seen().sha256);
      expect(tap.seen().bytes).toBe(2_000_000);
    } finally {
      if (tmp === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = tmp;
    }
  });

  it('kills both processes when the stream is destroyed while the relay runs', async () => {
    // Bug caught: the relay's socket keeps the filter fed (or the tool writing) after the
    // pipeline gave up, so a cancelled backup leaves its processes running.
    const output = processOutput({ command: 'sh', args: ['-c', 'echo ready; exec sleep 33'] }, undefined, {
      command: 'sh',
      args: ['-c', 'cat; exec sleep 34'],
      tap: hashingTap(),
    });
    await new Promise((resolve) => output.once('data', resolve));
    await waitFor(() => childPids('sleep').length === 1);

    output.destroy();

    await waitFor(() => childPids('sleep').length === 0 && childPids('sh').length === 0);
  });

  it('says what to install when the dump tool does not exist, and stops the filter', async () => {
    // Bug caught: with the relay's socket as its stdout, a tool that never started leaves the
    // filter waiting for input, or the output waiting for ever.
    const output = processOutput({ command: 'no-such-pg-dump-dv', args: [] }, undefined, {
      command: 'sh',
      args: ['-c', 'cat; exec sleep 35'],
      tap: hashingTap(),
    });

    const error = await rejectionOf(collect(output));

    expect(error.message).toBe(
      'no-such-pg-dump-dv is not installed or not on PATH; install it and try again',
    );
    await waitFor(() => childPids('sleep').length === 0);
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
