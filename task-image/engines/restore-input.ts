/**
 * What a restore does with its input when it fails: the caller is usually still pumping a
 * download through decryption and decompression into it, and those stages must stop too.
 */
import type { Readable } from 'node:stream';

/**
 * Destroys `input` with `error` unless it already finished, so the pipeline feeding it fails
 * with the same cause instead of waiting forever for a reader that is gone.
 */
export function abandonInput(input: Readable, error: Error): void {
  if (input.destroyed || input.readableEnded) return;
  // The caller hears about the failure from restore()'s rejection; this listener only keeps a
  // stream nobody else listens to from turning the error into an uncaught exception.
  input.once('error', () => {});
  input.destroy(error);
}
