/**
 * Test data for the crypto and compression stages: deterministic generated streams hashed as
 * they are produced, and a sink that hashes what comes out, so multi-megabyte round trips are
 * compared by sha256 without holding the data in memory.
 */
import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';

/** Bytes of a generated stream and their sha256 (known once the stream has been read). */
export interface Generated {
  readonly stream: Readable;
  readonly sha256: () => string;
}

/**
 * A stream of `bytes` pseudo-random bytes in 64 KiB chunks. `compressible` mixes in text so
 * compressors have something to do; otherwise the data is incompressible noise.
 */
export function generatedData(
  bytes: number,
  options: { seed?: number; compressible?: boolean } = {},
): Generated {
  const hash = createHash('sha256');
  let state = (options.seed ?? 1) >>> 0;
  const next = (): number => {
    // xorshift32: fast and reproducible, enough for test data
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return state >>> 0;
  };
  let produced = 0;
  const chunkSize = 64 * 1024;
  const stream = new Readable({
    read() {
      if (produced >= bytes) {
        this.push(null);
        return;
      }
      const size = Math.min(chunkSize, bytes - produced);
      const chunk = Buffer.allocUnsafe(size);
      if (options.compressible) {
        let text = '';
        while (text.length < size) text += `row ${next() % 100000}\tvalue-${next() % 977}\t2026-01-01\n`;
        chunk.write(text.slice(0, size), 'latin1');
      } else {
        for (let i = 0; i + 4 <= size; i += 4) chunk.writeUInt32LE(next(), i);
        for (let i = size - (size % 4); i < size; i++) chunk[i] = next() & 0xff;
      }
      produced += size;
      hash.update(chunk);
      this.push(chunk);
    },
  });
  let digest: string | undefined;
  return {
    stream,
    sha256: () => {
      digest ??= hash.digest('hex');
      return digest;
    },
  };
}

/** A sink that hashes and counts what it receives; `chunks` counts the writes. */
export class HashSink extends Writable {
  private readonly hash = createHash('sha256');
  bytes = 0;
  chunks = 0;
  private digest: string | undefined;
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    this.chunks += 1;
    callback();
  }
  /** The sha256 of everything written (call after the pipeline finished). */
  sha256(): string {
    this.digest ??= this.hash.digest('hex');
    return this.digest;
  }
}

/** sha256 of a buffer, hex. */
export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** A sink that keeps everything (for small outputs only). */
export class CollectSink extends Writable {
  private readonly parts: Buffer[] = [];
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.parts.push(chunk);
    callback();
  }
  /** Everything written so far. */
  data(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** A stream of a buffer in chunks of `chunkSize` (as storage would deliver it). */
export function bufferStream(data: Buffer, chunkSize = 64 * 1024): Readable {
  let offset = 0;
  return new Readable({
    read() {
      if (offset >= data.length) {
        this.push(null);
        return;
      }
      this.push(data.subarray(offset, offset + chunkSize));
      offset += chunkSize;
    },
  });
}
