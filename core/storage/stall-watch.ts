/**
 * A bound on waiting for a store: when requests are outstanding and none of them completes for
 * `stallMs`, the watch reports an {@link UploadStalledError} once. It counts time only while
 * something is outstanding, so a body that is slow to produce data never trips it.
 */

/** Requests to the store were outstanding and none completed for `seconds`. */
export class UploadStalledError extends Error {
  override readonly name = 'UploadStalledError';
  constructor(readonly seconds: number) {
    super(`no request to the store completed for ${seconds} s`);
  }
}

/** Watches the requests passed through {@link track}; see the module comment. */
export class StallWatch {
  /** Requests sent and not yet settled. */
  private outstanding = 0;
  /** When a request last completed, or the first of the outstanding ones was sent. */
  private lastProgress = 0;
  private timer: NodeJS.Timeout | undefined;

  /**
   * @param stallMs how long outstanding requests may go without one completing; `undefined`: no limit
   * @param onStall called once when they did, after which the watch stops
   */
  constructor(
    private readonly stallMs: number | undefined,
    private readonly onStall: (err: UploadStalledError) => void,
  ) {}

  /** Starts checking (idempotent). */
  start(): void {
    const stallMs = this.stallMs;
    if (stallMs === undefined || this.timer) return;
    this.timer = setInterval(
      () => {
        if (this.outstanding === 0 || Date.now() - this.lastProgress < stallMs) return;
        this.stop();
        this.onStall(new UploadStalledError(Number((stallMs / 1000).toFixed(1))));
      },
      Math.min(1000, Math.max(10, stallMs / 4)),
    );
    // The watch bounds waits; it must never be what keeps the process alive.
    this.timer.unref();
  }

  /** Stops checking; call it once the write and its clean-up are over. */
  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Runs `request`, counting it as outstanding until it settles. */
  async track<T>(request: () => Promise<T>): Promise<T> {
    if (this.outstanding === 0) this.lastProgress = Date.now();
    this.outstanding += 1;
    try {
      const output = await request();
      this.lastProgress = Date.now();
      return output;
    } finally {
      this.outstanding -= 1;
    }
  }
}
