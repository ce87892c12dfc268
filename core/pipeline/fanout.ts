/**
 * One stream, many destinations: the encrypted bytes are written to every destination at
 * once, and the slowest destination sets the pace (backpressure), so memory stays bounded by
 * the destinations' own buffers whatever the number of destinations.
 */
import { PassThrough, Writable } from 'node:stream';
import type { Destination, WriteResult } from '../storage/destination.ts';

/**
 * The sink could not hand bytes to a destination whose stream was closed: a consequence of that
 * destination's failure (its write rejects with the cause), never a cause itself.
 */
export class DestinationClosedError extends Error {
  override readonly name = 'DestinationClosedError';
  constructor() {
    super('a destination stopped accepting data');
  }
}

export interface FanOut {
  /** The sink to pipe the stored bytes into. */
  readonly sink: Writable;
  /** One promise per destination, settled when its object is complete (or failed). */
  readonly writes: Promise<WriteResult>[];
}

/**
 * Starts a write of `key` on every destination and returns a sink feeding all of them. When
 * one destination fails, `onFailure` is called so the caller can abort the whole pipeline.
 */
export function fanOut(
  destinations: readonly Destination[],
  key: string,
  signal: AbortSignal,
  onFailure: (err: unknown) => void,
  /** Checked when the input ends, before any destination completes; an error fails every write. */
  beforeEnd?: () => Error | undefined,
  /** The likely size of the object (the `expectedBytes` of every write). */
  expectedBytes?: number,
): FanOut {
  const outs = destinations.map(() => {
    const out = new PassThrough({ highWaterMark: 1 << 20 });
    // A destination may not listen yet when the run fails early; it sees the error when it reads.
    out.on('error', () => {});
    return out;
  });
  const writes = destinations.map((dest, i) =>
    dest
      .write(key, outs[i]!, { signal, ...(expectedBytes ? { expectedBytes } : {}) })
      .catch((err: unknown) => {
        onFailure(err);
        throw err;
      }),
  );
  for (const w of writes) w.catch(() => {}); // observed by the caller; avoid unhandled rejections
  const sink = new Writable({
    highWaterMark: 1 << 20,
    write(chunk: Buffer, _enc, callback) {
      let waiting = 0;
      let settled = false;
      const done = (err?: Error | null) => {
        if (settled) return;
        if (err) {
          settled = true;
          callback(err);
          return;
        }
        waiting--;
        if (waiting === 0) {
          settled = true;
          callback();
        }
      };
      for (const out of outs) {
        if (out.destroyed) {
          settled = true;
          callback(new DestinationClosedError());
          return;
        }
        if (!out.write(chunk)) {
          waiting++;
          const onDrain = () => {
            out.off('close', onClose);
            done();
          };
          const onClose = () => {
            out.off('drain', onDrain);
            done(new DestinationClosedError());
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
      for (const out of outs) out.end();
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
