/**
 * A streaming S3 multipart upload whose memory is fixed: `queueSize + 1` part buffers,
 * allocated once and reused — one filling while up to `queueSize` are being uploaded. The
 * body is read only while a buffer is free, so a slow store slows the dump instead of
 * filling memory.
 *
 * Why not lib-storage's `Upload`: it joins every part with `Buffer.concat` into a fresh
 * buffer and keeps the previous one alive through the remainder view, so a write holds
 * (queueSize + 2) parts plus garbage that V8 frees only at its next full GC and glibc then
 * keeps resident, so its peak varied with the GC's timing (docs/performance.md, "Memory", has
 * the measurements); this writer's memory does not.
 *
 * The writer sends requests and reports what it knows (`uploadId`, `completed`, `settled()`);
 * deciding what to clean up after a failure is the caller's (S3Destination).
 *
 * Every wait on the store is bounded: when requests are outstanding and none of them completes
 * for `stallMs`, the write fails with an {@link UploadStalledError} and every request still on
 * the wire is cancelled, Create and Complete included (their outcome is then unknown, which the
 * writer reports so the caller can look for what they may have left).
 */
import { createHash } from 'node:crypto';
import {
  type CompletedPart,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { GROW_EVERY, MAX_PARTS, sizeOfPart, TooManyPartsError, uploadCapacity } from './part-sizes.ts';
import { PartUploads } from './part-uploads.ts';
import type { S3ObjectParams } from './s3-object-settings.ts';

export interface MultipartWriterParams {
  readonly client: S3Client;
  readonly bucket: string;
  /** The full object key (root prefix included). */
  readonly key: string;
  /**
   * Content-Type of the object.
   * @default - the store's default
   */
  readonly contentType?: string;
  /** Server-side encryption, storage class and tags, for CreateMultipartUpload and PutObject. */
  readonly objectParams?: S3ObjectParams;
  /** Bytes of the first parts (S3 wants at least 5 MiB for all but the last). */
  readonly partSize: number;
  /**
   * The part size doubles after every `growEvery` parts (up to S3's 5 GiB), so an object far
   * bigger than expected still fits in 10,000 parts: from 8 MiB they hold 484 GiB. Only such
   * objects pay for it, with bigger part buffers.
   * @default 2,000
   */
  readonly growEvery?: number;
  /** Parts uploaded in parallel. */
  readonly queueSize: number;
  /**
   * Cancels the part uploads on the wire (they reject with an AbortError). Create, Complete
   * and PutObject are never cancelled: their outcome must be known to clean up after them (a
   * cancelled Create may still have made an upload whose id the writer would never learn).
   * @default - nothing is cancelled
   */
  readonly signal?: AbortSignal;
  /**
   * Parts an upload may have before the write fails with a {@link TooManyPartsError}.
   * @default 10,000 (S3's limit)
   */
  readonly maxParts?: number;
  /**
   * Called with the first request that fails, before the write rejects, so the caller can
   * stop the body at once instead of after the rest of it.
   */
  readonly onRequestFailed?: (err: unknown) => void;
  /**
   * How long requests may be outstanding with none of them completing before the write fails
   * with an {@link UploadStalledError} and cancels them.
   * @default - no limit
   */
  readonly stallMs?: number;
}

export interface MultipartWriteOutput {
  readonly etag: string | undefined;
  readonly versionId: string | undefined;
}

/**
 * One upload of one body (a single PutObject with a Content-MD5 when the body is smaller than
 * one part). Not reusable: make a new writer per object.
 */
export class MultipartWriter {
  /** Set once CreateMultipartUpload answered. */
  uploadId: string | undefined;
  /**
   * The rejection of a CreateMultipartUpload that got no UploadId back. The store may still
   * have made the upload (the answer lost on the way): the caller looks for it by key.
   */
  createFailure: { error: unknown } | undefined;
  /**
   * Attempts the SDK needed for CreateMultipartUpload. More than one means an earlier attempt
   * may have made an upload whose answer was lost: the caller looks for it by key.
   */
  createAttempts = 0;
  /** The object exists: CompleteMultipartUpload or PutObject succeeded. */
  completed = false;
  /** Bytes read from the body so far. */
  bytes = 0;
  /**
   * A CompleteMultipartUpload was cancelled (the upload stalled) before it answered: the object
   * may exist although {@link completed} is false.
   */
  completeUncertain = false;

  private readonly params: MultipartWriterParams;
  private readonly maxParts: number;
  private readonly growEvery: number;
  private readonly parts: CompletedPart[] = [];
  private checksums: boolean | undefined;
  /** The part uploads on the wire, their buffers, the first failure, the stall watch (which cancels every request). */
  private readonly requests: PartUploads;

  constructor(params: MultipartWriterParams) {
    if (!Number.isInteger(params.partSize) || params.partSize < 1) {
      throw new RangeError(`partSize must be a positive integer, got ${params.partSize}`);
    }
    if (!Number.isInteger(params.queueSize) || params.queueSize < 1) {
      throw new RangeError(`queueSize must be a positive integer, got ${params.queueSize}`);
    }
    this.params = params;
    this.maxParts = params.maxParts ?? MAX_PARTS;
    this.growEvery = params.growEvery ?? GROW_EVERY;
    this.requests = new PartUploads(params);
  }

  /** The size of part `partNumber` (1-based). */
  sizeOfPart(partNumber: number): number {
    return sizeOfPart(partNumber, this.params.partSize, this.growEvery);
  }

  /** The most bytes an upload of this writer can hold. */
  get capacity(): number {
    return uploadCapacity(this.params.partSize, this.growEvery, this.maxParts);
  }

  /**
   * Reads `body` to its end and stores it; resolves with the object's ETag and version once it
   * is complete. Reading waits while every buffer is being uploaded (backpressure). Rejects on
   * the first failure — of the body or of a request — after which nothing more is sent; the
   * upload is left for the caller to abort once {@link settled}.
   */
  async write(body: AsyncIterable<Uint8Array>): Promise<MultipartWriteOutput> {
    this.requests.start();
    let current: Buffer | undefined;
    let filled = 0;
    let partNumber = 0;
    let partSize = this.sizeOfPart(1);
    for await (const chunk of body) {
      this.requests.throwIfFailed();
      this.params.signal?.throwIfAborted();
      this.bytes += chunk.byteLength;
      let offset = 0;
      while (offset < chunk.byteLength) {
        current ??= await this.requests.takeBuffer(partSize);
        const n = Math.min(chunk.byteLength - offset, partSize - filled);
        current.set(chunk.subarray(offset, offset + n), filled);
        filled += n;
        offset += n;
        if (filled === partSize) {
          partNumber += 1;
          await this.startPart(partNumber, current, filled);
          current = undefined;
          filled = 0;
          partSize = this.sizeOfPart(partNumber + 1);
        }
      }
    }
    this.requests.throwIfFailed();
    if (partNumber === 0) return this.putWhole(current?.subarray(0, filled) ?? Buffer.alloc(0));
    if (current !== undefined && filled > 0) await this.startPart(partNumber + 1, current, filled);
    await this.settled();
    this.requests.throwIfFailed();
    return this.complete();
  }

  /** Resolves once no request of this upload is in flight. */
  async settled(): Promise<void> {
    await this.requests.settled();
  }

  /** Stops watching for stalls; call it once the write and its clean-up are over. */
  close(): void {
    this.requests.close();
  }

  /** Part uploads stop at the caller's signal and at a stall. */
  private get partSendOptions(): { abortSignal: AbortSignal } {
    const { signal } = this.params;
    const cancel = this.requests.signal;
    return { abortSignal: signal ? AbortSignal.any([signal, cancel]) : cancel };
  }

  /** Create, Complete and PutObject stop only at a stall (see {@link MultipartWriterParams.signal}). */
  private get wholeSendOptions(): { abortSignal: AbortSignal } {
    return { abortSignal: this.requests.signal };
  }

  /**
   * Whether to ask for CRC32 checksums: what lib-storage does when the client computes
   * checksums (on AWS); with `WHEN_REQUIRED` (S3-compatible stores) nothing is added.
   */
  private async wantsChecksums(): Promise<boolean> {
    if (this.checksums === undefined) {
      const setting = await this.params.client.config.requestChecksumCalculation();
      this.checksums = setting === 'WHEN_SUPPORTED';
    }
    return this.checksums;
  }

  private async startPart(partNumber: number, buffer: Buffer, length: number): Promise<void> {
    if (partNumber > this.maxParts) {
      const error = new TooManyPartsError(this.maxParts, this.params.partSize, this.capacity);
      this.requests.refuse(error);
      throw error;
    }
    const { client, bucket, key } = this.params;
    if (this.uploadId === undefined) {
      const checksums = await this.wantsChecksums();
      const created = await this.requests
        .send(() =>
          client.send(
            new CreateMultipartUploadCommand({
              Bucket: bucket,
              Key: key,
              ContentType: this.params.contentType,
              ...this.params.objectParams,
              ...(checksums && { ChecksumAlgorithm: 'CRC32' }),
            }),
            this.wholeSendOptions,
          ),
        )
        .catch((err: unknown) => {
          this.createFailure = { error: err };
          throw err;
        });
      if (!created.UploadId) {
        const error = new Error('CreateMultipartUpload returned no UploadId');
        this.requests.recordFailure(error);
        throw error;
      }
      this.uploadId = created.UploadId;
      this.createAttempts = created.$metadata?.attempts ?? 1;
    }
    const uploadId = this.uploadId;
    // Known since CreateMultipartUpload asked: nothing is awaited on the store here.
    const checksums = await this.wantsChecksums();
    // At most queueSize parts on the wire: a full buffer waits in upload() for a slot (backpressure).
    await this.requests.upload(buffer, async () => {
      const output = await client.send(
        new UploadPartCommand({
          Bucket: bucket,
          Key: key,
          UploadId: uploadId,
          PartNumber: partNumber,
          Body: buffer.subarray(0, length),
          ContentLength: length,
          ...(checksums && { ChecksumAlgorithm: 'CRC32' }),
        }),
        this.partSendOptions,
      );
      if (!output.ETag) throw new Error(`UploadPart of part ${partNumber} returned no ETag`);
      this.parts.push({
        PartNumber: partNumber,
        ETag: output.ETag,
        ...(output.ChecksumCRC32 && { ChecksumCRC32: output.ChecksumCRC32 }),
      });
    });
  }

  private async complete(): Promise<MultipartWriteOutput> {
    const { client, bucket, key } = this.params;
    const parts = [...this.parts].sort((a, b) => (a.PartNumber ?? 0) - (b.PartNumber ?? 0));
    const output = await this.requests
      .send(() =>
        client.send(
          new CompleteMultipartUploadCommand({
            Bucket: bucket,
            Key: key,
            UploadId: this.uploadId,
            MultipartUpload: { Parts: parts },
          }),
          this.wholeSendOptions,
        ),
      )
      .catch((err: unknown) => {
        if (this.requests.signal.aborted) this.completeUncertain = true;
        throw err;
      });
    this.completed = true;
    return { etag: output.ETag, versionId: output.VersionId };
  }

  private async putWhole(data: Buffer): Promise<MultipartWriteOutput> {
    const { client, bucket, key } = this.params;
    const output = await this.requests
      .send(() =>
        client.send(
          new PutObjectCommand({
            Bucket: bucket,
            Key: key,
            Body: data,
            ContentLength: data.byteLength,
            ContentMD5: createHash('md5').update(data).digest('base64'),
            ContentType: this.params.contentType,
            ...this.params.objectParams,
          }),
          this.wholeSendOptions,
        ),
      )
      .catch((err: unknown) => {
        if (this.requests.signal.aborted) this.completeUncertain = true;
        throw err;
      });
    this.completed = true;
    return { etag: output.ETag, versionId: output.VersionId };
  }
}
