/**
 * The plaintext of a meta-backup (issue 16 §1): the config file as written, the public key files
 * it names, and — only when `metaBackup.secrets` is on — the values of the secrets it references.
 * Pure functions: the CLI and the task gather the inputs, core/meta/store.ts encrypts and stores.
 */
import { z } from 'zod';
import type { Config } from '../config/schema.ts';
import type { EncryptOptions } from '../crypto/openpgp.ts';
import { IntegrityError } from '../errors.ts';

export const META_FORMAT = 'dumpvault-meta';
export const META_FORMAT_VERSION = 1;

/** Where the config names a secret: its JSON path and the env variable or Secrets Manager ARN. */
export interface SecretReference {
  readonly path: string;
  readonly env?: string;
  readonly arn?: string;
}

/**
 * Every secret the config references outside `metaBackup`: each string field whose name ends in
 * `Env` (passwordEnv, passphraseEnv, urlEnv, accessKeyIdEnv, …) or `Secret` (passwordSecret,
 * credentialsSecret, …). Walking the fields rather than listing them keeps new destination and
 * channel types covered.
 */
export function secretReferences(config: Config): SecretReference[] {
  const found: SecretReference[] = [];
  const walk = (value: unknown, path: string): void => {
    if (Array.isArray(value)) {
      for (const [i, v] of value.entries()) walk(v, `${path}[${i}]`);
      return;
    }
    if (value === null || typeof value !== 'object') return;
    for (const [field, inner] of Object.entries(value)) {
      const at = path ? `${path}.${field}` : field;
      if (path === '' && field === 'metaBackup') continue;
      if (typeof inner === 'string' && field.endsWith('Env')) found.push({ path: at, env: inner });
      else if (typeof inner === 'string' && field.endsWith('Secret')) found.push({ path: at, arn: inner });
      else walk(inner, at);
    }
  };
  walk(config, '');
  return found;
}

/**
 * Why the meta key would be one of the secrets inside the meta-backup, or undefined. With
 * `secrets` on, a meta passphrase that is also, say, a job's passphrase would be stored next to
 * the very object it unlocks, and anyone holding that one secret could read them all.
 */
export function metaKeyProblem(config: Config): string | undefined {
  const meta = config.metaBackup;
  if (!meta?.secrets) return undefined;
  const same = secretReferences(config).find(
    (ref) =>
      (meta.passphraseEnv !== undefined && ref.env === meta.passphraseEnv) ||
      (meta.passphraseSecret !== undefined && ref.arn === meta.passphraseSecret),
  );
  if (!same) return undefined;
  return `metaBackup: the meta passphrase ${meta.passphraseEnv ?? meta.passphraseSecret} is also ${same.path}, one of the secrets the meta-backup stores; give the meta-backup a passphrase of its own`;
}

export const MetaDocumentSchema = z.object({
  format: z.literal(META_FORMAT),
  formatVersion: z.literal(META_FORMAT_VERSION),
  createdAt: z.string(),
  /** File name of the config (no directory). */
  configFile: z.string().regex(/^[^/\\]+$/),
  /** The config file's text, byte for byte (comments kept). */
  config: z.string(),
  /** Public key files the config names: path as written in the config -> armored key. */
  files: z.record(z.string(), z.string()),
  /** Env variable -> value; present only when `metaBackup.secrets` was on. */
  secrets: z.record(z.string(), z.string()).optional(),
  /** Secrets Manager ARN -> value (AWS); present only when `metaBackup.secrets` was on. */
  awsSecrets: z.record(z.string(), z.string()).optional(),
  /** Secrets the config references that could not be read where the meta-backup was written. */
  missingSecrets: z.array(z.string()).default([]),
});
export type MetaDocument = z.output<typeof MetaDocumentSchema>;

/** Parses a decrypted meta-backup; throws an IntegrityError naming `key` when it is not one. */
export function parseMetaDocument(key: string, text: string): MetaDocument {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new IntegrityError(`${key} decrypts, but is not a dumpvault meta-backup (not JSON)`);
  }
  const parsed = MetaDocumentSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new IntegrityError(
      `${key} decrypts, but is not a dumpvault meta-backup of format ${META_FORMAT_VERSION} (${issue.path.join('.') || 'document'}: ${issue.message})`,
    );
  }
  return parsed.data;
}

/** What the CLI or the task gathered for a meta-backup (config text, keys, secret values). */
export interface MetaBackupSpec {
  readonly document: MetaDocument;
  readonly encryption: EncryptOptions;
}
