import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { generatorStage } from '../../../core/streams/generator-stage.ts';
import { coalesce } from '../../../core/streams/stages.ts';

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

describe('generatorStage', () => {
  it('closes when destroyed while its generator waits for input (Duplex.from(generator) on Node 20 never does)', async () => {
    const stage = generatorStage(async function* (source) {
      for await (const chunk of source) yield chunk;
    });
    stage.on('error', () => {});
    const passedThrough = once(stage, 'data'); // (and flowing from now on)
    stage.write(Buffer.from('first'));
    // Once 'first' came out, the generator waits for the next chunk.
    await passedThrough;

    stage.destroy(new Error('aborted'));

    // A bound far above a busy machine's stalls: without the fix, 'close' never comes.
    const closed = await Promise.race([
      new Promise<boolean>((resolve) => stage.once('close', () => resolve(true))),
      sleep(30_000, false, { ref: false }),
    ]);
    expect(closed).toBe(true);
  });

  it('passes the bytes through in order and ends when its input ends', async () => {
    const stage = generatorStage(async function* (source) {
      for await (const chunk of source) yield Buffer.from(chunk.toString().toUpperCase());
    });
    const out: Buffer[] = [];
    stage.on('data', (chunk: Buffer) => out.push(chunk));
    stage.write('ab');
    stage.end('cd');
    await once(stage, 'end');

    expect(Buffer.concat(out).toString()).toBe('ABCD');
  });

  it('fails with the error its generator throws', async () => {
    const stage = generatorStage(async function* (source) {
      for await (const _ of source) throw new Error('corrupt input');
      yield Buffer.alloc(0);
    });
    stage.resume();
    stage.write('x');

    const [error] = await once(stage, 'error');
    expect((error as Error).message).toBe('corrupt input');
  });
});
