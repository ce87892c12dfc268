/**
 * The config's `metaBackup` section (issue 16 §1; docs/recovery.md): every backup run writes the
 * config, the public keys it names and, with `secrets`, the secret values it references to
 * `{prefix}_dumpvault/config-{timestamp}.json.gpg`, encrypted to this passphrase or these keys.
 */
import { z } from 'zod';
import { envName, nonEmpty, secretArn } from './schema-fields.ts';

export const MetaBackupSchema = z
  .strictObject({
    passphraseEnv: envName.optional().describe('Env variable holding the meta passphrase (local).'),
    passphraseSecret: secretArn.optional().describe('Secrets Manager ARN holding the meta passphrase (AWS).'),
    recipients: z
      .array(nonEmpty('a path to an armored public key'))
      .min(1, { error: 'expected at least one recipient public key' })
      .optional()
      .describe('Armored OpenPGP public keys the meta-backup is encrypted to (relative to the config file).'),
    secrets: z
      .boolean()
      .default(false)
      .describe(
        'Also store the values of the secrets the config references (env variables; Secrets Manager in AWS).',
      ),
  })
  .refine((m) => [m.passphraseEnv, m.passphraseSecret, m.recipients].filter(Boolean).length === 1, {
    error: 'expected exactly one of "passphraseEnv", "passphraseSecret" or "recipients"',
  })
  .describe("Backs up dumpvault's own config (and optionally its secrets) next to every backup.");

export type MetaBackupConfig = z.output<typeof MetaBackupSchema>;
