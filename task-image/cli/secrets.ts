/**
 * Resolving secrets named by the config: environment variables locally (`passwordEnv`,
 * `passphraseEnv`, …), Secrets Manager ARNs in AWS. Every value is registered with redact()
 * the moment it is read, so it can never reach a log, history item, alert or error message.
 */
import { ConfigError } from '../../core/errors.ts';
import { registerSecret } from '../../core/redact.ts';

/** Fetches a secret string by ARN (Secrets Manager in AWS; injectable for tests). */
export type SecretFetcher = (arn: string) => Promise<string>;

/** The default fetcher: Secrets Manager GetSecretValue, loaded lazily so local runs never need AWS. */
export const secretsManagerFetcher: SecretFetcher = async (arn) => {
  const { SecretsManagerClient, GetSecretValueCommand } = await import('@aws-sdk/client-secrets-manager');
  const client = new SecretsManagerClient({});
  const out = await client.send(new GetSecretValueCommand({ SecretId: arn }));
  if (out.SecretString === undefined) throw new ConfigError(`secret ${arn} has no string value`);
  return out.SecretString;
};

/**
 * Resolves one secret from an env variable name or an ARN. An RDS-style JSON secret
 * (`{"password": …}` / `{"passphrase": …}`) yields that field.
 */
export async function resolveSecret(
  where: { env?: string | undefined; arn?: string | undefined; field?: string; raw?: boolean; path: string },
  env: NodeJS.ProcessEnv,
  fetch: SecretFetcher = secretsManagerFetcher,
): Promise<string | undefined> {
  if (where.env) {
    const value = env[where.env];
    if (value === undefined || value === '') {
      throw new ConfigError(
        `${where.path}: environment variable ${where.env} is not set; export it before running`,
      );
    }
    registerSecret(value);
    return value;
  }
  if (where.arn) {
    let value: string;
    try {
      value = await fetch(where.arn);
    } catch (err) {
      throw new ConfigError(
        `${where.path}: cannot read secret ${where.arn} (${(err as Error).name ?? 'error'}); check the ARN and that this role may read it`,
      );
    }
    registerSecret(value);
    if (!where.raw && value.trim().startsWith('{')) {
      try {
        const parsed = JSON.parse(value) as Record<string, unknown>;
        const field = where.field ?? 'password';
        const inner = parsed[field];
        if (typeof inner === 'string') {
          registerSecret(inner);
          return inner;
        }
        throw new ConfigError(`${where.path}: secret ${where.arn} is JSON without a "${field}" field`);
      } catch (err) {
        if (err instanceof ConfigError) throw err;
        // Not JSON after all: a plain secret string that starts with "{".
      }
    }
    return value;
  }
  return undefined;
}
