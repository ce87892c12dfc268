/**
 * Async generator functions as stream stages (compression, encryption, decryption, chunking).
 */
import { Duplex } from 'node:stream';

/**
 * A Duplex that runs `transform` over what is written to it and emits what it yields.
 *
 * Not `Duplex.from(transform)`: on Node 20 a Duplex made from an async generator function
 * never closes when it is destroyed while the generator waits for input (its destroy aborts a
 * signal the generator only looks at after the next chunk, which never comes), so
 * `stream.pipeline` never settled when a backup was aborted mid-stream (SIGTERM, a timeout) and
 * the process ended with nothing recorded. Here destroying the stage fails the generator's
 * pending read of its input, so the generator ends and the stage closes.
 */
export function generatorStage(
  transform: (source: AsyncIterable<Buffer>) => AsyncIterable<Buffer | Uint8Array>,
): Duplex {
  // The input side holds one chunk until the generator takes it: the write's callback waits
  // for that (backpressure), and so does destruction, which fails the generator's next read.
  let pending: { chunk: Buffer; callback: (error?: Error | null) => void } | undefined;
  let ended = false;
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  const notify = () => {
    const resume = wake;
    wake = undefined;
    resume?.();
  };
  async function* source(): AsyncGenerator<Buffer> {
    for (;;) {
      if (failure) throw failure;
      if (pending) {
        const { chunk, callback } = pending;
        pending = undefined;
        callback();
        yield chunk;
      } else if (ended) {
        return;
      } else {
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
      }
    }
  }
  const output = transform(source())[Symbol.asyncIterator]();
  let reading = false;
  const stage: Duplex = new Duplex({
    readableHighWaterMark: 1,
    writableHighWaterMark: 1,
    write(chunk: Buffer, _encoding, callback) {
      pending = { chunk, callback };
      notify();
    },
    final(callback) {
      ended = true;
      notify();
      callback();
    },
    read() {
      if (reading) return;
      reading = true;
      void (async () => {
        try {
          for (;;) {
            const next = await output.next();
            if (next.done) {
              stage.push(null);
              return;
            }
            if (!stage.push(next.value)) return;
          }
        } catch (err) {
          stage.destroy(err instanceof Error ? err : new Error(String(err)));
        } finally {
          reading = false;
        }
      })();
    },
    destroy(error, callback) {
      failure = error ?? new Error('the stage was closed before its input ended');
      pending?.callback(failure);
      pending = undefined;
      notify();
      // Lets a generator suspended at a yield run its finally blocks; one that is running ends
      // through the failed read above.
      output.return?.(undefined).catch(() => {});
      callback(error);
    },
  });
  return stage;
}
