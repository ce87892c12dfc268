/**
 * The one way dumpvault reads a secret the config names, for the CLI, the task and the Lambda
 * functions alike: an environment variable locally (`passwordEnv`, `passphraseEnv`, …), a
 * Secrets Manager secret by ARN in AWS. A secret may hold the value itself or JSON with the
 * value in a field — the shape RDS-managed secrets have (`{"username", "password", "host",
 * "port", "dbname", …}`), from which the `field` selector (default `password`) takes one.
 *
 * Every value is registered with redact() the moment it is read, and no message built here
 * quotes the secret's text (not even a JSON parse error, which would): messages name the config
 * path and the ARN or variable, never the value.
 */
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ConfigError, UserError } from '../errors.ts';
import { registerSecret } from '../redact.ts';

/** Fetches a secret's string by ARN (Secrets Manager in AWS; a stand-in in tests). */
export type SecretFetcher = (arn: string) => Promise<string>;

/**
 * A secret could not be read for a reason a retry may fix (throttling, network, a Secrets
 * Manager outage). The restore steps retry it; the CLI prints it as one sentence (exit 1).
 */
export class SecretUnavailableError extends UserError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SecretUnavailableError';
  }
}

/** Secrets Manager errors that no retry fixes: the ARN, its policy or its key is wrong. */
const PERMANENT_ERRORS = new Set([
  'AccessDeniedException',
  'ResourceNotFoundException',
  'DecryptionFailure',
  'InvalidRequestException',
  'InvalidParameterException',
  'ValidationException',
]);

/**
 * Secrets Manager GetSecretValue by ARN. The SDK is loaded on the first read, so a local run
 * that reads no ARN never loads it; `client` defaults to one made then with the ambient region
 * and credentials.
 */
export function secretsManagerFetcher(client?: SecretsManagerClient): SecretFetcher {
  let sm = client;
  return async (arn) => {
    const sdk = await import('@aws-sdk/client-secrets-manager');
    sm ??= new sdk.SecretsManagerClient({});
    const out = await sm.send(new sdk.GetSecretValueCommand({ SecretId: arn }));
    if (out.SecretString === undefined) {
      throw new ConfigError(`secret ${arn} holds binary data; store the value as a secret string`);
    }
    return out.SecretString;
  };
}

/** Secrets Manager with the ambient region and credentials: what every read uses unless given another. */
export const defaultSecretFetcher: SecretFetcher = secretsManagerFetcher();

/** How to read one secret and where it sits in the config, for messages. */
export interface SecretRead {
  /** The config path of the reference (`jobs[0].source`), first in every message. */
  readonly path: string;
  /**
   * The field to take from a JSON secret.
   * @default 'password'
   */
  readonly field?: string;
  /**
   * Take the whole string even when it is JSON (the caller parses it).
   * @default false
   */
  readonly raw?: boolean;
  /**
   * What to check when Secrets Manager refuses the read.
   * @default - "check the ARN and that this role may read it"
   */
  readonly unreadableHint?: string;
}

/**
 * Reads the secret `arn` through `fetch`: the whole string, or the `field` of a JSON secret.
 * Throws a ConfigError naming the path and the ARN when the secret cannot be read for good or
 * lacks the field, a SecretUnavailableError when a retry may help.
 */
export async function readSecret(
  arn: string,
  read: SecretRead,
  fetch: SecretFetcher = defaultSecretFetcher,
): Promise<string> {
  let value: string;
  try {
    value = await fetch(arn);
  } catch (err) {
    if (err instanceof ConfigError) throw new ConfigError(`${read.path}: ${err.message}`, { cause: err });
    const name = err instanceof Error ? err.name : 'Error';
    const hint = read.unreadableHint ?? 'check the ARN and that this role may read it';
    if (PERMANENT_ERRORS.has(name)) {
      throw new ConfigError(`${read.path}: cannot read secret ${arn} (${name}): ${hint}`, { cause: err });
    }
    throw new SecretUnavailableError(
      `${read.path}: cannot read secret ${arn} now (${name}); Secrets Manager did not answer, run again`,
      { cause: err },
    );
  }
  registerSecret(value);
  if (read.raw || !value.trim().startsWith('{')) return value;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return value; // A plain secret string that starts with "{".
  }
  const field = read.field ?? 'password';
  const inner = (parsed as Record<string, unknown> | null)?.[field];
  if (typeof inner !== 'string') {
    throw new ConfigError(
      `${read.path}: secret ${arn} is JSON without a string "${field}" field; add "${field}" to it (as RDS-managed secrets have) or store the ${field} alone as the secret's text`,
    );
  }
  registerSecret(inner);
  return inner;
}

/**
 * Reads a secret that must be a JSON object (S3 or Azure credentials, a private key with its
 * passphrase). `expected` describes the shape for the message when it is not one. The caller
 * registers the fields it takes that are secret.
 */
export async function readJsonSecret(
  arn: string,
  read: Omit<SecretRead, 'field' | 'raw'> & { readonly expected: string },
  fetch: SecretFetcher = defaultSecretFetcher,
): Promise<Record<string, unknown>> {
  const text = await readSecret(arn, { ...read, raw: true }, fetch);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined; // Reported below, without the parser's message (it quotes the text).
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError(`${read.path}: secret ${arn} is not JSON; store ${read.expected} in it`);
  }
  return parsed as Record<string, unknown>;
}

/** Where the config says a secret is: an env variable name (local) or an ARN (AWS). */
export interface SecretRef extends SecretRead {
  readonly env?: string | undefined;
  readonly arn?: string | undefined;
}

/**
 * Resolves one secret the config names: the env variable when `ref.env` is set (a ConfigError
 * naming it when unset or empty), else the ARN through `fetch` ({@link readSecret}), else
 * undefined (nothing configured).
 */
export async function resolveSecret(
  ref: SecretRef,
  env: NodeJS.ProcessEnv,
  fetch: SecretFetcher = defaultSecretFetcher,
): Promise<string | undefined> {
  if (ref.env) {
    const value = env[ref.env];
    if (value === undefined || value === '') {
      throw new ConfigError(
        `${ref.path}: environment variable ${ref.env} is not set; export it before running`,
      );
    }
    registerSecret(value);
    return value;
  }
  if (ref.arn) return readSecret(ref.arn, ref, fetch);
  return undefined;
}
