/**
 * Retry as a wrapper around any destination (restic's `backend_retry.go`): implementations
 * stay free of retry loops, and every destination gets the same policy.
 */
import type { Readable } from 'node:stream';
import { IntegrityError, NotFoundError, StorageError, UserError } from '../errors.ts';
import type { Destination, ObjectInfo, RemoveFailure, WriteOptions, WriteResult } from './destination.ts';
import { removeMany } from './remove-many.ts';

export interface RetryOptions {
  /** Total attempts per call, the first one included (1 = no retry). */
  readonly attempts: number;
  /** Delay before the second attempt; doubles with each further attempt, with jitter. */
  readonly baseDelayMs: number;
  /**
   * Upper bound of one delay.
   * @default 30_000
   */
  readonly maxDelayMs?: number;
  /**
   * Called before each retry, e.g. to log it.
   * @default - nothing is reported
   */
  readonly onRetry?: (info: { operation: string; attempt: number; delayMs: number; error: unknown }) => void;
  /**
   * Waits between attempts (tests replace it).
   * @default - a timer
   */
  readonly sleep?: (ms: number) => Promise<void>;
  /**
   * A deadline: once aborted, no further attempt is made (a wait between attempts ends at once)
   * and the last error is thrown.
   * @default - attempts are limited by their number only
   */
  readonly signal?: AbortSignal;
}

/** The retry policy of a destination whose options name none. */
export const DEFAULT_RETRY: RetryOptions = { attempts: 4, baseDelayMs: 500 };

/**
 * True when retrying `err` cannot help: a permanent StorageError (credentials, missing
 * bucket), a missing object, an integrity failure, any other user-fixable error, or an abort.
 */
export function isPermanentError(err: unknown): boolean {
  if (err instanceof StorageError) return err.permanent;
  if (err instanceof NotFoundError || err instanceof IntegrityError || err instanceof UserError) return true;
  return err instanceof Error && err.name === 'AbortError';
}

/** The delay before attempt `attempt + 1`: exponential, capped, with "equal jitter" (half fixed, half random). */
export function backoffDelay(attempt: number, baseDelayMs: number, maxDelayMs: number): number {
  const exponential = Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1));
  return Math.round(exponential / 2 + (Math.random() * exponential) / 2);
}

const timer = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Waits `ms`, or less when `signal` aborts first. */
function sleepUnless(sleep: (ms: number) => Promise<void>, ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const done = () => {
      signal.removeEventListener('abort', done);
      resolve();
    };
    signal.addEventListener('abort', done, { once: true });
    sleep(ms).then(done, done);
  });
}

/**
 * Runs `fn` up to `options.attempts` times, waiting with backoff between attempts, and stops
 * at the first permanent error ({@link isPermanentError}). `fn` must be safe to call again.
 */
export async function retrying<T>(
  operation: string,
  options: RetryOptions,
  fn: () => Promise<T>,
): Promise<T> {
  const attempts = Math.max(1, Math.floor(options.attempts));
  const sleep = options.sleep ?? timer;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      if (attempt >= attempts || isPermanentError(error) || options.signal?.aborted) throw error;
      const delayMs = backoffDelay(attempt, options.baseDelayMs, options.maxDelayMs ?? 30_000);
      options.onRetry?.({ operation, attempt, delayMs, error });
      if (options.signal) {
        await sleepUnless(sleep, delayMs, options.signal);
        if (options.signal.aborted) throw error;
      } else await sleep(delayMs);
    }
  }
}

/**
 * Removes `keys` through {@link removeMany}, then again — with backoff, as {@link retrying} —
 * only the keys that failed transiently, until none did or the attempts are spent. A key that
 * failed permanently (access denied, Object Lock) is reported at once and not asked again.
 */
export async function removingMany(
  dest: Destination,
  keys: readonly string[],
  options: RetryOptions,
): Promise<RemoveFailure[]> {
  const attempts = Math.max(1, Math.floor(options.attempts));
  const sleep = options.sleep ?? timer;
  const settled: RemoveFailure[] = [];
  let pending = keys;
  for (let attempt = 1; ; attempt++) {
    const failures = await removeMany(dest, pending);
    const transient = failures.filter((f) => !isPermanentError(f.error));
    settled.push(...failures.filter((f) => isPermanentError(f.error)));
    if (transient.length === 0 || attempt >= attempts || options.signal?.aborted) {
      return [...settled, ...transient];
    }
    const delayMs = backoffDelay(attempt, options.baseDelayMs, options.maxDelayMs ?? 30_000);
    options.onRetry?.({
      operation: `remove ${transient.length} object(s)`,
      attempt,
      delayMs,
      error: transient[0]!.error,
    });
    if (options.signal) {
      await sleepUnless(sleep, delayMs, options.signal);
      if (options.signal.aborted) return [...settled, ...transient];
    } else await sleep(delayMs);
    pending = transient.map((f) => f.key);
  }
}

/**
 * Wraps `dest` so that put, read, stat, list, remove(Many) and checkWritable are retried on
 * transient failures. `write` is passed through unretried: its body stream is consumed once,
 * so a failed write must be restarted by the caller from a fresh stream.
 */
export function withRetry(dest: Destination, options: RetryOptions): Destination {
  const retry = <T>(operation: string, fn: () => Promise<T>) => retrying(operation, options, fn);
  return {
    name: dest.name,
    description: dest.description,
    write: (key: string, body: Readable, opts?: WriteOptions) => dest.write(key, body, opts),
    put: (key: string, data: Buffer | string, opts?: { contentType?: string }): Promise<WriteResult> =>
      retry(`put ${key}`, () => dest.put(key, data, opts)),
    read: (key: string, opts?: { ifMatch?: string }): Promise<Readable> =>
      retry(`read ${key}`, () => dest.read(key, opts)),
    stat: (key: string): Promise<ObjectInfo> => retry(`stat ${key}`, () => dest.stat(key)),
    list: (prefix: string): Promise<ObjectInfo[]> => retry(`list ${prefix}`, () => dest.list(prefix)),
    remove: (key: string): Promise<void> => retry(`remove ${key}`, () => dest.remove(key)),
    removeMany: (keys: readonly string[]): Promise<RemoveFailure[]> => removingMany(dest, keys, options),
    checkWritable: (prefix: string): Promise<void> =>
      retry(`check ${prefix}`, () => dest.checkWritable(prefix)),
    ...(dest.freeBytes
      ? { freeBytes: (): Promise<number> => retry('read free space', () => dest.freeBytes!()) }
      : {}),
    ...(dest.removeUnfinished
      ? {
          removeUnfinished: (keyPrefix: string): Promise<string[]> =>
            retry(`remove unfinished writes of ${keyPrefix}`, () => dest.removeUnfinished!(keyPrefix)),
        }
      : {}),
  };
}
