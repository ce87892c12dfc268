/**
 * The Azure Blob client of a destination: which account, which credentials, which bounds on a
 * request. Credentials are resolved by the caller (env variables or Secrets Manager) and
 * registered with redact() before they get here.
 */
import {
  AnonymousCredential,
  BlobServiceClient,
  type ContainerClient,
  type StoragePipelineOptions,
  StorageSharedKeyCredential,
} from '@azure/storage-blob';
import { S3_REQUEST_TIMEOUT_SECONDS } from '../contracts/timeouts.ts';
import { StorageError } from '../errors.ts';
import { registerSecret } from '../redact.ts';

/** One of the three ways to authenticate to a storage account. */
export type AzureCredentials =
  | { readonly connectionString: string }
  | { readonly accountKey: string }
  | { readonly sasToken: string };

export interface AzureClientSettings {
  /** The destination's name, for messages. */
  readonly name: string;
  /**
   * Storage account name (needed with an account key; implied by a connection string).
   * @default - from `accountUrl` or the connection string
   */
  readonly account?: string;
  /**
   * The account's blob endpoint (Azurite: `http://127.0.0.1:10000/devstoreaccount1`).
   * @default `https://<account>.blob.core.windows.net`
   */
  readonly accountUrl?: string;
  readonly container: string;
  readonly credentials: AzureCredentials;
  /**
   * How long one request attempt may take before it fails (and is retried by the SDK).
   * @default 120 s
   */
  readonly requestTimeoutMs?: number;
  /**
   * Attempts per request, the first included.
   * @default 4
   */
  readonly maxTries?: number;
}

/** The SDK pipeline options: bounded attempts, each bounded in time. */
export function azurePipelineOptions(
  settings: Pick<AzureClientSettings, 'requestTimeoutMs' | 'maxTries'>,
): StoragePipelineOptions {
  return {
    retryOptions: {
      maxTries: settings.maxTries ?? 4,
      tryTimeoutInMs: settings.requestTimeoutMs ?? S3_REQUEST_TIMEOUT_SECONDS * 1000,
      retryDelayInMs: 500,
      maxRetryDelayInMs: 30_000,
    },
    userAgentOptions: { userAgentPrefix: 'dumpvault' },
  };
}

/**
 * The account URL of `settings`: `accountUrl` as given, or the public endpoint of `account`.
 * Throws a permanent StorageError when neither is known.
 */
export function azureAccountUrl(
  settings: Pick<AzureClientSettings, 'name' | 'account' | 'accountUrl'>,
): string {
  if (settings.accountUrl) return settings.accountUrl.replace(/\/+$/, '');
  if (settings.account) return `https://${settings.account}.blob.core.windows.net`;
  throw new StorageError(
    `destination ${settings.name}: set "account" (or "accountUrl") next to an account key or SAS token`,
    { permanent: true },
  );
}

/** The account name of an account URL: the first label of `<account>.blob.…`, or Azurite's first path segment. */
function accountOf(url: URL): string | undefined {
  const host = url.hostname;
  if (/^[a-z0-9]+\.blob\./.test(host)) return host.split('.')[0];
  return url.pathname.split('/').filter(Boolean)[0];
}

/** A client of the container `settings` names, with its credentials. Sends nothing yet. */
export function createAzureContainerClient(settings: AzureClientSettings): ContainerClient {
  const options = azurePipelineOptions(settings);
  const { credentials } = settings;
  let service: BlobServiceClient;
  if ('connectionString' in credentials) {
    registerSecret(credentials.connectionString);
    try {
      service = BlobServiceClient.fromConnectionString(credentials.connectionString, options);
    } catch {
      // The SDK's message may quote the string; say what is wrong without it.
      throw new StorageError(
        `destination ${settings.name}: the connection string is not one Azure accepts (expected "DefaultEndpointsProtocol=…;AccountName=…;AccountKey=…" or "BlobEndpoint=…;SharedAccessSignature=…")`,
        { permanent: true },
      );
    }
  } else if ('accountKey' in credentials) {
    registerSecret(credentials.accountKey);
    const url = azureAccountUrl(settings);
    const account = settings.account ?? accountOf(new URL(url));
    if (!account) {
      throw new StorageError(`destination ${settings.name}: set "account" next to an account key`, {
        permanent: true,
      });
    }
    service = new BlobServiceClient(
      url,
      new StorageSharedKeyCredential(account, credentials.accountKey),
      options,
    );
  } else {
    const sas = credentials.sasToken.replace(/^\?/, '');
    registerSecret(sas);
    // The signature is the secret part; it may be shown URL-encoded or not.
    const sig = new URLSearchParams(sas).get('sig');
    if (sig) {
      registerSecret(sig);
      registerSecret(encodeURIComponent(sig));
    }
    service = new BlobServiceClient(
      `${azureAccountUrl(settings)}?${sas}`,
      new AnonymousCredential(),
      options,
    );
  }
  return service.getContainerClient(settings.container);
}
