/**
 * Destinations built without loading the cloud SDKs up front: a file destination needs none of
 * them, and their modules are a large part of a backup's start-up (docs/performance.md). The
 * S3 and GCS implementations load on the first destination that names them, the Azure one
 * likewise, each without the other's SDK.
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
  // One SDK per store: an S3 backup loads no Azure code, an Azure one no S3 code.
  const bare =
    config.type === 'azure'
      ? (await import('./azure-create.ts')).createAzureBareDestination(name, config, options)
      : (await import('./s3-create.ts')).createS3BareDestination(name, config, options);
  return withDestinationName(withRetry(bare, options.retry ?? DEFAULT_RETRY));
}
