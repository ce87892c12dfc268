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
 * A stage that joins small chunks into chunks of at least `minBytes` (the last one may be
 * smaller); the bytes are unchanged. A pipe delivers at most 64 KiB per read, and every chunk
 * costs the same bookkeeping in each stage after it (openpgp.js's Web Streams above all):
 * joining the compressed stream into 512 KiB chunks cut the backup process's CPU by 10-18 %
 * (A/B runs of the bundled CLI on the bench's PostgreSQL dataset; docs/performance.md).
 */
export function coalesce(minBytes: number): Duplex {
  return generatorStage(async function* (source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
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
  });
}
