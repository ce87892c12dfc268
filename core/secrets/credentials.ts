/**
 * The JSON shapes a destination's `credentialsSecret` holds, read through the one secret
 * resolver (resolve.ts) by the CLI, the task and the functions alike.
 */

import type { Destination as DestinationConfig } from '../config/schema.ts';
import { ConfigError } from '../errors.ts';
import { registerSecret } from '../redact.ts';
import type { AzureCredentials } from '../storage/azure-client.ts';
import type { S3Credentials } from '../storage/s3-client.ts';
import { readJsonSecret, resolveSecret, type SecretFetcher } from './resolve.ts';

const S3_SHAPE = 'JSON {"accessKeyId": …, "secretAccessKey": …}';

/** Reads `{"accessKeyId", "secretAccessKey"}` from the secret `arn`; `path` names the setting. */
export async function readS3Credentials(
  arn: string,
  path: string,
  fetch?: SecretFetcher,
): Promise<S3Credentials> {
  const parsed = await readJsonSecret(arn, { path, expected: S3_SHAPE }, fetch);
  const { accessKeyId, secretAccessKey } = parsed;
  if (
    typeof accessKeyId !== 'string' ||
    accessKeyId === '' ||
    typeof secretAccessKey !== 'string' ||
    secretAccessKey === ''
  ) {
    throw new ConfigError(
      `${path}: secret ${arn} lacks "accessKeyId" or "secretAccessKey"; store ${S3_SHAPE} in it`,
    );
  }
  registerSecret(secretAccessKey);
  return { accessKeyId, secretAccessKey };
}

const AZURE_FIELDS = ['connectionString', 'accountKey', 'sasToken'] as const;

/** Reads one of `{"connectionString"}`, `{"accountKey"}`, `{"sasToken"}` from the secret `arn`. */
export async function readAzureCredentials(
  arn: string,
  path: string,
  fetch?: SecretFetcher,
): Promise<AzureCredentials> {
  const expected = 'JSON {"connectionString": …}, {"accountKey": …} or {"sasToken": …}';
  const parsed = await readJsonSecret(arn, { path, expected }, fetch);
  for (const field of AZURE_FIELDS) {
    const value = parsed[field];
    if (typeof value === 'string' && value !== '') {
      registerSecret(value);
      return { [field]: value } as AzureCredentials;
    }
  }
  throw new ConfigError(
    `${path}: secret ${arn} has none of "connectionString", "accountKey", "sasToken"; store ${expected} in it`,
  );
}

/** What {@link resolveDestinationCredentials} found: what `createDestination` takes. */
export interface DestinationCredentials {
  readonly s3Credentials?: S3Credentials;
  readonly azureCredentials?: AzureCredentials;
}

/**
 * The credentials of destination `name`, wherever its config says they are: env variables
 * (locally) or its `credentialsSecret` (in AWS, through `fetch`). An `s3` destination without
 * either uses the SDK's default chain (the task's or function's role): nothing is returned for
 * it. The CLI, the backup and restore tasks and the functions (prune, restore) all open their
 * destinations with this, so a type one of them can reach the others reach the same way.
 */
export async function resolveDestinationCredentials(
  name: string,
  cfg: DestinationConfig,
  env: NodeJS.ProcessEnv,
  fetch?: SecretFetcher,
): Promise<DestinationCredentials> {
  const at = `destinations.${name}`;
  if (cfg.type === 'azure') return { azureCredentials: await resolveAzureCredentials(at, cfg, env, fetch) };
  if (cfg.type !== 's3' && cfg.type !== 'gcs') return {};
  if (cfg.accessKeyIdEnv || cfg.secretAccessKeyEnv) {
    const accessKeyId = await resolveSecret({ env: cfg.accessKeyIdEnv, path: `${at}.accessKeyIdEnv` }, env);
    const secretAccessKey = await resolveSecret(
      { env: cfg.secretAccessKeyEnv, path: `${at}.secretAccessKeyEnv` },
      env,
    );
    if (!accessKeyId || !secretAccessKey) {
      throw new ConfigError(`${at}: set both "accessKeyIdEnv" and "secretAccessKeyEnv"`);
    }
    return { s3Credentials: { accessKeyId, secretAccessKey } };
  }
  if (cfg.credentialsSecret) {
    return {
      s3Credentials: await readS3Credentials(cfg.credentialsSecret, `${at}.credentialsSecret`, fetch),
    };
  }
  return {};
}

/** An azure destination's credentials: one env variable, or a Secrets Manager secret of JSON. */
async function resolveAzureCredentials(
  at: string,
  cfg: Extract<DestinationConfig, { type: 'azure' }>,
  env: NodeJS.ProcessEnv,
  fetch?: SecretFetcher,
): Promise<AzureCredentials> {
  const fromEnv = async (field: 'connectionStringEnv' | 'accountKeyEnv' | 'sasTokenEnv') =>
    (await resolveSecret({ env: cfg[field], path: `${at}.${field}` }, env))!;
  if (cfg.connectionStringEnv) return { connectionString: await fromEnv('connectionStringEnv') };
  if (cfg.accountKeyEnv) return { accountKey: await fromEnv('accountKeyEnv') };
  if (cfg.sasTokenEnv) return { sasToken: await fromEnv('sasTokenEnv') };
  if (!cfg.credentialsSecret) {
    throw new ConfigError(
      `${at}: set "connectionStringEnv", "accountKeyEnv", "sasTokenEnv" or "credentialsSecret"`,
    );
  }
  return readAzureCredentials(cfg.credentialsSecret, `${at}.credentialsSecret`, fetch);
}
