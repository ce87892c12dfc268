/**
 * The requests of one streamed upload (S3 parts, Azure blocks) and the buffers they carry:
 * at most `queueSize` part uploads on the wire and at most `queueSize + 1` part buffers, one
 * filling while the others are out; a buffer is refilled only once its request answered (the
 * SDKs re-send it on retry). The first failure of any request is kept and reported once, at
 * once; from then on nothing more is sent and every wait here rejects with it. When requests are
 * outstanding and none completes for `stallMs`, that is the failure and every request still on
 * the wire is cancelled through {@link signal}.
 *
 * The writers (MultipartWriter, BlockWriter) decide what a part is and how it is sent; this
 * decides how many are out, when the body may be read on, and what failed first.
 */
import { StallWatch } from './stall-watch.ts';

export interface PartUploadsParams {
  /** Part uploads on the wire at once (a positive integer, checked by the writer). */
  readonly queueSize: number;
  /** Called with the first request that fails, before anything rejects with it. */
  readonly onRequestFailed?: (err: unknown) => void;
  /**
   * How long requests may be outstanding with none of them completing before the upload fails
   * with an UploadStalledError and {@link PartUploads.signal} cancels them.
   * @default - no limit
   */
  readonly stallMs?: number;
}

/** See the module comment. One per upload. */
export class PartUploads {
  /** Aborted once the upload stalled (with the first failure): every request should pass it on. */
  readonly signal: AbortSignal;

  private readonly params: PartUploadsParams;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly free: Buffer[] = [];
  private allocated = 0;
  private failure: { error: unknown } | undefined;
  private readonly cancel = new AbortController();
  private readonly stall: StallWatch;

  constructor(params: PartUploadsParams) {
    this.params = params;
    this.signal = this.cancel.signal;
    this.stall = new StallWatch(params.stallMs, (err) => {
      this.recordFailure(err);
      this.cancel.abort(this.failure?.error);
    });
  }

  /** Starts watching for stalls (idempotent). */
  start(): void {
    this.stall.start();
  }

  /** Stops watching for stalls; call it once the write and its clean-up are over. */
  close(): void {
    this.stall.stop();
  }

  /** Throws the first failure, if there was one. */
  throwIfFailed(): void {
    if (this.failure) throw this.failure.error;
  }

  /** Keeps the first failure of a request and tells the caller about it once, at once. */
  recordFailure(err: unknown): void {
    if (this.failure) return;
    this.failure = { error: err };
    this.params.onRequestFailed?.(err);
  }

  /**
   * Keeps `error` as the failure (if it is the first) without reporting it: the writer's own
   * refusal, which it throws itself, not a request's.
   */
  refuse(error: unknown): void {
    this.failure ??= { error };
  }

  /**
   * Runs a request of the upload: its failure is recorded before anyone awaits it, and the stall
   * watch knows what is outstanding and when something last completed.
   */
  async send<T>(request: () => Promise<T>): Promise<T> {
    try {
      return await this.stall.track(request);
    } catch (err) {
      this.recordFailure(err);
      throw err;
    }
  }

  /**
   * A free buffer of `size` bytes: a returned one, a new one while fewer than queueSize + 1
   * exist, or the next one an upload returns. Buffers of another size (from before the part
   * size grew) are let go. Rejects with the first failure.
   */
  async takeBuffer(size: number): Promise<Buffer> {
    for (;;) {
      this.throwIfFailed();
      const buffer = this.free.pop();
      if (buffer && buffer.byteLength === size) return buffer;
      if (buffer) {
        this.allocated -= 1;
        continue;
      }
      if (this.allocated <= this.params.queueSize) {
        this.allocated += 1;
        // Not from Node's shared pool: the buffer is the part, whole, for the upload's lifetime.
        return Buffer.allocUnsafeSlow(size);
      }
      // Every buffer but the one being filled is free or in flight, so something is in flight.
      await Promise.race(this.inFlight);
    }
  }

  /**
   * Waits for a slot on the wire (backpressure: the writer reads no further meanwhile), then
   * sends `request`, which carries `buffer`; resolves once it is sent, not answered. The buffer
   * is free again once the request succeeded. Rejects with the first failure instead of sending.
   */
  async upload(buffer: Buffer, request: () => Promise<unknown>): Promise<void> {
    while (this.inFlight.size >= this.params.queueSize) await Promise.race(this.inFlight);
    this.throwIfFailed();
    const uploading = this.send(request).then(() => {
      this.free.push(buffer);
    });
    const tracked = uploading.then(
      () => {
        this.inFlight.delete(tracked);
      },
      (err: unknown) => {
        this.inFlight.delete(tracked);
        this.recordFailure(err);
      },
    );
    this.inFlight.add(tracked);
  }

  /** Resolves once no part upload is in flight. */
  async settled(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }
}
