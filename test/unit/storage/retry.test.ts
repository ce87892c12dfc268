import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ConfigError, IntegrityError, NotFoundError, StorageError } from '../../../core/errors.ts';
import type { Destination, ObjectInfo } from '../../../core/storage/destination.ts';
import { backoffDelay, isPermanentError, type RetryOptions, withRetry } from '../../../core/storage/retry.ts';

/** A destination whose every method fails with the queued errors first, then succeeds; counts calls. */
function flakyDestination(errors: unknown[]) {
  const calls: string[] = [];
  const next = async <T>(method: string, value: T): Promise<T> => {
    calls.push(method);
    const error = errors.shift();
    if (error !== undefined) throw error;
    return value;
  };
  const info: ObjectInfo = { key: 'k', size: 1 };
  const dest: Destination = {
    name: 'flaky',
    description: 'memory://flaky',
    write: (_key, body) => {
      body.destroy();
      return next('write', { bytes: 0 });
    },
    put: () => next('put', { bytes: 1 }),
    read: () => next('read', Readable.from([])),
    stat: () => next('stat', info),
    list: () => next('list', [info]),
    remove: () => next('remove', undefined),
    checkWritable: () => next('checkWritable', undefined),
  };
  return { dest, calls };
}

function options(delays: number[] = []): RetryOptions {
  return {
    attempts: 4,
    baseDelayMs: 100,
    sleep: async (ms) => {
      delays.push(ms);
    },
  };
}

const transient = () => new StorageError('list of s3://b/ failed (ECONNRESET): socket hang up');

describe('withRetry', () => {
  it.each([
    ['put', (d: Destination) => d.put('k', 'x')],
    ['read', (d: Destination) => d.read('k')],
    ['stat', (d: Destination) => d.stat('k')],
    ['list', (d: Destination) => d.list('')],
    ['remove', (d: Destination) => d.remove('k')],
    ['checkWritable', (d: Destination) => d.checkWritable('')],
  ])('retries %s after transient failures until it succeeds', async (method, call) => {
    const { dest, calls } = flakyDestination([transient(), new Error('ECONNREFUSED')]);

    await call(withRetry(dest, options()));

    expect(calls).toEqual([method, method, method]);
  });

  it.each([
    ['a permanent StorageError', new StorageError('bucket x does not exist', { permanent: true })],
    ['a NotFoundError', new NotFoundError('s3://b/k does not exist')],
    ['an IntegrityError', new IntegrityError('object changed since it was verified')],
    ['another user error', new ConfigError('destinations.x: bad')],
    ['an abort', Object.assign(new Error('aborted'), { name: 'AbortError' })],
  ])('does not retry %s', async (_what, error) => {
    const { dest, calls } = flakyDestination([error]);

    await expect(withRetry(dest, options()).stat('k')).rejects.toBe(error);

    expect(calls).toEqual(['stat']);
  });

  it('never retries write, whose body can only be read once', async () => {
    const { dest, calls } = flakyDestination([transient()]);

    await expect(
      withRetry(dest, options()).write('k', Readable.from([Buffer.from('x')])),
    ).rejects.toBeInstanceOf(StorageError);

    expect(calls).toEqual(['write']);
  });

  it('gives up after the configured attempts with the last error', async () => {
    const last = transient();
    const { dest, calls } = flakyDestination([transient(), transient(), transient(), last]);

    await expect(withRetry(dest, options()).list('')).rejects.toBe(last);

    expect(calls).toHaveLength(4);
  });

  it('waits with exponential backoff and jitter between attempts, and reports each retry', async () => {
    const delays: number[] = [];
    const retries: number[] = [];
    const { dest } = flakyDestination([transient(), transient(), transient()]);

    await withRetry(dest, { ...options(delays), onRetry: ({ attempt }) => retries.push(attempt) }).stat('k');

    expect(retries).toEqual([1, 2, 3]);
    expect(delays).toHaveLength(3);
    delays.forEach((delay, i) => {
      const ceiling = 100 * 2 ** i;
      expect(delay).toBeGreaterThanOrEqual(ceiling / 2);
      expect(delay).toBeLessThanOrEqual(ceiling);
    });
  });

  it('keeps the name and description of the wrapped destination', () => {
    const { dest } = flakyDestination([]);

    const wrapped = withRetry(dest, options());

    expect([wrapped.name, wrapped.description]).toEqual(['flaky', 'memory://flaky']);
  });
});

describe('backoffDelay', () => {
  it('never exceeds the cap', () => {
    for (let attempt = 1; attempt < 40; attempt++) {
      expect(backoffDelay(attempt, 500, 30_000)).toBeLessThanOrEqual(30_000);
    }
  });
});

describe('isPermanentError', () => {
  it('treats transient StorageErrors and unknown errors as retryable', () => {
    expect(isPermanentError(transient())).toBe(false);
    expect(isPermanentError(new Error('socket hang up'))).toBe(false);
    expect(isPermanentError(new StorageError('denied', { permanent: true }))).toBe(true);
  });
});
