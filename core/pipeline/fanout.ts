/**
 * One stream, many destinations: the encrypted bytes are written to every destination at
 * once, and the slowest destination sets the pace (backpressure), so memory stays bounded by
 * the destinations' own buffers whatever the number of destinations.
 *
 * One failing destination costs its own copy only (DESIGN.md §6): its write is dropped from
 * the fan-out and the others go on. The stream as a whole fails when the input fails (the dump,
 * compression, encryption: every destination's write is then failed and nothing completes) or
 * when no destination is left.
 */
import { PassThrough, Writable } from 'node:stream';
import type { Destination, WriteResult } from '../storage/destination.ts';

export interface FanOut {
  /** The sink to pipe the stored bytes into. */
  readonly sink: Writable;
  /** One promise per destination, settled when its object is complete (or its write failed). */
  readonly writes: Promise<WriteResult>[];
}

export interface FanOutOptions {
  /** Checked when the input ends, before any destination completes; an error fails every write. */
  readonly beforeEnd?: () => Error | undefined;
  /** The likely size of the object (the `expectedBytes` of every write). */
  readonly expectedBytes?: number;
  /** Called once per destination whose write failed while others may go on. */
  readonly onDestinationFailure?: (index: number, err: unknown) => void;
}

/**
 * Starts a write of `key` on every destination and returns a sink feeding all of them. A
 * destination whose write fails stops receiving data; the sink fails only when every
 * destination has failed (with the first destination's error). Aborting `signal` or failing
 * the sink fails every write.
 */
export function fanOut(
  destinations: readonly Destination[],
  key: string,
  signal: AbortSignal,
  options: FanOutOptions = {},
): FanOut {
  const { beforeEnd, expectedBytes, onDestinationFailure } = options;
  const outs = destinations.map(() => {
    // Object mode on the reading side: a destination reading a byte-mode stream gets every
    // buffered chunk joined into one fresh buffer per read (a copy of every byte); in object
    // mode each read hands over one chunk as it was written. 64 chunks are at most 4 MiB here.
    const out = new PassThrough({
      writableHighWaterMark: 1 << 20,
      readableObjectMode: true,
      readableHighWaterMark: 64,
    });
    // A destination may not listen yet when the run fails early; it sees the error when it reads.
    out.on('error', () => {});
    return out;
  });
  const failed = destinations.map(() => false);
  let firstFailure: unknown;
  const writes = destinations.map((dest, i) =>
    dest
      .write(key, outs[i]!, { signal, ...(expectedBytes ? { expectedBytes } : {}) })
      .catch((err: unknown) => {
        failed[i] = true;
        firstFailure ??= err;
        // Stop feeding it (this also releases a write of the sink waiting for it to drain).
        outs[i]!.destroy(err instanceof Error ? err : new Error(String(err)));
        onDestinationFailure?.(i, err);
        if (failed.every(Boolean) && !sink.destroyed) sink.destroy(noneLeft());
        throw err;
      }),
  );
  for (const w of writes) w.catch(() => {}); // observed by the caller; avoid unhandled rejections
  const alive = () => outs.filter((out, i) => !failed[i] && !out.destroyed);
  const noneLeft = () => asError(firstFailure ?? new Error('every destination stopped accepting data'));
  // A destination closes its stream before its write rejects with why (it cleans up first): the
  // sink fails only once every write has settled, so its error is that cause, not the closing.
  const failWhenSettled = (callback: (err: Error) => void) => {
    void Promise.allSettled(writes).then(() => callback(noneLeft()));
  };
  const sink: Writable = new Writable({
    highWaterMark: 1 << 20,
    write(chunk: Buffer, _enc, callback) {
      const targets = alive();
      if (targets.length === 0) {
        failWhenSettled(callback);
        return;
      }
      let waiting = 0;
      let settled = false;
      const done = () => {
        if (settled) return;
        waiting--;
        if (waiting === 0) {
          settled = true;
          // The destinations we waited for may all have failed meanwhile.
          if (alive().length === 0) failWhenSettled(callback);
          else callback();
        }
      };
      for (const out of targets) {
        if (!out.write(chunk)) {
          waiting++;
          // A destination that fails while we wait is dropped: its close ends the wait for it.
          const onDrain = () => {
            out.off('close', onClose);
            done();
          };
          const onClose = () => {
            out.off('drain', onDrain);
            done();
          };
          out.once('drain', onDrain);
          out.once('close', onClose);
        }
      }
      if (waiting === 0) {
        settled = true;
        callback();
      }
    },
    final(callback) {
      const refusal = beforeEnd?.();
      if (refusal) {
        for (const out of outs) out.destroy(refusal);
        callback(refusal);
        return;
      }
      const targets = alive();
      if (targets.length === 0) {
        failWhenSettled(callback);
        return;
      }
      for (const out of targets) out.end();
      callback();
    },
    destroy(err, callback) {
      // Also called after a normal finish (autoDestroy): then the destinations must drain what is buffered.
      if (err) for (const out of outs) out.destroy(err);
      callback(err);
    },
  });
  return { sink, writes };
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
