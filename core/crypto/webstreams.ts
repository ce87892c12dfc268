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
}

/** Wraps an async iterator (plus bytes already read from it) as a pull-based Web ReadableStream. */
export function toWebStream(iterator: AsyncIterator<Uint8Array>, head?: Uint8Array): TrackedWebStream {
  let failure: unknown;
  let pending = head && head.length > 0 ? head : undefined;
  const stream = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
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
      },
      async cancel() {
        await iterator.return?.();
      },
    },
    { highWaterMark: 1 },
  );
  return { stream, failure: () => failure };
}

/** Yields a Web ReadableStream's chunks as Buffers; cancels the stream if the consumer stops early. */
export async function* fromWebStream(stream: ReadableStream<Uint8Array>): AsyncGenerator<Buffer> {
  const reader = stream.getReader();
  let done = false;
  try {
    for (;;) {
      const next = await reader.read();
      if (next.done) break;
      const chunk = next.value;
      yield Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    }
    done = true;
  } finally {
    if (!done) await reader.cancel().catch(() => {});
    reader.releaseLock();
  }
}
