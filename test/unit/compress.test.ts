import { execFile } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, IntegrityError, ToolError } from '../../core/errors.ts';
import { compressStage, decompressStage, zstdInputBytes, zstdThrough } from '../../core/pipeline/compress.ts';
import { processOutput } from '../../core/process.ts';
import { bufferStream, CollectSink, generatedData, HashSink, sha256 } from './crypto/support.ts';

const run = promisify(execFile);
const MB = 1024 * 1024;
let dir: string;

/** Runs a CLI with a file as stdin (via sh) and returns its stdout. */
async function tool(command: string, inputFile: string): Promise<Buffer> {
  const { stdout } = await run('sh', ['-c', `${command} < "$1"`, 'sh', inputFile], {
    encoding: 'buffer',
    maxBuffer: 256 * MB,
  });
  return stdout;
}

async function through(data: Buffer, ...stages: Duplex[]): Promise<Buffer> {
  const sink = new CollectSink();
  await pipeline([bufferStream(data), ...stages, sink]);
  return sink.data();
}

let sample: Buffer; // 8 MB of compressible rows
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dv-compress-'));
  const generated = generatedData(8 * MB, { seed: 3, compressible: true });
  const collected = new CollectSink();
  await pipeline(generated.stream, collected);
  sample = collected.data();
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe.each(['gzip', 'zstd'] as const)('%s', (codec) => {
  const cli =
    codec === 'gzip'
      ? { compress: 'gzip -c', decompress: 'gunzip -c' }
      : { compress: 'zstd -q -c', decompress: 'zstd -d -q -c' };

  it('round-trips 20 MB byte for byte', async () => {
    const input = generatedData(20 * MB, { seed: 11, compressible: true });
    const sink = new HashSink();

    await pipeline(input.stream, compressStage(codec), decompressStage(codec), sink);

    expect(sink.bytes).toBe(20 * MB);
    expect(sink.sha256()).toBe(input.sha256());
  });

  it(`writes output that the ${codec} CLI decompresses`, async () => {
    const compressed = await through(sample, compressStage(codec));
    await writeFile(join(dir, `ours.${codec}`), compressed);

    const restored = await tool(cli.decompress, join(dir, `ours.${codec}`));

    expect(compressed.length).toBeLessThan(sample.length / 2);
    expect(sha256(restored)).toBe(sha256(sample));
  });

  it(`decompresses what the ${codec} CLI wrote`, async () => {
    await writeFile(join(dir, `plain-${codec}`), sample);
    const compressed = await tool(cli.compress, join(dir, `plain-${codec}`));

    const restored = await through(compressed, decompressStage(codec));

    expect(sha256(restored)).toBe(sha256(sample));
  });

  it('fails with an IntegrityError when a byte in the middle is corrupted', async () => {
    const compressed = await through(sample, compressStage(codec));
    const corrupted = Buffer.from(compressed);
    const at = Math.floor(corrupted.length / 2);
    corrupted.fill(0x55, at, at + 64);

    await expect(through(corrupted, decompressStage(codec))).rejects.toThrow(IntegrityError);
  });

  it('fails with an IntegrityError when the data is truncated', async () => {
    const compressed = await through(sample, compressStage(codec));

    await expect(
      through(compressed.subarray(0, compressed.length - 100), decompressStage(codec)),
    ).rejects.toThrow(new RegExp(`the ${codec} data is corrupted or truncated`));
  });

  it('fails with an IntegrityError when the data is not compressed at all', async () => {
    await expect(
      through(Buffer.from('plain text, not compressed\n'), decompressStage(codec)),
    ).rejects.toThrow(IntegrityError);
  });

  it('passes on the failure of its input, not its own', async () => {
    const failing = bufferStream(sample);
    let sent = 0;
    failing.on('data', (chunk: Buffer) => {
      sent += chunk.length;
      if (sent > MB) failing.destroy(new ToolError('pg_dump exited with code 1'));
    });

    await expect(pipeline(failing, compressStage(codec), new HashSink())).rejects.toThrow(
      'pg_dump exited with code 1',
    );
  });
});

describe('compression levels', () => {
  it('applies the gzip level (XFL header byte: 2 = best, 4 = fastest)', async () => {
    const best = await through(sample, compressStage('gzip', 9));
    const fastest = await through(sample, compressStage('gzip', 1));
    const standard = await through(sample, compressStage('gzip'));

    expect(best[8]).toBe(2);
    expect(fastest[8]).toBe(4);
    expect(standard[8]).toBe(0); // level 6, the default
  });

  it('applies the zstd level', async () => {
    const high = await through(sample, compressStage('zstd', 12));
    const low = await through(sample, compressStage('zstd', 1));

    expect(high.length).toBeLessThan(low.length);
  });

  it('fails at once for a level out of range', () => {
    expect(() => compressStage('gzip', 12)).toThrow(ConfigError);
    expect(() => compressStage('gzip', 12)).toThrow(
      'compression level for gzip: expected a whole number 1-9, got 12',
    );
    expect(() => compressStage('zstd', 0)).toThrow(/1-19, got 0/);
    expect(() => compressStage('zstd', 2.5)).toThrow(ConfigError);
  });
});

describe('zstd failures', () => {
  it('fails the pipeline when zstd exits non-zero while compressing', async () => {
    const fake = join(dir, 'zstd-fails');
    await writeFile(
      fake,
      '#!/bin/sh\nhead -c 100000 > /dev/null\necho "zstd: error 70 : Write error : No space left on device" >&2\nexit 70\n',
    );
    await chmod(fake, 0o755);

    const attempt = pipeline(
      bufferStream(sample),
      compressStage('zstd', 3, { zstdCommand: fake }),
      new HashSink(),
    );

    await expect(attempt).rejects.toThrow(ToolError);
    await expect(attempt).rejects.toThrow(/exited with code 70: zstd: error 70 : Write error/);
  });

  it('fails the pipeline when zstd exits non-zero after writing all its output', async () => {
    const fake = join(dir, 'zstd-late');
    await writeFile(fake, '#!/bin/sh\ncat\nexit 1\n');
    await chmod(fake, 0o755);

    await expect(
      pipeline(bufferStream(sample), compressStage('zstd', 3, { zstdCommand: fake }), new HashSink()),
    ).rejects.toThrow(/exited with code 1/);
  });

  it('says zstd is not installed when the executable is missing', async () => {
    await expect(
      through(sample, decompressStage('zstd', { zstdCommand: join(dir, 'no-such-zstd') })),
    ).rejects.toThrow(/is not installed or not on PATH/);
  });
});

describe('none', () => {
  it('passes the bytes through unchanged', async () => {
    expect(sha256(await through(sample, compressStage('none'), decompressStage('none')))).toBe(
      sha256(sample),
    );
  });
});

describe('gzip details', () => {
  it('reads concatenated gzip members as one stream, as gunzip does', async () => {
    const a = await through(Buffer.from('first\n'), compressStage('gzip'));
    const b = await through(Buffer.from('second\n'), compressStage('gzip'));

    expect((await through(Buffer.concat([a, b]), decompressStage('gzip'))).toString()).toBe(
      'first\nsecond\n',
    );
  });

  it('fails on empty input instead of restoring nothing', async () => {
    await expect(through(Buffer.alloc(0), decompressStage('gzip'))).rejects.toThrow(IntegrityError);
  });

  it('writes a file gunzip accepts with -t', async () => {
    await writeFile(join(dir, 'test.gz'), await through(sample, compressStage('gzip')));

    await expect(run('gzip', ['-t', join(dir, 'test.gz')])).resolves.toBeDefined();
    expect((await readFile(join(dir, 'test.gz'))).subarray(0, 3)).toEqual(Buffer.from([0x1f, 0x8b, 0x08]));
  });
});

describe('zstd reading the dump tool directly (zstdThrough)', () => {
  it('compresses what the tool wrote and reports the exact raw byte count', async () => {
    const file = join(dir, 'sample.raw');
    await writeFile(file, sample);
    const counts: number[] = [];

    const output = processOutput(
      { command: 'cat', args: [file] },
      undefined,
      zstdThrough(undefined, (n) => counts.push(n)),
    );
    const sink = new CollectSink();
    await pipeline(output, sink);
    const compressed = sink.data();

    expect(counts).toEqual([sample.length]);
    expect(compressed.length).toBeLessThan(sample.length / 2);
    expect(sha256(await through(compressed, decompressStage('zstd')))).toBe(sha256(sample));
  });

  it('reports 0 bytes for a tool that wrote nothing', async () => {
    const counts: number[] = [];
    const sink = new CollectSink();
    await pipeline(
      processOutput(
        { command: 'true', args: [] },
        undefined,
        zstdThrough(1, (n) => counts.push(n)),
      ),
      sink,
    );
    expect(counts).toEqual([0]);
  });

  it('reads the summary of zstd 1.5 (-vv) and of zstd 1.4, and refuses output without one', () => {
    const v15 = [
      '*** Zstandard CLI (64-bit) v1.5.4, by Yann Collet ***',
      'Decompression will require 524288 B of memory',
      '/*stdin*\\            : 18.49%   (306998660 B => 56766407 B, /*stdout*\\) ',
      '/*stdin*\\            : Completed in 1.37 sec  (cpu load : 71%)',
    ].join('\n');
    expect(zstdInputBytes(v15)).toBe(306998660);
    expect(
      zstdInputBytes('/*stdin*\\            : 18.49%   (306998660 => 56766407 bytes, /*stdout*\\) \n'),
    ).toBe(306998660);
    expect(() => zstdInputBytes('/*stdin*\\ : 18.49%   (   293 MiB =>   54.1 MiB, /*stdout*\\)')).toThrow(
      /did not report how many bytes it compressed/,
    );
  });

  it('refuses a level out of range before anything runs', () => {
    expect(() => zstdThrough(20, () => {})).toThrow(ConfigError);
  });
});
