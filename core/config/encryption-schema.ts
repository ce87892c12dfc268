/**
 * The config's `encryption` entries: OpenPGP public keys, or a passphrase.
 */
import { z } from 'zod';
import { envName, nonEmpty, secretArn, show } from './schema-fields.ts';

export const OpenPgpEncryptionSchema = z.strictObject({
  type: z.literal('openpgp'),
  recipients: z
    .array(nonEmpty('a path to an armored public key'), { error: 'expected a list of public key files' })
    .min(1, { error: 'expected at least one recipient public key' })
    .describe('Armored OpenPGP public key files (relative to the config file). Public keys only.'),
  privateKeySecret: secretArn
    .optional()
    .describe(
      'Secrets Manager ARN holding the armored private key of one recipient (or JSON {"privateKey", "passphrase"}); read only by restores and drills in AWS, never by backups.',
    ),
});

export const PassphraseEncryptionSchema = z
  .strictObject({
    type: z.literal('passphrase'),
    passphraseSecret: secretArn.optional().describe('Secrets Manager ARN holding the passphrase (AWS).'),
    passphraseEnv: envName.optional().describe('Env variable holding the passphrase (local).'),
  })
  .refine((v) => v.passphraseSecret || v.passphraseEnv, {
    error: 'expected "passphraseSecret" (AWS) or "passphraseEnv" (local)',
  });

export const EncryptionSchema = z.discriminatedUnion(
  'type',
  [OpenPgpEncryptionSchema, PassphraseEncryptionSchema],
  {
    error: (iss) => `expected an encryption with "type": "openpgp" or "passphrase", got ${show(iss.input)}`,
  },
);

export type Encryption = z.output<typeof EncryptionSchema>;
