/**
 * A pass-through stage that counts bytes and, optionally, hashes them. Used between every
 * pair of stages so progress shows raw, compressed and stored bytes, and the stored bytes'
 * sha256 goes into the manifest.
 */
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

export class Meter extends Transform {
  bytes = 0;
  private readonly hash: Hash | undefined;
  private digest: string | undefined;

  private readonly onBytes: ((total: number) => void) | undefined;

  constructor(options: { sha256?: boolean; onBytes?: (total: number) => void } = {}) {
    super({ highWaterMark: 1 << 20 });
    this.hash = options.sha256 ? createHash('sha256') : undefined;
    this.onBytes = options.onBytes;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    this.hash?.update(chunk);
    this.onBytes?.(this.bytes);
    callback(null, chunk);
  }

  /** The hex sha256 of everything that passed; only valid once the stream has ended. */
  sha256(): string {
    if (!this.hash) throw new Error('Meter was created without sha256');
    this.digest ??= this.hash.digest('hex');
    return this.digest;
  }
}
