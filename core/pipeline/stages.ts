/**
 * Stage plumbing: compression and encryption stages may be Transforms or async generator
 * functions; the pipeline wants streams, so both become Duplexes.
 */
import { Duplex } from 'node:stream';

export type Stage =
  | NodeJS.ReadWriteStream
  | Duplex
  | ((source: AsyncIterable<Buffer>) => AsyncIterable<Buffer | Uint8Array>);

/** Turns a stage (stream or async generator function) into a Duplex for stream.pipeline. */
export function asDuplex(stage: Stage): Duplex {
  if (typeof stage === 'function')
    return Duplex.from(stage as (source: AsyncIterable<Buffer>) => AsyncIterable<Buffer>);
  return stage as Duplex;
}
