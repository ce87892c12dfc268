/**
 * What building a destination from the config needs besides the config: the options of
 * core/storage/index.ts `createDestination` and core/storage/load.ts `loadDestination`, in a
 * file of their own so the lazy loader does not import the module it loads lazily.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { AzureCredentials } from './azure-client.ts';
import type { RetryOptions } from './retry.ts';
import type { S3Credentials } from './s3-client.ts';

export interface CreateDestinationOptions {
  /** Directory that relative file paths resolve against (the config file's directory). */
  readonly baseDir: string;
  /**
   * An extra root inside the destination, after an S3 destination's own `prefix` (for a file
   * destination, a sub-folder of its path). Not the config's top-level `prefix`: that one is
   * part of every key the pipeline builds.
   * @default ""
   */
  readonly prefix?: string;
  /**
   * Credentials for an S3 destination, already resolved from env variables or Secrets Manager
   * and registered with redact() by the caller.
   * @default - the SDK's default chain (task role, environment, profile)
   */
  readonly s3Credentials?: S3Credentials;
  /**
   * A ready client for an S3 destination (tests, or a caller sharing one client).
   * @default - a client built from the destination config
   */
  readonly s3Client?: S3Client;
  /**
   * Credentials of an Azure destination (connection string, account key or SAS token), already
   * resolved from env variables or Secrets Manager by the caller.
   * @default - none: an azure destination without them is refused
   */
  readonly azureCredentials?: AzureCredentials;
  /**
   * The real name of the stack's bucket, used when the config says `"bucket": "managed"`.
   * @default - none: a "managed" destination is refused
   */
  readonly bucketOverride?: string;
  /**
   * The clock an S3 destination's Object Lock retain-until dates count from.
   * @default - the system clock
   */
  readonly now?: () => Date;
  /**
   * Retry policy of the wrapper around the destination.
   * @default { attempts: 4, baseDelayMs: 500 }
   */
  readonly retry?: RetryOptions;
}

/** Prefixes joined into one, each ending with `/`; empty ones left out. */
export function joinPrefixes(...prefixes: string[]): string {
  return prefixes
    .filter((p) => p !== '')
    .map((p) => (p.endsWith('/') ? p : `${p}/`))
    .join('');
}
