/**
 * Stage plumbing: compression and encryption stages may be Transforms or async generator
 * functions; the pipeline wants streams, so both become Duplexes.
 */
import type { Duplex } from 'node:stream';
import { generatorStage } from './generator-stage.ts';

export type Stage =
  | NodeJS.ReadWriteStream
  | Duplex
  | ((source: AsyncIterable<Buffer>) => AsyncIterable<Buffer | Uint8Array>);

/** Turns a stage (stream or async generator function) into a Duplex for stream.pipeline. */
export function asDuplex(stage: Stage): Duplex {
  if (typeof stage === 'function') return generatorStage(stage);
  return stage as Duplex;
}

/**
 * Joins small chunks into chunks of at least `minBytes` (the last one may be smaller); the
 * bytes are unchanged. For consumers that pay per chunk far more than a copy costs (openpgp.js's
 * Web Streams): a pipe delivers at most 64 KiB per read. Elsewhere the copy into fresh memory
 * costs more than it saves (docs/performance.md), so native stages take the chunks as they come.
 */
export async function* coalesceChunks(
  source: AsyncIterable<Buffer>,
  minBytes: number,
): AsyncGenerator<Buffer> {
  let held: Buffer[] = [];
  let size = 0;
  for await (const chunk of source) {
    held.push(chunk);
    size += chunk.length;
    if (size >= minBytes) {
      yield held.length === 1 ? held[0]! : Buffer.concat(held, size);
      held = [];
      size = 0;
    }
  }
  if (size > 0) yield held.length === 1 ? held[0]! : Buffer.concat(held, size);
}

/** {@link coalesceChunks} as a pipeline stage. */
export function coalesce(minBytes: number): Duplex {
  return generatorStage((source) => coalesceChunks(source, minBytes));
}
