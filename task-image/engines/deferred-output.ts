/**
 * A dump's output stream that exists before the dump tool does. `Engine.dump` must return
 * synchronously, but most engines first have to do asynchronous work (count rows, export a
 * snapshot, write a temporary config file) before they can spawn the tool.
 */
import { Readable } from 'node:stream';
import { ToolError } from '../../core/errors.ts';

/** Hooks around the relayed stream's end. */
export interface DeferredOutputOptions {
  /** Runs after the source ended cleanly and before the output ends; a rejection fails the output. */
  readonly beforeEnd?: () => Promise<void>;
  /**
   * Runs exactly once, after `open` settled, when the output ended, failed or was destroyed:
   * the place to end sessions and remove temporary files. Its own failures are ignored.
   */
  readonly onSettled?: (error: Error | undefined) => void | Promise<void>;
  /**
   * Turns a failure into the error the consumer sees (e.g. adds what to fix, or finds the
   * failure that caused this one); the output fails once it settled.
   */
  readonly mapError?: (error: unknown) => Error | Promise<Error>;
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new ToolError(String(err));
}

/**
 * A Readable that relays the stream `open` resolves to. Failures of `open`, of the source and
 * of `beforeEnd` fail the output; destroying the output destroys the source (which kills the
 * tool behind it). `signal` is aborted when the output fails or is destroyed (at any time):
 * helpers `open` starts next to the tool (row counts, watches) stop with it. `fail` fails the
 * output from outside the source, e.g. when such a helper failed while the tool still runs.
 */
export function deferredOutput(
  open: (signal: AbortSignal, fail: (error: unknown) => void) => Promise<Readable>,
  options: DeferredOutputOptions = {},
): Readable {
  const controller = new AbortController();
  let source: Readable | undefined;
  let failed = false;
  const fail = (err: unknown): void => {
    if (failed) return;
    failed = true;
    controller.abort(err);
    void (async () => {
      const map = async (): Promise<Error> => (options.mapError ? options.mapError(err) : asError(err));
      const error = await map().catch(asError);
      await settle(error);
      out.destroy(error);
    })();
  };
  const opened = open(controller.signal, fail);
  let settled: Promise<void> | undefined;
  const settle = (error: Error | undefined): Promise<void> => {
    // Cleanup waits for `open` so that whatever it started (a session, a temp file) exists by then.
    settled ??= opened
      .then(
        () => undefined,
        () => undefined,
      )
      .then(() => options.onSettled?.(error))
      .catch(() => {});
    return settled;
  };
  const out = new Readable({
    read() {
      source?.resume();
    },
    destroy(err, callback) {
      controller.abort(err ?? new ToolError('the dump was cancelled'));
      source?.destroy();
      void settle(err ?? new ToolError('the dump was cancelled'));
      callback(err);
    },
  });
  opened.then((stream) => {
    if (out.destroyed) {
      stream.destroy();
      return;
    }
    source = stream;
    stream.on('data', (chunk: Buffer) => {
      if (!out.push(chunk)) stream.pause();
    });
    stream.once('error', fail);
    stream.once('end', () => {
      (async () => {
        await options.beforeEnd?.();
        await settle(undefined);
      })().then(() => out.push(null), fail);
    });
  }, fail);
  return out;
}

/** A promise with its resolve/reject exposed (Promise.withResolvers is Node 22). */
export interface Deferred<T> {
  readonly promise: Promise<T>;
  readonly resolve: (value: T) => void;
  readonly reject: (reason: unknown) => void;
}

/**
 * Creates a {@link Deferred}. Its promise is marked handled: a dump's stats are often awaited only
 * after the output succeeded, and a rejection nobody awaited must not crash the process.
 */
export function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {});
  return { promise, resolve, reject };
}
