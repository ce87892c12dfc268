/**
 * openpgp.js v6 streams are Web Streams; dumpvault's pipeline is Node streams and async
 * iterables. These adapters keep backpressure (one chunk read ahead at most) and remember a
 * failure of the Node-side source, so the pipeline reports it instead of openpgp.js's echo of it.
 */

/** A Web ReadableStream over an async iterator that pulls one chunk at a time. */
export interface TrackedWebStream {
  readonly stream: ReadableStream<Uint8Array>;
  /** The error the source threw, if it failed. */
  readonly failure: () => unknown;
  /**
   * How long the stream's reader has not asked for input: 0 while a pull is waiting on the
   * source, else the milliseconds since the last pull finished (or since the stream was made).
   */
  readonly idleMs: () => number;
}

/** Wraps an async iterator (plus bytes already read from it) as a pull-based Web ReadableStream. */
export function toWebStream(iterator: AsyncIterator<Uint8Array>, head?: Uint8Array): TrackedWebStream {
  let failure: unknown;
  let pulling = false;
  let lastPull = Date.now();
  let pending = head && head.length > 0 ? head : undefined;
  const pullOnce = async (controller: ReadableStreamDefaultController<Uint8Array>): Promise<void> => {
    if (pending) {
      controller.enqueue(pending);
      pending = undefined;
      return;
    }
    try {
      const next = await iterator.next();
      if (next.done) controller.close();
      else controller.enqueue(next.value);
    } catch (err) {
      failure = err;
      controller.error(err);
    }
  };
  const stream = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        pulling = true;
        try {
          await pullOnce(controller);
        } finally {
          pulling = false;
          lastPull = Date.now();
        }
      },
      async cancel() {
        await iterator.return?.();
      },
    },
    { highWaterMark: 1 },
  );
  return { stream, failure: () => failure, idleMs: () => (pulling ? 0 : Date.now() - lastPull) };
}

/**
 * Fails a read that stays pending while the producer has not asked for input for `ms` either:
 * it is then waiting on neither side, so it is stuck. (A producer busy computing blocks the
 * event loop, and with it this check.)
 */
export interface StallGuard {
  readonly inputIdleMs: () => number;
  readonly ms: number;
  readonly error: () => Error;
}

/** `reader.read()`, failed by `guard` when it stalls after the input ended. */
async function guardedRead(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  guard: StallGuard | undefined,
): ReturnType<ReadableStreamDefaultReader<Uint8Array>['read']> {
  const read = reader.read();
  if (!guard) return read;
  let timer: NodeJS.Timeout | undefined;
  const stalled = new Promise<never>((_, reject) => {
    const check = () => {
      if (guard.inputIdleMs() >= guard.ms) reject(guard.error());
      else timer = setTimeout(check, Math.min(guard.ms, 1_000));
    };
    timer = setTimeout(check, Math.min(guard.ms, 1_000));
  });
  try {
    return await Promise.race([read, stalled]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Yields a Web ReadableStream's chunks as Buffers; cancels the stream if the consumer stops
 * early, or when `guard` finds a read stuck after the input ended.
 */
export async function* fromWebStream(
  stream: ReadableStream<Uint8Array>,
  guard?: StallGuard,
): AsyncGenerator<Buffer> {
  const reader = stream.getReader();
  let done = false;
  try {
    for (;;) {
      const next = await guardedRead(reader, guard);
      if (next.done) break;
      const chunk = next.value;
      yield Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    }
    done = true;
  } finally {
    if (!done) {
      // A stuck stream may never settle its cancel either: give it a moment, not forever.
      const cancelled = reader.cancel().catch(() => {});
      await Promise.race([cancelled, new Promise((resolve) => setTimeout(resolve, 1_000).unref())]);
    }
    try {
      reader.releaseLock();
    } catch {
      // a read still pending in a stuck stream; the stream is abandoned anyway
    }
  }
}
