/**
 * The Azure Blob destination a config describes, without the retry wrapper
 * (core/storage/index.ts `createBareDestination`): a module of its own, so that
 * core/storage/load.ts loads the Azure SDK only for an Azure destination.
 */
import type { Destination as DestinationConfig } from '../config/schema.ts';
import { StorageError } from '../errors.ts';
import { AzureDestination } from './azure.ts';
import { createAzureContainerClient } from './azure-client.ts';
import { type CreateDestinationOptions, joinPrefixes } from './create-options.ts';

const MiB = 1024 * 1024;

export function createAzureBareDestination(
  name: string,
  config: Extract<DestinationConfig, { type: 'azure' }>,
  options: CreateDestinationOptions,
): AzureDestination {
  const extra = options.prefix ?? '';
  if (!options.azureCredentials) {
    throw new StorageError(
      `destination ${name} has no credentials: set connectionStringEnv, accountKeyEnv, sasTokenEnv or credentialsSecret`,
      { permanent: true },
    );
  }
  const container = createAzureContainerClient({
    name,
    container: config.container,
    credentials: options.azureCredentials,
    ...(config.account ? { account: config.account } : {}),
    ...(config.accountUrl ? { accountUrl: config.accountUrl } : {}),
    ...(config.requestTimeoutSeconds ? { requestTimeoutMs: config.requestTimeoutSeconds * 1000 } : {}),
  });
  return new AzureDestination({
    name,
    container,
    prefix: joinPrefixes(config.prefix, extra),
    blockSizeBytes: config.blockSizeMiB * MiB,
    queueSize: config.queueSize,
    ...(config.stallTimeoutSeconds ? { stallTimeoutMs: config.stallTimeoutSeconds * 1000 } : {}),
  });
}
