import { randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { coalesce } from '../../../core/pipeline/stages.ts';

async function run(source: Readable, minBytes: number): Promise<Buffer[]> {
  const out: Buffer[] = [];
  await pipeline(
    source,
    coalesce(minBytes),
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        out.push(chunk);
        callback();
      },
    }),
  );
  return out;
}

describe('coalesce', () => {
  it('joins small chunks into chunks of at least minBytes, bytes unchanged, only the last one smaller', async () => {
    const input = Array.from({ length: 100 }, (_, i) => randomBytes(10_000 + i));

    const out = await run(Readable.from(input), 64 * 1024);

    expect(Buffer.concat(out).equals(Buffer.concat(input))).toBe(true);
    expect(out.length).toBeLessThan(input.length / 5);
    for (const chunk of out.slice(0, -1)) expect(chunk.length).toBeGreaterThanOrEqual(64 * 1024);
  });

  it('passes a chunk that is already large enough without copying it', async () => {
    const big = randomBytes(200_000);
    const out = await run(Readable.from([big]), 64 * 1024);
    expect(out).toHaveLength(1);
    expect(out[0]).toBe(big);
  });

  it("fails with its source's error, and yields nothing for an empty source", async () => {
    const failing = Readable.from(
      (async function* () {
        yield randomBytes(1000);
        throw new Error('pg_dump exited with code 1');
      })(),
    );
    await expect(run(failing, 64 * 1024)).rejects.toThrow('pg_dump exited with code 1');
    expect(await run(Readable.from([]), 64 * 1024)).toEqual([]);
  });
});
