/**
 * What a meta-backup holds, gathered from the loaded config and the environment (issue 16 §1):
 * the config file's text, the public key files it names and — only with `metaBackup.secrets` —
 * the values of the env variables it references. The pipeline gets a function that builds it,
 * so a missing passphrase or key file fails the meta-backup, never the backup.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { LoadedConfig } from '../../core/config/load.ts';
import { loadRecipients } from '../../core/crypto/openpgp.ts';
import { ConfigError } from '../../core/errors.ts';
import type { MetaBackupSpec } from '../../core/meta/document.ts';
import {
  META_FORMAT,
  META_FORMAT_VERSION,
  type MetaDocument,
  secretReferences,
} from '../../core/meta/document.ts';
import { registerSecret } from '../../core/redact.ts';
import { resolveSecret, type SecretFetcher } from '../../core/secrets/resolve.ts';

/** Every public key file the config names (encryption entries and metaBackup), as written. */
export function publicKeyFiles(loaded: LoadedConfig): string[] {
  const files = new Set<string>();
  for (const enc of Object.values(loaded.config.encryption))
    if (enc.type === 'openpgp') for (const file of enc.recipients) files.add(file);
  for (const file of loaded.config.metaBackup?.recipients ?? []) files.add(file);
  return [...files];
}

/** The env variables the config references, with their values when set (never logged). */
function secretValues(
  loaded: LoadedConfig,
  env: NodeJS.ProcessEnv,
): { values: Record<string, string>; missing: string[] } {
  const values: Record<string, string> = {};
  const missing: string[] = [];
  for (const ref of secretReferences(loaded.config)) {
    if (!ref.env || ref.env in values) continue;
    const value = env[ref.env];
    if (value === undefined || value === '') missing.push(ref.env);
    else {
      registerSecret(value);
      values[ref.env] = value;
    }
  }
  return { values, missing: [...new Set(missing)] };
}

/**
 * The Secrets Manager secrets the config references, by ARN, with their values (raw, as stored;
 * never logged); ARNs this role cannot read are listed as missing.
 */
async function awsSecretValues(
  loaded: LoadedConfig,
  fetchSecret: SecretFetcher,
): Promise<{ values: Record<string, string>; missing: string[] }> {
  const values: Record<string, string> = {};
  const missing = new Set<string>();
  for (const ref of secretReferences(loaded.config)) {
    if (!ref.arn || ref.arn in values) continue;
    try {
      const value = await fetchSecret(ref.arn);
      registerSecret(value);
      values[ref.arn] = value;
    } catch {
      missing.add(ref.arn);
    }
  }
  return { values, missing: [...missing] };
}

/**
 * Where the meta-backup's config comes from when it is not the CLI's config file: the Fargate
 * task has its job's config as JSON in its environment, and its secrets in Secrets Manager.
 */
export interface MetaSourceOptions {
  /** The config text (the task: DUMPVAULT_JOB_JSON). @default - the text of `loaded.file` */
  readonly configText?: string;
  /** The file name recover writes it under. @default - the base name of `loaded.file` */
  readonly configFile?: string;
  /** With `metaBackup.secrets`: also store the Secrets Manager secrets the config names (by ARN). */
  readonly awsSecrets?: SecretFetcher;
}

/** The meta document of `loaded` (secret values only with `metaBackup.secrets`). */
export async function metaDocument(
  loaded: LoadedConfig,
  env: NodeJS.ProcessEnv,
  now: Date,
  options: MetaSourceOptions = {},
): Promise<MetaDocument> {
  const files: Record<string, string> = {};
  for (const file of publicKeyFiles(loaded))
    files[file] = await readFile(path.resolve(loaded.baseDir, file), 'utf8');
  const withSecrets = loaded.config.metaBackup?.secrets === true;
  const secrets = withSecrets ? secretValues(loaded, env) : undefined;
  const aws =
    withSecrets && options.awsSecrets ? await awsSecretValues(loaded, options.awsSecrets) : undefined;
  return {
    format: META_FORMAT,
    formatVersion: META_FORMAT_VERSION,
    createdAt: now.toISOString(),
    configFile: options.configFile ?? path.basename(loaded.file),
    config: options.configText ?? (await readFile(loaded.file, 'utf8')),
    files,
    ...(secrets ? { secrets: secrets.values } : {}),
    ...(aws ? { awsSecrets: aws.values } : {}),
    missingSecrets: [...(secrets?.missing ?? []), ...(aws?.missing ?? [])],
  };
}

/**
 * The builder of the config's meta-backup, or undefined without `metaBackup`. Refuses a meta
 * passphrase whose value is one of the secrets inside (validate refuses the same env name).
 */
export function metaBackupSource(
  loaded: LoadedConfig,
  env: NodeJS.ProcessEnv,
  fetchSecret?: SecretFetcher,
  options: MetaSourceOptions = {},
): (() => Promise<MetaBackupSpec>) | undefined {
  const meta = loaded.config.metaBackup;
  if (!meta) return undefined;
  return async () => {
    const document = await metaDocument(loaded, env, new Date(), options);
    if (meta.recipients) {
      return { document, encryption: { recipients: await loadRecipients(meta.recipients, loaded.baseDir) } };
    }
    const passphrase = await resolveSecret(
      { env: meta.passphraseEnv, arn: meta.passphraseSecret, field: 'passphrase', path: 'metaBackup' },
      env,
      fetchSecret,
    );
    const same = Object.entries({ ...document.secrets, ...document.awsSecrets }).find(
      ([, value]) => value === passphrase,
    );
    if (same) {
      throw new ConfigError(
        `metaBackup: the meta passphrase has the same value as ${same[0]}, one of the secrets the meta-backup stores; give it a passphrase of its own`,
      );
    }
    return { document, encryption: { passphrase: passphrase! } };
  };
}
