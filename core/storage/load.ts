/**
 * Destinations built without loading the cloud SDKs up front: a file destination needs none of
 * them, and their modules are a large part of a backup's start-up (docs/performance.md). The
 * S3, GCS and Azure implementations load on the first destination that names them.
 */
import { isAbsolute, join, resolve } from 'node:path';
import type { Destination as DestinationConfig } from '../config/schema.ts';
import type { CreateDestinationOptions } from './create-options.ts';
import type { Destination } from './destination.ts';
import { FileDestination } from './file.ts';
import { withDestinationName } from './named.ts';
import { type RetryOptions, withRetry } from './retry.ts';

/** The retry policy of a destination whose options name none. */
export const DEFAULT_RETRY: RetryOptions = { attempts: 4, baseDelayMs: 500 };

/** A file destination as {@link loadDestination} and core/storage/index.ts build it (no wrappers). */
export function fileDestination(
  name: string,
  config: Extract<DestinationConfig, { type: 'file' }>,
  options: Pick<CreateDestinationOptions, 'baseDir' | 'prefix'>,
): FileDestination {
  const extra = options.prefix ?? '';
  const base = isAbsolute(config.path) ? config.path : resolve(options.baseDir, config.path);
  return new FileDestination(name, extra === '' ? base : join(base, ...extra.split('/').filter(Boolean)));
}

/**
 * The same destination as core/storage/index.ts `createDestination` (retries, errors that name
 * it), loading a cloud store's implementation only when `config` is one.
 */
export async function loadDestination(
  name: string,
  config: DestinationConfig,
  options: CreateDestinationOptions,
): Promise<Destination> {
  if (config.type === 'file') {
    return withDestinationName(
      withRetry(fileDestination(name, config, options), options.retry ?? DEFAULT_RETRY),
    );
  }
  const { createDestination } = await import('./index.ts');
  return createDestination(name, config, options);
}
