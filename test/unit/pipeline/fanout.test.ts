/**
 * The fan-out hands each destination the chunks as they were written, without copying them:
 * every byte a copy touches is fresh memory, which is what a backup's own process spends most
 * of its CPU on (docs/performance.md).
 */
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { fanOut } from '../../../core/pipeline/fanout.ts';
import type { Destination, WriteResult } from '../../../core/storage/destination.ts';

/** A destination that keeps every chunk its body yields, as the body yields it. */
function recordingDestination(received: Buffer[]): Destination {
  const refuse = () => Promise.reject(new Error('not used in this test'));
  return {
    name: 'rec',
    description: 'memory://rec',
    async write(_key: string, body: Readable): Promise<WriteResult> {
      let bytes = 0;
      for await (const chunk of body) {
        received.push(chunk as Buffer);
        bytes += (chunk as Buffer).length;
      }
      return { bytes };
    },
    put: refuse,
    read: refuse,
    stat: refuse,
    list: refuse,
    remove: refuse,
    checkWritable: refuse,
  } as Destination;
}

describe('fanOut', () => {
  it('gives every destination the written chunks themselves, not copies joined from its buffer', async () => {
    // Bug caught: a byte-mode stream joins all chunks buffered at a read into one new buffer
    // (Buffer.concat), copying every byte of the backup once more per destination.
    const a: Buffer[] = [];
    const b: Buffer[] = [];
    const { sink, writes } = fanOut(
      [recordingDestination(a), recordingDestination(b)],
      'k',
      new AbortController().signal,
    );
    const chunks = [randomBytes(3), randomBytes(65_536), randomBytes(5), randomBytes(65_536)];

    // Written in one go, so they are all buffered before a destination reads.
    for (const chunk of chunks) sink.write(chunk);
    sink.end();
    const results = await Promise.all(writes);

    for (const received of [a, b]) {
      expect(received).toHaveLength(chunks.length);
      for (const [i, chunk] of received.entries()) expect(chunk).toBe(chunks[i]);
    }
    expect(results.map((r) => r.bytes)).toEqual([131_080, 131_080]);
  });
});
