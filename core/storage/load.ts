/**
 * Destinations built without loading the cloud SDKs up front: a file destination needs none of
 * them, and their modules are a large part of a backup's start-up (docs/performance.md). The
 * S3, GCS and Azure implementations load on the first destination that names them.
 */
import type { Destination as DestinationConfig } from '../config/schema.ts';
import type { CreateDestinationOptions } from './create-options.ts';
import type { Destination } from './destination.ts';
import { fileDestination } from './file.ts';
import { withDestinationName } from './named.ts';
import { DEFAULT_RETRY, withRetry } from './retry.ts';

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
