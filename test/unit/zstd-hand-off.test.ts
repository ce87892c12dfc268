import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { IntegrityError, ToolError } from '../../core/errors.ts';
import { zstdDecompressOutput } from '../../core/pipeline/compress.ts';
import { processInput, processOutput } from '../../core/process.ts';

const MB = 1024 * 1024;

/** `bytes` of data that compresses a little, as a dump does (random rows of text). */
function dumpLike(bytes: number): Buffer {
  const data = Buffer.alloc(bytes);
  let state = 1;
  for (let i = 0; i < bytes; i++) {
    state = (state * 1103515245 + 12345) >>> 0;
    data[i] = 32 + ((state >>> 16) % 64);
  }
  return data;
}

async function zstdOf(data: Buffer): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of processOutput(
    { command: 'zstd', args: ['-q', '-c', '-1'] },
    Readable.from([data]),
  )) {
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** The output with a count of the bytes it passed through this process. */
function counted(source: Readable): { out: ReturnType<typeof zstdDecompressOutput>; pushed: () => number } {
  const out = zstdDecompressOutput(source);
  let pushed = 0;
  const push = out.push.bind(out);
  out.push = (chunk: unknown) => {
    if (chunk) pushed += (chunk as Buffer).length;
    return push(chunk);
  };
  return { out, pushed: () => pushed };
}

describe('zstd -d handed to the restore tool (zstdDecompressOutput + processInput)', () => {
  it('lets zstd write into the tool stdin: no decompressed byte passes through this process', async () => {
    // Prepare
    const data = dumpLike(8 * MB);
    const { out, pushed } = counted(Readable.from([await zstdOf(data)]));

    // Act
    const stdout = await processInput({ command: 'sh', args: ['-c', 'wc -c'] }, out);

    // Assess
    expect(Number(stdout.trim())).toBe(data.length);
    expect(pushed()).toBe(0);
  });

  it('is an ordinary stream when it is read here instead', async () => {
    const data = dumpLike(2 * MB);
    const chunks: Buffer[] = [];
    for await (const chunk of zstdDecompressOutput(Readable.from([await zstdOf(data)])))
      chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).equals(data)).toBe(true);
  });

  it('fails the restore with the failure of its input (a failed decryption), and stops the tool', async () => {
    const compressed = await zstdOf(dumpLike(4 * MB));
    const failing = new Readable({ read() {} });
    failing.push(compressed.subarray(0, compressed.length - 1));
    const { out } = counted(failing);

    const restoring = processInput({ command: 'sh', args: ['-c', 'cat > /dev/null'] }, out);
    failing.destroy(new IntegrityError('the MDC failed'));

    await expect(restoring).rejects.toThrow(/the MDC failed/);
  });

  it('fails with an IntegrityError when the zstd data is corrupted', async () => {
    const compressed = await zstdOf(dumpLike(4 * MB));
    const middle = Math.floor(compressed.length / 2);
    compressed.writeUInt8(compressed.readUInt8(middle) ^ 0xff, middle);
    const { out } = counted(Readable.from([compressed]));

    const restoring = processInput({ command: 'sh', args: ['-c', 'cat > /dev/null'] }, out);

    await expect(restoring).rejects.toThrow(IntegrityError);
  });

  it('reports the tool failure, not the broken pipe zstd then got', async () => {
    const { out } = counted(Readable.from([await zstdOf(dumpLike(16 * MB))]));

    const restoring = processInput({ command: 'sh', args: ['-c', 'head -c 1 > /dev/null; exit 3'] }, out);

    await expect(restoring).rejects.toThrow(/code 3/);
  });

  it('fails when the tool exits 0 before it read all of its input', async () => {
    const { out } = counted(Readable.from([await zstdOf(dumpLike(16 * MB))]));

    const restoring = processInput({ command: 'sh', args: ['-c', 'head -c 1 > /dev/null'] }, out);

    await expect(restoring).rejects.toThrow(ToolError);
    await expect(restoring).rejects.toThrow(/exited before it read all of its input/);
  });
});
