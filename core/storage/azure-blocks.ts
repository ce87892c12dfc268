/**
 * A streamed Azure block blob upload whose memory is fixed: `queueSize + 1` block buffers,
 * allocated once and reused — one filling while up to `queueSize` are being staged (Put Block).
 * The body is read only while a buffer is free, so a slow store slows the dump instead of
 * filling memory. The block list is committed (Put Block List) only after the body ended
 * cleanly and every block was staged; until then the blob does not exist for readers, as an
 * S3 multipart upload that was never completed. A body smaller than one block is one Put Blob.
 *
 * Why not the SDK's `uploadStream`: a body destroyed without an error ends it neither with a
 * rejection nor a commit, and it has no bound on a store that stops answering. Deciding what
 * to clean up after a failure is the caller's (AzureDestination), from what the writer reports.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { BlockBlobClient } from '@azure/storage-blob';
import { PartUploads } from './part-uploads.ts';

/** Azure's limits: committed blocks per blob, and bytes per block. */
export const MAX_BLOCKS = 50_000;
export const MAX_BLOCK_BYTES = 4000 * 1024 * 1024;

/** The body needs more blocks than a blob may have: the block size is too small for it. */
export class TooManyBlocksError extends Error {
  override readonly name = 'TooManyBlocksError';
  constructor(
    readonly maxBlocks: number,
    readonly blockSize: number,
  ) {
    super(
      `the object is larger than the ${maxBlocks * blockSize} bytes ${maxBlocks} blocks of ${blockSize} bytes hold`,
    );
  }
}

export interface BlockWriterParams {
  readonly blob: BlockBlobClient;
  /** Bytes per block (all but the last). */
  readonly blockSize: number;
  /** Blocks staged in parallel. */
  readonly queueSize: number;
  /**
   * Blocks a blob may have before the write fails with a {@link TooManyBlocksError}.
   * @default 50,000 (Azure's limit)
   */
  readonly maxBlocks?: number;
  /**
   * Content-Type of the blob.
   * @default - the store's default
   */
  readonly contentType?: string;
  /**
   * Cancels the Put Block requests on the wire. Put Blob and Put Block List are not cancelled
   * by it: their outcome must be known to clean up after them.
   * @default - nothing is cancelled
   */
  readonly signal?: AbortSignal;
  /** Called with the first request that fails, before the write rejects, so the caller can stop the body at once. */
  readonly onRequestFailed?: (err: unknown) => void;
  /**
   * How long requests may be outstanding with none of them completing before the write fails
   * with an UploadStalledError and cancels them (all of them, the commit included).
   * @default - no limit
   */
  readonly stallMs?: number;
}

/** One upload of one body. Not reusable: make a new writer per blob. */
export class BlockWriter {
  /** A Put Block was sent: the store may hold uncommitted blocks of this blob. */
  staged = false;
  /** The blob exists: Put Block List or Put Blob succeeded. */
  committed = false;
  /** A Put Block List or Put Blob was cancelled (the upload stalled) before it answered: the blob may exist. */
  commitUncertain = false;
  /** Bytes read from the body so far. */
  bytes = 0;

  private readonly params: BlockWriterParams;
  private readonly maxBlocks: number;
  /** Block ids must have one length within a blob; the nonce keeps this write's apart from any other's. */
  private readonly nonce = randomBytes(6).toString('hex');
  private readonly ids: string[] = [];
  /** The Put Block requests on the wire, their buffers, the first failure, the stall watch. */
  private readonly requests: PartUploads;

  constructor(params: BlockWriterParams) {
    if (!Number.isInteger(params.blockSize) || params.blockSize < 1 || params.blockSize > MAX_BLOCK_BYTES) {
      throw new RangeError(
        `blockSize must be a whole number of bytes up to 4000 MiB, got ${params.blockSize}`,
      );
    }
    if (!Number.isInteger(params.queueSize) || params.queueSize < 1) {
      throw new RangeError(`queueSize must be a positive integer, got ${params.queueSize}`);
    }
    this.params = params;
    this.maxBlocks = params.maxBlocks ?? MAX_BLOCKS;
    this.requests = new PartUploads(params);
  }

  /**
   * Reads `body` to its end and stores it; resolves with the blob's ETag once it is committed.
   * Rejects on the first failure — of the body or of a request — after which nothing more is
   * sent and nothing is committed.
   */
  async write(body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<{ etag: string | undefined }> {
    this.requests.start();
    const { blockSize } = this.params;
    let current: Buffer | undefined;
    let filled = 0;
    let blocks = 0;
    for await (const chunk of body) {
      this.requests.throwIfFailed();
      this.params.signal?.throwIfAborted();
      this.bytes += chunk.byteLength;
      let offset = 0;
      while (offset < chunk.byteLength) {
        current ??= await this.requests.takeBuffer(blockSize);
        const n = Math.min(chunk.byteLength - offset, blockSize - filled);
        current.set(chunk.subarray(offset, offset + n), filled);
        filled += n;
        offset += n;
        if (filled === blockSize) {
          blocks += 1;
          await this.stage(blocks, current, filled);
          current = undefined;
          filled = 0;
        }
      }
    }
    this.requests.throwIfFailed();
    this.params.signal?.throwIfAborted();
    if (blocks === 0) return this.putWhole(current?.subarray(0, filled) ?? Buffer.alloc(0));
    if (current !== undefined && filled > 0) await this.stage(blocks + 1, current, filled);
    await this.settled();
    this.requests.throwIfFailed();
    this.params.signal?.throwIfAborted();
    return this.commit();
  }

  /** Resolves once no request of this upload is in flight. */
  async settled(): Promise<void> {
    await this.requests.settled();
  }

  /** Stops watching for stalls; call it once the write and its clean-up are over. */
  close(): void {
    this.requests.close();
  }

  /** The id of block `n` (1-based): base64 of a fixed-length string, as Azure requires. */
  private blockId(n: number): string {
    return Buffer.from(`${this.nonce}-${String(n).padStart(6, '0')}`).toString('base64');
  }

  private async stage(n: number, buffer: Buffer, length: number): Promise<void> {
    if (n > this.maxBlocks) {
      const error = new TooManyBlocksError(this.maxBlocks, this.params.blockSize);
      this.requests.refuse(error);
      throw error;
    }
    const id = this.blockId(n);
    const data = buffer.subarray(0, length);
    const { signal } = this.params;
    const cancel = this.requests.signal;
    const abortSignal = signal ? AbortSignal.any([signal, cancel]) : cancel;
    // At most queueSize blocks on the wire: a full buffer waits in upload() for a slot (backpressure).
    await this.requests.upload(buffer, () => {
      this.ids[n - 1] = id;
      this.staged = true;
      return this.params.blob.stageBlock(id, data, length, {
        abortSignal,
        // The store checks the block against it: bytes damaged on the way are refused, not stored.
        transactionalContentMD5: createHash('md5').update(data).digest(),
      });
    });
  }

  private headers(): { blobContentType?: string } {
    return this.params.contentType ? { blobContentType: this.params.contentType } : {};
  }

  private async commit(): Promise<{ etag: string | undefined }> {
    const output = await this.requests
      .send(() =>
        this.params.blob.commitBlockList(this.ids, {
          blobHTTPHeaders: this.headers(),
          abortSignal: this.requests.signal,
        }),
      )
      .catch((err: unknown) => {
        if (this.requests.signal.aborted) this.commitUncertain = true;
        throw err;
      });
    this.committed = true;
    return { etag: output.etag };
  }

  private async putWhole(data: Buffer): Promise<{ etag: string | undefined }> {
    const output = await this.requests
      .send(() =>
        this.params.blob.upload(data, data.byteLength, {
          blobHTTPHeaders: { ...this.headers(), blobContentMD5: createHash('md5').update(data).digest() },
          abortSignal: this.requests.signal,
        }),
      )
      .catch((err: unknown) => {
        if (this.requests.signal.aborted) this.commitUncertain = true;
        throw err;
      });
    this.committed = true;
    return { etag: output.etag };
  }
}
