/**
 * Reading secrets by ARN: Secrets Manager in AWS, a stand-in in tests. Its own module so a
 * Lambda that only reads secrets (Guard) does not bundle the storage clients.
 */
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ConfigError } from '../../core/errors.ts';

/** Fetches a secret string by ARN (Secrets Manager in AWS; a stand-in in tests). */
export type SecretFetcher = (arn: string) => Promise<string>;

/** Secrets Manager GetSecretValue by ARN through `client`. */
export function secretsManagerFetcher(client: SecretsManagerClient): SecretFetcher {
  return async (arn) => {
    const out = await client.send(new GetSecretValueCommand({ SecretId: arn }));
    if (out.SecretString === undefined) throw new ConfigError(`secret ${arn} has no string value`);
    return out.SecretString;
  };
}
